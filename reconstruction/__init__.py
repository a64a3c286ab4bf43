"""Flux's reconstruction core.

The modules listed in ``CORE_MODULES`` are pure Python on numpy arrays and plain dataclasses: they
import no Django, so they run from a command line or a notebook. The Django side of this app
(models, services, tasks, management commands) lives beside them and calls into them.
"""

CORE_MODULES = (
    "reconstruction.assets",
    "reconstruction.elements",
    "reconstruction.extraction",
    "reconstruction.exemplars",
    "reconstruction.recent",
    "reconstruction.selfcheck",
    "reconstruction.imageio",
    "reconstruction.ranges",
    "reconstruction.regions",
    "reconstruction.verdicts",
    "reconstruction.evaluation",
    "reconstruction.intention",
    "reconstruction.rules",
    "reconstruction.divergence",
    "reconstruction.preview",
    "reconstruction.generators",
    "reconstruction.generators.base",
    "reconstruction.generators.expression",
    "reconstruction.generators.expression.config",
    "reconstruction.generators.expression.faces",
    "reconstruction.generators.expression.model",
    "reconstruction.generators.expression.networks",
    "reconstruction.generators.expression.training",
    "reconstruction.generators.lighting",
    "reconstruction.generators.climate",
    "reconstruction.generators.composition",
    "reconstruction.generators.clothing",
    "reconstruction.yardstick",
    "reconstruction.yardstick.dlib_face",
    "reconstruction.yardstick.borders",
    "reconstruction.yardstick.expression",
    "reconstruction.yardstick.fidelity",
)
