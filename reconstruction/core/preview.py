"""Preview planning: what the user sees after the shutter, in display order (FIGS. 7, 11, 13).

``stages()`` is a generator of display events. It yields the original first, before any model
runs (claim 13: shown on acquisition, generation starts on acquisition), then reconstructs the
shot with every step of the rule (the second image, the one that is recorded, claim 8), measures
how far it diverges from the original, and, when that is too far, plans gentler images first:

- mode 1, embodiment 1 (FIG. 7): one softened preview (the third image) made with fewer models
  (claim 11: the steps that move the image most are left out) or with weaker parameters
  (claim 12: every target only part of the way from the current degree);
- mode 2, embodiment 2 (FIG. 11): as mode 1, and if the softened preview itself still diverges
  from the original, a placeholder (a solid colour or a "processing" card) comes between them
  (claims 2 and 3);
- mode 3, embodiment 3 (FIG. 13): a sequence of previews of growing strength, one more element
  (model) or region at a time, ordered near→far, far→near, or by ascending or descending
  divergence (claims 4–7), until the preview is within the threshold of the reconstruction.

The reconstruction always comes last. Nothing here records anything: the caller stores the
``reconstruction`` stage's image and only shows the others.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

import cv2
import numpy as np

from .analysis import Analysis
from .divergence import Divergence, DivergenceSettings, divergence
from .elements import BY_NAME, toward
from .generators.base import ModelError
from .regions import region_masks
from .rules import Rule, Step

# Each preview setting's values with the words the settings page shows: the one declaration
# (reconstruction.models takes its choices from here).
MODES = {1: "1 · gentler preview", 2: "2 · placeholder, then gentler", 3: "3 · growing sequence"}
SOFTENINGS = {"fewer_models": "fewer models", "weaker": "weaker edits"}  # claims 11 and 12
UNITS = {"element": "model by model", "region": "region by region"}
ORDERS = {
    "near_far": "near to far",
    "far_near": "far to near",
    "divergence_asc": "smallest change first",
    "divergence_desc": "largest change first",
}
PLACEHOLDERS = {"card": "a \u201cprocessing\u201d card", "colour": "a solid colour"}

# Close range to long range ([0135]): the face is nearest the camera, the sky farthest.
GROUP_DEPTH = {"faces": 0, "expression": 0, "lighting": 1, "clothing": 2, "composition": 3, "climate": 4}
REGION_DEPTH = {"face": 0, "torso": 1, "background": 2, "sky": 3}
# Groups whose edit moves the subject: the shot is measured again before the next model runs.
MOVES_SUBJECT = {"composition"}
# Claim 12's weaker parameters, strongest first: the first expected within the threshold is used.
WEAKER = (0.75, 0.5, 0.25)
# How many other lenders a model that borrows a face's pixels (the expression model) is asked for
# before its edit is left out: the face it first borrows can carry another feeling (zzhang_vlog
# frame 116: a lent smile read fearful to the second classifier; the next stored face read happy,
# 0.98 and 0.59), and each try costs the recorded photo a generation and a check (about 150 ms).
ANOTHER_LENDER = 2


@dataclass
class PreviewSettings:
    mode: int = 2  # 1, 2 or 3: the embodiment the preview follows
    soften: str = "fewer_models"  # modes 1 and 2: "fewer_models" (claim 11) or "weaker" (claim 12)
    unit: str = "element"  # mode 3: grow the preview one "element" (model) or one "region" at a time
    order: str = "near_far"  # mode 3: near_far, far_near, divergence_asc or divergence_desc
    placeholder: str = "card"  # mode 2: "card" (a "processing" card) or "colour" (a solid colour)
    placeholder_colour: str = "#1b1f27"  # the solid colour, or the card's background
    max_previews: int = 4  # mode 3: an upper bound on the sequence, so the reveal stays short

    def __post_init__(self):
        checks = [
            (self.mode, MODES, "mode"),
            (self.soften, SOFTENINGS, "soften"),
            (self.unit, UNITS, "unit"),
            (self.order, ORDERS, "order"),
            (self.placeholder, PLACEHOLDERS, "placeholder"),
        ]
        for value, allowed, name in checks:
            if value not in allowed:
                raise ValueError(f"preview {name} must be one of {', '.join(map(str, allowed))}, got {value!r}")


class Reconstructor(Protocol):
    """What the planner needs from the models: apply one step, and measure an image. One whose
    models borrow faces' pixels may also offer ``last_lender`` (group -> the lender of its latest
    edit) and ``lend_again(group, lender, why) -> bool`` (``ModelReconstructor``), so that the
    self-check can ask for another lender before leaving an edit out."""

    def apply(self, rgb: np.ndarray, analysis: Analysis, step: Step, strength: float) -> np.ndarray: ...

    def measure(self, rgb: np.ndarray, like: Analysis | None = None) -> Analysis: ...


class ModelReconstructor:
    """The user's trained fluctuation models behind the ``Reconstructor`` interface. ``recent``:
    the frames streamed before the shutter, which a model may draw exemplars from; ``reports``
    keeps what each model chose for the full reconstruction, for the shot's record."""

    def __init__(self, models: Mapping[str, object], analyzer, recent: Sequence = ()):
        self.models = models
        self.analyzer = analyzer
        self.recent = tuple(recent)
        self.reports: dict[str, dict] = {}
        self.avoid: dict[str, dict[str, str]] = {}  # group -> lender not to draw on again -> why
        self.last_lender: dict[str, str] = {}  # group -> the lender of its latest edit

    def apply(self, rgb, analysis, step, strength):
        report: dict = {}
        self.last_lender.pop(step.group, None)
        model = self.models[step.group]
        if strength < 1.0 and getattr(model, "whole_only", False):
            return rgb  # no weaker version of it (half a lent eye is a ghost): the preview goes without
        image = model.generate(
            rgb, analysis, step.at(strength), recent=self.recent, report=report, avoid=self.avoid.get(step.group)
        )
        lender = (report.get("exemplar") or {}).get("lender")
        if lender:
            self.last_lender[step.group] = lender
        if strength >= 1.0 and report:
            self.reports[step.group] = report
        return image

    def lend_again(self, group: str, lender: str, why: str) -> bool:
        """Ask ``group``'s model to draw on another lender than ``lender``, whose edit the
        self-check left out for ``why``; False when it has already been told as many times as
        ``ANOTHER_LENDER`` allows."""
        avoided = self.avoid.setdefault(group, {})
        if lender in avoided or len(avoided) >= ANOTHER_LENDER:
            return False
        avoided[lender] = f"its edit was left out ({why})"
        return True

    def measure(self, rgb, like=None):
        """Measure an edited image. ``like``: an analysis of the same framing, whose person mask
        is reused (edits that keep the framing do not move the person; the segmenter is a
        quarter of an analysis)."""
        mask = like.person_mask if like is not None else None
        return self.analyzer.analyze(rgb, person_mask=mask)


