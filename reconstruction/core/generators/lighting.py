"""Lighting: exposure (a tone curve on the whole frame) and light direction (a left-right gain
ramp confined to the face).

Trained transform: for pairs of the user's own frames, the curve strength and ramp slope that
carry one frame's degree to the other's are solved on the real measure, and a small ridge
regression learns them from (source degree, target degree). The user's data thus fixes both the
range and how strongly their scenes respond; generation starts from the learned parameter and
refines it on a thumbnail within the limits seen in training.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import cv2
import numpy as np

from ..analysis import Analysis
from ..extraction import NOSE_TIP, WORK_WIDTH, exposure_degree, light_direction_degree, luma
from ..ranges import Progress, Sample
from ..regions import face_hull_mask
from .base import FluctuationModel, learn_strength, predict, solve_parameter

EXPOSURE = "lighting.exposure"
LIGHT = "lighting.light_direction"


def tone_curve(rgb: np.ndarray, strength: float) -> np.ndarray:
    """Gamma curve: strength > 0 brightens (gamma = e^-strength), < 0 darkens."""
    lut = np.clip(255.0 * (np.arange(256) / 255.0) ** np.exp(-strength) + 0.5, 0, 255).astype(np.uint8)
    return cv2.LUT(rgb, lut)


@dataclasses.dataclass
class FaceRegion:
    x: int
    y: int
    w: int
    h: int
    split: int  # nose tip, in crop coordinates
    hull: np.ndarray  # bool (h, w)
    half_width: float = 0.0  # half the face's own width (the box may hold a margin around it)


def face_region(rgb: np.ndarray, analysis: Analysis, margin: float = 0.0) -> FaceRegion | None:
    """The face's box (grown by ``margin`` face widths on each side, within the frame), its
    outline inside it and the nose's column."""
    face = analysis.main_face
    if face is None:
        return None
    height, width = rgb.shape[:2]
    x, y, w, h = (int(round(v)) for v in face.box)
    if w < 8 or h < 8:
        return None
    half = w / 2
    grow = int(round(margin * w))
    x0, y0 = max(0, x - grow), max(0, y - grow)
    x, y, w, h = x0, y0, min(width, x + w + grow) - x0, min(height, y + h + grow) - y0
    if w < 8 or h < 8:
        return None
    hull = face_hull_mask(face, x, y, w, h, width, height)
    split = int(round(face.landmarks[NOSE_TIP, 0] * width)) - x
    return FaceRegion(x, y, w, h, min(max(split, 1), w - 1), hull, half)


# The most a fill light may brighten the face's far side (a gain of 1.3 at its edge).
MAX_FILL = 0.3


def ramp(region: FaceRegion, slope: float) -> np.ndarray:
    """Gain across the face, as a fill light gives it: 1 at the nose and on the side the light
    already comes from, rising smoothly to 1 + |slope| at the other side's edge (slope > 0 lights
    the image's right side). Never below 1: darkening a side of a face inside a mask turned the
    skin grey with the mask's outline showing (seen on a webcam vlog Flux had not seen)."""
    xs = (np.arange(region.w, dtype=np.float32) - region.split) / max(1.0, region.half_width or region.w / 2)
    side = np.clip(xs if slope >= 0 else -xs, 0.0, 1.0)
    rise = side * side * (3 - 2 * side)  # smoothstep: no crease down the nose
    return (1.0 + min(abs(slope), 2.0) * rise)[None, :].repeat(region.h, axis=0)


def relight(crop: np.ndarray, region: FaceRegion, slope: float) -> np.ndarray:
    return np.clip(crop.astype(np.float32) * ramp(region, slope)[..., None], 0, 255).astype(np.uint8)


def measure_light(crop: np.ndarray, region: FaceRegion) -> float | None:
    return light_direction_degree(luma(crop), region.hull, region.split)


