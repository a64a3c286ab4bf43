"""Run the shutter's pipeline on a stored photo ([0140]): intention, rule, reconstruction and the
preview stages, writing every image the page would show into DIR."""

from __future__ import annotations

import json as jsonlib
from pathlib import Path

import cv2
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from reconstruction import plans
from reconstruction.core.extraction import Analyzer
from reconstruction.core.imageio import FrameError, read_image
from reconstruction.core.intention import INTENTIONS
from reconstruction.core.preview import MODES, ORDERS, placeholder_image


class Command(BaseCommand):
    help = "Reconstruct IMAGE as USERNAME's shutter would, and write each displayed stage into DIR."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("image")
        parser.add_argument(
            "--intention", choices=INTENTIONS, help="the shooting intention (default: inferred from the image)"
        )
        parser.add_argument("--wish", help='a typed wish, e.g. "I wish it was sunny"')
        parser.add_argument("--mode", type=int, choices=MODES, help="preview mode (default: the user's setting)")
        parser.add_argument("--order", choices=ORDERS, help="mode 3's order (default: the user's setting)")
        parser.add_argument("--out", help="folder for the stage images (default: IMAGE's name + '-stages')")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args, username, image, intention, wish, mode, order, out, json: bool, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user {username!r}")
        try:
            rgb = read_image(image)
        except FrameError as exc:
            raise CommandError(str(exc)) from exc
        folder = Path(out or f"{Path(image).stem}-stages")
        folder.mkdir(parents=True, exist_ok=True)
        events, recorded = [], None
        with Analyzer() as analyzer:
            analysis = analyzer.analyze(rgb)
            plan = plans.plan_for(user, analysis, chosen=intention, wish=wish, mode=mode, order=order, rgb=rgb)
            for index, stage in enumerate(plan.stages(rgb, analysis, analyzer)):
                picture = (
                    stage.image
                    if stage.image is not None
                    else placeholder_image(rgb.shape[1], rgb.shape[0], stage.placeholder)
                )
                path = folder / f"{index:02d}-{stage.kind}.jpg"
                if not cv2.imwrite(str(path), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR)):
                    raise CommandError(f"could not write {path}")
                event = stage.to_json() | {"file": str(path)}
                events.append(event)
                if stage.kind == "reconstruction":
                    recorded = str(path)
        summary = plan.to_json()
        report = {
            "intention": plan.intention.name,
            "why": summary["intention"],
            "mode": plan.preview.mode,
            "rule": summary["rule"]["steps"],
            "skipped": summary["rule"]["skipped"],
            "models": summary["models"],
            "events": events,
            "recorded": recorded,
        }
        if json:
            self.stdout.write(_json(report))
            return
        self.stdout.write(
            f"intention: {plan.intention.name} ({plan.intention.source}: {'; '.join(plan.intention.reasons)})"
        )
        for step in report["rule"]:
            self.stdout.write(f"  {step['group']}: {step['targets']}")
        for skip in report["skipped"]:
            self.stdout.write(f"  skipped {skip['group']}: {skip['reason']}")
        for event in events:
            self.stdout.write(
                f"{event['stage']:>14}  {','.join(event['groups']) or '-':<28} {event['file']}  {event['note']}"
            )
        self.stdout.write(f"recorded: {recorded}")


def _json(report: dict) -> str:
    return jsonlib.dumps(report)
