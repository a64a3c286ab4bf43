"""Reconstruct stored photos as the user's shutter would ([0140]): photos, folders of them, or
every Nth frame of a video, with the models loaded once. Each input gives one recorded JPEG
carrying its Content Credentials (the reconstruction, or the original kept where nothing was
changed) and one JSON line (what was recorded, by which models, what was left out and why, the
degrees before and after, the time it took)."""

from __future__ import annotations

import json as jsonlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from reconstruction import credentials, plans, services
from reconstruction.core.extraction import Analyzer
from reconstruction.core.imageio import (
    IMAGE_SUFFIXES,
    VIDEO_SUFFIXES,
    FrameError,
    encode_jpeg,
    iter_video,
    read_image,
)
from reconstruction.core.intention import INTENTIONS
from reconstruction.core.preview import MODES, ORDERS, placeholder_image


class Command(BaseCommand):
    help = (
        "Reconstruct photos, folders of photos or every Nth frame of videos as USERNAME's shutter would: "
        "one signed JPEG and one JSON line per input, the models loaded once."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("paths", nargs="+", metavar="PATH", help="photos, folders of photos, or videos")
        parser.add_argument("--every", type=int, default=10, help="a video's every Nth frame (default 10)")
        parser.add_argument(
            "--intention", choices=INTENTIONS, help="the shooting intention (default: inferred from each image)"
        )
        parser.add_argument("--wish", help='a typed wish, e.g. "I wish it was sunny"')
        parser.add_argument("--mode", type=int, choices=MODES, help="preview mode (default: the user's setting)")
        parser.add_argument("--order", choices=ORDERS, help="mode 3's order (default: the user's setting)")
        parser.add_argument("--out", help="folder for the recorded photos (default: flux-reconstructions)")
        parser.add_argument("--stages", action="store_true", help="also write every stage the page would show")
        parser.add_argument("--json", action="store_true", help="print only the JSON lines (one per input)")

    def handle(self, *args, username, paths, every, intention, wish, mode, order, out, stages, json, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user {username!r}")
        if every < 1:
            raise CommandError(f"--every must be at least 1, not {every}")
        inputs = list(_inputs([Path(p) for p in paths]))
        folder = Path(out or "flux-reconstructions")
        folder.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        loaded = services.active_models(user)[0]  # read once; each shot below reuses them
        credentials.authority()  # made on first use, as `make run` does
        ready = time.perf_counter() - started
        progress = Progress(sum(_count(p, every) for p in inputs), sys.stderr)
        lines, failed = [], 0
        with Analyzer() as analyzer:
            for name, source, rgb_or_error in _frames(inputs, every):
                t = time.perf_counter()
                if isinstance(rgb_or_error, str):
                    line = {"input": source, "error": rgb_or_error}
                    failed += 1
                else:
                    line = self.reconstruct(
                        user,
                        name,
                        rgb_or_error,
                        analyzer,
                        folder,
                        stages,
                        intention=intention,
                        wish=wish,
                        mode=mode,
                        order=order,
                    )
                line["input"], line["seconds"] = source, round(time.perf_counter() - t, 3)
                lines.append(line)
                self.stdout.write(_json(line) if json else _plain(line))
                progress.step(source, line["seconds"])
        progress.done()
        with open(folder / "reconstructions.jsonl", "a") as fh:
            fh.writelines(_json(line) + "\n" for line in lines)
        done = [line["seconds"] for line in lines if "error" not in line]
        summary = (
            f"{len(done)} of {len(lines)} reconstructed into {folder} ({len(loaded)} models loaded once in {ready:.1f} s); "
            + (f"{np.mean(done):.2f} s per image on average, {np.median(done):.2f} s median" if done else "none done")
        )
        sys.stderr.write(summary + "\n")
        if failed:
            raise CommandError(f"{failed} input(s) could not be read: see their JSON lines")

    def reconstruct(self, user, name, rgb, analyzer, folder: Path, stages: bool, **asked) -> dict:
        analysis = analyzer.analyze(rgb)
        plan = plans.plan_for(
            user,
            analysis,
            chosen=asked["intention"],
            wish=asked["wish"],
            mode=asked["mode"],
            order=asked["order"],
            rgb=rgb,
        )
        summary = plan.to_json()
        shown, made, after = [], [], {}
        recorded = rgb
        for index, stage in enumerate(plan.stages(rgb, analysis, analyzer)):
            record = {"index": index, **stage.to_json()}
            if stages:
                picture = (
                    stage.image
                    if stage.image is not None
                    else placeholder_image(rgb.shape[1], rgb.shape[0], stage.placeholder)
                )
                path = folder / f"{name}-stages" / f"{index:02d}-{stage.kind}.jpg"
                path.parent.mkdir(parents=True, exist_ok=True)
                if not cv2.imwrite(str(path), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR)):
                    raise CommandError(f"could not write {path}")
                record["file"] = str(path)
            shown.append(record)
            if stage.kind == "reconstruction" and stage.groups:
                made, after, recorded = list(stage.groups), dict(stage.degrees), stage.image
        original = encode_jpeg(rgb, quality=95)
        photo = encode_jpeg(recorded, quality=92) if made else original
        edits, record = credentials.describe(
            before=analysis.elements,
            after=after,
            rule=summary["rule"],
            models=summary["models"],
            intention=summary["intention"],
            stages=shown,
            mode=summary["mode"],
            made=made,
        )
        line: dict = {}
        try:
            photo = credentials.sign(photo, original, edits, record)
            line["credentials"] = "signed"
        except Exception as exc:  # the photo is written either way, and the line says why it is unsigned
            line["credentials"] = f"unsigned: {exc}"
        path = folder / f"{name}-{'reconstruction' if made else 'kept'}.jpg"
        path.write_bytes(photo)
        final = next((s for s in shown if s["stage"] == "reconstruction"), {})
        line |= {
            "recorded": str(path),
            "kept_original": not made,
            "intention": plan.intention.name,
            "why": summary["intention"],
            "mode": plan.preview.mode,
            "models": {g: summary["models"][g] for g in made},
            "rule": summary["rule"]["steps"],
            "skipped": summary["rule"]["skipped"],
            "left_out": final.get("left_out", []),
            "failed": final.get("failed", []),
            "note": final.get("note", ""),
            "degrees": {"before": record["degrees"]["before"], "after": record["degrees"]["after"]},
        }
        if stages:
            line["events"] = shown
        return line


def _inputs(paths: list[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES)
        else:
            yield path


def _count(path: Path, every: int) -> int:
    """How many lines an input gives: one for a photo, one per Nth frame for a video."""
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        return 1
    capture = cv2.VideoCapture(str(path))
    frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    capture.release()
    return max(1, -(-frames // every))


def _frames(inputs: list[Path], every: int) -> Iterator[tuple[str, str, np.ndarray | str]]:
    """(output name, input as said, the RGB frame or why it cannot be read) for each input."""
    for path in inputs:
        if path.suffix.lower() in VIDEO_SUFFIXES:
            try:
                for index, _, rgb in iter_video(path, every=every):
                    yield f"{path.stem}-f{index:06d}", f"{path}#frame={index}", rgb
            except FrameError as exc:
                yield path.stem, str(path), str(exc)
            continue
        try:
            yield path.stem, str(path), read_image(path)
        except (FrameError, OSError) as exc:
            yield path.stem, str(path), str(exc)


class Progress:
    """A bar on a terminal; nothing on a pipe (the lines on standard output are the progress)."""

    def __init__(self, total: int, stream):
        self.total, self.stream, self.count = total, stream, 0
        self.tty = hasattr(stream, "isatty") and stream.isatty()

    def step(self, what: str, seconds: float) -> None:
        self.count += 1
        if not self.tty:
            return
        width = 30
        filled = min(width, int(width * self.count / max(1, self.total)))
        self.stream.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {self.count}/{self.total}, last {seconds:.2f} s  {what[-40:]:<40}"
        )
        self.stream.flush()

    def done(self) -> None:
        if self.tty:
            self.stream.write("\n")


def _plain(line: dict) -> str:
    if "error" in line:
        return f"{line['input']}: cannot read it: {line['error']}"
    what = "original kept" if line["kept_original"] else "reconstructed by " + ", ".join(sorted(line["models"]))
    out = f"{line['input']}: {line['intention']}, {what} -> {line['recorded']} ({line['seconds']:.2f} s)"
    for left in line["left_out"]:
        out += f"\n    left out {left.get('group')}: {left.get('why')}"
    return out


def _json(line: dict) -> str:
    return jsonlib.dumps(line)
