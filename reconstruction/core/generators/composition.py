"""Composition: reframing, so that the main subject sits where and as large as wished.

Every pixel of a reframed photo is the frame's own content: the edit is a crop, resized back to
the frame's size. Nothing outside the frame is known, so nothing outside it is shown; no border is
ever filled by mirroring, blurring or inventing.

The crop window (frame size W × H, zoom z ≥ 1) has the frame's aspect ratio and size W/z × H/z;
its top-left corner (L, T) stays within [0, W − W/z] × [0, H − H/z], so the window always lies
entirely inside the frame. After resizing back to W × H:

- the subject's size degree (face height over 0.8 of the frame height) becomes ``size · z``, so
  z = target size / current size. Zooming out (z < 1) would need content beyond the frame's
  edges: the smallest size a shot allows is the one it has. The largest zoom is the smaller of
  the user's ``max_zoom`` (learned in ``_fit``: the span of subject sizes in their own shots, with
  a margin) and the zoom at which the face fills the frame (size 1);
- a face centred at c = cx / W lands at p = z · (c − L / W). Over the allowed L this spans

      p ∈ [1 − z · (1 − c), z · c]      (clipped to [0, 1]; the same with cy / H for up/down),

  so at z = 1 the subject cannot move at all, and the further it must move, the closer the crop.
  L is chosen as c − p / z, clipped to its allowed interval: the nearest reachable position.

Which zoom the position uses: a size target fixes z (the subject's size is what the user asked
for, so the position makes do with the room that crop leaves). Without a size target the size is
free, and z is the smallest zoom that reaches the position targets (the least enlargement that
does the job), within the same bounds. ``achievable`` reports the ranges a shot allows in the
same terms; ``why_limited`` says in a sentence why a target could not be met.

The window is resampled with bilinear interpolation, which mixes only neighbouring pixels of the
frame (a convex combination: no value the frame does not hold nearby); the window never reaches
more than half a pixel past the outermost pixel centres, where edge replication repeats that
outermost real pixel. This group's region is the whole frame.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import cv2
import numpy as np

from ..analysis import Analysis
from ..elements import BY_NAME
from ..ranges import Progress, Sample
from .base import FluctuationModel

X, Y, SIZE = "composition.subject_x", "composition.subject_y", "composition.subject_size"

# Targets within this of what a shot allows count as met: degrees are shown to two decimals.
SLACK = 5e-3


def reachable(c: float, zoom: float) -> tuple[float, float]:
    """The positions (0..1) a subject centred at ``c`` can take in a crop of zoom ``zoom`` ≥ 1
    that stays inside the frame: [1 − z(1 − c), z·c], clipped to the frame."""
    z = max(1.0, zoom)
    return max(0.0, min(c, 1.0 - z * (1.0 - c))), min(1.0, max(c, z * c))


def zoom_to_reach(c: float, goal: float) -> float:
    """The smallest zoom at which a subject at ``c`` can land at ``goal`` (inverse of
    ``reachable``); 1 when it need not move, infinite when it sits on the frame's edge."""
    if goal > c:
        return goal / c if c > 0 else float("inf")
    if goal < c:
        return (1.0 - goal) / (1.0 - c) if c < 1 else float("inf")
    return 1.0


def crop_window(
    width: int, height: int, centre: tuple[float, float], goal: tuple[float, float], zoom: float
) -> tuple[float, float, float, float]:
    """(left, top, width, height) of the crop, in pixels, that puts ``centre`` as near ``goal``
    as a window of zoom ``zoom`` (clamped to ≥ 1) allows while lying entirely inside the frame."""
    z = max(1.0, float(zoom))
    w, h = width / z, height / z
    left = float(np.clip(centre[0] - goal[0] / z, 0.0, width - w))
    top = float(np.clip(centre[1] - goal[1] / z, 0.0, height - h))
    return left, top, w, h


