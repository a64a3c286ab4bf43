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

from reconstruction.core.extraction import Analyzer  # noqa: E402
from reconstruction.core.yardstick.artifacts import check_face_artifacts  # noqa: E402


def crop(rgb, box, side=300):
    x, y, w, h = box
    cx, cy, r = x + w / 2, y + h / 2, 0.7 * max(w, h)
    x0, y0 = int(max(0, cx - r)), int(max(0, cy - r))
    x1, y1 = int(min(rgb.shape[1], cx + r)), int(min(rgb.shape[0], cy + r))
    c = rgb[y0:y1, x0:x1]
    s = side / max(c.shape[:2])
    c = cv2.resize(c, (round(c.shape[1] * s), round(c.shape[0] * s)), interpolation=cv2.INTER_AREA)
    out = np.zeros((side, side, 3), np.uint8)
    out[: c.shape[0], : c.shape[1]] = c
    return out


def label(img, lines, colour=(255, 255, 0)):
    y = 16
    for line in lines:
        cv2.putText(img, line, (4, y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(img, line, (4, y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1, cv2.LINE_AA)
        y += 18
    return img


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
            orig = cv2.cvtColor(cv2.imread(str(o)), cv2.COLOR_BGR2RGB)
            a = analyzer.analyze(orig)
            if a.main_face is None:
                continue
            tiles = [label(crop(orig, a.main_face.box), [f"{stem} shot"])]
            for intention in ("portrait", "fun"):
                f = shots / f"{stem}_{intention}.png"
                if not f.exists():
                    tiles.append(np.zeros_like(tiles[0]))
                    continue
                rec = cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB)
                if np.array_equal(rec, orig):
                    tiles.append(label(crop(rec, a.main_face.box), [f"{intention}: unchanged"], (160, 160, 160)))
                    continue
                b = analyzer.analyze(rec)
                v = check_face_artifacts(
                    orig,
                    rec,
                    a.main_face.landmarks,
                    a.main_face.box,
                    b.main_face.landmarks if b.main_face is not None else None,
                    reframed=True,  # found out from the pixels: near-identity maps compare in place
                )
                figs = " ".join(f"{k[:5]}={v:g}" for k, v in v.figures.items())
                if args.blind:
                    tiles.append(label(crop(rec, a.main_face.box), [intention]))
                    continue
                tiles.append(
                    label(
                        crop(rec, a.main_face.box),
                        [f"{intention}: {'ARTIFACT' if v.visible else 'clean'}", figs],
                        (255, 80, 80) if v.visible else (80, 255, 80),
                    )
                )
            rows.append(np.hstack(tiles))
    sheet = np.vstack(rows)
    cv2.imwrite(args.out, cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    print(args.out, sheet.shape)


if __name__ == "__main__":
    main()
