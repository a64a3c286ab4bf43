"""Yardsticks: measures that do not come from Flux's own extractor.

Flux reads faces with MediaPipe (``reconstruction.core.extraction``). The bench and the shutter's
self-check need a second opinion that shares none of its models, so that a fault in the extractor
cannot also hide itself; the modules here provide that opinion (no Django).
"""

from .dlib_face import DLIB_ASSETS
from .expression import EXPRESSION_ASSETS
from .expression_fer import FER_ASSETS
from .files import ensure, installed, once, yardstick_dir
from .recognition import RECOGNITION_ASSETS

__all__ = ["ensure", "installed", "judge_assets", "once", "yardstick_dir"]


def judge_assets():
    """Every model file the judges (and the identity signature, ``recognition``) read, fetched by
    ``make models`` into ``models/yardstick/``."""
    return (*DLIB_ASSETS, *EXPRESSION_ASSETS, *FER_ASSETS, *RECOGNITION_ASSETS)
