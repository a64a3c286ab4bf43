"""`manage.py train` and `manage.py generate`, run as a user would, with their JSON output."""

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from reconstruction.core.generators.lighting import tone_curve
from tests.conftest import sample_path, video_frames
from tests.reconstruction.test_task_worker import worker_env

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.db]


def manage(settings, *args):
    env = worker_env()
    env["FLUX_MEDIA_DIR"] = str(settings.MEDIA_ROOT)
    env["FLUX_WEIGHTS_DIR"] = os.environ["FLUX_WEIGHTS_DIR"]
    return subprocess.run(
        [sys.executable, "manage.py", *map(str, args)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )


def test_train_then_generate_print_their_json(alice, settings, tmp_path):
    frames = video_frames("single_face.mp4", range(0, 72, 6))
    photos = []
    for i, frame in frames.items():
        for k, strength in enumerate((-0.8, 0.0, 0.8)):
            path = tmp_path / f"f{i}-{k}.jpg"
            cv2.imwrite(str(path), cv2.cvtColor(tone_curve(frame, strength), cv2.COLOR_RGB2BGR))
            photos.append(path)
    out = manage(
        settings,
        "train",
        "alice",
        "--from",
        *photos,
        "--group",
        "lighting",
        "--group",
        "climate",
        "--steps",
        "40",
        "--json",
    )
    assert out.returncode == 0, out.stderr[-2000:]
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    lighting, climate = lines
    assert lighting["group"] == "lighting" and lighting["version"] == 1
    assert lighting["samples"] == len(photos) - len(photos[::5]) and lighting["device"] == "cpu"
    lo, hi = lighting["ranges"]["lighting.exposure"]
    assert hi - lo > 0.2 and "exposure_fit_rmse" in lighting["metrics"]
    assert lighting["metrics"]["progress.exposure"] > 0.7
    assert set(lighting) == {"group", "version", "samples", "seconds", "device", "ranges", "metrics"}
    assert climate["group"] == "climate" and "sky" in climate["error"]  # indoor footage: no sky to learn

    result = tmp_path / "out.jpg"
    gen = manage(
        settings,
        "generate",
        "alice",
        photos[1],
        "--set",
        "lighting.exposure=0.99",
        "--set",
        "climate.sunniness=0.9",
        "--out",
        result,
        "--json",
    )
    assert gen.returncode == 0, gen.stderr[-2000:]
    report = json.loads(gen.stdout)
    assert report["requested"] == {"lighting.exposure": 0.99, "climate.sunniness": 0.9}
    assert report["clamped"]["lighting.exposure"] == pytest.approx(hi)  # FIG. 5C: clamped into the range
    assert report["measured"]["lighting.exposure"] > report["before"]["lighting.exposure"] + 0.1
    assert report["models"] == [{"group": "lighting", "version": 1}]
    assert report["skipped"] == [{"group": "climate", "reason": "not trained"}]
    assert cv2.imread(str(result)) is not None


def test_generate_refuses_unknown_elements_and_users(alice, settings, tmp_path):
    photo = sample_path("single_face.jpg")
    bad = manage(settings, "generate", "alice", photo, "--set", "expression.grin=1", "--out", tmp_path / "x.jpg")
    assert bad.returncode != 0 and "unknown element" in bad.stderr
    nobody = manage(settings, "generate", "nobody", photo, "--set", "expression.smile=1", "--out", tmp_path / "x.jpg")
    assert nobody.returncode != 0 and "no user" in nobody.stderr
