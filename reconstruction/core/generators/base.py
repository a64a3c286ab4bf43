"""What every fluctuation model shares: config, ranges, checkpoints, and the way the trained
transforms learn their parameters from the user's frames."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from ..analysis import Analysis
from ..elements import BY_NAME
from ..ranges import DataSummary, Progress, Sample, clamp_to_range, summarize, training_pairs
from ..verdicts import PastVerdict, Steered, newest, steer


class ModelError(RuntimeError):
    """A model that cannot be used: missing or corrupt weights, a wrong group, no range."""


class DataShortage(ModelError):
    """The learning data is too little or too uniform for a model yet: a training run waits for
    data (it says what to shoot) rather than failing."""


class FluctuationModel:
    """A per-user model that sets one element group to target degrees.

    Subclasses set ``group``, ``elements``, ``version`` and ``Config``, and implement ``_fit``
    (learn ``self.params`` from samples) and ``_generate``.
    """

    group: ClassVar[str]
    elements: ClassVar[tuple[str, ...]]
    version: ClassVar[int] = 1  # bump when the checkpoint's content changes meaning
    uses_recent: ClassVar[bool] = False  # generation takes the frames streamed before the shutter
    # Its training and quality figures read the person mask (clothing, sky, framing); the
    # expression model reads only faces, and its learning frames skip the segmenter (~5 ms each).
    segmented: ClassVar[bool] = True

    @dataclasses.dataclass
    class Config:
        seed: int = 0  # random seed for sampling training pairs

    def __init__(self, config: Any = None):
        self.config = config or self.Config()
        self.ranges: dict[str, tuple[float, float] | None] = {n: None for n in self.elements}
        self.summary: DataSummary | None = None
        self.params: dict[str, Any] = {}
        self.verdicts: list[
            PastVerdict
        ] = []  # the user's answers on edits this group made (reconstruction.core.verdicts)
        self._previous: FluctuationModel | None = None  # the version a fine-tune starts from

    # --- training -----------------------------------------------------------------------------

    def fit(
        self, samples: Sequence[Sample], progress: Progress | None = None, verdicts: Sequence[PastVerdict] | None = None
    ) -> dict:
        """Learn from the user's samples and, when given, the user's verdicts on this group's
        edits (they replace the ones a fine-tune carried over: the caller passes all that stand);
        returns quality figures for the model's record."""
        self.summary = summarize(samples, self.elements)
        self.ranges = dict(self.summary.ranges)
        if not self.summary.usable:
            raise DataShortage("; ".join(self.summary.missing) or f"no usable {self.group} data")
        if verdicts is not None:
            self.verdicts = newest(verdicts)
        progress = progress or (lambda *a: None)
        previous = self._previous
        if previous is None or not hasattr(self.config, "pairs") or type(previous) is not type(self):
            return self._fit(samples, progress)
        # A trained transform fine-tunes by solving a quarter of its pairs afresh (the new frames
        # among them) and keeping the previous version's solved strengths as the rest.
        full, pairs = self.config, max(20, self.config.pairs // 4)
        self.config = dataclasses.replace(full, pairs=pairs)
        try:
            metrics = self._fit(samples, progress)
        finally:
            self.config = full
        self.params = carry_params(previous.params, self.params, keep=0.75)
        return {**metrics, "fine_tune_pairs": pairs}

    def _fit(self, samples: Sequence[Sample], progress: Progress) -> dict:
        raise NotImplementedError

    def warm_start(self, previous: FluctuationModel) -> None:
        """Fine-tune from the previous version: its verdicts carry over, and a trained transform
        keeps its solved strengths (``fit``); a network overrides this to start from its weights."""
        self._previous = previous
        self.verdicts = list(previous.verdicts)

    def steer(self, element: str, current: float, target: float) -> Steered:
        """The rule's target for ``element`` once the user's answers on similar edits by this
        model are taken into account (``reconstruction.core.verdicts.steer``)."""
        if not self.verdicts:
            return Steered(target)
        return steer(self.verdicts, element, current, target, BY_NAME[element].circular)

    def reconstructable_range(self, element: str) -> tuple[float, float] | None:
        return self.ranges.get(element)

    def achievable(
        self, analysis: Analysis, targets: dict[str, float] | None = None, rgb: np.ndarray | None = None
    ) -> dict[str, tuple[float, float] | None]:
        """Per element, the degrees this particular shot allows given the other ``targets``, where
        that is narrower than the model's range (a reframing cannot show what the frame does not
        hold; a covered mouth cannot smile). ``rgb``: the shot, for a model that must look at it.
        Empty: the shot itself limits nothing."""
        return {}

    def why_limited(
        self, analysis: Analysis, targets: dict[str, float], rgb: np.ndarray | None = None
    ) -> dict[str, str]:
        """Per element whose target this shot cannot reach, a sentence for the user saying why."""
        return {}

    # --- generation ---------------------------------------------------------------------------

    def generate(
        self,
        rgb: np.ndarray,
        analysis: Analysis,
        targets: dict[str, float],
        recent: Sequence[Any] = (),
        report: dict | None = None,
        avoid: Mapping[str, str] | None = None,
    ) -> np.ndarray:
        """The image with this group's elements moved to ``targets`` (each clamped to its range);
        elements without a target, a range or a present degree are left as they are. ``recent``:
        the frames streamed before the shutter (``reconstruction.core.recent``), for a model that
        draws on them; ``report``: filled with what the model chose, for the shot's record;
        ``avoid``: lenders (``report["exemplar"]["lender"]``) not to draw on again, each with why
        (the self-check left out an edit made with it)."""
        clamped = {}
        for name, value in targets.items():
            if name not in self.elements:
                raise ModelError(f"{name} is not an element of the {self.group} model")
            within = clamp_to_range(float(value), self.ranges.get(name))
            if within is not None and analysis.elements.get(name) is not None:
                clamped[name] = within
        if not clamped:
            return rgb.copy()
        if self.uses_recent:
            return self._generate(rgb, analysis, clamped, recent=recent, report=report, avoid=avoid)
        return self._generate(rgb, analysis, clamped)

    def _generate(self, rgb: np.ndarray, analysis: Analysis, targets: dict[str, float]) -> np.ndarray:
        raise NotImplementedError

    # --- checkpoints --------------------------------------------------------------------------

    def state(self) -> dict:
        return {"params": self.params}

    def load_state(self, state: dict) -> None:
        self.params = state["params"]


# --- helpers for the trained transforms -----------------------------------------------------------


def carry_params(previous: dict, new: dict, keep: float) -> dict:
    """A fine-tune's parameters: learned numbers weigh ``keep`` of the previous version's and the
    rest of the new fit's; strength limits take both spans (a strength either saw stays allowed).
    Anything the previous version lacks, or shaped otherwise, is the new fit's."""
    out = dict(new)
    for key, value in new.items():
        old = previous.get(key)
        if not isinstance(value, list) or not isinstance(old, list) or len(old) != len(value):
            continue
        if not all(isinstance(v, (int, float)) for v in (*old, *value)):
            continue
        if key.endswith("limits") and len(value) == 2:
            out[key] = [min(old[0], value[0]), max(old[1], value[1])]
        else:
            out[key] = [keep * float(a) + (1 - keep) * float(b) for a, b in zip(old, value)]
    return out


def solve_parameter(
    measure: Callable[[float], float | None], target: float, lo: float, hi: float, iters: int = 14
) -> float:
    """The parameter in [lo, hi] whose measured degree is closest to ``target``, for a measure
    that grows with the parameter (bisection)."""
    a, b = lo, hi
    for _ in range(iters):
        mid = (a + b) / 2
        value = measure(mid)
        if value is None:
            break
        if value < target:
            a = mid
        else:
            b = mid
    return (a + b) / 2


def pair_features(src: float, dst: float) -> np.ndarray:
    delta = dst - src
    return np.array([1.0, src, dst, delta, delta * abs(delta)], dtype=np.float64)


def fit_regression(features: np.ndarray, targets: np.ndarray, ridge: float = 1e-3) -> list[float]:
    """Ridge least squares: the coefficients that map pair features to the solved parameter."""
    a = features.T @ features + ridge * np.eye(features.shape[1])
    return np.linalg.solve(a, features.T @ targets).tolist()


def predict(coef: Sequence[float], src: float, dst: float) -> float:
    return float(np.dot(pair_features(src, dst), np.asarray(coef)))


def alpha_box(alpha: np.ndarray) -> tuple[slice, slice] | None:
    """The (rows, columns) slices of the smallest box holding every non-zero alpha, or None."""
    rows, cols = np.flatnonzero(alpha.any(axis=1)), np.flatnonzero(alpha.any(axis=0))
    if rows.size == 0:
        return None
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def blend(original: np.ndarray, edited: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``original`` where alpha is 0, ``edited`` where it is 1. Only the box where alpha is non-zero
    is computed: a face or a shirt is a small part of the frame, and the shutter is timed."""
    out = original.copy()
    box = alpha_box(alpha)
    if box is None:
        return out
    a = alpha[box][..., None].astype(np.float32)
    mixed = original[box].astype(np.float32) * (1 - a) + edited[box].astype(np.float32) * a
    out[box] = np.clip(mixed + 0.5, 0, 255).astype(np.uint8)
    return out


@dataclasses.dataclass
class LearnedStrength:
    """A transform strength learned from pairs of the user's frames."""

    coef: list[float]  # ridge regression from pair_features(source, target) to the strength
    limits: list[float]  # the strengths seen in training, widened by a quarter: generation stays inside
    rmse: float  # how well the regression fits the solved strengths


def learn_strength(
    items: Sequence[tuple[Any, float]],
    pairs: int,
    rng: np.random.Generator,
    solve: Callable[[Any, float], float],
    tick: Callable[[], None],
) -> LearnedStrength:
    """For random pairs (i, j) of ``items`` (payload, degree), solve the strength that carries
    item i to item j's degree, then learn strength from (degree i, degree j)."""
    feats, params = [], []
    for i, j in training_pairs(len(items), pairs, rng):
        payload, src = items[i]
        dst = items[j][1]
        params.append(solve(payload, dst))
        feats.append(pair_features(src, dst))
        tick()
    x, y = np.array(feats), np.array(params)
    coef = fit_regression(x, y)
    residual = y - x @ np.array(coef)
    return LearnedStrength(
        coef=coef,
        limits=[float(y.min()) * 1.25 - 0.05, float(y.max()) * 1.25 + 0.05],
        rmse=round(float(np.sqrt(np.mean(residual**2))), 4),
    )
