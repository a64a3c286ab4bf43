"""Import photos and videos as a user's learning data, train their models, print one JSON line per group."""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from reconstruction import services
from reconstruction.core.extraction import Analyzer
from reconstruction.core.generators import TRAINABLE_GROUPS
from reconstruction.core.imageio import (
    IMAGE_SUFFIXES,
    VIDEO_SUFFIXES,
    FrameError,
    encode_jpeg,
    fit_within,
    iter_video,
    read_image,
)
from reconstruction.models import LearningSample, TrainingRun


class Command(BaseCommand):
    help = "Add images and videos to USERNAME's learning data, train their fluctuation models, and print the results."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--from", dest="paths", nargs="+", required=True, metavar="PATH")
        parser.add_argument("--group", action="append", help="train only this group (repeatable); default: every group")
        parser.add_argument("--steps", type=int, help="training steps (expression) or solved pairs (the others)")
        parser.add_argument(
            "--every", type=int, default=0, help="use every N-th video frame (default: spread the limit over the video)"
        )
        parser.add_argument(
            "--json", action="store_true", help="one JSON object per group per line (the default output)"
        )

    def handle(self, *args, username, paths, group, steps, every, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user {username!r}")
        groups = group or list(TRAINABLE_GROUPS)
        unknown = sorted(set(groups) - set(TRAINABLE_GROUPS))
        if unknown:
            raise CommandError(f"unknown group(s) {', '.join(unknown)}; known: {', '.join(TRAINABLE_GROUPS)}")
        for raw in paths:
            if not Path(raw).exists():
                raise CommandError(f"{raw}: no such file")
        with Analyzer() as analyzer:
            imported = sum(self._import(user, Path(raw), analyzer, every) for raw in paths)
            self.stderr.write(f"imported {imported} frames as learning data")
            for name in groups:
                try:
                    run = services.start_training(user, name, steps=steps, enqueue=False)
                except services.TrainingBusy as exc:
                    self.stdout.write(json.dumps({"group": name, "error": str(exc)}))
                    continue
                run = services.run_training(run.pk, analyzer=analyzer)
                self.stdout.write(json.dumps(self._report(run)))
                self.stdout.flush()

    def _import(self, user, path: Path, analyzer, every: int) -> int:
        suffix = path.suffix.lower()
        try:
            if suffix in IMAGE_SUFFIXES:
                frames = [read_image(path)]
            elif suffix in VIDEO_SUFFIXES:
                count = sum(1 for _ in iter_video(path, every=1)) if not every else 0
                step = every or max(
                    1, count // settings.FLUX_TRAINING_MAX_SAMPLES + (count % settings.FLUX_TRAINING_MAX_SAMPLES > 0)
                )
                frames = (frame for _, _, frame in iter_video(path, every=step))
            else:
                raise CommandError(f"{path}: not an image or a video")
        except FrameError as exc:
            raise CommandError(str(exc)) from exc
        side = settings.FLUX_LEARNING_MAX_SIDE
        n = 0
        for frame in frames:
            small = fit_within(frame, side, side)
            analysis = analyzer.analyze(small).to_json()
            services.record_learning_sample(
                user, encode_jpeg(small, quality=90), analysis, source=LearningSample.SOURCE_IMPORT
            )
            n += 1
        return n

    @staticmethod
    def _report(run: TrainingRun) -> dict:
        if run.status != TrainingRun.SUCCEEDED:
            return {"group": run.group, "error": run.message}
        row = run.result
        return {
            "group": row.group,
            "version": row.version,
            "samples": row.samples,
            "seconds": row.seconds,
            "device": row.device,
            "ranges": row.ranges,
            "metrics": row.metrics,
        }
