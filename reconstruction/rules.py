"""The fluctuation rule ([0081]–[0090], FIGS. 5C and 5D).

From the shot's current degrees, the ideal degrees of its intention and the reconstructable ranges
of the user's trained models, the rule says which models to run, in which order, with which
target degrees:

- each ideal degree is clamped into its model's reconstructable range (FIG. 5C): a model cannot
  be asked for a degree it never saw;
- steps are ordered by the largest gap between target and current degree first (FIG. 5D), or in
  the order the user configured (groups they did not list follow, largest gap first);
- a group without a usable trained model, an element absent from the shot (no face, no sky) or an
  element already at its target is skipped, and the rule says why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .elements import BY_NAME
from .training import arc_distance, clamp_to_range

# A target this close to the current degree is not worth a model's pass.
AT_TARGET = 0.02


def degree_gap(name: str, a: float, b: float) -> float:
    """|a − b| for one element; hue wraps around."""
    return arc_distance(a, b) if BY_NAME[name].circular else abs(a - b)


def toward(name: str, current: float, target: float, strength: float) -> float:
    """The degree ``strength`` of the way from ``current`` to ``target`` (claim 12's weaker
    parameter); hue goes the short way round."""
    if not BY_NAME[name].circular:
        return current + strength * (target - current)
    delta = (target - current + 0.5) % 1.0 - 0.5
    return (current + strength * delta) % 1.0


@dataclass
class Step:
    """One model's pass: the group, its clamped target degrees and what they came from."""

    group: str
    targets: dict[str, float]  # element -> degree the model is asked for (clamped, FIG. 5C)
    current: dict[str, float]  # element -> degree measured on the shot
    ideal: dict[str, float]  # element -> the intention's ideal degree, before clamping
    gap: float  # the largest |target − current| among the step's elements (FIG. 5D's order key)

    def at(self, strength: float) -> dict[str, float]:
        """The targets moved only ``strength`` of the way from the current degrees."""
        if strength >= 1.0:
            return dict(self.targets)
        return {n: toward(n, self.current[n], t, strength) for n, t in self.targets.items()}

    def to_json(self) -> dict:
        r = lambda d: {k: round(v, 3) for k, v in d.items()}  # noqa: E731
        return {"group": self.group, "targets": r(self.targets), "current": r(self.current),
                "ideal": r(self.ideal), "gap": round(self.gap, 3)}


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
) -> Rule:
    """The rule for one shot.

    ``ranges``: for each group with a usable trained model, its reconstructable range per element
    (None where the model cannot set the element). ``unavailable``: group -> why there is no
    model. ``order``: groups in the user's preferred order; empty means largest gap first.
    """
    unavailable = dict(unavailable or {})
    wanted: dict[str, dict[str, float]] = {}
    for name, ideal in ideals.items():
        wanted.setdefault(BY_NAME[name].group, {})[name] = float(ideal)
    steps, skipped = [], []
    for group, group_ideals in wanted.items():
        if group not in ranges:
            skipped.append(Skip(group, unavailable.get(group, "not trained")))
            continue
        targets, now, reasons = {}, {}, []
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
            if degree_gap(name, target, degree) < AT_TARGET:
                reasons.append(f"{label}: already at {degree:.2f}")
                continue
            targets[name], now[name] = target, float(degree)
        if not targets:
            skipped.append(Skip(group, "; ".join(reasons) or "nothing to change"))
            continue
        gap = max(degree_gap(n, targets[n], now[n]) for n in targets)
        steps.append(Step(group, targets, now, {n: group_ideals[n] for n in targets}, gap))
    rank = {g: i for i, g in enumerate(order)}
    steps.sort(key=lambda s: (rank.get(s.group, len(rank)), -s.gap))
    return Rule(steps, skipped)