@dataclass
class Stage:
    """One picture shown after the shutter (a stage of the staged preview)."""

    kind: str  # "original", "placeholder", "preview" or "reconstruction" (sent as the message's "stage")
    image: np.ndarray | None  # None for a placeholder (the page draws it; ``placeholder_image`` renders it)
    groups: list[str] = field(default_factory=list)  # the models whose edits the image holds
    strength: float = 1.0  # how far toward the targets those models went (claim 12)
    regions: list[str] = field(default_factory=list)  # mode 3 by region: the regions revealed
    degrees: dict[str, float | None] = field(default_factory=dict)  # measured on the image
    divergence: Divergence | None = None  # from the original
    to_reconstruction: Divergence | None = None  # from the reconstruction (mode 3's stopping test)
    note: str = ""  # why this image is shown
    placeholder: dict | None = None  # {"kind", "colour", "text"} for a placeholder
    failed: list[dict] = field(default_factory=list)  # reconstruction: models that failed, and why
    left_out: list[dict] = field(default_factory=list)  # reconstruction: models the self-check left out, and why
    checked: dict = field(default_factory=dict)  # reconstruction: what the self-check ran and what it could not
    raised: list[dict] = field(
        default_factory=list
    )  # reconstruction: targets asked again, bigger ({"group", "element", "from", "to", "why"})
    ms: float = 0.0  # since the shutter's image reached the planner
    timings: dict[str, float] = field(default_factory=dict)  # reconstruction: ms per model and measuring

    def to_json(self) -> dict:
        return {
            "stage": self.kind,
            "groups": self.groups,
            "strength": round(self.strength, 3),
            "regions": self.regions,
            "degrees": {k: (None if v is None else round(float(v), 3)) for k, v in self.degrees.items()},
            "divergence": self.divergence.to_json() if self.divergence else None,
            "to_reconstruction": self.to_reconstruction.to_json() if self.to_reconstruction else None,
            "note": self.note,
            "placeholder": self.placeholder,
            "failed": self.failed,
            "left_out": self.left_out,
            "checked": self.checked,
            "raised": self.raised,
            "ms": round(self.ms, 1),
            "timings": {k: round(v, 1) for k, v in self.timings.items()},
        }


@dataclass
class Chain:
    image: np.ndarray
    analysis: Analysis
    applied: list[str]
    failed: list[dict]
    timings: dict[str, float] = field(default_factory=dict)  # ms per model and for measuring
    framing: Analysis | None = None  # what the next model is given: the last analysis whose framing the image has
    strength: float = 1.0  # how far toward the targets the models went
    lenders: dict[str, str] = field(default_factory=dict)  # group -> whose pixels its edit borrowed


def reconstruct(
    original: np.ndarray,
    analysis: Analysis,
    steps: Sequence[Step],
    reconstructor: Reconstructor,
    strength: float = 1.0,
    start: Chain | None = None,
) -> Chain:
    """Apply the steps in order ([0109], FIG. 8). A model that fails is skipped and reported; the
    others still run. ``start``: a chain of the steps before these (at the same strength) to go
    on from, which gives the same image as running them all."""
    image, current = original, analysis
    applied, failed, timings, lenders = [], [], {}, {}
    if start is not None:
        image, current = start.image, start.framing or analysis
        applied, failed, timings = list(start.applied), list(start.failed), dict(start.timings)
        lenders = dict(start.lenders)
    framing = current  # the last analysis whose framing the image still has
    measured = None  # the analysis of ``image`` itself, when nothing changed it since
    clock = time.perf_counter
    for step in steps:
        started = clock()
        before = image
        try:
            image = reconstructor.apply(image, current, step, strength)
        except Exception as exc:  # one broken model must not cost the user the others' edits
            # A model that declines says why in words meant for the user; anything else is a fault.
            reason = str(exc) if isinstance(exc, ModelError) else f"{type(exc).__name__}: {exc}"
            failed.append({"group": step.group, "reason": reason[:300]})
            continue
        finally:
            timings[step.group] = (clock() - started) * 1000
        if image is before:
            continue  # a step that found nothing to change (each person's best take) is no edit
        applied.append(step.group)
        lender = getattr(reconstructor, "last_lender", {}).get(step.group)
        if lender:
            lenders[step.group] = lender
        measured = None
        if step.group in MOVES_SUBJECT:
            started = clock()
            current = framing = measured = reconstructor.measure(image)
            timings["measure"] = timings.get("measure", 0.0) + (clock() - started) * 1000
    if measured is None:
        if not applied:
            measured = analysis
        elif start is not None and len(applied) == len(start.applied):
            measured = start.analysis
        else:
            started = clock()
            measured = reconstructor.measure(image, like=framing)
            timings["measure"] = timings.get("measure", 0.0) + (clock() - started) * 1000
    return Chain(image, measured, applied, failed, timings, framing, strength, lenders)


