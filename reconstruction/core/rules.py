"""The fluctuation rule ([0081]–[0090], FIGS. 5C and 5D).

From the shot's current degrees, the ideal degrees of its intention and the reconstructable ranges
of the user's trained models, the rule says which models to run, in which order, with which
target degrees:

- each ideal degree is clamped into its model's reconstructable range (FIG. 5C): a model cannot
  be asked for a degree it never saw;
- then into what this shot allows, where a model says the shot itself limits it (a reframing can
  only show what the frame holds); such a clamp is recorded on the step with the sentence that
  says why, and a group left with no target is skipped with it;
- then moved by what the user's accept and reject answers taught the model about similar edits
  (``reconstruction.core.verdicts``), recorded on the step with its sentence;
- steps are ordered by the largest gap between target and current degree first (FIG. 5D), or in
  the order the user configured (groups they did not list follow, largest gap first);
- a group without a usable trained model, an element absent from the shot (no face, no sky) or an
  element already at its target is skipped, and the rule says why.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from .elements import BY_NAME, degree_gap, toward
from .ranges import clamp_to_range
from .verdicts import Steered

# A target this close to the current degree is not worth a model's pass.
AT_TARGET = 0.02
# Ideals a person means as "at least": eyes "open" must not narrow eyes that are wide open, and a
# "gentle smile" must not shrink a laugh.
AT_LEAST = frozenset({"expression.smile", "expression.eye_openness"})
# ... except the eyes of a laugh: where a laugh (a smile ideal of LAUGH) is asked of a face that is
# not laughing, the eyes are asked as the laugh's, however wide the shot's are. A shocked face's
# wide, staring eyes under a lent smile read "surprised", not laughing (liveportrait_d10: three
# screaming faces stayed at p(happy) <= 0.18 with every lender); a face already laughing keeps its
# eyes (the smile is not asked).
LAUGH = 1.0
WITH_THE_LAUGH = frozenset({"expression.eye_openness"})
# ... and the eyes of any smile asked of a staring face (MediaPipe's ``eyeWide``, both eyes' mean,
# at least STARING): a gentle portrait smile under a stare read "surprised" too (liveportrait_d10
# frames 80 and 324, p(happy) 0.00 -> 0.02 and 0.01; with the smile's eyes 0.70 and 0.80, the
# second classifier 0.58 and 0.73). Eyes that are only wide open, not staring (``eyeWide`` 0.03-0.11
# on the same woman's calm and talking frames), stay as wide as shot.
STARING = 0.25
# Elements that belong to another: a mouth is open because of the smile it is part of, so a face
# already smiling at least as asked keeps its mouth (a laugh is not closed into a grin).
BELONGS = {"expression.mouth_openness": "expression.smile"}
# "At least" read the other way: where the smile asked reads as happy only in part to the
# independent classifier, a bigger one is asked, by RAISE_BY at a time, up to as far as the model
# can take it (a gentle portrait smile under worried brows: liveportrait_d10 frame 0 read p(happy)
# 0.48 at 0.55 and 0.59 at 0.65). Only the smile: wider eyes are not a happier face.
RAISED = frozenset({"expression.smile"})
RAISE_BY = 0.15


def _smiles_eyes_asked(
    ideals: Mapping[str, float], current: Mapping, ranges: Mapping, staring: bool, shot: Mapping
) -> bool:
    """Whether the smile's own eyes come with it: a laugh asked of a face that is not laughing as
    far as the model can take it, or any smile asked of a staring face. Never where this shot
    keeps its smile (a hand at the mouth): the laugh's narrower eyes without the laugh are no
    laugh, only eyes lent from another frame (WolfgangLanger frame 212, "fun": a wide-eyed glance
    over her fingers got doubled, washed-out irises, and no check saw them)."""
    ideal, smile = ideals.get("expression.smile"), current.get("expression.smile")
    if ideal is None or smile is None or (ideal < LAUGH and not staring):
        return False
    reach = clamp_to_range(ideal, ranges.get("expression.smile"))
    if reach is not None and "expression.smile" in shot:
        span = shot["expression.smile"]
        reach = None if span is None else clamp_to_range(reach, span)
    return reach is not None and reach - float(smile) >= AT_TARGET


@dataclass
class Step:
    """One model's pass: the group, its clamped target degrees and what they came from."""

    group: str
    targets: dict[str, float]  # element -> degree the model is asked for (clamped, FIG. 5C)
    current: dict[str, float]  # element -> degree measured on the shot
    ideal: dict[str, float]  # element -> the intention's ideal degree, before clamping
    gap: float  # the largest |target − current| among the step's elements (FIG. 5D's order key)
    limited: dict[str, str] = field(default_factory=dict)  # element -> why this shot held its target back
    learned: dict[str, str] = field(default_factory=dict)  # element -> how the user's verdicts moved its target
    reach: dict[str, float] = field(default_factory=dict)  # element -> the furthest its target may be raised (RAISED)

    def raised(self) -> Step | None:
        """This step asking RAISE_BY more of each element it may raise, within its reach; None when
        every one is already at its reach."""
        targets = dict(self.targets)
        for name, reach in self.reach.items():
            if name in targets and targets[name] < reach - 1e-6:
                targets[name] = min(reach, targets[name] + RAISE_BY)
        if targets == self.targets:
            return None
        gap = max(degree_gap(n, targets[n], self.current[n]) for n in targets)
        return replace(self, targets=targets, gap=gap)

    def at(self, strength: float) -> dict[str, float]:
        """The targets moved only ``strength`` of the way from the current degrees."""
        if strength >= 1.0:
            return dict(self.targets)
        return {n: toward(n, self.current[n], t, strength) for n, t in self.targets.items()}

    def to_json(self) -> dict:
        r = lambda d: {k: round(v, 3) for k, v in d.items()}  # noqa: E731
        return {
            "group": self.group,
            "targets": r(self.targets),
            "current": r(self.current),
            "ideal": r(self.ideal),
            "gap": round(self.gap, 3),
            "limited": dict(self.limited),
            "learned": dict(self.learned),
            "reach": {k: round(v, 3) for k, v in self.reach.items()},
        }


