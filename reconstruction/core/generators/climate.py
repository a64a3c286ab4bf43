"""Climate: sunniness and cloudiness, by recolouring the sky region only.

The user's own skies teach the palette: the mean colour of the sky in their sunniest frames
(clear) and in their greyest (overcast). A single strength moves the sky toward one or the other
while keeping part of its texture (clouds stay clouds, only bluer or greyer); the strengths that
carried one of the user's skies to another's degrees are solved in training and bound what
generation may do. Pixels outside the sky mask never change.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from ..analysis import Analysis
from ..extraction import climate_degrees
from ..ranges import Progress, Sample, training_pairs
from ..regions import feather, sky_at
from .base import FluctuationModel, blend
from .lighting import thumbnail

SUN = "climate.sunniness"
CLOUD = "climate.cloudiness"
STRENGTHS = np.linspace(-1.0, 1.0, 41)


def restyle_sky(
    rgb: np.ndarray, sky: np.ndarray, strength: float, clear: np.ndarray, overcast: np.ndarray, texture: float
) -> np.ndarray:
    """Move sky pixels toward the clear colour (strength > 0) or the overcast one (< 0)."""
    if abs(strength) < 1e-6 or not sky.any():
        return rgb
    f = rgb.astype(np.float32)
    mean = f[sky].mean(axis=0)
    goal = clear if strength > 0 else overcast
    styled = goal[None, None, :] + (f - mean[None, None, :]) * texture
    a = abs(strength)
    out = f.copy()
    out[sky] = (1 - a) * f[sky] + a * styled[sky]
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


class ClimateModel(FluctuationModel):
    group = "climate"
    elements = (SUN, CLOUD)
    version = 1

    @dataclasses.dataclass
    class Config:
        seed: int = 0  # random seed for sampling training pairs
        pairs: int = 300  # (source, target) sky pairs solved
        texture: float = 0.6  # how much of the sky's own variation survives the recolouring

    def _score(self, thumb, sky, strength, targets) -> float:
        sun, cloud = climate_degrees(
            restyle_sky(thumb, sky, strength, self._clear, self._overcast, self.config.texture), sky
        )
        err = 0.0
        if SUN in targets:
            err += (sun - targets[SUN]) ** 2
        if CLOUD in targets:
            err += (cloud - targets[CLOUD]) ** 2
        return err

    def _best_strength(self, thumb, sky, targets, lo=-1.0, hi=1.0) -> float:
        candidates = STRENGTHS[(STRENGTHS >= lo) & (STRENGTHS <= hi)]
        scores = [self._score(thumb, sky, s, targets) for s in candidates]
        return float(candidates[int(np.argmin(scores))])

    def _fit(self, samples: Sequence[Sample], progress: Progress) -> dict:
        skies = [
            (thumbnail(s.rgb), s.analysis.sky_mask, s.degree(SUN), s.degree(CLOUD))
            for s in samples
            if s.analysis.sky_mask is not None and s.degree(SUN) is not None
        ]
        if not skies:
            return {}
        colours = np.array([t[m].astype(np.float32).mean(axis=0) for t, m, _, _ in skies])
        sun = np.array([s for _, _, s, _ in skies])
        cloud = np.array([c for _, _, _, c in skies])
        k = max(1, len(skies) // 5)
        self.params["clear"] = colours[np.argsort(-sun)[:k]].mean(axis=0).tolist()
        self.params["overcast"] = colours[np.argsort(-cloud)[:k]].mean(axis=0).tolist()
        rng = np.random.default_rng(self.config.seed)
        solved = []
        for n, (i, j) in enumerate(training_pairs(len(skies), self.config.pairs, rng), 1):
            thumb, sky, _, _ = skies[i]
            targets = {SUN: skies[j][2], CLOUD: skies[j][3]}
            solved.append(self._best_strength(thumb, sky, targets))
            if n % 50 == 0:
                progress(n, self.config.pairs, 0.0)
        self.params["strength_limits"] = [min(solved) - 0.1, max(solved) + 0.1]
        progress(self.config.pairs, self.config.pairs, 0.0)
        return {
            "palette_clear": [round(c) for c in self.params["clear"]],
            "palette_overcast": [round(c) for c in self.params["overcast"]],
        }

    @property
    def _clear(self):
        return np.asarray(self.params["clear"], dtype=np.float32)

    @property
    def _overcast(self):
        return np.asarray(self.params["overcast"], dtype=np.float32)

    def _generate(self, rgb: np.ndarray, analysis: Analysis, targets: dict[str, float]) -> np.ndarray:
        if analysis.sky_mask is None or "clear" not in self.params:
            return rgb.copy()
        thumb = thumbnail(rgb)
        lo, hi = self.params["strength_limits"]
        strength = self._best_strength(thumb, analysis.sky_mask, targets, lo, hi)
        sky = sky_at(analysis.sky_mask, rgb.shape[:2])
        edited = restyle_sky(rgb, sky, strength, self._clear, self._overcast, self.config.texture)
        return blend(rgb, edited, feather(sky, max(2.0, rgb.shape[1] / 200)))