def _why(found) -> str:
    """The findings' messages as the one reason the page and the record give."""
    return "; ".join(f.message for f in found)


def _from_another_lender(current: Chain, culprit: str, found, after, remake, findings, reconstructor):
    """``current`` made again with ``culprit``'s edit from another lender (a face whose pixels it
    borrows), with its findings, when that is as clean as leaving the edit out (``after``: the
    findings without it); None when no other lender does it. Only where the face lent may be at
    fault: a smile too weak to read is the model's (the shutter bench's briefly trained model: six
    of ten shots, no other lender better, 300 ms each). Also in a preview's quick check, whose
    leaving out the recorded photo keeps."""
    ask = getattr(reconstructor, "lend_again", None)
    lender, why = current.lenders.get(culprit), _why(found)
    if ask is None or all(f.too_little for f in found if f.group in (culprit, None)):
        return None
    while lender and ask(culprit, lender, why):
        again = remake(current, culprit)
        if culprit not in again.applied:
            return None
        found_again = findings(again)
        if len(found_again) <= len(after):
            return again, found_again
        lender, why = again.lenders.get(culprit), _why(found_again)
    return None


def _raised(cache: dict, applied) -> list[dict]:
    """The targets the self-check asked again, bigger, of the models whose edits the image holds."""
    out = []
    for group, r in cache.get("raised", {}).items():
        if group in applied:
            for name, to in r["step"].targets.items():
                if to != r["asked"].get(name):
                    out.append(
                        {
                            "group": group,
                            "element": name,
                            "from": round(r["asked"][name], 3),
                            "to": round(to, 3),
                            "why": r["why"],
                        }
                    )
    return out


def _defects(found) -> list:
    """The findings that are defects: without the partial smiles, which only ask for more."""
    return [f for f in found if not getattr(f, "partial", False)]


def _made(cache: dict) -> dict:
    """The chains already made for this shot, by (groups, strength): a trial reconstruction the
    self-check needs may already exist as a preview."""
    return cache.setdefault("chains", {})


def _quick_checked(original, analysis, steps, reconstructor, strength, check, cache) -> tuple[Chain, list[dict]]:
    """A preview's chain, made and quick-checked on its own before the reconstruction exists,
    with the models its check left out."""
    chain = reconstruct(original, analysis, steps, reconstructor, strength)
    if check is None:
        return chain, []
    chain, left_out, _ = self_checked(
        original, analysis, steps, chain, reconstructor, check, quick=True, cache=cache, strength=strength
    )
    return chain, left_out


