"""Live analysis of a shooting stream, run in a bounded thread pool off the event loop."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.conf import settings

from reconstruction.core.extraction import thread_analyzer
from reconstruction.core.identity import signature
from reconstruction.core.imageio import FrameLimits, decode_jpeg, encode_jpeg, fit_within, glance, still
from reconstruction.core.recent import RecentFrames
from reconstruction.core.smallfaces import FaceScan, Look, seen
from reconstruction.core.tracking import FaceTracker

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _warm_thread(barrier: threading.Barrier) -> None:
    thread_analyzer()
    try:
        # Hold this thread until every other one took a warm-up job, so each gets its own.
        barrier.wait(timeout=30)
    except threading.BrokenBarrierError:
        pass


def analysis_pool() -> ThreadPoolExecutor:
    """One pool for the whole process: its size bounds the CPU the analysis takes.

    On creation every thread builds its analyzer (about 0.5 s of model loading) in the
    background, so the first frames of the first user do not pay for it.
    """
    global _pool
    with _pool_lock:
        if _pool is None:
            threads = settings.FLUX_ANALYSIS_THREADS
            _pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="flux-analysis")
            barrier = threading.Barrier(threads)
            for _ in range(threads):
                _pool.submit(_warm_thread, barrier)
    return _pool


def frame_limits() -> FrameLimits:
    return FrameLimits(
        max_bytes=settings.FLUX_MAX_FRAME_BYTES,
        max_width=settings.FLUX_MAX_FRAME_WIDTH,
        max_height=settings.FLUX_MAX_FRAME_HEIGHT,
    )


def analyze_jpeg(jpeg: bytes, person_mask=None, around=()):
    """Decode and analyse one frame with this thread's analyzer (call it in the pool).
    ``around``: faces seen lately, (x, y, w, h) over the frame's size (the stream's last frame
    before the shutter, or the shot's own faces when it is developed again): the small ones the
    whole frame misses are looked for again in a tile around each."""
    rgb = decode_jpeg(jpeg, frame_limits())
    look = Look(around=tuple(tuple(box) for box in around)) if around else None
    return rgb, thread_analyzer().analyze(rgb, person_mask=person_mask, look=look)


# A still scene is analysed again at least this often anyway (light drifts slowly).
STILL_SECONDS = 1.0


@dataclass
class FrameOutcome:
    analysis: dict  # the JSON-ready analysis of the frame as received
    sample_jpeg: bytes | None = None  # the frame to keep as learning data, when one is due
    sample_analysis: dict | None = None  # the same analysis, sized for the kept frame


class LiveStream:
    """Per-socket state: the reused person mask, the learning-data sampling clock, the frames
    of the last seconds (``recent``: the shutter's first exemplars, freed with the socket) and the
    numbers of the faces in view (``tracker``: a person who steps out and back within those
    seconds keeps their number).

    Only one frame of a stream is analysed at a time (the consumer guarantees it), so this needs
    no lock even though its methods run on pool threads.
    """

    def __init__(self):
        self._person = None
        self._frames = 0
        self._look = None  # the glance of the frame last analysed (imageio.glance)
        self._analysis = None  # ... its analysis
        self._analysed_at = float("-inf")
        self._last_sample = float("-inf")
        self.recent = RecentFrames(
            settings.FLUX_RECENT_SECONDS, settings.FLUX_RECENT_FRAMES, settings.FLUX_RECENT_BYTES
        )
        self.tracker = FaceTracker(settings.FLUX_RECENT_SECONDS, describe=signature)
        self.scan = FaceScan()  # where to look for faces too small for the whole-frame pass

    def analyze(self, jpeg: bytes, busy: bool = False) -> FrameOutcome:
        """``busy``: the frame waited for an analysis thread; the scan for new small faces waits
        too (the faces already found are still measured)."""
        started = time.perf_counter()
        now = time.monotonic()
        rgb = decode_jpeg(jpeg, frame_limits())
        look = glance(rgb)
        if still(look, self._look) and now - self._analysed_at < STILL_SECONDS:
            # Nothing moved beyond noise since the frame last analysed: its degrees stand, and
            # the message says they were not measured again.
            analysis = self._analysis
            outcome = FrameOutcome(
                analysis.to_json() | {"unchanged": True, "ms": round((time.perf_counter() - started) * 1000, 2)}
            )
        else:
            reuse = self._person if self._frames % settings.FLUX_SEGMENT_EVERY else None
            height, width = rgb.shape[:2]
            last = self._analysis
            before = seen(last.faces, width, height) if last and (last.width, last.height) == (width, height) else ()
            beyond = self.scan.look(width, height, before, scan=not busy)
            analysis = thread_analyzer().analyze(rgb, person_mask=reuse, look=beyond)
            self.tracker.update(analysis.faces, analysis.width, analysis.height, rgb)
            self._person = analysis.person_mask
            self._frames += 1
            self._look, self._analysis, self._analysed_at = look, analysis, now
            outcome = FrameOutcome(analysis.to_json())
        self.recent.add(jpeg, analysis)
        # A still frame teaches nothing the one before it did not.
        if now - self._last_sample >= settings.FLUX_LEARNING_INTERVAL_S and not outcome.analysis.get("unchanged"):
            self._last_sample = now
            side = settings.FLUX_LEARNING_MAX_SIDE
            small = fit_within(rgb, side, side)
            # Face boxes are relative to the frame, so only the size changes with the downscale.
            outcome.sample_jpeg = jpeg if small is rgb else encode_jpeg(small, quality=88)
            outcome.sample_analysis = outcome.analysis | {"width": small.shape[1], "height": small.shape[0]}
        return outcome
