"""Real server processes for tests: a free port, waiting until the server answers, stopping it
and everything it started."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable

import pytest


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