@dataclass
class Skip:
    group: str
    reason: str

    def to_json(self) -> dict:
        return {"group": self.group, "reason": self.reason}


@dataclass
class Rule:
    steps: list[Step] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)

    @property
    def groups(self) -> list[str]:
        return [s.group for s in self.steps]

    def to_json(self) -> dict:
        return {"steps": [s.to_json() for s in self.steps], "skipped": [s.to_json() for s in self.skipped]}


def fluctuation_rule(
    current: Mapping[str, float | None],
    ideals: Mapping[str, float],
    ranges: Mapping[str, Mapping[str, tuple[float, float] | None]],
    unavailable: Mapping[str, str] | None = None,
    order: Sequence[str] = (),
    achievable: Mapping[str, Mapping[str, tuple[float, float] | None]] | None = None,
    why: Mapping[str, Callable[[dict[str, float]], Mapping[str, str]]] | None = None,
    steer: Mapping[str, Callable[[str, float, float], Steered]] | None = None,
    staring: bool = False,
) -> Rule:
    """The rule for one shot.

    ``ranges``: for each group with a usable trained model, its reconstructable range per element
    (None where the model cannot set the element). ``unavailable``: group -> why there is no
    model. ``order``: groups in the user's preferred order; empty means largest gap first.
    ``achievable``: group -> element -> the degrees this shot allows (None: it cannot be changed
    on this shot); an element not listed is limited by the model's range alone. ``why``: group ->
    the model's ``why_limited`` for this shot (targets -> element -> sentence), to word the
    reasons in the model's own terms. ``steer``: group -> the model's ``steer`` (element, current,
    target -> the target its verdicts leave). ``staring``: the shot's eyes stare (``STARING``).
    """
    unavailable = dict(unavailable or {})
    achievable = achievable or {}
    why = why or {}
    steer = steer or {}
    wanted: dict[str, dict[str, float]] = {}
    for name, ideal in ideals.items():
        wanted.setdefault(BY_NAME[name].group, {})[name] = float(ideal)
    steps, skipped = [], []
    for group, group_ideals in wanted.items():
        if group not in ranges:
            skipped.append(Skip(group, unavailable.get(group, "not trained")))
            continue
        shot = achievable.get(group, {})
        targets, now, reasons, asked, limited, learned, reach_of = {}, {}, [], {}, {}, {}, {}
        smiles_eyes = _smiles_eyes_asked(group_ideals, current, ranges[group], staring, shot)
        for name, ideal in group_ideals.items():
            degree = current.get(name)
            label = BY_NAME[name].label
            if degree is None:
                reasons.append(f"{label}: not in this shot")
                continue
            target = clamp_to_range(ideal, ranges[group].get(name))
            if target is None:
                reasons.append(f"{label}: the model has no range for it yet")
                continue
            if name in shot:
                span = shot[name]
                within = float(degree) if span is None else clamp_to_range(target, span)
                if degree_gap(name, within, target) > 1e-6:
                    limited[name] = (
                        f"{label}: this shot does not allow changing it"
                        if span is None
                        else f"{label}: this shot allows {span[0]:.2f}–{span[1]:.2f}"
                    )
                    asked[name] = target
                target = within
            if group in steer:
                steered = steer[group](name, float(degree), target)
                if steered.note:
                    target = clamp_to_range(steered.target, ranges[group].get(name))
                    if shot.get(name) is not None:
                        target = clamp_to_range(target, shot[name])
                    learned[name] = f"{label}: {steered.note}"
            if name in AT_LEAST and float(degree) >= target and not (name in WITH_THE_LAUGH and smiles_eyes):
                if name not in limited:
                    reasons.append(f"{label}: already {float(degree):.2f}, at least the {target:.2f} wanted")
                continue
            owner = BELONGS.get(name)
            if owner in group_ideals and current.get(owner) is not None and current[owner] >= group_ideals[owner]:
                reasons.append(f"{label}: left with the {BY_NAME[owner].label.lower()}, already as wanted")
                continue
            if degree_gap(name, target, degree) < AT_TARGET:
                if name in learned:
                    reasons.append(learned[name])
                elif name not in limited:
                    reasons.append(f"{label}: already at {degree:.2f}")
                continue
            targets[name], now[name] = target, float(degree)
            if name in RAISED:
                reach = clamp_to_range(LAUGH, ranges[group].get(name))
                if shot.get(name) is not None:
                    reach = clamp_to_range(reach, shot[name])
                if reach is not None and reach > target + AT_TARGET and name not in learned:
                    reach_of[name] = reach
        if group in why:
            # The model words each clamp given the targets that remain; a target held back only
            # by another one (a position by the size's zoom) gets its sentence too.
            for name in list(limited):
                limited[name] = why[group]({**targets, name: asked[name]}).get(name, limited[name])
            for name, sentence in why[group](dict(targets)).items():
                if name in targets:
                    limited.setdefault(name, sentence)
        if not targets:
            reasons += list(limited.values())
            skipped.append(Skip(group, "; ".join(dict.fromkeys(reasons)) or "nothing to change"))
            continue
        gap = max(degree_gap(n, targets[n], now[n]) for n in targets)
        steps.append(
            Step(
                group,
                targets,
                now,
                {n: group_ideals[n] for n in targets},
                gap,
                dict(limited),
                {n: v for n, v in learned.items() if n in targets},
                reach_of,
            )
        )
    rank = {g: i for i, g in enumerate(order)}
    steps.sort(key=lambda s: (rank.get(s.group, len(rank)), -s.gap))
    return Rule(steps, skipped)


