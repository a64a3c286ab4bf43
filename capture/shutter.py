"""What happens after the shutter, run on a reconstruction thread (never on the event loop).

``take()`` stores the original, then streams the display stages as they are ready through
``emit`` (in order: the intention and rule, then original → placeholder → previews →
reconstruction) and records the reconstruction. See ``capture.protocol`` for the messages.
"""

from __future__ import annotations

import base64
import logging
import threading
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import close_old_connections
from django.http import Http404
from django.urls import reverse

from reconstruction import cpu, plans
from reconstruction.core.elements import BY_NAME
from reconstruction.core.extraction import thread_analyzer
from reconstruction.core.imageio import FrameError, encode_jpeg
from reconstruction.core.selfcheck import shared_checks

from . import processes, protocol, services
from .groups import user_group
from .live import analyze_jpeg

log = logging.getLogger(__name__)

_pool: ThreadPoolExecutor | None = None
_lock = threading.Lock()


def _warm() -> None:

    thread_analyzer()
    shared_checks().warm()  # the self-check's judges take about two seconds to load
    import torch

    # The web process only runs small models, one shot at a time per thread: one thread each is
    # faster than a team that spins against the live analysis for the same two cores.
    torch.set_num_threads(1)


def reconstruction_pool() -> ThreadPoolExecutor:
    """A small pool of its own, so a reconstruction never waits behind live frames (and the
    reverse); shots queue here one after another instead of competing for the cores."""
    global _pool
    # Before this process develops its first shot, it says it is alive (capture.processes).
    processes.keep_alive()
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                max_workers=settings.FLUX_RECONSTRUCTION_THREADS, thread_name_prefix="flux-reconstruct"
            )
            for _ in range(settings.FLUX_RECONSTRUCTION_THREADS):
                _pool.submit(_warm)
    return _pool


class FairShots:
    """The reconstruction threads, shared fairly between users: shots wait in one queue per user
    and the threads take them user by user in turn, so a burst from one user delays that user's
    own shots and not everyone's. A user may have at most ``limit`` shots waiting or developing;
    ``submit`` answers None beyond that (the caller says "busy" and saves nothing)."""

    def __init__(self, pool: ThreadPoolExecutor, limit: int):
        self.pool, self.limit = pool, limit
        self.lock = threading.Lock()
        self.waiting: dict[object, deque] = {}  # user -> [(job, future)], oldest first
        self.served: dict[object, int] = {}  # user -> when a shot of theirs last started (a counter)
        self.clock = 0
        self.pending: Counter = Counter()  # user -> shots waiting or developing

    def submit(self, user_key, job: Callable[[], object]) -> Future | None:
        future: Future = Future()
        with self.lock:
            if self.pending[user_key] >= self.limit:
                return None
            self.pending[user_key] += 1
            self.waiting.setdefault(user_key, deque()).append((job, future))
        self.pool.submit(self._run_next)
        return future

    def pending_for(self, user_key) -> int:
        with self.lock:
            return self.pending[user_key]

    def _run_next(self) -> None:
        with self.lock:
            # The user served least recently goes first (one who never was, before anyone).
            user_key = min(self.waiting, key=lambda u: self.served.get(u, -1))
            queue = self.waiting[user_key]
            job, future = queue.popleft()
            if not queue:
                del self.waiting[user_key]
            self.served[user_key], self.clock = self.clock, self.clock + 1
        try:
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(job())
                except BaseException as exc:  # the waiting socket reports it
                    future.set_exception(exc)
        finally:
            with self.lock:
                self.pending[user_key] -= 1
                if self.pending[user_key] <= 0:
                    del self.pending[user_key]
                    self.served.pop(user_key, None)


_fair: FairShots | None = None


def fair_shots() -> FairShots:
    """The process's shared, fair queue in front of ``reconstruction_pool``."""
    global _fair
    pool = reconstruction_pool()
    with _lock:
        if _fair is None or _fair.pool is not pool:
            _fair = FairShots(pool, settings.FLUX_MAX_PENDING_SHOTS)
    return _fair


