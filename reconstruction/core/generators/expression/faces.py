"""The face as the expression model sees it: which elements, the canonical crop and the
alignment onto it, the eye band an eyes-only edit may touch, and the stored faces' encoding."""

from __future__ import annotations

import hashlib

import cv2
import numpy as np

from ...analysis import Face
from ...exemplars import BROWS, LEFT_EYE_RING, RIGHT_EYE_RING
from ..base import ModelError

ELEMENTS = ("expression.smile", "expression.eye_openness", "expression.mouth_openness")
LEFT_EYE = [33, 133, 159, 145]
RIGHT_EYE = [362, 263, 386, 374]
# The eyelid contours of both eyes (MediaPipe face mesh), corners left out: they hardly move.
EYELIDS = [
    7,
    163,
    144,
    145,
    153,
    154,
    155,
    157,
    158,
    159,
    160,
    161,
    173,
    246,
    249,
    390,
    373,
    374,
    380,
    381,
    382,
    384,
    385,
    386,
    387,
    388,
    398,
    466,
]


def canonical_points(size: int) -> np.ndarray:
    """Where the two eye centres sit on the canonical crop (the mouth lands near 0.74 of its height)."""
    return np.array([[0.33 * size, 0.38 * size], [0.67 * size, 0.38 * size]], np.float32)


def alignment(face: Face, width: int, height: int, size: int) -> np.ndarray:
    """2×3 similarity transform from the image to the canonical crop, fixed by the two eye
    centres: they do not move with the expression (the mouth does: aligning on it shifts the
    whole face when a smile opens it), and two points fix a similarity exactly, the same at any
    crop size."""
    pts = face.landmarks[:, :2] * np.array([width, height], np.float32)
    left, right = pts[LEFT_EYE].mean(0), pts[RIGHT_EYE].mean(0)
    canon = canonical_points(size)
    src, dst = complex(*(right - left)), complex(*(canon[1] - canon[0]))
    if abs(src) < 1e-3:
        raise ModelError("could not align the face")
    z = dst / src  # rotation and scale as one complex number
    a, b = z.real, z.imag
    t = complex(*canon[0]) - z * complex(*left)
    return np.array([[a, -b, t.real], [b, a, t.imag]], np.float32)


# The elements a covered part of the face holds, and how the page names them.
HIDES = {"mouth": ("expression.smile", "expression.mouth_openness"), "eyes": ("expression.eye_openness",)}
PART_WORDS = {
    "expression.smile": "the smile",
    "expression.mouth_openness": "the mouth",
    "expression.eye_openness": "the eyes' openness",
}


def eye_band(face: Face, width: int, height: int) -> np.ndarray:
    """The eyes and brows of a face, with a margin: what an edit of the eyes alone may touch."""
    pts = face.landmarks[LEFT_EYE_RING + RIGHT_EYE_RING + BROWS, :2] * np.array([width, height], np.float32)
    mask = np.zeros((height, width), np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(pts.round().astype(np.int32)), 1)
    r = max(2, int(face.box[2] * 0.06))
    return cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))) > 0


def face_degrees(face: Face) -> np.ndarray:
    return np.array([face.degrees.get(n) or 0.0 for n in ELEMENTS], np.float32)


def face_pose(face: Face) -> list[float]:
    return [face.degrees.get("posture.face_yaw") or 0.5, face.degrees.get("posture.face_pitch") or 0.5]


def encode_faces(faces: np.ndarray) -> dict:
    """The exemplar faces as JPEG (quality 95) in two tensors: a tenth of the raw size, and
    checkpoints stay loadable with ``weights_only=True`` (tensors only)."""
    import torch

    blobs = [
        cv2.imencode(".jpg", cv2.cvtColor(f, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])[1].ravel()
        for f in faces
    ]
    return {"bank_jpeg": torch.from_numpy(np.concatenate(blobs)), "bank_sizes": torch.tensor([len(b) for b in blobs])}


def fingerprints(state: dict) -> list[str]:
    """A short fingerprint of each stored face's JPEG: the same learning frame gives the same
    bytes in every version, so a verdict can name the face that lent its pixels."""
    data, sizes = state["bank_jpeg"].numpy(), state["bank_sizes"].tolist()
    ends = np.cumsum(sizes)
    return [hashlib.sha1(data[end - size : end].tobytes()).hexdigest()[:12] for size, end in zip(sizes, ends)]


def decode_faces(state: dict) -> np.ndarray:
    data, sizes = state["bank_jpeg"].numpy(), state["bank_sizes"].tolist()
    ends = np.cumsum(sizes)
    faces = [cv2.imdecode(data[end - size : end], cv2.IMREAD_COLOR) for size, end in zip(sizes, ends)]
    if any(f is None for f in faces):
        raise ValueError("an exemplar face does not decode")
    return np.stack([cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in faces])