def rule_for_models(
    current: Mapping[str, float | None],
    ideals: Mapping[str, float],
    models: Mapping[str, object],
    unavailable: Mapping[str, str] | None = None,
    order: Sequence[str] = (),
    analysis=None,
    rgb=None,
) -> Rule:
    """The rule for a shot and the user's loaded models: each model's reconstructable range, and
    with the shot's ``analysis`` what the shot itself allows (``achievable``, worded by the
    model's ``why_limited``; ``rgb``, the shot, for a model that looks at it). The same for the
    shutter, the reconstruct command and the bench."""
    ranges = {g: dict(m.ranges) for g, m in models.items()}
    steer = {g: m.steer for g, m in models.items() if getattr(m, "verdicts", None)}
    achievable, why = {}, {}
    if analysis is not None:
        for g, m in models.items():
            asked = {n: v for n, v in ideals.items() if n in m.elements}
            achievable[g] = m.achievable(analysis, asked, rgb=rgb)
            why[g] = lambda targets, m=m: m.why_limited(analysis, targets, rgb=rgb)
    face = analysis.main_face if analysis is not None else None
    staring = face is not None and face.eyes_wide >= STARING
    return fluctuation_rule(
        current, ideals, ranges, unavailable, order, achievable=achievable, why=why, steer=steer, staring=staring
    )
