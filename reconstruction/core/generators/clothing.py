"""Clothing: recolouring inside the clothing mask (the person mask within the torso box).

Hue is rotated by the gap between the measured and the target hue (the circular mean rotates
exactly with it); saturation is scaled by a gain that is solved on the user's own torsos for
pairs of their frames and learned by ridge regression, so that fabrics that are already vivid, or
grey, respond as they did in the user's data. Nothing outside the mask changes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import cv2
import numpy as np

from ..analysis import Analysis
from ..elements import difference
from ..extraction import clothing_degrees
from ..ranges import Progress, Sample
from ..regions import feather, torso_region
from .base import FluctuationModel, blend, learn_strength, predict, solve_parameter

HUE = "clothing.clothing_hue"
SAT = "clothing.clothing_saturation"


def recolour(crop: np.ndarray, hue_shift: float, sat_gain: float) -> np.ndarray:
    """Rotate hue by ``hue_shift`` turns and scale saturation by ``sat_gain`` (HSV, full range)."""
    hsv = cv2.cvtColor(crop, cv2.COLOR_RGB2HSV_FULL).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + hue_shift * 256.0) % 256.0
    hsv[..., 1] = np.clip(hsv[..., 1] * sat_gain, 0, 255)
    return cv2.cvtColor(np.clip(hsv + 0.5, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB_FULL)


def measure(crop: np.ndarray, mask: np.ndarray) -> tuple[float, float] | None:
    step = max(1, int(np.sqrt(mask.size / 4000)))
    return clothing_degrees(np.ascontiguousarray(crop[::step, ::step]), mask[::step, ::step])


class ClothingModel(FluctuationModel):
    group = "clothing"
    elements = (HUE, SAT)
    version = 1

    @dataclasses.dataclass
    class Config:
        seed: int = 0  # random seed for sampling training pairs
        pairs: int = 300  # (source, target) frame pairs solved for the saturation gain
        max_log_gain: float = 2.5  # bound on |log| of the saturation gain

    def _fit(self, samples: Sequence[Sample], progress: Progress) -> dict:
        cfg = self.config
        rng = np.random.default_rng(cfg.seed)
        torsos = []
        for s in samples:
            region = torso_region(s.rgb, s.analysis)
            if region is not None and s.degree(SAT) is not None:
                torsos.append((s.rgb[region.y0 : region.y1, region.x0 : region.x1], region.mask, s.degree(SAT)))
        metrics = {}
        if self.ranges[SAT] is not None and torsos:
            done = [0]

            def tick():
                done[0] += 1
                if done[0] % 50 == 0:
                    progress(done[0], cfg.pairs, 0.0)

            items = [((crop, mask), sat) for crop, mask, sat in torsos]
            learned = learn_strength(
                items,
                cfg.pairs,
                rng,
                lambda torso, dst: solve_parameter(
                    lambda g: measure(recolour(torso[0], 0.0, float(np.exp(g))), torso[1])[1],
                    dst,
                    -cfg.max_log_gain,
                    cfg.max_log_gain,
                    iters=10,
                ),
                tick,
            )
            self.params["sat_coef"], self.params["sat_limits"] = learned.coef, learned.limits
            metrics["saturation_fit_rmse"] = learned.rmse
        progress(cfg.pairs, cfg.pairs, 0.0)
        return metrics

    def _generate(self, rgb: np.ndarray, analysis: Analysis, targets: dict[str, float]) -> np.ndarray:
        region = torso_region(rgb, analysis)
        if region is None:
            return rgb.copy()
        crop = rgb[region.y0 : region.y1, region.x0 : region.x1]
        current = measure(crop, region.mask)
        if current is None:
            return rgb.copy()
        hue_shift = (
            difference(targets[HUE], current[0], circular=True) if HUE in targets and current[0] is not None else 0.0
        )
        gain = 1.0
        if SAT in targets and "sat_coef" in self.params:
            lo, hi = self.params["sat_limits"]
            guess = predict(self.params["sat_coef"], current[1], targets[SAT])
            a, b = max(lo, guess - 0.8), min(hi, guess + 0.8)
            gain = float(
                np.exp(
                    solve_parameter(
                        lambda g: measure(recolour(crop, 0.0, float(np.exp(g))), region.mask)[1],
                        targets[SAT],
                        a,
                        b,
                        iters=10,
                    )
                )
            )
        alpha = np.zeros(rgb.shape[:2], np.float32)
        alpha[region.y0 : region.y1, region.x0 : region.x1] = feather(
            region.mask, max(2.0, (region.x1 - region.x0) / 40)
        )
        edited = rgb.copy()
        edited[region.y0 : region.y1, region.x0 : region.x1] = recolour(crop, hue_shift, gain)
        return blend(rgb, edited, alpha)
