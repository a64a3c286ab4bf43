"""Quality figures of a trained fluctuation model on held-out frames of the same user.

For each held-out frame and element, the model generates toward the degree of another held-out
frame, and the extractor measures the result:
- degree progress: (measured − source) / (target − source), averaged (1 = reached the target);
- preservation: SSIM between source and result outside the element's region (1 = untouched);
- realism (expression): SSIM on the face between the result and the real frame that has the
  target degrees, against two baselines: the unchanged source, and the nearest training face by
  degree pasted in. The real target is the held-out frame nearest the source in head placement
  (face position, size, yaw and pitch) among those whose smile differs clearly, and the model is
  asked for all three of its expression degrees, as the pasted baseline picks its face by all
  three. Paired with any frame instead, the score measures where the head was more than the
  face: pasting the target frame's own face scored below the nearest training face (measured on
  single_face.mp4: 0.5918 against 0.5934). That ceiling is reported too, as
  ``target_face_pasted``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Sequence

import cv2
import numpy as np

from .elements import BY_NAME, difference
from .generators.base import ModelError, blend
from .generators.expression import ELEMENTS, alignment, face_pose
from .ranges import Sample, clamp_to_range
from .regions import face_hull_mask, feather, region_mask

MIN_GAP = 0.15  # targets closer than this to the source say little about progress


def ssim(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean structural similarity of two RGB images on luma (Gaussian window, σ = 1.5)."""
    x = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY).astype(np.float64)
    y = cv2.cvtColor(b, cv2.COLOR_RGB2GRAY).astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(z):
        return cv2.GaussianBlur(z, (11, 11), 1.5)

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    if mask is not None:
        if not mask.any():
            return 1.0
        return float(s[mask].mean())
    return float(s.mean())


HOLD_EVERY = 5  # one frame in five is held out to measure a new version on frames it never saw
# ... and at most this many: measuring generates and analyses three edits per held-out frame
# (9 s of a fine-tune's 28 with 60 frames, 5.9 s with 30); 24 spread over the data say as much,
# and the rest train.
MAX_HELD = 24


def held_out(count: int, keep_in: Collection[int] = (), min_samples: int = 0) -> set[int]:
    """Which of ``count`` samples are held out: every ``HOLD_EVERY``-th of those not in
    ``keep_in`` (a verdict's frames are there to be learned from), at most ``MAX_HELD`` evenly
    spread, none under ``min_samples``."""
    if count < min_samples:
        return set()
    plain = [k for k in range(count) if k not in keep_in]
    return set(plain[:: max(HOLD_EVERY, math.ceil(len(plain) / MAX_HELD))])


def fit_and_measure(
    model,
    samples: Sequence[Sample],
    analyzer,
    *,
    keep_in: Collection[int] = (),
    min_samples: int = 0,
    progress=None,
    verdicts=None,
    on_training: Callable[[int], None] = lambda frames: None,
    on_measuring: Callable[[int], None] = lambda frames: None,
) -> tuple[dict, list[int]]:
    """The one recipe of a training run, for the worker and the benches alike: hold out a part
    (``held_out``), fit on the rest with the user's ``verdicts``, measure on the held-out frames.
    Returns the figures and the indices of the samples trained on."""
    held_at = held_out(len(samples), keep_in, min_samples)
    trained = [k for k in range(len(samples)) if k not in held_at]
    train = [samples[k] for k in trained]
    held = [samples[k] for k in sorted(held_at)]
    on_training(len(train))
    metrics = model.fit(train, progress, verdicts=verdicts)
    if held:
        on_measuring(len(held))
        metrics.update(evaluate(model, held, analyzer, train))
    return metrics, trained


def evaluate(model, held_out: Sequence[Sample], analyzer, train: Sequence[Sample] = ()) -> dict:
    """Progress, preservation and (for expression) realism figures, rounded for the record."""
    progress: dict[str, list[float]] = {}
    preservation: list[float] = []
    declined: list[str] = []
    for i, source in enumerate(held_out):
        for name in model.elements:
            span = model.reconstructable_range(name)
            before = source.degree(name)
            if span is None or before is None:
                continue
            target_sample = _target_for(held_out, i, name, before, span)
            if target_sample is None:
                continue
            target = target_sample.degree(name)
            out = _generated(model, source, {name: target}, declined)
            if out is None:
                continue
            after = (analyzer.analyze(out) if model.segmented else analyzer.analyze(out, segment=False)).elements.get(
                name
            )
            if after is None:
                continue
            progress.setdefault(name, []).append(_gap(before, after, name) / _gap(before, target, name))
            inside = region_mask(source.analysis, BY_NAME[name].region, source.rgb.shape[:2])
            if inside is not None:
                preservation.append(ssim(source.rgb, out, ~inside))
    figures: dict = {f"progress.{n.split('.')[1]}": round(float(np.mean(v)), 3) for n, v in progress.items()}
    figures["progress_pairs"] = sum(len(v) for v in progress.values())
    if declined:
        figures["declined"] = len(declined)  # held-out frames the model leaves as shot (a covered face)
    if preservation:
        figures["preservation_ssim"] = round(float(np.mean(preservation)), 4)
    if model.group == "expression" and train:
        figures.update({f"realism_ssim.{k}": v for k, v in realism(model, held_out, train).items()})
    return figures


