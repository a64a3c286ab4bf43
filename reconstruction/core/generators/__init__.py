"""Fluctuation models: one file per network or trained transform, one model per element group.

``MODEL_CLASSES`` maps a group to its class; every class shares the interface of
``base.FluctuationModel``: ``fit(samples, progress)``, ``reconstructable_range(element)``,
``generate(rgb, analysis, targets)``, and checkpoints (``checkpoints``) that carry their config
and version.
"""

from .base import DataShortage, FluctuationModel, ModelError
from .checkpoints import MODEL_CLASSES, TRAINABLE_GROUPS, load_checkpoint, save_checkpoint

__all__ = [
    "MODEL_CLASSES",
    "TRAINABLE_GROUPS",
    "DataShortage",
    "FluctuationModel",
    "ModelError",
    "load_checkpoint",
    "save_checkpoint",
]
