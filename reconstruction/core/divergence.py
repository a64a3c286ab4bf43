"""Divergence between two images, both ways the specification gives ([0098]–[0104]).

- By degrees (claim 9, [0099]–[0100], [0103]): the gap of each element's degree between the two
  images. Each element has a threshold (expression high, composition low, because a small
  reframing moves every pixel while a big smile changes only the face) and a weight for the
  summary score; the images diverge when any element's gap reaches its threshold.
- By interframe difference (claim 10, [0101], [0104]): the fraction of the frame whose pixels
  changed; the images diverge when it reaches a set share of the frame area.

A user picks one or both ("both": either one diverging is enough) and how sensitive they are.

Degrees count every face, not only the main subject's: given both images' faces, each other face
is matched to itself in the other image (by where it stands) and its own expression and pose gaps
count as the main face's do (a group photo whose second person got open eyes has moved as much as
one whose main face did).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from .elements import BY_NAME, degree_gap

# The values with the words the settings page shows (reconstruction.models takes them from here).
METHODS = {"both": "degrees or pixels", "degrees": "element degrees", "pixels": "changed pixels"}  # claims 9 and 10


@dataclass
class DivergenceSettings:
    method: str = "both"  # "degrees" (claim 9), "pixels" (claim 10) or "both" (either diverging counts)
    scale: float = 1.0  # multiplies every element's threshold: below 1 diverges sooner, above 1 later
    pixel_delta: int = 18  # a pixel counts as changed when its grey level moves more than this (0–255)
    pixel_fraction: float = 0.12  # the share of the frame area that must change to diverge

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"divergence method must be one of {', '.join(METHODS)}")


@dataclass
class Divergence:
    gaps: dict[str, float] = field(default_factory=dict)  # element -> |degree gap|, both images measured
    score: float = 0.0  # weighted mean of the gaps over their thresholds ([0100]); 1 = at the threshold on average
    exceeded: list[str] = field(default_factory=list)  # elements whose gap reached their threshold
    changed: float | None = None  # share of the frame whose pixels changed (claim 10), if measured
    diverged: bool = False  # the verdict under the settings used
    faces: dict[str, dict[str, float]] = field(
        default_factory=dict
    )  # "face N" -> element -> gap (faces but the main one)

    def to_json(self) -> dict:
        return {
            "gaps": {k: round(v, 3) for k, v in self.gaps.items() if v >= 0.005},
            "faces": {f: {k: round(v, 3) for k, v in g.items() if v >= 0.005} for f, g in self.faces.items()},
            "score": round(self.score, 3),
            "exceeded": self.exceeded,
            "changed": None if self.changed is None else round(self.changed, 4),
            "diverged": self.diverged,
        }


def degree_gaps(a: Mapping[str, float | None], b: Mapping[str, float | None]) -> dict[str, float]:
    """Per element present in both, the gap between the two images' degrees."""
    return {
        n: degree_gap(n, float(a[n]), float(b[n])) for n in BY_NAME if a.get(n) is not None and b.get(n) is not None
    }


def changed_fraction(a: np.ndarray, b: np.ndarray, delta: int = 18) -> float:
    """Claim 10's interframe difference: the share of the frame whose grey level moved more than
    ``delta``. Both images are compared at a quarter size after a light blur, so JPEG noise and
    single-pixel jitter do not count as change."""
    if a.shape != b.shape:
        raise ValueError(f"images differ in size: {a.shape} vs {b.shape}")
    height, width = a.shape[:2]
    size = (max(1, width // 4), max(1, height // 4))

    def grey(img):
        small = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
        return cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), (3, 3), 0).astype(np.int16)

    changed = np.abs(grey(a) - grey(b)) > delta
    return float(changed.mean())


def face_gaps(a_faces: Sequence, b_faces: Sequence) -> dict[str, dict[str, float]]:
    """Each face but the main one, numbered as in ``a_faces`` ("face 2"), with the gaps of its own
    degrees to the same face in ``b_faces`` (the one whose box overlaps it most, over half the
    smaller box). A face not found again is left out (the main face's degrees say it is gone)."""
    out: dict[str, dict[str, float]] = {}
    for i, a in enumerate(a_faces):
        if a.main:
            continue
        best, best_overlap = None, 0.5
        for b in b_faces:
            o = _overlap(a.box, b.box)
            if o > best_overlap:
                best, best_overlap = b, o
        if best is not None:
            out[f"face {i + 1}"] = degree_gaps(a.degrees, best.degrees)
    return out


def _overlap(a, b) -> float:
    w = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    smaller = min(a[2] * a[3], b[2] * b[3])
    return w * h / smaller if smaller > 0 else 0.0


def divergence(
    a_rgb: np.ndarray | None,
    a_degrees: Mapping[str, float | None],
    b_rgb: np.ndarray | None,
    b_degrees: Mapping[str, float | None],
    settings: DivergenceSettings | None = None,
    faces: tuple[Sequence, Sequence] | None = None,
) -> Divergence:
    """How far image b has moved from image a, and whether that is "too far" under ``settings``.
    ``faces``: both images' faces, so that every face's own degrees count."""
    settings = settings or DivergenceSettings()
    gaps = degree_gaps(a_degrees, b_degrees)
    others = face_gaps(*faces) if faces is not None else {}
    every = [(n, g) for n, g in gaps.items()] + [(n, g) for face in others.values() for n, g in face.items()]
    total = sum(BY_NAME[n].weight for n, _ in every)
    # [0100]: the gaps normalised (by each element's threshold, so 1 means "at the threshold")
    # and averaged with the weights.
    score = sum(BY_NAME[n].weight * g / BY_NAME[n].threshold for n, g in every) / total if total else 0.0
    exceeded = [n for n, g in gaps.items() if g >= BY_NAME[n].threshold * settings.scale]
    exceeded += [
        f"{face}: {n}"
        for face, fg in others.items()
        for n, g in fg.items()
        if g >= BY_NAME[n].threshold * settings.scale
    ]
    changed = None
    if settings.method in ("pixels", "both") and a_rgb is not None and b_rgb is not None:
        changed = changed_fraction(a_rgb, b_rgb, settings.pixel_delta)
    by_degrees = bool(exceeded)
    by_pixels = changed is not None and changed >= settings.pixel_fraction * settings.scale
    verdict = {"degrees": by_degrees, "pixels": by_pixels, "both": by_degrees or by_pixels}[settings.method]
    return Divergence(gaps=gaps, score=score, exceeded=exceeded, changed=changed, diverged=verdict, faces=others)