def self_checked(
    original: np.ndarray,
    analysis: Analysis,
    steps: Sequence[Step],
    full: Chain,
    reconstructor: Reconstructor,
    check,
    quick: bool = False,
    cache: dict | None = None,
    strength: float = 1.0,
) -> tuple[Chain, list[dict], dict]:
    """The reconstruction with every model whose edit made the shot worse left out (claim 11's
    fewer models as a safety net), the models left out with why, and what was checked.
    ``quick``: without the slow judges (identity, borders), before any preview is built from it.
    ``strength``: the one ``full`` was made at (a weaker preview's trials are made at it too)."""
    if check is None:
        return full, [], {}
    started = time.perf_counter()
    cache = cache if cache is not None else {}
    raised = cache.setdefault("raised", {})
    by_group = {s.group: raised[s.group]["step"] if s.group in raised else s for s in steps}

    def findings(chain: Chain, every: bool = False):
        """What is against ``chain``; ``every``: with the partial smiles, which are no defect."""
        targets = {n: t for g in chain.applied for n, t in by_group[g].targets.items()}
        found = check.findings(original, analysis, chain.image, chain.analysis, targets, chain.applied, cache, quick)
        return found if every else _defects(found)

    made = _made(cache)

    def without(chain: Chain, group: str) -> Chain:
        keep = [by_group[g] for g in chain.applied if g != group]
        key = (tuple(s.group for s in keep), strength)
        if key in made:
            return replace(made[key], failed=full.failed + made[key].failed, timings=dict(full.timings))
        trial = reconstruct(original, analysis, keep, reconstructor, strength)
        made[key] = trial
        trial = replace(
            trial,
            failed=full.failed + trial.failed,
            timings={**full.timings, **{f"{k} (again)": v for k, v in trial.timings.items()}},
        )
        return trial

    def remake(chain: Chain, group: str) -> Chain:
        """``chain`` made again, after ``group``'s model was told to avoid a lender: every chain
        made with that model's edit so far is stale."""
        for key in [k for k in made if group in k[0]]:
            del made[key]
        again = reconstruct(original, analysis, [by_group[g] for g in chain.applied], reconstructor, strength)
        made[(tuple(again.applied), strength)] = again
        return again

    def ask_bigger(chain: Chain, group: str, why: str) -> Chain:
        """``chain`` made again with ``group`` asking RAISE_BY more (the caller checked it may)."""
        first = raised.get(group, {}).get("asked", by_group[group].targets)
        raised[group] = {"step": by_group[group].raised(), "asked": first, "why": raised.get(group, {}).get("why", why)}
        by_group[group] = raised[group]["step"]
        return remake(chain, group)

    current, left_out = full, []
    everything = findings(current, every=True)
    found = _defects(everything)
    # The photo a bigger smile started from, kept for when the bigger one brings a defect:
    # (chain, group, its step, its raised record).
    fallback = None

    def back(fallback) -> Chain:
        """The photo a bigger smile started from, with its own step and record again."""
        chain, group, by_group[group], record = fallback
        if record is None:
            raised.pop(group, None)
        else:
            raised[group] = record
        return chain

    while current.applied:
        if not found:
            short = [f for f in everything if getattr(f, "partial", False) and f.group in current.applied]
            group = short[0].group if short else None
            if group is not None and strength == 1.0 and by_group[group].raised() is not None:
                # Clean, but the smile asked reads only in part: a bigger one, kept only if it
                # reads as a smile and is as clean. (A smile that did not move the classifier at
                # all is not raised: in the fidelity bench no such raise ever read as a smile,
                # and each costs a generation and a check at the shutter, p95 590 -> 1060 ms.)
                fallback = fallback or (current, group, by_group[group], raised.get(group))
                current = ask_bigger(current, group, _why(short))
                everything = findings(current, every=True)
                found = _defects(everything)
                continue
            if short and fallback is not None:
                current = back(fallback)  # no bigger smile read as one
            break
        if fallback is not None:
            current = back(fallback)  # the bigger smile brought what the partial one had not
            break
        # The likeliest culprit first; a model is blamed when leaving it out clears findings,
        # not merely because of where the finding lies.
        suspects = check.suspects(found, current.applied)
        culprit, trial, after = suspects[0], None, None
        for group in suspects:
            # A model's own targets stop being checked once it is left out: that clears nothing,
            # and a model with nothing else against it is not worth a trial reconstruction.
            standing = [f for f in found if not (f.target and f.group == group)]
            if not standing:
                continue
            candidate = without(current, group)
            remaining = findings(candidate) if candidate.applied else []
            if len(remaining) < len(standing):
                culprit, trial, after = group, candidate, remaining
                break
        if trial is None:
            trial = without(current, culprit)
            after = findings(trial) if trial.applied else []
        lent = _from_another_lender(current, culprit, found, after, remake, findings, reconstructor)
        if lent is not None:
            current, found = lent
            everything = found
            continue
        left_out.append({"group": culprit, "why": _why(found)})
        current, found, everything = trial, after, after
    label = "quick check" if quick else "self-check"
    current.timings[label] = current.timings.get(label, 0.0) + (time.perf_counter() - started) * 1000
    return current, left_out, check.summary()


