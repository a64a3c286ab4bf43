"""Learning data → what a fluctuation model can reconstruct (FIG. 5A), independent of the network.

A model may only be asked for degrees it saw in training: the reconstructable range of an element
is the span of its degrees in the learning data (2nd to 98th percentile, so one odd frame does
not stretch it). Too few samples, or samples that hardly vary, give no range at all, with a
message that says what to shoot.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .analysis import Analysis
from .elements import BY_NAME, arc_distance

MIN_SAMPLES = 8  # fewer measured frames than this and the range is empty
MIN_SPREAD = 0.08  # a range narrower than this is "too uniform" to learn a change from
HIST_BINS = 20

Progress = Callable[[int, int, float], None]  # (step, total steps, loss) -> None


@dataclass
class Sample:
    """One training image with its measurement (landmarks, masks, degrees)."""

    rgb: np.ndarray
    analysis: Analysis
    accepted: bool = False  # a reconstruction the user accepted: a positive example of an edit
    verdict: int | None = None  # the verdict this frame came with (an accepted shot's original and its edit share it)

    def degree(self, name: str) -> float | None:
        return self.analysis.elements.get(name)


def degree_range(values: Sequence[float], circular: bool = False) -> tuple[float, float] | None:
    """(lo, hi), or None. For a circular element (hue) the range is the shortest arc holding all
    the values, and lo > hi means it wraps through 0 (say reds from 0.95 to 0.05)."""
    if len(values) < MIN_SAMPLES:
        return None
    if circular:
        return _circular_range(np.sort(np.asarray(values, dtype=np.float64) % 1.0))
    lo, hi = np.percentile(np.asarray(values, dtype=np.float64), [2, 98])
    if hi - lo < MIN_SPREAD:
        return None
    return round(float(lo), 4), round(float(hi), 4)


def _circular_range(ordered: np.ndarray) -> tuple[float, float] | None:
    gaps = np.diff(np.append(ordered, ordered[0] + 1.0))
    widest = int(np.argmax(gaps))  # the arc the data leaves empty
    lo, hi = ordered[(widest + 1) % len(ordered)], ordered[widest]
    if (hi - lo) % 1.0 < MIN_SPREAD:
        return None
    return round(float(lo), 4), round(float(hi), 4)


def histogram(values: Sequence[float]) -> list[int]:
    counts, _ = np.histogram(np.asarray(values, dtype=np.float64), bins=HIST_BINS, range=(0.0, 1.0))
    return [int(c) for c in counts]


def what_is_missing(name: str, values: Sequence[float]) -> str | None:
    """A sentence for the user when an element has no range, else None."""
    element = BY_NAME[name]
    if len(values) < MIN_SAMPLES:
        where = {
            "face": "with your face in view",
            "sky": "with the sky in view",
            "torso": "with your upper body in view",
        }.get(element.region, "")
        return f"{element.label}: only {len(values)} frames measured; shoot a few more seconds {where}".strip()
    if degree_range(values, element.circular) is None:
        return f'{element.label}: too uniform; shoot some frames where it is "{element.low}" and some where it is "{element.high}"'
    return None


@dataclass
class DataSummary:
    """Per element: the degrees seen, their histogram, the range and what is missing."""

    values: dict[str, list[float]]
    ranges: dict[str, tuple[float, float] | None]
    histograms: dict[str, list[int]]
    missing: list[str]

    @property
    def usable(self) -> bool:
        return any(r is not None for r in self.ranges.values())


def summarize(samples: Sequence[Sample], elements: Sequence[str]) -> DataSummary:
    values = {n: [s.degree(n) for s in samples if s.degree(n) is not None] for n in elements}
    ranges = {n: degree_range(v, BY_NAME[n].circular) for n, v in values.items()}
    missing = [m for n, v in values.items() if (m := what_is_missing(n, v))]
    return DataSummary(
        values=values, ranges=ranges, histograms={n: histogram(v) for n, v in values.items()}, missing=missing
    )


def clamp_to_range(value: float, span: tuple[float, float] | None) -> float | None:
    """FIG. 5C: a wished degree outside the range becomes the nearest reconstructable one. A span
    with lo > hi is a circular arc through 0."""
    if span is None:
        return None
    lo, hi = span
    if lo <= hi:
        return float(min(max(value, lo), hi))
    value %= 1.0
    if value >= lo or value <= hi:
        return float(value)
    return float(lo if arc_distance(value, lo) < arc_distance(value, hi) else hi)


def training_pairs(count: int, pairs: int, rng: np.random.Generator) -> np.ndarray:
    """Random (source, target) index pairs, source ≠ target where possible."""
    src = rng.integers(0, count, pairs)
    dst = rng.integers(0, count, pairs)
    if count > 1:
        same = src == dst
        dst[same] = (dst[same] + 1 + rng.integers(0, count - 1, same.sum())) % count
    return np.stack([src, dst], axis=1)