def realism(model, held_out: Sequence[Sample], train: Sequence[Sample], pairing: str = "placement") -> dict:
    """Face SSIM to the real target frame of the model's result and of the baselines (rounded
    means; empty when no pair qualifies). ``pairing``: "placement" pairs each source with the
    held-out frame nearest in head placement (the figure the quality bar uses), "any" with the
    next one whose smile differs, as the progress figures do."""
    name = "expression.smile"
    span = model.reconstructable_range(name)
    scores: dict[str, list[float]] = {"model": [], "unchanged": [], "nearest_training": [], "target_face_pasted": []}
    for i, source in enumerate(held_out):
        before = source.degree(name)
        if span is None or before is None or source.analysis.main_face is None:
            continue
        if pairing == "placement":
            target = _placement_target(held_out, i, name, before, span)
        else:
            target = _target_for(held_out, i, name, before, span)
        face = region_mask(target.analysis, "face", target.rgb.shape[:2]) if target is not None else None
        pasted = _nearest_pasted(source, target, train) if face is not None else None
        if pasted is None:
            continue
        out = _generated(
            model, source, {n: target.degree(n) for n in model.elements if target.degree(n) is not None}, []
        )
        if out is None:
            continue
        scores["model"].append(ssim(out, target.rgb, face))
        scores["unchanged"].append(ssim(source.rgb, target.rgb, face))
        scores["nearest_training"].append(ssim(pasted, target.rgb, face))
        scores["target_face_pasted"].append(ssim(_nearest_pasted(source, target, [target]), target.rgb, face))
    if not scores["model"]:
        return {}
    return {k: round(float(np.mean(v)), 4) for k, v in scores.items()}


def _generated(model, source: Sample, targets: dict, declined: list) -> np.ndarray | None:
    """The model's result, or None where it declines this frame (its own words in ``declined``):
    a face with a hand over the mouth is left as shot, and that is not a training failure."""
    try:
        return model.generate(source.rgb, source.analysis, targets)
    except ModelError as exc:
        declined.append(str(exc))
        return None


def _gap(a: float, b: float, name: str) -> float:
    """b − a, the short way round for circular elements (hue)."""
    return difference(b, a, BY_NAME[name].circular)


def _qualifies(candidate: Sample, name, before, span) -> bool:
    """A target degree inside the range and far enough from the source's to say something."""
    value = candidate.degree(name)
    if value is None or abs(_gap(before, value, name)) < MIN_GAP:
        return False
    return abs(clamp_to_range(value, span) - value) < 1e-9


def _target_for(held_out, i, name, before, span):
    """The next held-out frame after ``held_out[i]`` that qualifies as a target."""
    for k in range(1, len(held_out)):
        candidate = held_out[(i + k) % len(held_out)]
        if _qualifies(candidate, name, before, span):
            return candidate
    return None


def _placement(face, unit: float) -> np.ndarray:
    """Where the head is: face centre in ``unit``s (the source's face width, so a near face and a
    far one weigh alike), log face width, yaw and pitch."""
    x, y, w, h = face.box
    return np.array([(x + w / 2) / unit, (y + h / 2) / unit, math.log(w), *face_pose(face)])


def _placement_target(held_out, i, name, before, span):
    """The qualifying held-out frame nearest ``held_out[i]`` in head placement: the two differ
    mainly in expression."""
    face = held_out[i].analysis.main_face
    unit = face.box[2]
    here = _placement(face, unit)
    candidates = [
        c
        for k, c in enumerate(held_out)
        if k != i and c.analysis.main_face is not None and _qualifies(c, name, before, span)
    ]
    if not candidates:
        return None
    return min(candidates, key=lambda c: float(np.abs(_placement(c.analysis.main_face, unit) - here).sum()))


def _nearest_pasted(source: Sample, target: Sample, train: Sequence[Sample]) -> np.ndarray | None:
    """The training face whose degrees are nearest the target's, aligned onto the source's face
    and blended in with the same soft mask the model uses: the copy-paste baseline."""
    wanted = np.array([target.degree(n) or 0.0 for n in ELEMENTS])
    faces = [s for s in train if s.analysis.main_face is not None and s.degree(ELEMENTS[0]) is not None]
    if not faces or source.analysis.main_face is None:
        return None
    best = min(faces, key=lambda s: float(np.abs(np.array([s.degree(n) or 0.0 for n in ELEMENTS]) - wanted).sum()))
    height, width = source.rgb.shape[:2]
    size = 256
    m_src = alignment(source.analysis.main_face, width, height, size)
    bh, bw = best.rgb.shape[:2]
    m_best = alignment(best.analysis.main_face, bw, bh, size)
    crop = cv2.warpAffine(best.rgb, m_best, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    back = cv2.warpAffine(
        crop, m_src, (width, height), flags=cv2.WARP_INVERSE_MAP | cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
    )
    face = source.analysis.main_face
    hull = face_hull_mask(face, 0, 0, width, height, width, height)
    return blend(source.rgb, back, feather(hull, max(3.0, face.box[2] / 12)))
