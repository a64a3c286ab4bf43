"""Where files live. Model weights: ``FLUX_WEIGHTS_DIR/<user id>/<group>/<version>.pt`` (by default
beside the fetched MediaPipe files in ``models/``); images in file fields: where each field's
``upload_to`` puts them."""

from __future__ import annotations

import os
from pathlib import Path

from django.core.files.base import ContentFile

from .core.assets import models_dir as _assets_dir


def models_dir() -> Path:
    return Path(os.environ.get("FLUX_WEIGHTS_DIR", _assets_dir()))


def weights_path(user_id: int, group: str, version: int) -> Path:
    return models_dir() / str(user_id) / group / f"{version}.pt"


def relative(path: Path) -> str:
    return str(path.relative_to(models_dir()))


def absolute(stored: str) -> Path:
    return models_dir() / stored


def put_jpeg(field, jpeg: bytes) -> None:
    """Write a JPEG into a file field without saving the row. Where it goes is the field's
    ``upload_to`` alone (the apps' models.py): the name given here is never used."""
    field.save("upload.jpg", ContentFile(jpeg), save=False)
