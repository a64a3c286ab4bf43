#!/usr/bin/env python
"""Face crops of saved bench shots (test-artifacts/fidelity/shots/ or --shots DIR), side by side
with the artifact check's verdict, for labelling reconstructions by looking at them.

  bench/artifact_sheet.py --shots DIR --clip zzhang --out sheet.png [--start 0 --count 6]

Each row: original | portrait | fun, the face enlarged; each tile says what the check found.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from artifact_bench import judge_photo  # noqa: E402
from fidelity_bench import _face_crop, _text  # noqa: E402

from reconstruction.core.extraction import Analyzer  # noqa: E402
from reconstruction.core.imageio import read_image  # noqa: E402

SIDE = 300  # pixels of each face tile


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--shots", default=str(ROOT / "test-artifacts" / "fidelity" / "shots"))
    p.add_argument("--clip", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--start", type=int, default=0)
    p.add_argument("--count", type=int, default=6)
    p.add_argument("--blind", action="store_true", help="no verdicts on the tiles: for labelling held-out photos")
    args = p.parse_args()
    shots = Path(args.shots)
    originals = sorted(shots.glob(f"{args.clip}_*_original.png"))[args.start : args.start + args.count]
    rows = []
    with Analyzer() as analyzer:
        for o in originals:
            stem = o.name[: -len("_original.png")]
            orig = read_image(o)
            a = analyzer.analyze(orig)
            if a.main_face is None:
                continue
            box = a.main_face.box
            tiles = [_text(_face_crop(orig, box, SIDE), [f"{stem} shot"])]
            for intention in ("portrait", "fun"):
                f = shots / f"{stem}_{intention}.png"
                if not f.exists():
                    tiles.append(np.zeros_like(tiles[0]))
                    continue
                rec = read_image(f)
                if np.array_equal(rec, orig):
                    tiles.append(_text(_face_crop(rec, box, SIDE), [f"{intention}: unchanged"], (160, 160, 160)))
                elif args.blind:
                    tiles.append(_text(_face_crop(rec, box, SIDE), [intention]))
                else:
                    v = judge_photo(analyzer, orig, a.main_face, rec)
                    tiles.append(
                        _text(
                            _face_crop(rec, box, SIDE),
                            [
                                f"{intention}: {'ARTIFACT' if v.visible else 'clean'}",
                                " ".join(f"{k[:5]}={x:g}" for k, x in v.figures.items()),
                            ],
                            (255, 80, 80) if v.visible else (80, 255, 80),
                        )
                    )
            rows.append(np.hstack(tiles))
    sheet = np.vstack(rows)
    cv2.imwrite(args.out, cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    print(args.out, sheet.shape)


if __name__ == "__main__":
    main()