def stages(
    original: np.ndarray,
    analysis: Analysis,
    rule: Rule,
    reconstructor: Reconstructor,
    settings: PreviewSettings | None = None,
    div: DivergenceSettings | None = None,
    check=None,
) -> Iterator[Stage]:
    """The display events for one shot, in display order; the last is always the reconstruction.
    ``check``: the self-check (``reconstruction.core.selfcheck.SelfCheck``). Its quick part (every
    element, eyes and expression) runs on the reconstruction before any preview is built from it,
    so a preview never shows an edit that closes the eyes or saddens the face; the slow judges
    (identity, borders) run before the reconstruction is shown and recorded, which keeps the first
    preview within its budget."""
    settings = settings or PreviewSettings()
    div = div or DivergenceSettings()
    start = time.perf_counter()

    def stamp(stage: Stage) -> Stage:
        stage.ms = (time.perf_counter() - start) * 1000
        return stage

    yield stamp(Stage("original", original, degrees=dict(analysis.elements), note="the shot as taken"))
    if not rule.steps:
        reasons = "; ".join(f"{s.group}: {s.reason}" for s in rule.skipped) or "the intention asks for no change"
        yield stamp(
            Stage(
                "reconstruction",
                original,
                degrees=dict(analysis.elements),
                divergence=divergence(original, analysis.elements, original, analysis.elements, div),
                note=f"no models to apply ({reasons}); the original is recorded",
            )
        )
        return
    cache: dict = {}
    if check is not None:
        check.prefetch(original, analysis, cache, rule.groups)
    # The gentler preview is built first, from what the rule aims at, so it reaches the screen
    # before the full reconstruction and its checks have run; it is quick-checked on its own.
    by_degrees = DivergenceSettings("degrees", scale=div.scale)
    aimed = divergence(None, analysis.elements, None, planned_degrees(analysis, rule.steps), by_degrees)
    previewed, chain, early_out = False, None, []
    if aimed.diverged and settings.mode in (1, 2):

        def planned(groups, strength=1.0):
            return planned_degrees(analysis, rule.steps, groups, strength)

        soft, chain, early_out = _softened(
            original, analysis, list(rule.steps), aimed.gaps, planned, reconstructor, settings, div, check, cache
        )
        if soft is not None:
            _made(cache)[(tuple(chain.applied), chain.strength)] = chain
            yield from (stamp(s) for s in _with_placeholder(soft, settings))
            previewed = True
    first = None  # mode 3: (stage, chain) of the sequence's first preview, shown before the reconstruction
    if aimed.diverged and settings.mode == 3 and not (settings.unit == "region" and "composition" not in rule.groups):
        shown, chain, early_out = _first_in_sequence(
            original, analysis, rule, aimed, reconstructor, settings, div, check, cache
        )
        if shown is not None:
            _made(cache)[(tuple(chain.applied), chain.strength)] = chain
            yield stamp(shown)
            previewed = not shown.to_reconstruction.diverged  # within the aim: the sequence ends there
            first = (shown, chain)
    # A model whose own edit the preview's check found at fault is left out of the reconstruction
    # for the same reason, without being made and judged again.
    refused = {e["group"] for e in early_out} if (previewed or first is not None) else set()
    early_out = [e for e in early_out if e["group"] in refused]
    steps_left = [s for s in rule.steps if s.group not in refused]
    full = None
    if (previewed or first is not None) and chain.strength == 1.0:
        # A preview of the first models at full strength is the reconstruction's first half:
        # go on from it instead of making it again.
        tried = chain.applied + sorted(refused) + [f["group"] for f in chain.failed]
        if rule.groups[: len(tried)] == sorted(tried, key=rule.groups.index):
            full = reconstruct(
                original, analysis, [s for s in rule.steps if s.group not in tried], reconstructor, start=chain
            )
    if full is None:
        full = reconstruct(original, analysis, steps_left, reconstructor)
    full, left_out, _ = self_checked(
        original, analysis, steps_left, full, reconstructor, check, quick=True, cache=cache
    )
    left_out = early_out + left_out
    d_full = _between(original, analysis, full.image, full.analysis, div)

    def final() -> Stage:
        """The reconstruction, once the slow judges passed it too."""
        checked_full, more, checked = self_checked(
            original, analysis, steps_left, full, reconstructor, check, cache=cache
        )
        d = (
            d_full
            if checked_full is full
            else _between(original, analysis, checked_full.image, checked_full.analysis, div)
        )
        stage = Stage(
            "reconstruction",
            checked_full.image,
            checked_full.applied,
            1.0,
            degrees=dict(checked_full.analysis.elements),
            divergence=d,
            failed=checked_full.failed,
            timings=checked_full.timings,
            left_out=left_out + more,
            checked=checked,
            raised=_raised(cache, checked_full.applied),
        )
        if not checked_full.applied:
            stage.note = (
                "every edit made the shot worse; the original is recorded"
                if stage.left_out
                else "every model failed; the original is recorded"
            )
        elif shown_directly:
            stage.note = "close to the original: shown directly"
        else:
            stage.note = "the full reconstruction (recorded)"
        return stamp(stage)

    shown_directly = not previewed and first is None and (not full.applied or not d_full.diverged)
    if previewed or shown_directly:
        yield final()
        return
    if settings.mode in (1, 2):
        # The rule's aims looked close, the result is not: the gentler preview after all, now
        # from what the models really did (already checked as part of the reconstruction).
        steps = [s for s in rule.steps if s.group in full.applied]

        def measured(groups, strength=1.0):
            return expected_degrees(analysis, full, groups, strength)

        soft, _, _ = _softened(
            original, analysis, steps, d_full.gaps, measured, reconstructor, settings, div, face_gaps=d_full.faces
        )
        if soft is not None:
            yield from (stamp(s) for s in _with_placeholder(soft, settings))
    else:
        for preview in _sequence(original, analysis, rule, full, d_full, reconstructor, settings, div, first):
            yield stamp(preview)
    yield final()


def _face_by_face(original, analysis, groups, taken, faces, reconstructor, settings, grown, first):
    """Mode 3 over a group: each person's best take revealed face by face, in the sequence's order
    (nearest first: the specification's near-to-far order). Yields the previews; returns how many
    it showed, or None when the sequence ends here (a preview within the threshold of the
    reconstruction, or nothing more to show before it)."""
    order_name = ORDERS[settings.order]
    start = len(first[0].regions) if first is not None and first[0].regions else 0
    shown = 1 if start else 0
    for k in range(start + 1, len(faces) + 1):
        if shown >= settings.max_previews or (k == len(faces) and len(groups) == 1):
            return None  # out of previews, or the last face is the reconstruction itself
        image = _faces_revealed(original, taken, faces[:k])
        measured = reconstructor.measure(image, like=analysis)
        names = [_face_name(f) for f in faces[:k]]
        stage = grown(
            image,
            measured.elements,
            ["faces"],
            faces=measured.faces,
            regions=names,
            note=f"face by face ({order_name}): {', '.join(names)}",
        )
        shown += 1
        yield stage
        if not stage.to_reconstruction.diverged:
            return None
    return shown


def _with_placeholder(soft: Stage, settings: PreviewSettings) -> list[Stage]:
    """Mode 2 puts a placeholder before a gentler preview that still diverges (claim 2)."""
    if settings.mode == 2 and soft.divergence.diverged:
        return [
            Stage(
                "placeholder",
                None,
                note="the gentler preview still differs a lot from the shot",
                placeholder=placeholder_spec(settings),
            ),
            soft,
        ]
    return [soft]


