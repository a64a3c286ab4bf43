"""The frames streamed in the seconds before the shutter (FIG. 2: the moments around the shot).

A face at the wanted degrees from a few seconds ago has the shot's light, pose, make-up and
glasses, which no stored learning frame can promise, so these frames are the first source of
exemplars. They live in memory, per socket, bounded three ways (age, count and bytes) and are
dropped with the socket. Frames are kept as the JPEG the browser sent plus the main face's
measurement; the pixels are decoded only for the one or two frames an edit actually uses.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .analysis import Analysis, Face
from .imageio import decode_jpeg

FACE_BYTES = 478 * 3 * 4 + 52 * 64  # landmarks and blendshapes of one face, roughly


@dataclass
class RecentFrame:
    jpeg: bytes  # the frame as streamed
    face: Face | None  # its main face (landmarks, blendshapes, degrees), None when no face
    width: int
    height: int
    at: float  # when it was analysed (``clock`` seconds)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    faces: tuple[Face, ...] = ()  # every face, each with its stream number (a group's best take)

    @property
    def nbytes(self) -> int:
        return len(self.jpeg) + FACE_BYTES * max(len(self.faces), int(self.face is not None))

    def age(self) -> float:
        return max(0.0, self.clock() - self.at)

    def rgb(self) -> np.ndarray:
        return decode_jpeg(self.jpeg)


class RecentFrames:
    """A bounded window of the stream's latest frames. The socket's pump adds to it on an
    analysis thread while the shutter takes a snapshot on the event loop: a lock keeps both whole."""

    _live: weakref.WeakSet[RecentFrames] = weakref.WeakSet()  # every window in this process

    def __init__(
        self,
        seconds: float = 6.0,
        max_frames: int = 40,
        max_bytes: int = 6 * 1024 * 1024,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.seconds = seconds  # frames older than this are dropped
        self.max_frames = max_frames  # at 10 fps, four seconds
        self.max_bytes = max_bytes  # JPEGs of 640×480 are 30–80 kB: this bound only bites on huge frames
        self.clock = clock
        self._frames: deque[RecentFrame] = deque()
        self._lock = threading.Lock()
        self.nbytes = 0
        RecentFrames._live.add(self)

    @classmethod
    def held(cls) -> tuple[int, int]:
        """(frames, bytes) held by every window of this process: what the bench and the tests
        read to see the memory stay bounded and come back when sockets close."""
        windows = list(cls._live)
        return sum(len(w) for w in windows), sum(w.nbytes for w in windows)

    def __len__(self) -> int:
        return len(self._frames)

    def add(self, jpeg: bytes, analysis: Analysis) -> None:
        # Only what the exemplar and best-take choices read; the landmark arrays are shared, not copied.
        faces = tuple(
            Face(
                box=f.box,
                landmarks=f.landmarks,
                blendshapes=f.blendshapes,
                matrix=None,
                degrees=dict(f.degrees),
                main=f.main,
                track=f.track,
                looking=f.looking,
                signature=f.signature,
            )
            for f in analysis.faces
        )
        face = next((f for f in faces if f.main), None)
        frame = RecentFrame(jpeg, face, analysis.width, analysis.height, self.clock(), self.clock, faces)
        if frame.nbytes > self.max_bytes:
            return
        with self._lock:
            self._frames.append(frame)
            self.nbytes += frame.nbytes
            self._trim()

    def _trim(self) -> None:
        now = self.clock()
        frames = self._frames
        while frames and (
            len(frames) > self.max_frames or self.nbytes > self.max_bytes or now - frames[0].at > self.seconds
        ):
            self.nbytes -= frames.popleft().nbytes

    def snapshot(self) -> tuple[RecentFrame, ...]:
        """The frames still in the window, oldest first. Landmarks are relative to their own
        frame, which is what the exemplar is cut from, so frames of any size mix."""
        with self._lock:
            self._trim()
            return tuple(self._frames)

    def clear(self) -> None:
        with self._lock:
            self._frames.clear()
            self.nbytes = 0
