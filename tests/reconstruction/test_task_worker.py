"""The task queue with a real worker process, against whichever database the settings name."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from reconstruction.tasks import probe

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.db, pytest.mark.tasks]


def worker_env() -> dict:
    """Point the worker process at the test database this test is using."""
    env = os.environ.copy()
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        env["DATABASE_URL"] = f"sqlite:///{db['NAME']}"
    else:
        env["DATABASE_URL"] = (
            f"postgres://{db['USER'] or ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        )
    return env


def test_a_real_worker_process_runs_an_enqueued_task():
    if connection.vendor == "sqlite" and "memory" in str(connection.settings_dict["NAME"]):
        pytest.fail("the task test needs a file or server database: set FLUX_TEST_DB (the Makefile does)")
    result = probe.enqueue()
    assert result.status.name == "READY"
    proc = subprocess.run(
        [sys.executable, "manage.py", "db_worker", "--batch", "--no-startup-delay", "--max-tasks", "1"],
        cwd=ROOT,
        env=worker_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    result.refresh()
    assert result.status.name == "SUCCESSFUL", result.errors
    report = result.return_value
    assert report["pid"] != os.getpid()  # it ran in the worker, not here
    assert report["models"] == {
        "face_landmarker.task": True,
        "selfie_segmentation.tflite": True,
        "hand_landmark_full.tflite": True,
    }
