#!/usr/bin/env python
"""The artifact check against reconstructions labelled by looking at them.

bench/artifact_labels.json lists recorded photos of the fidelity bench (people Flux was not
developed on: ../shared/media's clips) with a label a person gave each after looking at the face
enlarged: 1 = a visible artifact (grey or coloured patch, ghost contour, seam, strip of another
frame, doubled feature), 0 = clean, null = could not tell (left out of the figures). The photos
come from runs of the product's shutter path on held-out frames, saved as bench/fidelity_bench.py
saves its shots (test-artifacts/fidelity/shots/):

- "before": the code of commit 241c2d6 (whole-face exemplar pasting, the darkening light ramp),
  where most of the defects were seen;
- "after" ... "after4": the product's code of successive dates (bench/artifact_labels.json's
  "runs" says which); "after4" (2026-12-07) is the one made and labelled on the same machine as
  the "before" photos that are labelled now.

Each label carries the sha256 of the PNG it was given to and its face's look (the face's
neighbourhood at 32 x 32 grey levels): the photos are made again on each machine, and training on
another CPU rounds otherwise (of zzhang_vlog's 20 "before" photos made again on 2026-12-07, 18
differed from the labelled ones in their bytes). A photo whose bytes differ but whose look is the
labelled one's (mean difference under LOOK_MEAN grey levels, none over LOOK_MAX) is the same
photo to a person and is judged; one that came out otherwise is reported, not silently judged.
The labels are split: the thresholds of
``reconstruction/core/yardstick/artifacts.py`` were set looking at the "tune" clips only; the
figures that count are on the "held out" clips.

  bench/artifact_bench.py --shots before=DIR --shots after4=DIR [--cross]

(bench/artifact_before_run.py --out DIR makes the "before" photos; bench/fidelity_bench.py
--clips unseen,registry --held 12 --no-compare the later ones; bench/artifact_kit.py labels new
ones.)

--cross also estimates how the check holds on a person it was not tuned on: leave one person out,
the outline search's share of the shot's own detail and the two bars chosen on the other people
(best F1 over a small grid), judged on the one left out, pooled over all.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

import reconstruction.core.yardstick.artifacts as artifacts  # noqa: E402
from reconstruction.core.extraction import Analyzer  # noqa: E402
from reconstruction.core.imageio import read_image  # noqa: E402
from reconstruction.core.yardstick.artifacts import ArtifactVerdict, check_face_artifacts  # noqa: E402

LABELS = ROOT / "bench" / "artifact_labels.json"


LOOK_SIDE = 32  # the look's side, pixels
LOOK_MEAN = 1.0  # two looks differing by less than this on average (grey levels) ...
LOOK_MAX = 6  # ... and nowhere by more than this are the same photo


def look(rgb: np.ndarray, box) -> str:
    """The face's neighbourhood (its box and a third of it around) at LOOK_SIDE x LOOK_SIDE grey
    levels, as hex: what a labeller saw, without the rounding of another machine."""
    x, y, w, h = box
    m = w / 3
    x0, y0 = int(max(0, x - m)), int(max(0, y - m))
    crop = rgb[y0 : int(y + h + m), x0 : int(x + w + m)]
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    return cv2.resize(grey, (LOOK_SIDE, LOOK_SIDE), interpolation=cv2.INTER_AREA).tobytes().hex()


def same_look(a: str, b: str) -> bool:
    d = np.abs(np.frombuffer(bytes.fromhex(a), np.uint8).astype(int) - np.frombuffer(bytes.fromhex(b), np.uint8))
    return float(d.mean()) < LOOK_MEAN and int(d.max()) <= LOOK_MAX


def judge_photo(analyzer: Analyzer, original: np.ndarray, face, recorded: np.ndarray) -> ArtifactVerdict:
    """The artifact check on a saved photo whose framing is unknown: a reframing is found out
    from the pixels (a near-identity map compares in place)."""
    after = analyzer.analyze(recorded).main_face
    return check_face_artifacts(
        original, recorded, face.landmarks, face.box, after.landmarks if after is not None else None, reframed=True
    )


# The grid --cross chooses from: OUTLINE_RELATIVE, OUTLINE_RUN, PATCH_AREA.
GRID = ((0.0, 0.5, 0.8, 1.2), (0.1, 0.12, 0.15, 0.2, 0.25), (0.02, 0.03, 0.04, 0.05, 0.06))


def _found(row: dict, relative: float, run: float, area: float) -> bool:
    f = row["by_relative"][relative]
    return f["ghost_length"] >= artifacts.GHOST_LENGTH or f["outline_run"] >= run or f.get("patch_area", 0) >= area


def _f1(rows: list[dict], choice) -> float:
    found = [(r["label"], _found(r, *choice)) for r in rows]
    tp = sum(label == 1 and f for label, f in found)
    return 2 * tp / max(1, 2 * tp + sum(label != f for label, f in found))


def cross(rows: list[dict]) -> dict:
    """Leave one person out: the grid's best choice on the others, judged on the one left out."""
    judged = []
    for person in sorted({r["clip"] for r in rows}):
        others = [r for r in rows if r["clip"] != person]
        choice = max(itertools.product(*GRID), key=lambda c: _f1(others, c))
        judged += [{**r, "found": _found(r, *choice)} for r in rows if r["clip"] == person]
        print(f"  leave out {person:9s}: chose outline share {choice[0]}, run {choice[1]}, patch {choice[2]}")
    return figures(judged)


