"""Who a face is: the identity signature that tells one person of a group from another.

A group shot needs it three ways: a person who leaves the frame and comes back keeps their number
(``tracking``), a face is only ever replaced by the same person's own face (the best take), and
the user's models learn only from the user's own face, never from a friend beside them
(``owners_frames``). The signature is dlib's 128-number ResNet descriptor of the face inside the
box MediaPipe found (dlib's 68 landmarks align it; the network runs in torch,
``yardstick.recognition``); two faces of one person lie within ``SAME_PERSON`` of each other.

dlib's landmark model loads on first use (``yardstick.dlib_face.get``: about two seconds, once per
process); reading one face then costs about 12 ms (2 ms landmarks, 9 ms network), several in one
batch (``signatures``) about 5 ms each. A stream still reads each face once, when it first gets its
number. No Django.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence

import cv2
import numpy as np

from .analysis import Analysis, Face
from .yardstick import dlib_face, recognition  # loaded with the first face read (their get())

# Two faces closer than this are one person. dlib's own bar is 0.6; the self-check keeps a
# reconstruction within 0.55 of its shot, and so does a lent face here.
SAME_PERSON = 0.55
# Faces narrower than this (pixels) are read at twice the size: dlib's chip is 150 px and its
# shape predictor misplaces landmarks on small faces.
SMALL_FACE = 80


_read: OrderedDict[bytes, np.ndarray | None] = OrderedDict()  # landmarks -> signature, newest last
_read_lock = threading.Lock()
READ_MEMO = 4096  # faces: a fine-tune reads the same learning frames as the run before it


def signature(rgb: np.ndarray, face: Face) -> np.ndarray | None:
    """The face's identity descriptor (128 numbers), or None when it cannot be read (a face cut by
    the frame's edge to a sliver). Kept by the face's landmarks (no two frames share them)."""
    return signatures([(rgb, face)])[0]


def signatures(faces: Sequence[tuple[np.ndarray, Face]]) -> list[np.ndarray | None]:
    """``signature`` of each (frame, face), the ones not read before read as one batch."""
    keys = [hashlib.blake2b(face.landmarks.tobytes(), digest_size=16).digest() for _, face in faces]
    out: list[np.ndarray | None] = [None] * len(faces)
    unread: dict[bytes, list[int]] = {}
    with _read_lock:
        for i, key in enumerate(keys):
            if key in _read:
                _read.move_to_end(key)
                out[i] = _read[key]
            else:
                unread.setdefault(key, []).append(i)
    if not unread:
        return out
    chips = {key: _chip(*faces[where[0]]) for key, where in unread.items()}
    readable = [key for key, chip in chips.items() if chip is not None]
    read = dict(zip(readable, recognition.get().descriptors([chips[k] for k in readable])))
    with _read_lock:
        for key, where in unread.items():
            value = read.get(key)
            _read[key] = value
            for i in where:
                out[i] = value
        while len(_read) > READ_MEMO:
            _read.popitem(last=False)
    return out


def _chip(rgb: np.ndarray, face: Face) -> np.ndarray | None:
    x, y, w, h = face.box
    if w < 8 or h < 8:
        return None
    reader = dlib_face.get()
    if w < SMALL_FACE:
        # A crop around the face, enlarged: the descriptor is computed on a normalised chip anyway.
        height, width = rgb.shape[:2]
        pad = 0.5 * max(w, h)
        x0, y0 = int(max(0, x - pad)), int(max(0, y - pad))
        x1, y1 = int(min(width, x + w + pad)), int(min(height, y + h + pad))
        crop = np.ascontiguousarray(rgb[y0:y1, x0:x1])
        k = SMALL_FACE / max(1.0, w) * 2
        crop = cv2.resize(crop, (max(1, round(crop.shape[1] * k)), max(1, round(crop.shape[0] * k))))
        box = ((x - x0) * k, (y - y0) * k, (x - x0 + w) * k, (y - y0 + h) * k)
        return reader.chip_at_box(crop, box)
    return reader.chip_at_box(rgb, (x, y, x + w, y + h))


def warm() -> None:
    """Load the landmark model and the network now (about two seconds) rather than at the first
    group shot; a missing model file is left for the first read to report."""
    try:
        dlib_face.get()
        recognition.get()
    except Exception:  # a missing model: the read that needs it says so
        pass


def distance(a: np.ndarray | None, b: np.ndarray | None) -> float:
    """How far apart two signatures are; ``inf`` when either is missing."""
    if a is None or b is None:
        return float("inf")
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)))


def nearest(signature: np.ndarray | None, among: np.ndarray | None) -> float:
    """The distance from ``signature`` to the nearest of ``among`` (k, 128); ``inf`` when either
    is missing."""
    if signature is None or among is None or not len(among):
        return float("inf")
    return float(np.linalg.norm(np.asarray(among) - np.asarray(signature), axis=-1).min())


def medoid(signatures: Sequence[np.ndarray]) -> np.ndarray | None:
    """The signature nearest to all the others (robust to a few faces of someone else)."""
    if not signatures:
        return None
    stack = np.stack(signatures)
    far = np.linalg.norm(stack[:, None] - stack[None], axis=2).sum(axis=1)
    return stack[int(np.argmin(far))]


def owner_signature(readings: Sequence[tuple[Sequence[np.ndarray | None], int | None]]) -> np.ndarray | None:
    """Whose frames these are, from each frame's faces' signatures and which of them is the main
    face: the person in most frames, the main face counting double (a user's learning frames show
    the user in nearly all of them, mostly as the main face; a friend now and then, or beside
    them all along but off-centre)."""
    flat = [s for faces, _ in readings for s in faces if s is not None]
    if not flat:
        return None
    best, best_score = None, -1.0
    for candidate in flat:
        score = 0.0
        for faces, main in readings:
            near = [i for i, s in enumerate(faces) if s is not None and distance(candidate, s) < SAME_PERSON]
            score += (2.0 if main in near else 1.0) if near else 0.0
        if score > best_score:
            best, best_score = candidate, score
    return medoid([s for s in flat if distance(best, s) < SAME_PERSON])


# Frames with a single face read to find the owner besides the group frames (the owner is in
# nearly all of them).
OWNER_SAMPLE = 16


def owners_frames(frames: Sequence[tuple[np.ndarray, Analysis]]) -> list[Analysis | None]:
    """Each learning frame as the user's models may learn from it: only the owner's face kept
    (``replace``d analysis, the shared one untouched), or None for a frame whose main face is
    someone else (its elements were measured on that person: their smile, their light, their
    clothes). Signatures are read only where a group appears: frames that all hold one face are
    the owner's as they are, and so are the single-face frames not sampled to find the owner."""
    if all(len(a.faces) <= 1 for _, a in frames):
        return [a for _, a in frames]
    singles = [i for i, (_, a) in enumerate(frames) if len(a.faces) == 1]
    sampled = set(singles[:: max(1, len(singles) // OWNER_SAMPLE)])
    read: dict[int, list[np.ndarray | None]] = {}
    for i, (rgb, a) in enumerate(frames):
        if len(a.faces) >= 2 or i in sampled:
            read[i] = signatures([(rgb, f) for f in a.faces])
    owner = owner_signature(
        [(read[i], next((k for k, f in enumerate(frames[i][1].faces) if f.main), None)) for i in read]
    )
    out: list[Analysis | None] = []
    for i, (_, a) in enumerate(frames):
        main = a.main_face
        if i not in read or main is None or owner is None:
            out.append(a)
            continue
        mine = distance(read[i][a.faces.index(main)], owner) < SAME_PERSON
        out.append(dataclasses.replace(a, faces=[main]) if mine else None)
    return out
