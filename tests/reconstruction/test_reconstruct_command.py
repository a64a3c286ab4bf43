"""`manage.py reconstruct`: the shutter's pipeline on stored photos, folders and video frames, the
models loaded once: one signed JPEG and one JSON line per input, and the stage images written in
display order when asked."""

import json

import cv2
import numpy as np
import pytest

from reconstruction import services
from reconstruction.core import credentials
from reconstruction.core.imageio import decode_jpeg
from tests.conftest import video_frames
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
        settings,
        "reconstruct",
        "alice",
        photo,
        "--intention",
        "portrait",
        "--mode",
        mode,
        "--out",
        out,
        "--stages",
        "--json",
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
    # The recorded photo is the reconstruction stage's image, carrying its Content Credentials.
    with open(report["recorded"], "rb") as fh:
        recorded = fh.read()
    stage = cv2.cvtColor(cv2.imread(report["events"][-1]["file"]), cv2.COLOR_BGR2RGB)
    assert np.abs(decode_jpeg(recorded).astype(int) - stage.astype(int)).mean() < 3
    found = credentials.read(recorded, _trust(settings))
    assert found.state == "valid" and {a["parameters"]["group"] for a in found.actions[1:]} == set(report["models"])
    assert report["events"][-1]["divergence"]["diverged"]
    assert "expression" in {s["group"] for s in report["skipped"]}  # no expression model: said, not invented


def test_reconstruct_without_models_records_the_original(alice, settings, photo, tmp_path):
    done = manage(settings, "reconstruct", "alice", photo, "--out", tmp_path / "s", "--stages", "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert [e["stage"] for e in report["events"]] == ["original", "reconstruction"]
    assert report["rule"] == [] and "no models" in report["events"][-1]["note"]
    assert report["kept_original"] and report["recorded"].endswith("hopper-kept.jpg")
    with open(report["recorded"], "rb") as fh:
        assert credentials.read(fh.read(), _trust(settings)).kept_original


def test_reconstruct_refuses_an_unknown_user_or_intention(alice, settings, photo):
    assert "no user" in manage(settings, "reconstruct", "nobody", photo).stderr
    assert manage(settings, "reconstruct", "alice", photo, "--intention", "astronaut").returncode != 0


def _trust(settings) -> str:
    """This installation's root (the command made it on first use, as `make run` does)."""
    return (settings.VAR_DIR / "credentials" / "root.pem").read_text()


def test_a_batch_of_photos_a_folder_and_a_video_gives_one_signed_photo_and_one_line_each(
    alice_with_models, settings, photo, tmp_path
):
    folder = tmp_path / "album"
    folder.mkdir()
    frames = video_frames("single_face.mp4", [0, 30])
    for i, rgb in frames.items():
        cv2.imwrite(str(folder / f"still-{i}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    (folder / "notes.txt").write_text("not a photo")  # a folder's other files are passed over
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not really a jpeg")
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (160, 120))
    for k in range(25):
        writer.write(np.full((120, 160, 3), 40 + 8 * k, np.uint8))
    writer.release()
    out = tmp_path / "out"
    done = manage(
        settings, "reconstruct", "alice", photo, folder, video, broken, "--every", "10", "--out", out, "--json"
    )
    assert done.returncode != 0 and "1 input(s) could not be read" in done.stderr  # said, and the others done
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["input"].split("/")[-1] for line in lines] == [
        "hopper.jpg",
        "still-0.png",
        "still-30.png",
        "clip.avi#frame=0",
        "clip.avi#frame=10",
        "clip.avi#frame=20",
        "broken.jpg",
    ]
    assert "error" in lines[-1] and all("error" not in line for line in lines[:-1])
    trust = _trust(settings)
    for line in lines[:-1]:
        assert line["seconds"] > 0 and set(line["degrees"]) == {"before", "after"}
        assert isinstance(line["left_out"], list) and line["credentials"] == "signed"
        with open(line["recorded"], "rb") as fh:
            found = credentials.read(fh.read(), trust)
        assert found.state == "valid" and found.kept_original == line["kept_original"]
    assert not lines[0]["kept_original"] and set(lines[0]["models"]) <= {"lighting", "composition"}
    assert len((out / "reconstructions.jsonl").read_text().splitlines()) == len(lines)
    # The models were read once for the whole batch, and the time per image is printed.
    assert "models loaded once" in done.stderr and "s per image" in done.stderr
