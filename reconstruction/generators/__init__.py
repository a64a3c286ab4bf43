"""Fluctuation models: one file per network or trained transform, one model per element group.

``MODEL_CLASSES`` maps a group to its class; every class shares the interface of
``base.FluctuationModel``: ``fit(samples, progress)``, ``reconstructable_range(element)``,
``generate(rgb, analysis, targets)``, and checkpoints that carry their config and version.
"""

from .base import FluctuationModel, ModelError, load_checkpoint, save_checkpoint  # noqa: F401
from .climate import ClimateModel
from .clothing import ClothingModel
from .composition import CompositionModel
from .expression import ExpressionModel
from .lighting import LightingModel

MODEL_CLASSES: dict[str, type[FluctuationModel]] = {
    cls.group: cls for cls in (ExpressionModel, LightingModel, ClimateModel, CompositionModel, ClothingModel)
}
TRAINABLE_GROUPS = tuple(MODEL_CLASSES)