def _between(a_rgb: np.ndarray, a: Analysis, b_rgb: np.ndarray, b: Analysis, div: DivergenceSettings) -> Divergence:
    """How far image b has moved from image a, every face of both counted."""
    return divergence(a_rgb, a.elements, b_rgb, b.elements, div, (a.faces, b.faces))


def _contribution(
    step_group: str, gaps: Mapping[str, float], faces: Mapping[str, Mapping[str, float]] | None = None
) -> float:
    """How much a group's edits moved the image: its elements' gaps measured against their
    thresholds and weighted (claim 9), so a small reframing outweighs a big smile ([0100]). The
    best takes (``faces``) moved the other faces: their gaps (``Divergence.faces``)."""
    if step_group == "faces":
        return sum(
            BY_NAME[n].weight * g / BY_NAME[n].threshold for face in (faces or {}).values() for n, g in face.items()
        )
    return sum(BY_NAME[n].weight * g / BY_NAME[n].threshold for n, g in gaps.items() if BY_NAME[n].group == step_group)


def planned_degrees(
    analysis: Analysis, steps: Sequence[Step], groups=None, strength: float = 1.0
) -> dict[str, float | None]:
    """The degrees a reconstruction holding ``groups``' edits (every step's when None), at
    ``strength``, aims at: the rule's targets for their elements, the original's for the rest.
    Known before any model runs."""
    out = dict(analysis.elements)
    for step in steps:
        if groups is not None and step.group not in groups:
            continue
        for name, target in step.targets.items():
            if out.get(name) is not None:
                out[name] = toward(name, out[name], target, strength)
    return out


def expected_degrees(analysis: Analysis, full: Chain, groups, strength: float = 1.0) -> dict[str, float | None]:
    """The degrees a preview holding only ``groups``' edits, at ``strength``, should measure: the
    reconstruction's measured degrees for those groups' elements (part of the way at a lower
    strength), the original's for the rest. Choosing the preview by this estimate costs no
    generation; only the chosen preview is generated, and it is then measured for real."""
    out = dict(analysis.elements)
    for name, value in full.analysis.elements.items():
        if BY_NAME[name].group in groups and value is not None and out.get(name) is not None:
            out[name] = toward(name, out[name], value, strength)
    return out


