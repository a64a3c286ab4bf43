"""Every face in view, numbered from frame to frame (a group shot: each person's own meters, and
their own takes for the shutter's best take).

A face keeps its number while it moves (matched to where each numbered face was last seen, by
how far its centre moved in face widths and how much its size changed), and a person who leaves
the frame and comes back within ``forget_after`` seconds gets their number back: their identity
signature (``describe``, e.g. dlib's 128-number descriptor) is read once when a number is given,
and a face that matches no face in view is compared with the signatures of the people lately
gone. Without a signature a returning face is matched by where it left.

Plain numpy; no Django. One tracker per stream; not thread-safe (a stream analyses one frame at a
time).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from . import identity
from .analysis import Face

# A face whose centre moved less than this many face widths since the numbered face was last seen
# (and whose size changed less than SIZE_CHANGE times) is the same face: at 10 frames a second a
# head moves a fraction of its width between frames, and neighbours in a group stand about one
# face width or more apart, centre to centre.
MOVE_LIMIT = 0.8
SIZE_CHANGE = 1.6
# A face unseen this long is "gone": it is no longer matched by position but only by its signature
# (someone else may have stepped into that place).
GONE_AFTER = 1.0
# Without a signature, a face coming back within this many face widths of where a gone face left
# is taken for it.
RETURN_LIMIT = 1.5


@dataclass
class Track:
    number: int  # the face's number, stable across frames; the smallest free one when given
    box: tuple[float, float, float, float]  # where it was last seen: x, y, w, h over the frame size
    seen: float  # when it was last seen (the tracker's clock)
    signature: np.ndarray | None = None  # its identity descriptor, read when the number was given
    read: bool = False  # whether its signature was asked for (a face too small to read is not asked again)


def _centre(box) -> tuple[float, float]:
    return box[0] + box[2] / 2, box[1] + box[3] / 2


def normalised(box, width: int, height: int) -> tuple[float, float, float, float]:
    """A box (x, y, w, h) in pixels over the frame's size."""
    return box[0] / width, box[1] / height, box[2] / width, box[3] / height


def box_cost(a, b, aspect: float) -> float:
    """How far apart two boxes (normalised x, y, w, h) are, in face widths; ``inf`` when their
    sizes differ too much to be one face. ``aspect``: the frame's width over its height, so that
    distances are measured in pixels' proportions."""
    (ax, ay), (bx, by) = _centre(a), _centre(b)
    width = max(a[2], b[2]) or 1e-6
    ratio = max(a[3], b[3]) / max(1e-6, min(a[3], b[3]))
    if ratio > SIZE_CHANGE:
        return math.inf
    return math.hypot((ax - bx), (ay - by) / aspect) / width


class FaceTracker:
    """Numbers the faces of a stream. ``describe(rgb, face) -> np.ndarray | None`` reads a face's
    identity signature (None: no signature; returning faces are then matched by position)."""

    def __init__(
        self,
        forget_after: float = 6.0,
        describe: Callable[[np.ndarray, Face], np.ndarray | None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.forget_after = forget_after  # a face unseen this long loses its number for good
        self.describe = describe
        self.clock = clock
        self.tracks: dict[int, Track] = {}
        self._previous = float("-inf")  # when the previous frame was numbered

    def update(self, faces: Sequence[Face], width: int, height: int, rgb: np.ndarray | None = None) -> list[int]:
        """The number of each face of this frame (in the order given); sets ``face.track`` too."""
        now = self.clock()
        for number in [n for n, t in self.tracks.items() if now - t.seen > self.forget_after]:
            del self.tracks[number]
        aspect = width / max(1, height)
        boxes = [normalised(f.box, width, height) for f in faces]
        numbers: list[int | None] = [None] * len(faces)
        # A face seen in the previous frame is present however long ago that was: a busy server
        # analyses a stream less often, and must not take everyone for gone (and read them all).
        present = [t for t in self.tracks.values() if now - t.seen <= GONE_AFTER or t.seen >= self._previous]
        self._previous = now
        # Nearest pairs first: two faces crossing each other keep their own numbers.
        pairs = sorted((box_cost(t.box, box, aspect), i, t.number) for t in present for i, box in enumerate(boxes))
        taken: set[int] = set()
        for cost, i, number in pairs:
            if cost > MOVE_LIMIT:
                break
            if numbers[i] is None and number not in taken:
                numbers[i] = number
                taken.add(number)
        gone = any(t.number not in taken for t in self.tracks.values())
        for i, face in enumerate(faces):
            if numbers[i] is not None:
                continue
            # A signature is read only where identities matter: a group in view, or someone gone
            # who may be coming back. A lone face needs none (and the stream saves the 30-100 ms).
            signature = self._signature(rgb, face) if len(faces) >= 2 or gone else None
            number = self._returning(boxes[i], signature, taken, aspect, now)
            if number is None:
                number = self._free(taken)
                self.tracks[number] = Track(number, boxes[i], now, signature, read=signature is not None)
            elif signature is not None and self.tracks[number].signature is None:
                self.tracks[number].signature = signature
            numbers[i] = number
            taken.add(number)
        unread = None
        for i, face in enumerate(faces):
            track = self.tracks[numbers[i]]
            track.box, track.seen = boxes[i], now
            face.track = numbers[i]
            if not track.read and unread is None:
                unread = (track, face)
        if unread is not None and len(faces) >= 2:
            # A face numbered while alone is read once a group forms (one a frame, to spread the
            # cost), so that it is known again if it steps out.
            unread[0].signature = self._signature(rgb, unread[1])
            unread[0].read = True
        for face in faces:
            # Who each face is, as far as the stream knows: the shutter's best take compares a
            # lent face with everyone else in the group without reading them all again.
            face.signature = self.tracks[face.track].signature
        return [int(n) for n in numbers]

    def _signature(self, rgb: np.ndarray | None, face: Face) -> np.ndarray | None:
        if self.describe is None or rgb is None:
            return None
        try:
            return self.describe(rgb, face)
        except ValueError:  # a face cut by the frame's edge, too small to read
            return None

    def _returning(self, box, signature, taken: set[int], aspect: float, now: float) -> int | None:
        """The number of a person lately gone whom this face is, or None."""
        gone = [t for t in self.tracks.values() if t.number not in taken and now - t.seen > 0]
        best, best_distance = None, math.inf
        for t in gone:
            if signature is not None and t.signature is not None:
                distance = identity.distance(signature, t.signature)
                if distance < identity.SAME_PERSON and distance < best_distance:
                    best, best_distance = t.number, distance
            elif signature is None or t.signature is None:
                # Without both signatures only a face back where it left is taken for it.
                cost = box_cost(t.box, box, aspect)
                if cost < RETURN_LIMIT and cost + identity.SAME_PERSON < best_distance:
                    best, best_distance = t.number, cost + identity.SAME_PERSON
        return best

    def _free(self, taken: set[int]) -> int:
        number = 1
        while number in self.tracks or number in taken:
            number += 1
        return number
