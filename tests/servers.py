"""Real server processes for tests: the environment of a server of their own, starting
``manage.py serve``, a free port, waiting until the server answers, stopping it and everything
it started."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# Settings of the suite's own run that a server of a test's own must not inherit.
NOT_INHERITED = (
    "REDIS_URL",
    "FLUX_TEST_DB",
    "FLUX_HOST",
    "FLUX_PORT",
    "FLUX_HTTPS_PORT",
    "DEBUG",
    "FLUX_WEB_PROCESSES",
)


def server_env(var_dir: Path, **settings: str) -> dict:
    """The environment of a server with its own folder and SQLite file (also when the suite runs
    against PostgreSQL), plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    env.update(
        {
            "FLUX_VAR_DIR": str(var_dir),
            "FLUX_MEDIA_DIR": str(var_dir / "media"),
            "FLUX_WEIGHTS_DIR": str(var_dir / "weights"),
            "DATABASE_URL": f"sqlite:///{var_dir / 'flux.sqlite3'}",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "PYTHONUNBUFFERED": "1",
            **settings,
        }
    )
    return env


def user_command(username: str, password: str) -> tuple[str, ...]:
    """``manage.py`` arguments that make the user (once)."""
    return (
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model as g; "
        f"g().objects.filter(username={username!r}).exists() or "
        f"g().objects.create_user(username={username!r}, password={password!r})",
    )


def start_serve(env: dict, port: int, log_path: Path, *args: str) -> subprocess.Popen:
    """``manage.py serve`` on 127.0.0.1:``port`` (no https, no task worker) with ``args``, its
    output into ``log_path``, leading a process group of its own (``stop`` ends all of it)."""
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(port), "--https-port", "0"]
            + ["--no-worker", *args],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_warm(proc: subprocess.Popen, log: Callable[[], str], seconds: float = 120) -> None:
    """Until the server says the shutter's models are loaded (it loads them as it starts, for
    several seconds of both cores): a test of how a running server behaves under a load of its own
    should not also time its start."""
    deadline = time.monotonic() + seconds
    while True:
        text = log()
        if "the shutter's models and judges are loaded" in text or "were not loaded in advance" in text:
            return
        if proc.poll() is not None:
            pytest.fail(f"the server exited with {proc.returncode} while loading its models:\n{text}")
        if time.monotonic() > deadline:
            pytest.fail(f"the server did not load its models within {seconds:g} s:\n{text}")
        time.sleep(0.2)


def wait_until_answering(url: str, proc: subprocess.Popen, log: Callable[[], str], seconds: float = 45) -> None:
    """Until the sign-in page at ``url`` answers 200; the test fails with the server's log if the
    process exits first or nothing answers in time."""
    deadline = time.monotonic() + seconds
    while True:
        if proc.poll() is not None:
            pytest.fail(f"the server exited with {proc.returncode} before answering:\n{log()}")
        try:
            with urllib.request.urlopen(url + "/accounts/login/", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"the server did not answer on {url} within {seconds:g} s:\n{log()}")
        time.sleep(0.2)


def stop(proc: subprocess.Popen) -> None:
    """Stop ``serve`` and the processes it started: all are in the process group it leads."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    # serve stops daphne itself on SIGTERM; whatever is left of the group is killed.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
