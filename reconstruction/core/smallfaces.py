"""Faces too small for the landmarker's whole-frame pass: where to look for them.

The Face Landmarker's detector sees the whole frame at 128x128, so in a 640x480 stream it misses
faces under about 56-73 pixels wide (measured on franck and jwpIntro shrunk about the frame's
centre). In a tile of the frame such a face is as large to the detector as a selfie's face is in
a whole frame. A photo (``Analyzer.analyze(every_face=True)``) runs the landmarker on every tile of
the ``grid``. A live stream cannot (14 tiles of 640x480, 150-200 ms): ``FaceScan`` plans, frame by
frame, a ``Look``: the face detector alone (about 1.5 ms a tile) over a few tiles of the grid in
turn, the whole grid every ``SCAN_FRAMES`` frames, and the landmarker on a tile around each small face
seen in the frame before, so that a small face found once is measured on every frame after.

Plain numpy; no Django.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

# The smallest face looked for, in pixels, and how many such faces wide a tile is (the landmarker's
# detector finds a face about a tenth of its input wide: measured on expressions_grid.jpg, 0 of 24
# faces in the whole 1920 px frame).
SMALLEST_FACE = 40
TILE_FACES = 6
TILE_MIN = 256
OVERLAP = 0.35  # of a tile: a face up to this much of a tile wide is whole in one of them

# A stream's scan: every tile of the grid is looked at once in this many analysed frames (two
# seconds at 10 frames a second: a person who steps into a group far from the camera is numbered
# within about two seconds), at most ``SCAN_MOST`` tiles a frame. Counted in frames, not seconds:
# a busy server analyses each stream less often, and a scan timed in seconds would then cost each
# frame more just when the server has least to spare (``FaceScan.look``'s ``scan`` pauses it then).
SCAN_FRAMES = 20
SCAN_MOST = 3
# A face seen in the frame before that is narrower than this share of the frame's longer side is
# looked for again in a tile around it when the whole-frame pass misses it (the whole-frame pass
# finds faces from about a ninth of a 640 px frame up; a larger face it misses has turned away or
# gone, and a tile around it would see it no larger).
SMALL_SHARE = 0.2

Tile = tuple[int, int, int]  # x0, y0, side in pixels (a tile may be cut by the frame's edge)


@dataclass(frozen=True)
class Look:
    """Where an analysis looks for faces besides the whole frame."""

    around: tuple[
        tuple[float, float, float, float], ...
    ] = ()  # faces seen lately, (x, y, w, h) over the frame's size: the landmarker looks again in a tile around each the whole frame missed
    scan: tuple[Tile, ...] = ()  # tiles the face detector looks in for faces not seen yet

    def __bool__(self) -> bool:
        return bool(self.around or self.scan)


def starts(length: int, side: int) -> list[int]:
    """Where tiles of ``side`` start along ``length``, overlapping by ``OVERLAP``."""
    if length <= side:
        return [0]
    step = max(1, int(side * (1 - OVERLAP)))
    return list(range(0, length - side, step)) + [length - side]


def grid(width: int, height: int) -> list[Tile]:
    """Every tile of a frame: ``TILE_FACES`` smallest faces wide, then twice and four times that,
    ... up to the frame's size, the largest tiles first (their faces are whole)."""
    sides = []
    side = max(TILE_MIN, SMALLEST_FACE * TILE_FACES)
    while side < max(height, width):
        sides.append(side)
        side *= 2
    return [(x0, y0, side) for side in reversed(sides) for y0 in starts(height, side) for x0 in starts(width, side)]


def tile_around(box: tuple[float, float, float, float], width: int, height: int) -> Tile:
    """A tile centred on a face (``box``: x0, y0, x1, y1 in pixels) as many times its width as a
    grid tile is of the smallest face, inside the frame where the frame allows."""
    w = max(box[2] - box[0], box[3] - box[1])
    side = int(min(max(TILE_MIN, TILE_FACES * w), max(width, height)))
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    x0 = int(min(max(0, cx - side / 2), max(0, width - side)))
    y0 = int(min(max(0, cy - side / 2), max(0, height - side)))
    return x0, y0, side


def holds(tile: Tile, box: tuple[float, float, float, float], margin: float = 2.0) -> bool:
    """Whether a face's box (x0, y0, x1, y1) lies whole inside the tile."""
    x0, y0, side = tile
    return (
        box[0] >= x0 + margin
        and box[1] >= y0 + margin
        and box[2] <= x0 + side - margin
        and box[3] <= y0 + side - margin
    )


def seen(faces, width: int, height: int) -> tuple[tuple[float, float, float, float], ...]:
    """Faces' boxes (``analysis.Face``: x, y, w, h in pixels) over the frame's size, for
    ``Look.around`` and ``FaceScan.look``."""
    return tuple((x / width, y / height, w / width, h / height) for x, y, w, h in (f.box for f in faces))


class FaceScan:
    """One stream's look for small faces, frame by frame (``look``). Not thread-safe: a stream
    analyses one frame at a time."""

    def __init__(self, frames: int = SCAN_FRAMES, most: int = SCAN_MOST):
        self.frames = frames
        self.most = most
        self._next = 0  # the grid tile to scan next
        self._owed = float(most)  # tiles due and not yet scanned: a new stream starts scanning at once
        self._started = False
        self._size: tuple[int, int] | None = None  # the frame size ``_tiles`` is the grid of
        self._tiles: list[Tile] = []

    def look(
        self, width: int, height: int, seen: Sequence[tuple[float, float, float, float]] = (), scan: bool = True
    ) -> Look:
        """Where to look in the next frame. ``seen``: the faces of the frame before, (x, y, w, h)
        over the frame's size. ``scan``: False when the server is busy (the frame waited for an
        analysis thread): the faces already found are still looked at, the scan for new ones waits
        (16 streams on one web process, every frame busy: 85-88 frames answered a second with the
        scan on every frame; 86-94 with it waiting, as without any scan, 88-97)."""
        longer = max(width, height)
        around = tuple(box for box in seen if box[2] * width < SMALL_SHARE * longer)
        if not scan:
            return Look(around=around)
        if (width, height) != self._size:
            self._size, self._tiles, self._next = (width, height), grid(width, height), 0
        tiles = self._tiles
        if self._started:
            self._owed += len(tiles) / self.frames
        self._started = True
        due = min(self.most, math.floor(self._owed), len(tiles))
        self._owed = min(float(self.most), self._owed - due)
        tiles_due = tuple(tiles[(self._next + k) % len(tiles)] for k in range(due))
        if tiles:  # a frame no larger than a tile has none: the whole-frame pass is the scan
            self._next = (self._next + due) % len(tiles)
        return Look(around=around, scan=tiles_due)
