"""Checkpoints: a trained model on disk with its group, version, config, ranges and verdicts,
loaded with ``weights_only=True``. Loading picks the class by group, so the map from group to
model class is kept here, beside it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ..verdicts import PastVerdict
from .base import FluctuationModel, ModelError
from .climate import ClimateModel
from .clothing import ClothingModel
from .composition import CompositionModel
from .expression import ExpressionModel
from .lighting import LightingModel

MODEL_CLASSES: dict[str, type[FluctuationModel]] = {
    cls.group: cls for cls in (ExpressionModel, LightingModel, ClimateModel, CompositionModel, ClothingModel)
}
TRAINABLE_GROUPS = tuple(MODEL_CLASSES)
CHECKPOINT_FORMAT = "flux-fluctuation-model"


def save_checkpoint(model: FluctuationModel, path: Path, meta: dict | None = None) -> None:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "group": model.group,
        "version": model.version,
        "config": dataclasses.asdict(model.config),
        "ranges": {k: (list(v) if v else None) for k, v in model.ranges.items()},
        "state": model.state(),
        "verdicts": [v.to_json() for v in model.verdicts],
        "meta": meta or {},
    }
    partial = path.with_suffix(".partial")
    torch.save(payload, partial)
    partial.replace(path)


def load_checkpoint(path: Path) -> FluctuationModel:
    """The model saved at ``path``, or ``ModelError`` saying clearly what is wrong with it."""
    import torch

    # The messages reach users (the shot page, provenance): they never name a server path.
    if not path.exists():
        raise ModelError("its weights file is missing")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt, truncated, or not a torch file at all
        raise ModelError(f"its weights file is damaged ({type(exc).__name__})") from exc
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ModelError("its weights file is not a Flux model file")
    cls = MODEL_CLASSES.get(payload.get("group"))
    if cls is None:
        raise ModelError(f"its weights file holds an unknown group {str(payload.get('group'))[:40]!r}")
    if payload.get("version") != cls.version:
        raise ModelError(
            f"it is version {payload.get('version')} of the {cls.group} model; this Flux reads version {cls.version}"
        )
    fields = {f.name for f in dataclasses.fields(cls.Config)}
    model = cls(cls.Config(**{k: v for k, v in payload["config"].items() if k in fields}))
    model.ranges = {k: (tuple(v) if v else None) for k, v in payload["ranges"].items()}
    try:
        model.load_state(payload["state"])
        model.verdicts = [PastVerdict.from_json(v) for v in payload.get("verdicts", [])]
    except (KeyError, RuntimeError, TypeError, ValueError) as exc:
        raise ModelError(f"its weights file does not match the {cls.group} model ({type(exc).__name__})") from exc
    return model