def _data_url(jpeg: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")


def shot_json(shot) -> dict:
    return {
        "id": str(shot.id),
        "created_at": shot.created_at.isoformat(),
        "width": shot.width,
        "height": shot.height,
        "elements": shot.elements,
        "faces": shot.faces,
        "url": reverse("capture:shot-original", args=[shot.id]),
    }


def take(
    user, jpeg: bytes, emit: Callable[[dict], None], chosen: str | None = None, wish: str | None = None, recent=()
) -> None:
    """Analyse and store the shot, then develop it. Errors reach the user through ``emit``."""
    try:
        try:
            rgb, analysis = analyze_jpeg(jpeg)
        except FrameError as exc:
            emit(protocol.error(exc.code, f"the shot was not saved: {exc}"))
            return
        except Exception:
            log.exception("shot analysis failed")
            emit(protocol.error("shot_failed", "the shot could not be analysed and was not saved; try again"))
            return
        try:
            shot = services.save_shot(
                user,
                jpeg,
                analysis.to_json(),
                status=services.Shot.PROCESSING,
                developer=processes.me(),
                asked={"intention": chosen, "wish": wish},
            )
        except Exception:
            log.exception("could not save a shot")
            emit(protocol.error("shot_failed", "the shot could not be saved; try again"))
            return
        emit(protocol.shot_saved(shot_json(shot)))
        try:
            develop(user, shot, rgb, analysis, thread_analyzer(), emit, chosen=chosen, wish=wish, recent=recent)
        except Exception as exc:
            _failed(shot, exc, emit)
    finally:
        close_old_connections()


def _failed(shot, exc: Exception, emit: Callable[[dict], None], again: bool = False) -> None:
    """A shot whose development raised: the original stays the photo, the page is told, and the
    shot's page offers to develop it again."""
    log.exception("%s shot %s failed", "developing again" if again else "developing", shot.pk)
    message = f"the reconstruction failed{' again' if again else ''} ({type(exc).__name__}); the original is kept as the photo"
    services.mark_shot_failed(shot, message)
    emit(protocol.error("reconstruction_failed", message, shot=str(shot.id)))


def to_pages(user_id) -> Callable[[dict], None]:
    """An ``emit`` for a shot no socket waits on (developed again from its page): the recorded
    photo and a failure reach every shooting page of the user, as a shot from another page does."""
    layer = get_channel_layer()

    def emit(message: dict) -> None:
        if message["type"] == "recorded":
            event = {"type": "shot.recorded", "recorded": message, "origin": None}
        elif message["type"] == "error" and message.get("shot"):
            event = {"type": "shot.failed", "shot": message["shot"], "message": message["message"]}
        else:
            return
        async_to_sync(layer.group_send)(user_group(user_id), event)

    return emit


def develop_again(user, shot_id) -> None:
    """Develop a shot again from its stored original (``services.develop_again`` took it back),
    asking what its shutter asked; run on a reconstruction thread."""
    emit = to_pages(user.pk)
    try:
        shot = services.get_shot(user, shot_id)
        try:
            with shot.original.open("rb") as f:
                jpeg = f.read()
            rgb, analysis = analyze_jpeg(jpeg)
            develop(
                user,
                shot,
                rgb,
                analysis,
                thread_analyzer(),
                emit,
                chosen=shot.asked.get("intention"),
                wish=shot.asked.get("wish"),
            )
        except Exception as exc:
            _failed(shot, exc, emit, again=True)
    except Http404:
        pass  # deleted meanwhile
    finally:
        close_old_connections()


def develop(
    user, shot, rgb, analysis, analyzer, emit: Callable[[dict], None], chosen=None, wish=None, recent=()
) -> None:
    """Intention → rule → stages, streamed in display order; the reconstruction is recorded.
    ``recent``: the frames the socket streamed in the seconds before the shutter."""
    with cpu.developing():  # a training run on this machine waits meanwhile
        _develop(user, shot, rgb, analysis, analyzer, emit, chosen, wish, recent)


def _develop(user, shot, rgb, analysis, analyzer, emit, chosen, wish, recent) -> None:
    attempts = services.attempts_at_scene(user, shot)
    plan = plans.plan_for(user, analysis, chosen=chosen, wish=wish, attempts=attempts, rgb=rgb)
    summary = plan.to_json()
    shot_id = str(shot.id)
    emit(protocol.plan(shot_id, summary))
    shown: list[dict] = []
    previews: dict[int, bytes] = {}
    for index, stage in enumerate(plan.stages(rgb, analysis, analyzer, recent)):
        record = {"index": index, **stage.to_json()}
        message = protocol.stage(shot_id, record)
        shown.append(record)
        if stage.kind == "reconstruction":
            made = bool(stage.groups)
            # Whose faces lent pixels, for the models that ran (also one the self-check then left out).
            record["exemplars"] = {g: r["exemplar"] for g, r in plan.reports.items() if "exemplar" in r}
            note = _message(plan, stage)
            recorded = encode_jpeg(stage.image, quality=92) if made else None
            message |= {
                "recorded": "reconstruction" if made else "original",
                "url": reverse("capture:shot-recorded", args=[shot.id]),
                "page": reverse("capture:shot", args=[shot.id]),
                "message": note,
                "image": _data_url(recorded) if made else None,
            }
            # The page hears of it first: recording (files, rows) happens after the send.
            emit(message)
            kept = services.record_reconstruction(
                shot,
                recorded,
                summary,
                shown,
                stage.degrees if made else {},
                note,
                previews,
                services.thumbnail_jpeg(stage.image),
            )
            if kept is None:
                emit(
                    protocol.error(
                        "shot_deleted", "the shot was deleted while it developed; nothing was recorded", shot=shot_id
                    )
                )
                return
            emit(protocol.recorded(shot_id, message["recorded"], message["url"]))
            return
        if stage.kind == "preview":
            previews[index] = encode_jpeg(stage.image, quality=88)
            message["image"] = _data_url(previews[index])
        emit(message)


def _message(plan, stage) -> str:
    if not plan.rule.steps:
        if plan.damaged:
            return "; ".join(plan.damaged.values()) + "; the original is recorded."
        if not plan.trained:
            return "No models yet: the original is recorded. Train your models on \u201cMy models\u201d."
        return "Nothing to change for this intention: the original is recorded."
    parts = []
    # What an edit that was made kept as shot, and why (a gentler edit than asked).
    for group, report in plan.reports.items():
        if group in stage.groups:
            parts.extend(report.get("kept", ()))
    for r in stage.raised:
        label = BY_NAME[r["element"]].label.lower()
        parts.append(f"a bigger {label} was asked ({r['from']:.2f} \u2192 {r['to']:.2f}): {r['why']}")
    for left in stage.left_out:
        parts.append(f"the {left['group']} edit was left out: {left['why']}")
    if stage.left_out and not stage.groups:
        parts.append("the original is recorded")
    if stage.failed:
        parts.append("; ".join(f"the {f['group']} model was not applied ({f['reason']})" for f in stage.failed))
        parts.append("the others' edits are recorded" if stage.groups else "the original is recorded")
    return "; ".join(parts)