def _softened(
    original, analysis, steps, gaps, expected, reconstructor, settings, div, check=None, cache=None, face_gaps=None
) -> tuple[Stage | None, Chain, list[dict]]:
    """The third image for modes 1 and 2: chosen by the degrees it is expected to measure
    (``expected(groups, strength)``; ``gaps``: how far each element is expected to move in the
    full reconstruction), then generated once. ``check``: quick-check it on its own (a preview
    built before the reconstruction); a model it finds at fault is left out of the preview too.
    Returns the stage (None when nothing is left to show), its chain and the models left out."""
    by_degrees = DivergenceSettings("degrees", scale=div.scale)

    def close_enough(groups, strength=1.0):
        return not divergence(None, analysis.elements, None, expected(groups, strength), by_degrees).diverged

    if len(steps) == 1 and steps[0].group == "faces":
        # Only the best takes: no weaker version of a lent eye exists, so fewer faces instead (the
        # nearest half of those that took something); one face alone is shown as it is.
        chain, left_out = _quick_checked(original, analysis, list(steps), reconstructor, 1.0, check, cache)
        taken, faces = _taken_faces(reconstructor, replace(settings, order="near_far"))
        if not chain.applied or len(faces) < 2:
            return None, chain, left_out
        kept = faces[: len(faces) // 2]
        image = _faces_revealed(original, taken, kept)
        measured = reconstructor.measure(image, like=analysis)
        d = _between(original, analysis, image, measured, div)
        names = [_face_name(f) for f in kept]
        stage = Stage(
            "preview",
            image,
            ["faces"],
            1.0,
            regions=names,
            degrees=dict(measured.elements),
            divergence=d,
            note=f"fewer faces: only {', '.join(names)} of {len(faces)} that took something",
        )
        return stage, chain, left_out  # the chain with every face: a reconstruction may go on from it
    if settings.soften == "fewer_models" and len(steps) > 1:
        # Leave out the model that moves the image most, then the next, until the preview is
        # expected within the threshold or one model is left ([0111]: composition goes first).
        kept = [s.group for s in steps]
        dropped: list[str] = []
        for group in sorted(kept, key=lambda g: -_contribution(g, gaps, face_gaps)):
            if len(kept) == 1:
                break
            kept.remove(group)
            dropped.append(group)
            if close_enough(kept):
                break
        chain, left_out = _quick_checked(
            original, analysis, [s for s in steps if s.group in kept], reconstructor, 1.0, check, cache
        )
        strength, note = 1.0, f"fewer models: without {', '.join(dropped)}"
    else:
        groups = [s.group for s in steps]
        strength = next((s for s in WEAKER if close_enough(groups, s)), WEAKER[-1])
        chain, left_out = _quick_checked(original, analysis, list(steps), reconstructor, strength, check, cache)
        reason = "" if settings.soften == "weaker" else " (a single model: weaker instead of fewer)"
        note = f"weaker parameters: {round(strength * 100)} % of the way{reason}"
    if not chain.applied:
        return None, chain, left_out
    d = _between(original, analysis, chain.image, chain.analysis, div)
    return (
        Stage(
            "preview",
            chain.image,
            chain.applied,
            strength,
            degrees=dict(chain.analysis.elements),
            divergence=d,
            note=note,
        ),
        chain,
        left_out,
    )


def _ordered(units: list[str], depth: Mapping[str, int], weight: Mapping[str, float], order: str) -> list[str]:
    if order == "near_far":
        return sorted(units, key=lambda u: depth.get(u, 99))
    if order == "far_near":
        return sorted(units, key=lambda u: -depth.get(u, 99))
    return sorted(units, key=lambda u: weight[u], reverse=order == "divergence_desc")


def _sequence_groups(steps, gaps, settings, faces=None) -> list[str]:
    return _ordered(list(steps), GROUP_DEPTH, {g: _contribution(g, gaps, faces) for g in steps}, settings.order)


def _first_in_sequence(original, analysis, rule, aimed, reconstructor, settings, div, check, cache):
    """Mode 3's first preview, built before the reconstruction: the first model alone (or the only
    model at a third of the way), quick-checked, its distance to the reconstruction taken from
    what the rule aims at. A model its check leaves out gives way to the next. Returns the stage
    (None when every model was left out), its chain and the models left out."""
    steps = {s.group: s for s in rule.steps}
    groups = _sequence_groups(steps, aimed.gaps, settings)
    # One model alone grows in strength; the best takes have no weaker version (they grow face by face).
    strength = 1 / 3 if len(groups) == 1 and groups[0] != "faces" else 1.0
    left_out: list[dict] = []
    chain = None
    for group in groups[:-1] or groups:
        chain, out = _quick_checked(original, analysis, [steps[group]], reconstructor, strength, check, cache)
        left_out += out
        if chain.applied:
            break
    if chain is None or not chain.applied:
        return None, chain, left_out
    revealed, shown = [], chain
    taken, faces = _taken_faces(reconstructor, settings)
    if chain.applied == ["faces"] and len(faces) >= 2:
        # Several people took something: the sequence reveals them face by face, the first alone
        # (the chain itself, with every face, is what the reconstruction goes on from).
        image = _faces_revealed(original, taken, faces[:1])
        shown = replace(chain, image=image, analysis=reconstructor.measure(image, like=analysis))
        revealed = [_face_name(faces[0])]
    degrees = shown.analysis.elements
    by_degrees = DivergenceSettings("degrees", scale=div.scale)
    if revealed:
        note = f"face by face ({ORDERS[settings.order]}): {revealed[0]}"
    elif len(groups) == 1:
        note = f"{group} at {round(strength * 100)} %"
    else:
        note = f"model by model ({ORDERS[settings.order]}): {group}"
    # Distance to the reconstruction: what the rule aims at, which says nothing of the other faces;
    # a face-by-face reveal is measured against every face taken.
    to_reconstruction = (
        _between(shown.image, shown.analysis, chain.image, chain.analysis, div)
        if revealed
        else divergence(None, degrees, None, planned_degrees(analysis, rule.steps), by_degrees)
    )
    stage = Stage(
        "preview",
        shown.image,
        list(chain.applied),
        strength,
        degrees=dict(degrees),
        divergence=_between(original, analysis, shown.image, shown.analysis, div),
        to_reconstruction=to_reconstruction,
        note=note + _unit_note(settings),
        failed=chain.failed,
        regions=revealed,
    )
    return stage, chain, left_out


def _taken_faces(reconstructor, settings) -> tuple[np.ndarray | None, list]:
    """The best takes' image and the faces they changed (``besttake.FaceTake``), in the sequence's
    order: nearest (largest) first, or farthest first; by how much each moved, for the divergence
    orders. (None, []) where no best take ran."""
    model = getattr(reconstructor, "models", {}).get("faces")
    last = getattr(model, "last", None)
    if last is None:
        return None, []
    if settings.order in ("near_far", "far_near"):
        faces = sorted(last.changed, key=lambda f: f.box[2] * f.box[3], reverse=settings.order == "near_far")
    else:
        faces = sorted(last.changed, key=lambda f: len(f.chosen), reverse=settings.order == "divergence_desc")
    return last.image, faces


def _face_name(face) -> str:
    return f"face {face.index + 1}"


def _faces_revealed(original: np.ndarray, taken: np.ndarray, faces) -> np.ndarray:
    """The original with ``faces``' best takes shown, the others' not yet: each take changed only
    pixels inside its face's box, so a box of the best-take image is exactly that face's edit."""
    image = original.copy()
    height, width = original.shape[:2]
    for face in faces:
        x, y, w, h = face.box
        x0, y0 = max(0, int(x) - 1), max(0, int(y) - 1)
        x1, y1 = min(width, int(x + w) + 2), min(height, int(y + h) + 2)
        image[y0:y1, x0:x1] = taken[y0:y1, x0:x1]
    return image


def _unit_note(settings) -> str:
    return "" if settings.unit == "element" else " (reframing moves every region, so the reveal goes model by model)"


def _sequence(original, analysis, rule, full, d_full, reconstructor, settings, div, first=None) -> Iterator[Stage]:
    """Mode 3: previews of growing strength, each within the threshold of the reconstruction ends it.
    ``first``: the (stage, chain) already shown before the reconstruction was built; the sequence
    goes on from it."""
    steps = {s.group: s for s in rule.steps if s.group in full.applied}
    order_name = ORDERS[settings.order]

    def grown(image, degrees, groups, strength=1.0, faces=None, **extra) -> Stage:
        """A preview with its divergence from the original and to the reconstruction (``faces``:
        the preview's faces, so that every face counts)."""
        return Stage(
            "preview",
            image,
            list(groups),
            strength,
            degrees=dict(degrees),
            divergence=divergence(
                original, analysis.elements, image, degrees, div, None if faces is None else (analysis.faces, faces)
            ),
            to_reconstruction=divergence(
                image,
                degrees,
                full.image,
                full.analysis.elements,
                div,
                None if faces is None else (faces, full.analysis.faces),
            ),
            **extra,
        )

    if settings.unit == "region" and "composition" not in steps:
        masks = region_masks(original, analysis)
        full_f, orig_f = full.image.astype(np.float32), original.astype(np.float32)
        moved = np.abs(full_f - orig_f).mean(axis=2)
        changed = {r: float(moved[m > 0.5].mean()) if (m > 0.5).any() else 0.0 for r, m in masks.items()}
        regions = [r for r in _ordered(list(masks), REGION_DEPTH, changed, settings.order) if changed[r] > 0.5]
        alpha = np.zeros(original.shape[:2], np.float32)
        for k, region in enumerate(regions[:-1][: settings.max_previews], start=1):
            alpha = np.maximum(alpha, masks[region])
            image = np.clip(orig_f * (1 - alpha[..., None]) + full_f * alpha[..., None] + 0.5, 0, 255).astype(np.uint8)
            stage = grown(
                image,
                reconstructor.measure(image, like=analysis).elements,
                steps,
                regions=regions[:k],
                note=f"region by region ({order_name}): {', '.join(regions[:k])}",
            )
            yield stage
            if not stage.to_reconstruction.diverged:
                return
        return
    note_unit = _unit_note(settings)
    groups = _sequence_groups(steps, d_full.gaps, settings, d_full.faces)
    taken, faces = _taken_faces(reconstructor, settings)
    if "faces" in steps and len(faces) >= 2:
        # A group: each person's best take face by face first, then the models one by one.
        shown_faces = yield from _face_by_face(
            original, analysis, groups, taken, faces, reconstructor, settings, grown, first
        )
        groups = [g for g in groups if g != "faces"]
        if shown_faces is None or len(groups) < 2:
            return  # within the threshold, out of previews, or the last model is the reconstruction
        image = taken
        current, applied = reconstructor.measure(image, like=analysis), ["faces"]
        budget = settings.max_previews - shown_faces
    else:
        image, current, applied, budget = None, None, [], settings.max_previews
    shown = first[0] if first is not None and image is None else None
    if shown is not None and shown.groups and shown.groups[0] in groups:
        groups = shown.groups[:1] + [g for g in groups if g != shown.groups[0]]
    else:
        shown = None  # its model was left out of the reconstruction: start again from the original
    if len(groups) == 1 and image is None:
        # One model: grow its strength instead (claim 4: the degree rises preview by preview).
        for strength in (1 / 3, 2 / 3)[: settings.max_previews]:
            if shown is not None and strength <= shown.strength:
                continue
            chain = reconstruct(original, analysis, [steps[groups[0]]], reconstructor, strength)
            stage = grown(
                chain.image,
                chain.analysis.elements,
                chain.applied,
                strength,
                note=f"{groups[0]} at {round(strength * 100)} %{note_unit}",
            )
            yield stage
            if not stage.to_reconstruction.diverged:
                return
        return
    if image is None:
        image, current = original, analysis
        if shown is not None and shown.strength == 1.0:
            image, current, applied = first[1].image, first[1].analysis, list(first[1].applied)
            groups = groups[1:]
            budget -= 1
    for group in groups[:-1][: max(0, budget)]:
        # Each preview adds one model to the previous preview, so the sequence costs one pass per model.
        chain = reconstruct(image, current, [steps[group]], reconstructor)
        image, current = chain.image, chain.analysis
        applied += chain.applied
        stage = grown(
            image,
            current.elements,
            applied,
            faces=current.faces if "faces" in applied else None,
            failed=chain.failed,
            note=f"model by model ({order_name}): {', '.join(applied)}{note_unit}",
        )
        yield stage
        if not stage.to_reconstruction.diverged:
            return


def placeholder_spec(settings: PreviewSettings) -> dict:
    text = "Reconstructing\u2026" if settings.placeholder == "card" else ""
    return {"kind": settings.placeholder, "colour": settings.placeholder_colour, "text": text}


def placeholder_image(width: int, height: int, spec: dict) -> np.ndarray:
    """The placeholder as an image (claim 3): a solid colour, or a card saying processing is on."""
    colour = spec.get("colour", "#1b1f27").lstrip("#")
    rgb = tuple(int(colour[i : i + 2], 16) for i in (0, 2, 4))
    image = np.empty((height, width, 3), np.uint8)
    image[:] = rgb
    if spec.get("kind") == "card":
        text = spec.get("text") or "Reconstructing..."
        text = text.replace("\u2026", "...")
        scale = max(0.5, width / 640)
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
        cv2.putText(
            image,
            text,
            ((width - tw) // 2, (height + th) // 2),
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            (235, 235, 235),
            2,
            cv2.LINE_AA,
        )
        cv2.circle(
            image, (width // 2, (height + th) // 2 + int(40 * scale)), int(10 * scale), (242, 169, 59), -1, cv2.LINE_AA
        )
    return image