def reframe(rgb: np.ndarray, centre: tuple[float, float], goal: tuple[float, float], zoom: float) -> np.ndarray:
    """The frame cropped and resized back to its size: ``centre`` (pixels) moved as near to
    ``goal`` (pixels) as a crop of zoom ``zoom`` allows. Zooms below 1 are taken as 1 (the frame
    holds nothing beyond its edges), so the result holds only the frame's own pixels."""
    height, width = rgb.shape[:2]
    left, top, w, _ = crop_window(width, height, centre, goal, zoom)
    z = width / w
    if abs(z - 1.0) < 1e-9:
        return rgb.copy()
    # Pixel centres sit at i + 0.5: output u + 0.5 = z · (x + 0.5 − left), solved for u.
    m = np.array([[z, 0.0, z * (0.5 - left) - 0.5], [0.0, z, z * (0.5 - top) - 0.5]], dtype=np.float64)
    return cv2.warpAffine(rgb, m, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


class CompositionModel(FluctuationModel):
    group = "composition"
    elements = (X, Y, SIZE)
    version = 1  # params are still just max_zoom, with the same meaning

    @dataclasses.dataclass
    class Config:
        seed: int = 0  # unused: reframing is solved exactly; kept for a uniform checkpoint
        max_zoom_margin: float = 1.25  # the widest zoom allowed beyond what the user's data spans

    def _fit(self, samples: Sequence[Sample], progress: Progress) -> dict:
        sizes = [s.degree(SIZE) for s in samples if s.degree(SIZE)]
        lo, hi = min(sizes), max(sizes)
        self.params["max_zoom"] = float(hi / max(lo, 1e-3)) * self.config.max_zoom_margin
        progress(1, 1, 0.0)
        return {"max_zoom": round(self.params["max_zoom"], 3)}

    # --- what a shot allows -------------------------------------------------------------------

    def _subject(self, analysis: Analysis) -> tuple[float, float, float] | None:
        """(c_x, c_y, size) of the main face, or None without one."""
        face, size = analysis.main_face, analysis.elements.get(SIZE)
        if face is None or not size:
            return None
        x, y, w, h = face.box
        return (x + w / 2) / analysis.width, (y + h / 2) / analysis.height, float(size)

    def _zoom_limit(self, size: float) -> float:
        learned = max(1.0, float(self.params.get("max_zoom", 2.0)))
        return max(1.0, min(learned, 1.0 / size))

    def _limit_cause(self, size: float) -> str:
        learned = max(1.0, float(self.params.get("max_zoom", 2.0)))
        if learned < 1.0 / size:
            return f"the {learned:.1f}× zoom your own shots span"  # the user's data, not the frame, is the bound
        return "the one at which the face fills the frame"

    def _zoom(self, subject: tuple[float, float, float], targets: Mapping[str, float]) -> float:
        cx, cy, size = subject
        limit = self._zoom_limit(size)
        if SIZE in targets:
            return float(np.clip(targets[SIZE] / size, 1.0, limit))
        needed = max(
            zoom_to_reach(cx, targets[X]) if X in targets else 1.0,
            zoom_to_reach(cy, targets[Y]) if Y in targets else 1.0,
        )
        return float(min(needed, limit))

    def achievable(
        self, analysis: Analysis, targets: Mapping[str, float] | None = None, rgb: np.ndarray | None = None
    ) -> dict[str, tuple[float, float] | None]:
        """Per element, the degrees this shot allows. Size: from its current size (no zooming
        out) to the largest zoom. Left/right and up/down: what the crop reaches at the zoom a
        size target in ``targets`` implies, or, without one, at the largest zoom (the size is then
        free to grow as far as the move needs)."""
        subject = self._subject(analysis)
        if subject is None:
            return {}
        cx, cy, size = subject
        limit = self._zoom_limit(size)
        zoom = self._zoom(subject, targets) if targets and SIZE in targets else limit
        return {SIZE: (size, min(1.0, size * limit)), X: reachable(cx, zoom), Y: reachable(cy, zoom)}

    def why_limited(
        self, analysis: Analysis, targets: Mapping[str, float], rgb: np.ndarray | None = None
    ) -> dict[str, str]:
        """A sentence for each element whose target this shot cannot reach, saying why."""
        spans = self.achievable(analysis, targets)
        subject = self._subject(analysis)
        out = {}
        for name, target in targets.items():
            span = spans.get(name)
            if span is None or span[0] - SLACK <= target <= span[1] + SLACK:
                continue
            lo, hi = span
            label = BY_NAME[name].label
            if name == SIZE and target < lo:
                out[name] = (
                    f"{label}: the frame holds nothing beyond its edges, so the subject cannot be made smaller than it is ({lo:.2f})"
                )
            elif name == SIZE:
                out[name] = (
                    f"{label}: the closest crop this shot allows ({self._limit_cause(subject[2])}) makes it {hi:.2f}"
                )
            elif hi - lo < SLACK:
                out[name] = (
                    f"{label}: the frame holds nothing beyond its edges, and at this subject size there is "
                    f"no room to move the subject; it stays at {lo:.2f}"
                )
            else:
                held = SIZE in targets and self._zoom(subject, targets) < self._zoom_limit(subject[2]) - 1e-6
                crop = "the subject size asked for" if held else self._limit_cause(subject[2])
                out[name] = (
                    f"{label}: moving the subject further needs a closer crop than {crop}; the frame allows {lo:.2f}–{hi:.2f}"
                )
        return out

    # --- generation ---------------------------------------------------------------------------

    def _generate(self, rgb: np.ndarray, analysis: Analysis, targets: dict[str, float]) -> np.ndarray:
        subject = self._subject(analysis)
        if subject is None:
            return rgb.copy()
        cx, cy, size = subject
        # Each target first comes into what this shot allows, so the zoom and window are solved
        # for a reachable goal and the result is the nearest edit the frame's content permits.
        allowed = self.achievable(analysis, targets)
        goals = {n: float(np.clip(v, *allowed[n])) for n, v in targets.items() if allowed.get(n)}
        zoom = self._zoom(subject, goals)
        height, width = rgb.shape[:2]
        # A position without a target stays where it is: every zoom can keep it (c lies within
        # [1 − z(1 − c), z·c]), so the crop then zooms about the face.
        gx, gy = goals.get(X, cx), goals.get(Y, cy)
        return reframe(rgb, (cx * width, cy * height), (gx * width, gy * height), zoom)
