"""A small generated world for the planner's tests: a scene with a "face" disc, a sky band and a
striped wall, a measure that reads three elements off it, and three tiny models that really
change those pixels. Composition shifts the whole frame, as reframing does."""

from __future__ import annotations

import numpy as np

from reconstruction.core.analysis import Analysis
from reconstruction.core.elements import empty_degrees

W, H, R = 200, 150, 20
SKY_ROWS = 30


def scene(smile=0.2, sun=0.3, x=0.3) -> np.ndarray:
    img = np.zeros((H, W, 3), np.uint8)
    stripes = (np.arange(W) // 16 % 2) * 60 + 70
    img[:] = stripes[None, :, None]
    img[:SKY_ROWS] = (120, 120, int(sun * 255))
    yy, xx = np.mgrid[:H, :W]
    disc = (xx - x * W) ** 2 + (yy - 90) ** 2 <= R * R
    img[disc] = (220, int(smile * 255), 40)
    return img


def measure(rgb: np.ndarray) -> Analysis:
    elements = empty_degrees()
    body = rgb[SKY_ROWS:]
    disc = (body[..., 0] > 200) & (body[..., 2] < 60)
    if disc.any():
        xs = np.nonzero(disc)[1]
        elements["composition.subject_x"] = float(xs.mean() / W)
        elements["expression.smile"] = float(body[..., 1][disc].mean() / 255)
    elements["climate.sunniness"] = float(rgb[:SKY_ROWS, :, 2].mean() / 255)
    sky_small = np.zeros((H // 4, W // 4), bool)
    sky_small[: SKY_ROWS // 4] = True
    return Analysis(width=W, height=H, faces=[], elements=elements, sky_mask=sky_small)


class ToyReconstructor:
    """The planner's ``Reconstructor`` over the toy models; counts what it was asked."""

    def __init__(self, broken=()):
        self.calls: list[tuple[str, float]] = []
        self.broken = set(broken)

    def apply(self, rgb, analysis, step, strength):
        self.calls.append((step.group, strength))
        if step.group in self.broken:
            raise RuntimeError(f"{step.group} weights are unreadable")
        out = rgb.copy()
        targets = step.at(strength)
        body = out[SKY_ROWS:]
        disc = (body[..., 0] > 200) & (body[..., 2] < 60)
        if step.group == "expression":
            body[..., 1][disc] = int(round(targets["expression.smile"] * 255))
        elif step.group == "climate":
            out[:SKY_ROWS, :, 2] = int(round(targets["climate.sunniness"] * 255))
        elif step.group == "composition":
            shift = int(round((targets["composition.subject_x"] - analysis.elements["composition.subject_x"]) * W))
            out = np.roll(out, shift, axis=1)
        return out

    def measure(self, rgb, like=None):
        return measure(rgb)


FULL_RANGES = {
    "expression": {"expression.smile": (0.0, 1.0)},
    "climate": {"climate.sunniness": (0.0, 1.0)},
    "composition": {"composition.subject_x": (0.0, 1.0)},
}
IDEALS = {"expression.smile": 0.9, "climate.sunniness": 0.9, "composition.subject_x": 0.5}
