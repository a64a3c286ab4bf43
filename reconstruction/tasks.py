"""Background tasks, run by the task worker process (`manage.py db_worker`), never by the web
process."""

from __future__ import annotations

import os
import platform

from django_tasks import task

from . import services
from .core import assets


@task()
def probe() -> dict:
    """What the worker runs on: proves the queue and the worker are alive end to end."""
    try:
        import torch

        torch_version, cuda = torch.__version__, bool(torch.cuda.is_available())
    except ImportError:  # pragma: no cover - torch is a pinned dependency
        torch_version, cuda = None, False
    models = {}
    for asset in assets.MODEL_ASSETS:
        try:
            models[asset.name] = assets.model_path(asset.name).exists()
        except assets.AssetError:
            models[asset.name] = False
    return {
        "pid": os.getpid(),
        "python": platform.python_version(),
        "torch": torch_version,
        "cuda": cuda,
        "models": models,
    }


@task()
def train_group(run_id: int) -> str:
    """Train one queued run; the run row records progress, the outcome and any failure."""
    return services.run_training(run_id).status