def figures(rows: list[dict]) -> dict:
    tp = sum(r["label"] == 1 and r["found"] for r in rows)
    fp = sum(r["label"] == 0 and r["found"] for r in rows)
    fn = sum(r["label"] == 1 and not r["found"] for r in rows)
    tn = sum(r["label"] == 0 and not r["found"] for r in rows)
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    return {"n": len(rows), "tp": tp, "fp": fp, "fn": fn, "tn": tn, "precision": precision, "recall": recall}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--shots", action="append", default=[], help="RUN=DIR, e.g. after=test-artifacts/fidelity/shots"
    )
    parser.add_argument(
        "--split", choices=("tune", "held out"), help="judge one split only (tune while setting thresholds)"
    )
    parser.add_argument("--cross", action="store_true", help="also leave one person out (four times the work)")
    args = parser.parse_args()
    folders = dict(s.split("=", 1) for s in args.shots)
    data = json.loads(LABELS.read_text())
    rows, missing, changed, rounded = [], 0, 0, 0
    with Analyzer() as analyzer:
        for item in data["labels"]:
            split = "tune" if item["clip"] in data["tune_clips"] else "held out"
            if item["label"] is None or item["run"] not in folders or (args.split and split != args.split):
                continue
            folder = Path(folders[item["run"]])
            stem = f"{item['clip']}_{item['frame']:04d}"
            shot, photo = folder / f"{stem}_original.png", folder / f"{stem}_{item['intention']}.png"
            if not shot.exists() or not photo.exists():
                missing += 1
                continue
            original, recorded = read_image(shot), read_image(photo)
            before = analyzer.analyze(original)
            if before.main_face is None or np.array_equal(original, recorded):
                continue
            if item.get("sha256") and hashlib.sha256(photo.read_bytes()).hexdigest() != item["sha256"]:
                if not item.get("look") or not same_look(item["look"], look(recorded, before.main_face.box)):
                    changed += 1
                    continue
                rounded += 1
            verdict = judge_photo(analyzer, original, before.main_face, recorded)
            row = {**item, "found": verdict.visible, "split": split, "figures": verdict.figures}
            if args.cross:
                chosen = artifacts.OUTLINE_RELATIVE
                row["by_relative"] = {}
                for relative in GRID[0]:
                    artifacts.OUTLINE_RELATIVE = relative
                    row["by_relative"][relative] = judge_photo(analyzer, original, before.main_face, recorded).figures
                artifacts.OUTLINE_RELATIVE = chosen
            rows.append(row)
            mark = {(1, True): "ok", (0, False): "ok", (1, False): "MISSED", (0, True): "FALSE ALARM"}
            print(
                f"  {split:8s} {item['run']:6s} {stem} {item['intention']:8s} label {item['label']} "
                f"found {int(verdict.visible)} {mark[(item['label'], verdict.visible)]:11s} {verdict.figures}"
            )
    print(
        f"\n{len(rows)} labelled photos judged ({rounded} of them rounded otherwise, the same look; {missing} not on "
        f"disk, {changed} changed since labelled)"
    )
    for split in ("tune", "held out"):
        part = [r for r in rows if r["split"] == split]
        f = figures(part)
        p = "-" if f["precision"] is None else f"{f['precision']:.2f}"
        r = "-" if f["recall"] is None else f"{f['recall']:.2f}"
        print(
            f"  {split:8s}: {f['n']} photos, {f['tp'] + f['fn']} with an artifact; precision {p}, recall {r} "
            f"(tp {f['tp']}, fp {f['fp']}, fn {f['fn']}, tn {f['tn']}; goal >= 0.9 both)"
        )
    if args.cross:
        f = cross(rows)
        print(
            f"  leave one person out: {f['n']} photos, {f['tp'] + f['fn']} with an artifact; precision "
            f"{f['precision']:.2f}, recall {f['recall']:.2f} (tp {f['tp']}, fp {f['fp']}, fn {f['fn']})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
