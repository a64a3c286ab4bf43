"""Which web process develops a shot, and whether that process still lives.

A shot is saved before it is developed, on a reconstruction thread of the web process that took
it; a process that dies there (killed, out of memory, its machine gone) would leave the shot
"developing" forever. So each shot names its developer (``me()``: host and pid), each web process
that develops shots says it is alive in the shared cache every ``BEAT_SECONDS`` (Redis when there
are several processes), and ``manage.py serve`` marks the shots of a process that is gone as
failed, with a "develop again" button on their page (``sweep``): when it starts (the shots its
machine left behind), at once when one of its own web processes exits, and every few seconds for
the processes of every machine, a process on its own machine gone when its pid is, one on another
when it stopped beating.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache

from reconstruction import cpu

from . import services
from .groups import user_group

log = logging.getLogger(__name__)

BEAT_SECONDS = 2.0
# A process that has not beaten for this long is gone: five beats, so a busy process (the GIL held
# by a long generation for a second) is never taken for dead.
ALIVE_SECONDS = 10

_started = False
_lock = threading.Lock()


def me() -> str:
    """This process, as shots name their developer."""
    return cpu.this_process()


def _key(developer: str) -> str:
    return f"flux:web-process:{developer}"


def beat() -> None:
    cache.set(_key(me()), time.time(), timeout=ALIVE_SECONDS)


def alive(developer: str) -> bool:
    """Whether the process that named itself ``developer`` beat within ALIVE_SECONDS."""
    return bool(developer) and cache.get(_key(developer)) is not None


def keep_alive() -> None:
    """Beat from a daemon thread for as long as this process lives (started once, before the
    process develops its first shot)."""
    global _started
    with _lock:
        if _started:
            return
        _started = True
    beat()

    def run():
        while True:
            time.sleep(BEAT_SECONDS)
            try:
                beat()
            except Exception:  # Redis away for a moment: the next beat tries again
                log.warning("could not say this web process is alive", exc_info=True)

    threading.Thread(target=run, name="flux-alive", daemon=True).start()


def gone(developer: str) -> bool:
    """Whether the process that developed a shot is gone: on this machine, when no process has its
    pid; on another, when it has stopped beating (the cache is shared only with REDIS_URL, and
    without it there is no other machine). A shot that names no developer predates the name."""
    if not developer:
        return True
    host, _, pid = developer.rpartition(":")
    if host == socket.gethostname():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except (ValueError, PermissionError):
            return False
        return False
    return bool(settings.REDIS_URL) and not alive(developer)


def sweep() -> int:
    """Mark failed the shots of every gone process and tell their users' open pages; run by
    ``manage.py serve``. How many shots it marked."""
    failed = services.fail_orphaned_shots(gone)
    layer = get_channel_layer()
    for user_id, shot_id in failed:
        log.warning("shot %s was left developing by a web process that is gone: marked failed", shot_id)
        try:
            async_to_sync(layer.group_send)(
                user_group(user_id), {"type": "shot.failed", "shot": shot_id, "message": services.ORPHANED}
            )
        except Exception:  # the pages learn it on their next visit to the shot
            log.warning("could not tell the pages of user %s", user_id, exc_info=True)
    return len(failed)
