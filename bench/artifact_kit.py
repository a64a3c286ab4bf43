#!/usr/bin/env python
"""Labelling kit for bench/artifact_labels.json: what a person (or a helper) looks at, and the
merge of their answers into the labels.

  bench/artifact_kit.py kit NAME --shots RUN=DIR[:clip,clip] ... [--out DIR]
  bench/artifact_kit.py merge DIR [DIR ...]

``kit`` takes every saved photo of the fidelity bench layout (``<clip>_<frame>_original.png`` and
``_<intention>.png``) that differs from its shot and has no label yet, shuffles them under opaque
ids (NAME000, ...) so the run and clip do not show, and writes per id:

- ``<id>_face.png``: the shot (left) and the photo (right), the face and its surroundings;
- ``<id>_top.png`` and ``<id>_bottom.png``: the upper and lower halves enlarged (about 2-3x the
  face's own pixels), each row one area, shot left and photo right;

with GUIDE.md (what counts as an artifact) and ids.json (id -> run, clip, frame, intention, files).
Two labellers answer blind, each a JSON file ``labels_<anything>_L1.json`` / ``_L2.json``
({"<id>": {"label": 0|1|null, "note": "..."}}); where they disagree a third (``_L3.json``) settles
it. ``merge`` writes the result into the labels with each photo's sha256 and look
(bench/artifact_bench.py), the votes and the notes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from artifact_bench import LABELS, look  # noqa: E402

from reconstruction.core.extraction import Analyzer  # noqa: E402
from reconstruction.core.imageio import read_image  # noqa: E402

GUIDE = """# Labelling edited photos for visible artifacts

Each photo has an id. For each id there are three PNG files in this folder:

- `<id>_face.png`: LEFT = the original shot, RIGHT = the edited photo (the face and its surroundings).
- `<id>_top.png` and `<id>_bottom.png`: enlarged crops of the upper and lower halves of the same
  region. Each row shows the SAME area: LEFT = original shot, RIGHT = edited photo.

Mid-grey margins lie outside the photo (the face is near its edge); they are not part of it.
The edits are meant to change the expression (smile, mouth, eyes), the light or the framing. Such
a change is NOT an artifact by itself. Say whether the EDITED photo (right) shows a visible defect
that a person looking at it would notice as a fake or damaged photo.

Label 1 (artifact) if you see, in the edited photo, any of:
- a grey, darker or differently coloured patch on skin with a visible edge (a disc, a band, a blotch);
- a seam: a line or step in tone or texture across skin or beard that the original does not have;
- a ghost contour: a second jaw line, a second eyebrow, a doubled ear, earring, lip, nostril or
  chin, a faint contour of hair or of another frame's face showing through the skin;
- a strip or patch of background, shirt or hair colour inside the face or cheek;
- a hand or fingers (or glasses, hair) that turned see-through, melted, cut off or faded where
  they cross the face;
- features smeared into a blur that the original did not have.

Label 0 (clean) if the edited photo looks like a real, undamaged photo of the person, even if the
expression, light, sharpness or framing differ from the original. Slightly softer eyes or mouth
alone are clean.

Label null only if you truly cannot tell.

Look at all three images of each id before deciding. Compare left and right in every zoomed row:
a contour that exists in the original at the same place is not a ghost.

