"""Shots first: a training run pauses between its steps while a shot develops on the same machine.

A training step and a shot's generation are each one busy thread; on this 2-core machine they
share more than the cores (caches, the memory bus), so a lower priority alone does not keep the
shutter's budget: beside an expression training a shot was recorded in 811 ms (p95) with the
trainer at nice 10 and 804 ms at nice 0, against 542 ms alone (`make bench`, shutter part,
2026-12-07). So each shot marks that it is developing (a file in FLUX_VAR_DIR/developing/, one per
shot, removed when it is recorded), and a training step first waits while a fresh mark exists: at
most YIELD_MAX_S in one go, and a mark older than FRESH_S (left by a process that died) is
ignored. Machine-local on purpose: a shot on another machine does not use this machine's cores.
FLUX_TRAINING_YIELDS=0 switches it off.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings

FRESH_S = 10.0  # a mark older than this was left by a process that died mid-shot
YIELD_MAX_S = 2.0  # the longest a training step waits in one go
POLL_S = 0.01


def this_process() -> str:
    """This process on this machine (host:pid), as a shot names the web process developing it and
    a training run the worker running it."""
    return f"{socket.gethostname()}:{os.getpid()}"


def marks() -> Path:
    return settings.VAR_DIR / "developing"


@contextmanager
def developing() -> Iterator[None]:
    """While a shot develops in this block, training on this machine waits between its steps."""
    if not settings.FLUX_TRAINING_YIELDS:
        yield
        return
    folder = marks()
    folder.mkdir(parents=True, exist_ok=True)
    mark = folder / f"{os.getpid()}-{threading.get_ident()}-{uuid.uuid4().hex}"
    mark.touch()
    try:
        yield
    finally:
        mark.unlink(missing_ok=True)


def shot_developing() -> bool:
    try:
        entries = os.scandir(marks())
    except FileNotFoundError:
        return False
    now = time.time()
    with entries:
        for entry in entries:
            try:
                if now - entry.stat().st_mtime < FRESH_S:
                    return True
            except FileNotFoundError:  # recorded meanwhile
                continue
    return False


def wait_for_shots() -> float:
    """Wait while a shot develops on this machine (at most YIELD_MAX_S); how long it waited."""
    if not settings.FLUX_TRAINING_YIELDS:
        return 0.0
    start = time.monotonic()
    while time.monotonic() - start < YIELD_MAX_S and shot_developing():
        time.sleep(POLL_S)
    return time.monotonic() - start
