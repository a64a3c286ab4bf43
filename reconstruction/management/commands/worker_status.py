import json
import time

from django.core.management.base import BaseCommand, CommandError

from reconstruction.tasks import probe


class Command(BaseCommand):
    help = "Ask the background worker to run a probe task and print what it reports."

    def add_arguments(self, parser):
        parser.add_argument("--timeout", type=float, default=15.0)

    def handle(self, *args, timeout, **options):
        result = probe.enqueue()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result.refresh()
            if result.is_finished:
                break
            time.sleep(0.2)
        else:
            raise CommandError(
                f"no worker picked up the probe within {timeout:g} s: is `make run` (or `manage.py db_worker`) running?"
            )
        if result.status.name != "SUCCESSFUL":
            raise CommandError(f"the probe failed in the worker: {result.errors}")
        self.stdout.write(json.dumps(result.return_value))
