"""`manage.py reconstruct`: the shutter's pipeline on a stored photo, with its JSON and the stage
images written in display order."""

import json

import cv2
import pytest

from reconstruction import services
from tests.reconstruction.test_model_commands import manage

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.db]


@pytest.fixture
def photo(tmp_path, portrait):
    path = tmp_path / "hopper.jpg"
    cv2.imwrite(str(path), cv2.cvtColor(portrait, cv2.COLOR_RGB2BGR))
    return path


@pytest.fixture
def alice_with_models(alice, small_models):
    for group in ("lighting", "composition"):
        services.store_version(alice, small_models[group], samples=small_models["samples"], seconds=1.0, metrics={})
    services.save_preferences(alice, divergence_scale=0.2)
    return alice


@pytest.mark.parametrize(
    "mode, stages",
    [
        ("2", ["original", "placeholder", "preview", "reconstruction"]),
        ("3", ["original", "preview", "reconstruction"]),
    ],
)
def test_reconstruct_prints_the_plan_and_writes_each_stage_in_display_order(
    alice_with_models, settings, photo, tmp_path, mode, stages
):
    out = tmp_path / "stages"
    done = manage(
        settings, "reconstruct", "alice", photo, "--intention", "portrait", "--mode", mode, "--out", out, "--json"
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["intention"] == "portrait" and report["why"]["source"] == "chosen"
    assert {step["group"] for step in report["rule"]} == {"lighting", "composition"}
    assert all(set(step["targets"]) for step in report["rule"])
    assert [e["stage"] for e in report["events"]] == stages
    for event in report["events"]:
        image = cv2.imread(event["file"])
        assert image is not None and image.shape[:2] == (600, 512)
        assert "diverged" in (event["divergence"] or {"diverged": None})
    assert report["recorded"] == report["events"][-1]["file"]
    assert report["events"][-1]["divergence"]["diverged"]
    assert "expression" in {s["group"] for s in report["skipped"]}  # no expression model: said, not invented


def test_reconstruct_without_models_records_the_original(alice, settings, photo, tmp_path):
    done = manage(settings, "reconstruct", "alice", photo, "--out", tmp_path / "s", "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert [e["stage"] for e in report["events"]] == ["original", "reconstruction"]
    assert report["rule"] == [] and "no models" in report["events"][-1]["note"]


def test_reconstruct_refuses_an_unknown_user_or_intention(alice, settings, photo):
    assert "no user" in manage(settings, "reconstruct", "nobody", photo).stderr
    assert manage(settings, "reconstruct", "alice", photo, "--intention", "astronaut").returncode != 0