def thumbnail(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    return cv2.resize(rgb, (WORK_WIDTH, max(1, round(h * WORK_WIDTH / w))), interpolation=cv2.INTER_AREA)


class LightingModel(FluctuationModel):
    group = "lighting"
    elements = (EXPOSURE, LIGHT)
    version = 1

    @dataclasses.dataclass
    class Config:
        seed: int = 0  # random seed for sampling training pairs
        pairs: int = 400  # (source, target) frame pairs solved per element
        max_strength: float = 1.6  # bound on |log gamma| of the tone curve
        max_slope: float = MAX_FILL  # bound on the fill light's slope (gain 1 + slope at the face's far edge)

    def _fit(self, samples: Sequence[Sample], progress: Progress) -> dict:
        rng = np.random.default_rng(self.config.seed)
        cfg = self.config
        total = 2 * cfg.pairs
        done = [0]

        def tick():
            done[0] += 1
            if done[0] % 50 == 0:
                progress(done[0], total, 0.0)

        metrics = {}
        if self.ranges[EXPOSURE] is not None:
            thumbs = [(thumbnail(s.rgb), s.degree(EXPOSURE)) for s in samples if s.degree(EXPOSURE) is not None]
            learned = learn_strength(
                thumbs,
                cfg.pairs,
                rng,
                lambda thumb, dst: solve_parameter(
                    lambda k: exposure_degree(tone_curve(thumb, k)), dst, -cfg.max_strength, cfg.max_strength
                ),
                tick,
            )
            self.params["exposure_coef"], self.params["exposure_limits"] = learned.coef, learned.limits
            metrics["exposure_fit_rmse"] = learned.rmse
        done[0] = cfg.pairs
        if self.ranges[LIGHT] is not None:
            faces = []
            for s in samples:
                region = face_region(s.rgb, s.analysis)
                if region is not None and s.degree(LIGHT) is not None:
                    faces.append(
                        (
                            (s.rgb[region.y : region.y + region.h, region.x : region.x + region.w], region),
                            s.degree(LIGHT),
                        )
                    )
            learned = learn_strength(
                faces,
                cfg.pairs,
                rng,
                lambda face, dst: solve_parameter(
                    lambda k: measure_light(relight(face[0], face[1], k), face[1]),
                    dst,
                    -cfg.max_slope,
                    cfg.max_slope,
                    iters=10,
                ),
                tick,
            )
            self.params["light_coef"], self.params["light_limits"] = learned.coef, learned.limits
            metrics["light_fit_rmse"] = learned.rmse
        progress(total, total, 0.0)
        return metrics

    def _generate(self, rgb: np.ndarray, analysis: Analysis, targets: dict[str, float]) -> np.ndarray:
        out = rgb
        if LIGHT in targets and "light_coef" in self.params:
            # Half a face of room around it: the fill light fades out beyond the face's outline.
            region = face_region(rgb, analysis, margin=0.5)
            if region is not None:
                out = self._relight(out, analysis, region, targets[LIGHT])
        if EXPOSURE in targets and "exposure_coef" in self.params:
            lo, hi = self.params["exposure_limits"]
            guess = predict(self.params["exposure_coef"], analysis.elements[EXPOSURE], targets[EXPOSURE])
            thumb = thumbnail(out)
            # Refine around the learned guess, never past the strengths seen in training.
            a, b = max(lo, guess - 0.6), min(hi, guess + 0.6)
            strength = solve_parameter(
                lambda s: exposure_degree(tone_curve(thumb, s)), targets[EXPOSURE], a, b, iters=10
            )
            out = tone_curve(out, strength)
        return out if out is not rgb else rgb.copy()

    def _relight(self, rgb, analysis, region: FaceRegion, target: float) -> np.ndarray:
        lo, hi = self.params["light_limits"]
        guess = predict(self.params["light_coef"], analysis.elements[LIGHT], target)
        crop = rgb[region.y : region.y + region.h, region.x : region.x + region.w]
        # Light falls off smoothly over a face: the face's outline blurred over a fifth of its
        # width, so the lit side fades out into the hair and the neck with no edge a person can
        # find. (Feathered inside the outline over a sixth, the edit's circle showed on a face
        # Flux had not seen; over a 25th, a band crossed the forehead of a tilted head.)
        soft = np.clip(cv2.GaussianBlur(region.hull.astype(np.float32), (0, 0), max(2.0, region.w / 5)) * 1.4, 0, 1)
        soft = soft[..., None]

        def lit(k):
            return np.clip(crop * (1 - soft) + relight(crop, region, k) * soft + 0.5, 0, 255).astype(np.uint8)

        # Never past a gentle fill light, whatever an older version learned.
        lo, hi = max(lo, -MAX_FILL), min(hi, MAX_FILL)
        a, b = max(lo, guess - 0.4), min(hi, guess + 0.4)
        if a > b:
            a, b = lo, hi
        slope = solve_parameter(lambda k: measure_light(lit(k), region), target, a, b, iters=10)
        out = rgb.copy()
        out[region.y : region.y + region.h, region.x : region.x + region.w] = lit(slope)
        return out
