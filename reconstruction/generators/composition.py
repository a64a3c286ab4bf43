"""Composition: reframing, so that the main subject sits where and as large as wished.

A similarity transform (zoom about the face, then shift) moves the face centre to the target
position and its height to the target size; borders the move exposes are filled by mirroring the
frame and blurring the mirrored part, so no black bars appear. The user's own shots give the
range (where and how large they frame themselves) and the largest zoom seen in their data bounds
the edit. This group's region is the whole frame.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import cv2
import numpy as np

from ..extraction import Analysis
from ..training import Progress, Sample
from .base import FluctuationModel

X, Y, SIZE = "composition.subject_x", "composition.subject_y", "composition.subject_size"


def reframe(rgb: np.ndarray, centre: tuple[float, float], goal: tuple[float, float], zoom: float) -> np.ndarray:
    """Zoom by ``zoom`` about the face centre, then move it to ``goal`` (pixels)."""
    height, width = rgb.shape[:2]
    (cx, cy), (gx, gy) = centre, goal
    m = np.array([[zoom, 0, gx - zoom * cx], [0, zoom, gy - zoom * cy]], dtype=np.float32)
    sharp = cv2.warpAffine(rgb, m, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    inside = cv2.warpAffine(np.ones((height, width), np.uint8), m, (width, height), flags=cv2.INTER_NEAREST, borderValue=0)
    if inside.all():
        return sharp
    soft = cv2.GaussianBlur(sharp, (0, 0), max(3.0, width / 80))
    alpha = cv2.GaussianBlur(inside.astype(np.float32), (0, 0), 2.0)[..., None]
    return np.clip(sharp * alpha + soft * (1 - alpha) + 0.5, 0, 255).astype(np.uint8)


class CompositionModel(FluctuationModel):
    group = "composition"
    elements = (X, Y, SIZE)
    version = 1

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

    def _generate(self, rgb: np.ndarray, analysis: Analysis, targets: dict[str, float]) -> np.ndarray:
        face = analysis.main_face
        if face is None:
            return rgb.copy()
        height, width = rgb.shape[:2]
        x, y, w, h = face.box
        centre = (x + w / 2, y + h / 2)
        zoom = 1.0
        if SIZE in targets and analysis.elements.get(SIZE):
            limit = self.params.get("max_zoom", 2.0)
            zoom = float(np.clip(targets[SIZE] / analysis.elements[SIZE], 1 / limit, limit))
        gx = targets.get(X, centre[0] / width) * width
        gy = targets.get(Y, centre[1] / height) * height
        return reframe(rgb, centre, (gx, gy), zoom)