Answer as JSON: {"<id>": {"label": 0 or 1 or null, "note": "what and where, image-left/right"}, ...}
"""

GREY = (128, 128, 128)


def _crop(rgb: np.ndarray, box, side: int) -> np.ndarray:
    """The face and 0.4 of its size around it, ``side`` pixels square (grey beyond the photo)."""
    x, y, w, h = box
    s = max(w, h)
    half = s / 2 + 0.4 * s
    cx, cy = x + w / 2, y + h / 2 - 0.05 * s
    src = np.float32([[cx - half, cy - half], [cx + half, cy - half], [cx - half, cy + half]])
    dst = np.float32([[0, 0], [side, 0], [0, side]])
    m = cv2.getAffineTransform(src, dst)
    return cv2.warpAffine(rgb, m, (side, side), flags=cv2.INTER_CUBIC, borderValue=GREY)


def _write(path: Path, rgb: np.ndarray) -> None:
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def sheets(out: Path, ident: str, shot: np.ndarray, photo: np.ndarray, before, after) -> None:
    """``before`` and ``after``: the faces found in the shot and in the photo (None: none found)."""
    b0 = before.box
    b1 = after.box if after is not None else b0  # a reframed photo: its own face
    white = np.full((460, 8, 3), 255, np.uint8)
    _write(out / f"{ident}_face.png", np.hstack([_crop(shot, b0, 460), white, _crop(photo, b1, 460)]))
    zo, zr = _crop(shot, b0, 800), _crop(photo, b1, 800)
    gap, row_gap = np.full((420, 6, 3), 255, np.uint8), np.full((6, 846, 3), 255, np.uint8)
    for name, corners in (("top", ((0, 0), (0, 380))), ("bottom", ((380, 0), (380, 380)))):
        rows = [np.hstack([zo[y : y + 420, x : x + 420], gap, zr[y : y + 420, x : x + 420]]) for y, x in corners]
        _write(out / f"{ident}_{name}.png", np.vstack([rows[0], row_gap, rows[1]]))


def kit(args) -> int:
    labels = json.loads(LABELS.read_text())["labels"]
    known = {(item["run"], item["clip"], item["frame"], item["intention"]) for item in labels}
    out = Path(args.out or ROOT / "test-artifacts" / "artifact-kit" / args.name)
    out.mkdir(parents=True, exist_ok=True)
    found = []
    with Analyzer() as analyzer:
        for spec in args.shots:
            run, rest = spec.split("=", 1)
            folder, _, clips = rest.partition(":")
            for shot_path in sorted(Path(folder).glob("*_original.png")):
                stem = shot_path.name[: -len("_original.png")]
                clip, frame = stem.rsplit("_", 1)
                if clips and clip not in clips.split(","):
                    continue
                for intention in ("portrait", "fun"):
                    photo_path = Path(folder) / f"{stem}_{intention}.png"
                    if not photo_path.exists() or (run, clip, int(frame), intention) in known:
                        continue
                    shot, photo = read_image(shot_path), read_image(photo_path)
                    face = analyzer.analyze(shot).main_face
                    if face is None or np.array_equal(shot, photo):
                        continue
                    after = analyzer.analyze(photo).main_face
                    found.append((run, clip, int(frame), intention, shot_path, photo_path, shot, photo, face, after))
    random.Random(args.name).shuffle(found)
    ids = {}
    for n, (run, clip, frame, intention, shot_path, photo_path, shot, photo, face, after) in enumerate(found):
        ident = f"{args.name}{n:03d}"
        sheets(out, ident, shot, photo, face, after)
        ids[ident] = {"run": run, "clip": clip, "frame": frame, "intention": intention,
                      "shot": str(shot_path), "photo": str(photo_path)}  # fmt: skip
    (out / "GUIDE.md").write_text(GUIDE)
    (out / "ids.json").write_text(json.dumps(ids, indent=1) + "\n")
    print(f"{len(ids)} photos to label in {out}")
    return 0


def merge(args) -> int:
    data = json.loads(LABELS.read_text())
    index = {(item["run"], item["clip"], item["frame"], item["intention"]): item for item in data["labels"]}
    counts = {"added": 0, "relabelled": 0, "undecided": 0}
    with Analyzer() as analyzer:
        for folder in map(Path, args.dirs):
            ids = json.loads((folder / "ids.json").read_text())
            votes: dict[str, dict[str, dict]] = {}
            for answers in sorted(folder.glob("labels_*.json")):
                who = answers.stem.rsplit("_", 1)[-1]
                for ident, answer in json.loads(answers.read_text()).items():
                    votes.setdefault(ident, {})[who] = answer
            for ident, where in ids.items():
                v = votes.get(ident, {})
                a, b, c = (v.get(w, {}).get("label") for w in ("L1", "L2", "L3"))
                label = a if a is not None and a == b else (c if c is not None and c in (a, b) else None)
                counts["undecided"] += label is None
                photo = read_image(where["photo"])
                face = analyzer.analyze(read_image(where["shot"])).main_face
                entry = {k: where[k] for k in ("run", "clip", "frame", "intention")}
                entry |= {"label": label, "labeller_a": a, "labeller_b": b}
                if c is not None:
                    entry["labeller_c"] = c
                entry["note"] = "; ".join(v[w].get("note", "") for w in ("L1", "L2", "L3") if w in v)[:400]
                entry["sha256"] = hashlib.sha256(Path(where["photo"]).read_bytes()).hexdigest()
                entry["look"] = look(photo, face.box)
                entry["labelled"] = date.today().isoformat()
                key = (entry["run"], entry["clip"], entry["frame"], entry["intention"])
                if key in index:
                    earlier = index[key].get("label")
                    if earlier != label:
                        entry["earlier_label"] = earlier
                    index[key].clear()
                    index[key].update(entry)
                    counts["relabelled"] += 1
                else:
                    data["labels"].append(entry)
                    index[key] = entry
                    counts["added"] += 1
    LABELS.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    print(counts)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    k = sub.add_parser("kit", help="sheets for the photos not labelled yet")
    k.add_argument("name", help="the ids' prefix (a letter or two)")
    k.add_argument("--shots", action="append", required=True, help="RUN=DIR or RUN=DIR:clip,clip")
    k.add_argument("--out")
    m = sub.add_parser("merge", help="the labellers' answers into bench/artifact_labels.json")
    m.add_argument("dirs", nargs="+")
    args = parser.parse_args()
    return kit(args) if args.command == "kit" else merge(args)


if __name__ == "__main__":
    raise SystemExit(main())
