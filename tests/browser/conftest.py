"""Fixtures for the real-browser tests: a real daphne server (``manage.py serve``) on its own
SQLite file, Debian's Chromium driven by Playwright, and a fake webcam that plays real footage.

The server is a subprocess with its own database, so pytest-django's test database is not
involved; everything it needs (migrations, the user alice) is done through ``manage.py`` in
subprocesses with the same environment.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import pytest

from tests.conftest import PASSWORD, sample_path
from tests.servers import (
    free_port,
    server_env,
    start_serve,
    stop,
    user_command,
    wait_until_answering,
    wait_until_warm,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")

CHROMIUM_ARGS = [
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


# --- the fake webcam ------------------------------------------------------------------------


def write_y4m(frames, path: Path, fps: int) -> None:
    """Write RGB frames as an uncompressed YUV4MPEG2 (4:2:0) file, the format Chromium's fake
    capture device reads with --use-file-for-fake-video-capture."""
    frames = list(frames)
    height, width = frames[0].shape[:2]
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for rgb in frames:
            out.write(b"FRAME\n")
            out.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420).tobytes())


@pytest.fixture(scope="session")
def fake_camera_clip(tmp_path_factory) -> Path:
    """single_face.mp4 (neutral for ~0.6 s, then a broad smile) played forward then backward,
    at its own 30 fps: the face goes neutral -> smile -> neutral with no jump, every ~4.7 s, and
    Chromium loops the file."""
    from reconstruction.core.imageio import iter_video

    frames = [rgb for _, _, rgb in iter_video(sample_path("single_face.mp4"))]
    assert len(frames) > 30, "the sample clip is unexpectedly short"
    path = tmp_path_factory.mktemp("camera") / "single_face.y4m"
    write_y4m(frames + frames[-2:0:-1], path, fps=30)
    return path


# --- the server -----------------------------------------------------------------------------


def _tail(path: Path, chars: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return "(no log)"


@dataclass
class FluxServer:
    url: str
    env: dict
    var_dir: Path
    db_path: Path
    log_path: Path
    proc: subprocess.Popen

    def manage(self, *args: str, timeout: float = 60) -> str:
        """Run ``manage.py`` against this server's database; fail the test with its output."""
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=REPO_ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            pytest.fail(f"manage.py {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def log(self) -> str:
        return _tail(self.log_path)

    def make_user(self, username: str) -> None:
        """A user of this server (once), so that tests sharing the server keep out of each other's data."""
        self.manage(*user_command(username, PASSWORD))


@pytest.fixture(scope="session")
def flux_server(tmp_path_factory):
    """``manage.py serve`` on a free loopback port with its own SQLite file, media folder and
    in-memory channel layer, migrated, with the user alice; stopped at the end even on failure."""
    var_dir = tmp_path_factory.mktemp("flux-var")
    env = server_env(var_dir, FLUX_LEARNING_INTERVAL_S=os.environ.get("FLUX_LEARNING_INTERVAL_S", "1.0"))
    port = free_port()
    server = FluxServer(
        url=f"http://127.0.0.1:{port}",
        env=env,
        var_dir=var_dir,
        db_path=var_dir / "flux.sqlite3",
        log_path=var_dir / "server.log",
        proc=None,
    )  # type: ignore[arg-type]
    server.manage("migrate", "--noinput", "-v", "0", timeout=120)
    server.make_user("alice")
    server.proc = start_serve(env, port, server.log_path)
    try:
        wait_until_answering(server.url, server.proc, server.log)
        wait_until_warm(server.proc, lambda: _tail(server.log_path, 10**7))
        yield server
    finally:
        stop(server.proc)


# --- the browser ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def playwright():
    """One Playwright driver for the session (a second one in the same process refuses to start);
    each fake camera needs its own Chromium, launched from it."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"the browser tests need Debian's Chromium at {CHROMIUM}: run `apt-get install -y chromium chromium-driver`"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw


def chromium_with_camera(pw, clip: Path):
    """A headless Chromium whose webcam plays ``clip`` (a .y4m file)."""
    return pw.chromium.launch(
        executable_path=str(CHROMIUM),
        headless=True,
        args=[*CHROMIUM_ARGS, f"--use-file-for-fake-video-capture={clip}"],
    )


@pytest.fixture(scope="session")
def browser(playwright, fake_camera_clip):
    browser = chromium_with_camera(playwright, fake_camera_clip)
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
