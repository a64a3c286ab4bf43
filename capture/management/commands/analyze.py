"""Analyse photos and videos: one JSON object per analysed frame per line."""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from reconstruction.core.assets import AssetError
from reconstruction.core.extraction import Analyzer
from reconstruction.core.identity import signature
from reconstruction.core.imageio import IMAGE_SUFFIXES, VIDEO_SUFFIXES, FrameError, iter_video, read_image
from reconstruction.core.tracking import FaceTracker


class Command(BaseCommand):
    help = "Measure every fluctuation element in images (jpg, png) and videos (mp4, mov, webm)."

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", metavar="PATH")
        parser.add_argument("--every", type=int, default=1, help="analyse every N-th frame of a video (default 1)")
        parser.add_argument(
            "--every-face",
            action="store_true",
            help="a group: look for every face down to about 40 px (tiles), and list each with its own degrees"
            " (in a video, with its number from frame to frame)",
        )

    def handle(self, *args, paths, every, every_face, **options):
        self.every_face = every_face
        if every < 1:
            raise CommandError("--every must be 1 or more")
        for raw in paths:
            path = Path(raw)
            if not path.exists():
                raise CommandError(f"{raw}: no such file")
            if path.suffix.lower() not in IMAGE_SUFFIXES | VIDEO_SUFFIXES:
                raise CommandError(
                    f"{raw}: not an image ({', '.join(sorted(IMAGE_SUFFIXES))}) or video ({', '.join(sorted(VIDEO_SUFFIXES))})"
                )
        try:
            analyzer = Analyzer()
        except AssetError as exc:
            raise CommandError(str(exc)) from exc
        failed = False
        with analyzer:
            for raw in paths:
                path = Path(raw)
                try:
                    if path.suffix.lower() in IMAGE_SUFFIXES:
                        self._emit(raw, 0, analyzer.analyze(read_image(path), every_face=every_face))
                    else:
                        for index, analysis in self._video(analyzer, path, every):
                            self._emit(raw, index, analysis)
                except FrameError as exc:
                    self.stderr.write(f"error: {exc}")
                    failed = True
        if failed:
            raise CommandError("some inputs could not be read")

    def _video(self, analyzer, path: Path, every: int):
        """(frame index, analysis) of a video; with ``--every-face`` its faces numbered as the live
        stream numbers them, on the video's own clock (one who steps out and back keeps their
        number)."""
        at = 0.0
        tracker = FaceTracker(settings.FLUX_RECENT_SECONDS, describe=signature, clock=lambda: at)
        for index, ms, frame in iter_video(path, every=every):
            analysis = analyzer.analyze(frame, every_face=self.every_face)
            if self.every_face:
                at = ms / 1000
                tracker.update(analysis.faces, analysis.width, analysis.height, frame)
            yield index, analysis

    def _emit(self, source: str, frame: int, analysis) -> None:
        data = analysis.to_json()
        line = {
            "source": source,
            "frame": frame,
            "width": data["width"],
            "height": data["height"],
            "faces": len(data["faces"]),
            "elements": data["elements"],
            "ms": data["ms"],
        }
        if self.every_face:
            # Each face: its box (normalised x, y, width, height), whether it is the main subject,
            # and its own degrees.
            line["face_list"] = data["faces"]
        self.stdout.write(json.dumps(line))
        self.stdout.flush()
