"""The shooting socket: thin protocol handling around ``capture.live`` and ``capture.services``.

See ``capture.protocol`` for the messages. Frames are latest-frame-wins: ``receive`` only swaps
the waiting frame and returns, a per-socket pump analyses one frame at a time in the analysis
pool, and the event loop never runs CPU work.
"""

from __future__ import annotations

import asyncio
import logging
import time

from asgiref.sync import async_to_sync, sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import caches

from reconstruction import services as model_services
from reconstruction.core.imageio import FrameError

from . import protocol
from .groups import session_group, user_group
from .live import LiveStream, analysis_pool
from .shutter import fair_shots, reconstruction_pool, take

log = logging.getLogger(__name__)


class RateGate:
    """Token bucket: ``allow()`` is False once frames come faster than ``rate`` per second."""

    def __init__(self, rate: float, burst: float):
        self.rate, self.burst = rate, burst
        self.tokens = burst
        self.stamp = time.monotonic()

    def allow(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


# Per user, over all their sockets in this process: open sockets.
_sockets: dict[int, int] = {}


def shutter_allowed(user_id: int) -> bool:
    """The user's shutter pace over all their sockets, on every web process: a token bucket of
    FLUX_SHUTTER_RATE per second and FLUX_SHUTTER_BURST kept in the shared cache (Redis where
    there are several processes), its update guarded by a short lock (``add`` is atomic)."""
    cache = caches["default"]
    key = f"shutter-pace-{user_id}"
    lock = f"{key}-lock"
    for _ in range(100):  # a press on another process holds it for a millisecond
        if cache.add(lock, 1, timeout=2):
            break
        time.sleep(0.002)
    try:
        rate, burst = settings.FLUX_SHUTTER_RATE, settings.FLUX_SHUTTER_BURST
        now = time.time()  # wall clock: the processes share it, not their monotonic clocks
        tokens, stamp = cache.get(key) or (burst, now)
        tokens = min(burst, tokens + max(0.0, now - stamp) * rate)
        allowed = tokens >= 1.0
        cache.set(key, (tokens - 1.0 if allowed else tokens, now), timeout=max(60, int(burst / max(rate, 1e-3)) + 1))
    finally:
        cache.delete(lock)
    return allowed


def end_sockets(group: str, why: str) -> None:
    """Close every socket in ``group`` (from sync code, or from inside an event loop)."""
    layer = get_channel_layer()
    message = {"type": "session.ended", "why": why}
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        async_to_sync(layer.group_send)(group, message)
    else:
        asyncio.ensure_future(layer.group_send(group, message))


def _timed(analyze, jpeg: bytes, submitted: float):
    """Analyse on a pool thread, with how long the frame waited for that thread (ms): each socket
    has one frame in the pool at most, so the wait grows with the streams beyond the threads."""
    waited = (time.perf_counter() - submitted) * 1000
    return analyze(jpeg, busy=waited > settings.FLUX_BUSY_WAIT_MS), waited


class ShootConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        self.user = self.scope.get("user")
        self.pump = None
        self.counted = False
        await self.accept()
        if self.user is None or not self.user.is_authenticated:
            await self._send(protocol.error("login_required", "log in to use the camera"))
            await self.close(code=protocol.CLOSE_UNAUTHENTICATED)
            return
        if _sockets.get(self.user.pk, 0) >= settings.FLUX_MAX_SOCKETS_PER_USER:
            await self._send(
                protocol.error(
                    "too_many_sockets",
                    f"you have {settings.FLUX_MAX_SOCKETS_PER_USER} camera pages "
                    "open already; close one and reload this page",
                )
            )
            await self.close(code=protocol.CLOSE_TOO_MANY)
            return
        _sockets[self.user.pk] = _sockets.get(self.user.pk, 0) + 1
        self.counted = True
        # The shutter's models and judges load (two seconds or so) while the person frames the
        # shot, not after they press it.
        await asyncio.get_running_loop().run_in_executor(None, reconstruction_pool)
        self.stream = LiveStream()
        self.waiting: bytes | None = None  # the newest frame not yet analysed
        self.wake = asyncio.Event()
        self.expect_shot = False
        self.shutter: dict = {}  # the pending shutter command's intention and wish
        self.seq = 0
        self.dropped = 0
        self.gate = RateGate(settings.FLUX_MAX_FPS, settings.FLUX_MAX_FPS)
        self.last_flood_warning = 0.0
        self.shot_tasks: set[asyncio.Task] = set()
        self.group = user_group(self.user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        session = self.scope.get("session")
        self.session_group = session_group(session.session_key) if session is not None and session.session_key else None
        if self.session_group:
            await self.channel_layer.group_add(self.session_group, self.channel_name)
        self.pump = asyncio.create_task(self._pump())
        self.keeping: asyncio.Task | None = None  # the learning sample being written, if any
        self.kept = 0
        analysis_pool()  # warms the analyzers while the user is still allowing the camera
        reconstruction_pool()
        limits = {
            "max_frame_bytes": settings.FLUX_MAX_FRAME_BYTES,
            "max_frame_width": settings.FLUX_MAX_FRAME_WIDTH,
            "max_frame_height": settings.FLUX_MAX_FRAME_HEIGHT,
            "max_fps": settings.FLUX_MAX_FPS,
        }
        await self._send(protocol.hello(self.user.get_username(), limits))

    async def disconnect(self, code):
        if getattr(self, "counted", False):
            self.counted = False
            left = _sockets.get(self.user.pk, 1) - 1
            if left > 0:
                _sockets[self.user.pk] = left
            else:
                _sockets.pop(self.user.pk, None)
        if self.pump is not None:
            self.pump.cancel()
            self.stream.recent.clear()
            if self.keeping is not None:
                await asyncio.gather(self.keeping, return_exceptions=True)
            await self.channel_layer.group_discard(self.group, self.channel_name)
            if self.session_group:
                await self.channel_layer.group_discard(self.session_group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        if bytes_data is not None:
            if self.expect_shot:
                self.expect_shot = False
                task = asyncio.create_task(self._take_shot(bytes_data, **self.shutter))
                self.shot_tasks.add(task)
                task.add_done_callback(self.shot_tasks.discard)
            else:
                await self._offer_frame(bytes_data)
            return
        try:
            command = protocol.parse_command(text_data or "")
        except protocol.ProtocolError as exc:
            if self.expect_shot:
                self.expect_shot = False
                await self._error(
                    "expected_binary",
                    "the shutter was pressed: the shot must follow as a binary JPEG message, not text; press the shutter again",
                )
            else:
                await self._error(exc.code, exc.message)
            return
        if self.expect_shot and command.type != "ping":
            self.expect_shot = False
            await self._error(
                "expected_binary",
                "the shutter was pressed: the shot must follow as a binary JPEG message; press the shutter again",
            )
        if command.type == "shutter":
            self.expect_shot = True
            self.shutter = {"chosen": command.payload["intention"], "wish": command.payload["wish"]}
        elif command.type == "ping":
            await self._send(protocol.pong())

    async def _offer_frame(self, jpeg: bytes):
        if len(jpeg) > settings.FLUX_MAX_FRAME_BYTES:
            await self._error(
                "frame_too_large", f"frame is {len(jpeg)} bytes; the limit is {settings.FLUX_MAX_FRAME_BYTES} bytes"
            )
            return
        if not self.gate.allow():
            self.dropped += 1
            now = time.monotonic()
            if now - self.last_flood_warning >= 1.0:
                self.last_flood_warning = now
                await self._error(
                    "flood",
                    f"frames are coming faster than {settings.FLUX_MAX_FPS:g} per second; extra frames are dropped",
                )
            return
        if self.waiting is not None:
            self.dropped += 1  # latest frame wins: the older waiting one is never analysed
        self.waiting = jpeg
        self.wake.set()

    async def _pump(self):
        loop = asyncio.get_running_loop()
        while True:
            await self.wake.wait()
            self.wake.clear()
            jpeg, self.waiting = self.waiting, None
            if jpeg is None:
                continue
            try:
                outcome, waited = await loop.run_in_executor(
                    analysis_pool(), _timed, self.stream.analyze, jpeg, time.perf_counter()
                )
            except FrameError as exc:
                await self._error(exc.code, str(exc))
                continue
            except Exception:
                log.exception("analysis failed")
                await self._error("analysis_failed", "this frame could not be analysed; the next one will be tried")
                continue
            self.seq += 1
            busy = waited > settings.FLUX_BUSY_WAIT_MS
            await self._send(protocol.degrees(self.seq, outcome.analysis, self.dropped, waited, busy))
            # Writing the sample must not hold up the next frame; if the previous write is still
            # going, this sample is skipped rather than queued.
            if outcome.sample_jpeg is not None and (self.keeping is None or self.keeping.done()):
                self.keeping = asyncio.create_task(self._keep_sample(outcome.sample_jpeg, outcome.sample_analysis))

    async def _keep_sample(self, jpeg: bytes, analysis: dict):
        try:
            await database_sync_to_async(model_services.record_learning_sample)(self.user, jpeg, analysis)
            self.kept += 1
            if self.kept % 20 == 0:
                await database_sync_to_async(model_services.maybe_auto_train)(self.user)
        except Exception:
            log.exception("could not keep a learning sample")

    async def _take_shot(self, jpeg: bytes, chosen=None, wish=None):
        """Store and develop the shot on a reconstruction thread; its messages come back through
        a queue, so they reach the page in the order they were made."""
        if len(jpeg) > settings.FLUX_MAX_FRAME_BYTES:
            await self._error(
                "frame_too_large",
                f"the shot is {len(jpeg)} bytes; the limit is {settings.FLUX_MAX_FRAME_BYTES} bytes; it was not saved",
            )
            return
        loop = asyncio.get_running_loop()
        outbox: asyncio.Queue = asyncio.Queue()

        def emit(message: dict) -> None:
            try:
                loop.call_soon_threadsafe(outbox.put_nowait, message)
            except RuntimeError:
                pass  # the socket and its loop are gone; the shot is still developed and recorded

        if not await sync_to_async(shutter_allowed, thread_sensitive=False)(self.user.pk):
            await self._error(
                "shutter_too_fast",
                f"the shutter was pressed faster than {settings.FLUX_SHUTTER_RATE:g} times a "
                "second; this shot was not saved",
            )
            return
        recent = self.stream.recent.snapshot()
        queued = fair_shots().submit(
            self.user.pk, lambda: take(self.user, jpeg, emit, chosen=chosen, wish=wish, recent=recent)
        )
        if queued is None:
            await self._error(
                "busy",
                f"{settings.FLUX_MAX_PENDING_SHOTS} of your shots are still developing; this shot was "
                "not saved: press again in a moment",
            )
            return
        job = asyncio.wrap_future(queued)
        job.add_done_callback(lambda _: loop.call_soon_threadsafe(outbox.put_nowait, None))
        while (message := await outbox.get()) is not None:
            await self._send(message)
            if message["type"] == "shot_saved":
                await self.channel_layer.group_send(
                    self.group, {"type": "shot.saved", "shot": message["shot"], "origin": self.channel_name}
                )
            elif message["type"] == "recorded":
                await self.channel_layer.group_send(
                    self.group, {"type": "shot.recorded", "recorded": message, "origin": self.channel_name}
                )
        try:
            await job
        except Exception:
            log.exception("shot job crashed")
            await self._error("shot_failed", "the shot could not be processed; try again")

    async def shot_saved(self, event):
        """A shot taken on another of this user's open shooting pages."""
        if event.get("origin") != self.channel_name:
            await self._send(protocol.shot_saved(event["shot"], elsewhere=True))

    async def shot_recorded(self, event):
        """A shot from another of this user's pages is recorded: its strip can show the photo."""
        if event.get("origin") != self.channel_name:
            done = event["recorded"]
            await self._send(protocol.recorded(done["shot"], done["recorded"], done["url"], elsewhere=True))

    async def shot_failed(self, event):
        """A shot of this user's that will not develop (its web process died, or developing it
        again failed): its page offers to develop it again."""
        await self._send(protocol.error("reconstruction_failed", event["message"], shot=event["shot"]))

    async def session_ended(self, event):
        """The login this socket was opened under is over (logged out, password changed): frames
        and shots stop here."""
        self.expect_shot = False
        await self._error("session_ended", event["why"])
        await self.close(code=protocol.CLOSE_UNAUTHENTICATED)

    async def _error(self, code: str, message: str):
        await self._send(protocol.error(code, message))

    async def _send(self, message: dict):
        await self.send(protocol.encode(message))
