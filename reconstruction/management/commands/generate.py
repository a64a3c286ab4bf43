"""Apply a user's current fluctuation models to an image to reach the given degrees."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from reconstruction import services
from reconstruction.core.elements import BY_NAME
from reconstruction.core.extraction import Analyzer
from reconstruction.core.imageio import FrameError, read_image
from reconstruction.core.ranges import clamp_to_range


def parse_setting(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    if not sep:
        raise CommandError(f"--set takes ELEMENT=DEGREE, got {text!r}")
    if name not in BY_NAME:
        raise CommandError(f"unknown element {name!r}")
    try:
        degree = float(value)
    except ValueError:
        raise CommandError(f"{name}: {value!r} is not a number") from None
    if not 0.0 <= degree <= 1.0:
        raise CommandError(f"{name}: degrees are between 0 and 1, got {degree}")
    return name, degree


class Command(BaseCommand):
    help = "Reconstruct IMAGE with USERNAME's models so that the given elements reach the given degrees."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("image")
        parser.add_argument("--set", dest="assignments", action="append", required=True, metavar="ELEMENT=DEGREE")
        parser.add_argument("--out", required=True)
        parser.add_argument("--json", action="store_true", help="print the result as JSON (the default output)")

    def handle(self, *args, username, image, assignments, out, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user {username!r}")
        requested = dict(parse_setting(s) for s in assignments)
        try:
            rgb = read_image(image)
        except FrameError as exc:
            raise CommandError(str(exc)) from exc
        by_group: dict[str, dict[str, float]] = {}
        for name, degree in requested.items():
            by_group.setdefault(BY_NAME[name].group, {})[name] = degree
        used, skipped, clamped = [], [], {}
        with Analyzer() as analyzer:
            analysis = analyzer.analyze(rgb)
            before = {n: analysis.elements[n] for n in requested}
            current = rgb
            for group, targets in by_group.items():
                model, reason = services.load_active(user, group)
                if model is None:
                    skipped.append({"group": group, "reason": reason})
                    continue
                for name, degree in targets.items():
                    clamped[name] = clamp_to_range(degree, model.reconstructable_range(name))
                row = services.models_for(user).get(group=group, active=True)
                current = model.generate(current, analysis, targets)
                analysis = analyzer.analyze(current)
                used.append({"group": group, "version": row.version})
            measured = {n: analysis.elements[n] for n in requested}
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(out, cv2.cvtColor(current, cv2.COLOR_RGB2BGR)):
            raise CommandError(f"could not write {out}")
        self.stdout.write(
            json.dumps(
                {
                    "requested": requested,
                    "clamped": clamped,
                    "before": before,
                    "measured": measured,
                    "models": used,
                    "skipped": skipped,
                    "out": out,
                }
            )
        )
