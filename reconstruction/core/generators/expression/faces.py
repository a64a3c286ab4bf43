"""The face as the expression model sees it: which elements, the canonical crop and the
alignment onto it, the eye band an eyes-only edit may touch, and the stored faces' encoding."""

from __future__ import annotations

import hashlib

import cv2
import numpy as np

from ...analysis import Face, face_width
from ...exemplars import BROWS, LEFT_EYE_RING, OUTER_LIPS, RIGHT_EYE_RING
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


# Where the eye centres and the base of the nose (MediaPipe 2) sit on the canonical crop, in crop
# sides. The eyes sit high so that a wide-open mouth fits: at 0.38 (eyes alone) a laughing man's lower lip fell
# below the crop, stayed as shot, and showed under the closed mouth (a doubled mouth).
EYE_LINE = 0.25
NOSE_LINE = 0.517  # 0.267 below the eyes: the median of frontal faces aligned on their eyes alone
MOUTH_LINE = 0.61  # where the mouth lands (the training loss weights it there)
NOSE_BASE = 2
# The lower nose (MediaPipe face mesh: tip, wings, nostrils, base), which a mouth edit leaves as shot.
LOWER_NOSE = [1, 2, 4, 19, 94, 97, 98, 326, 327, 64, 294, 48, 278, 129, 358, 240, 460]
# ... with this margin, in face widths: the blend fades in beyond it, clear of the nostrils ...
NOSE_CLEARANCE = 0.03
# ... except within this much of the lips, which are always repainted whole (the blend's feather,
# a sixteenth of the face box, is about 0.07 face widths).
LIPS_FIRST = 0.08


def canonical_points(size: int) -> np.ndarray:
    """Where the two eye centres and the base of the nose sit on the canonical crop."""
    return np.array(
        [[0.33 * size, EYE_LINE * size], [0.67 * size, EYE_LINE * size], [0.5 * size, NOSE_LINE * size]], np.float32
    )


def alignment(face: Face, width: int, height: int, size: int) -> np.ndarray:
    """2×3 similarity transform from the image to the canonical crop, fitted (least squares) to
    the two eye centres and the base of the nose: none moves with the expression (aligning on the
    mouth shifted the whole face when a smile opened it), and the nose holds the scale when the
    head turns (on the eyes alone a turned head's narrower eye span stretched the face, and a
    laughing mouth fell off the crop). The same at any crop size."""
    pts = face.landmarks[:, :2] * np.array([width, height], np.float32)
    src = np.stack([pts[LEFT_EYE].mean(0), pts[RIGHT_EYE].mean(0), pts[NOSE_BASE]]).astype(np.float64)
    try:
        return similarity(src, canonical_points(size).astype(np.float64), spread=1e-3).astype(np.float32)
    except ValueError:
        raise ModelError("could not align the face") from None


def similarity(src: np.ndarray, dst: np.ndarray, spread: float = 1e-6) -> np.ndarray:
    """The 2x3 rotation, scale and shift that best carries the ``src`` points onto ``dst`` (least
    squares, with rotation and scale as one complex number); ValueError when the ``src`` points
    spread less than ``spread`` (squared pixels about their mean)."""
    s = src[:, 0] + 1j * src[:, 1]
    d = dst[:, 0] + 1j * dst[:, 1]
    s0, d0 = s - s.mean(), d - d.mean()
    total = float(np.sum(np.abs(s0) ** 2))
    if total < spread:
        raise ValueError("the points do not spread")
    z = complex(np.sum(d0 * np.conj(s0)) / total)
    t = d.mean() - z * s.mean()
    return np.array([[z.real, -z.imag, t.real], [z.imag, z.real, t.imag]], np.float64)


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


def _ellipse(mask: np.ndarray, centre: np.ndarray, ends: np.ndarray, along: float, across: float) -> None:
    """An ellipse on ``centre`` along the line through the part's two ``ends`` (its corners), its
    semi-axes ``along`` and ``across`` times the part's width."""
    span = ends[1] - ends[0]
    size = float(np.linalg.norm(span))
    angle = float(np.degrees(np.arctan2(span[1], span[0])))
    axes = (max(1, int(round(along * size))), max(1, int(round(across * size))))
    cv2.ellipse(mask, (int(round(centre[0])), int(round(centre[1]))), axes, angle, 0, 360, 1, -1)


# How far around the shot's lips a mouth edit reaches at least, in face widths: more than the
# blend's feather (a sixteenth of the face box), so the old lips are fully replaced.
LIPS_REACH = 0.12


def part_mask(face: Face, width: int, height: int, parts: set[str]) -> np.ndarray:
    """The parts of the face an edit may repaint (bool, frame-sized): around the lips for the
    mouth (a smile lifts the corners and the cheeks beside them), around each eye for the eyes
    (lids and crease, not the brows: lent brows read as a frown). Both stay inside the face's
    outline and clear of it by a tenth of the face's width (the shot's own lips, which a mouth
    edit always covers, by a fiftieth), so the jaw line, the ears, the hair
    and the background are always the shot's own: a whole lent face showed a second jaw line,
    another frame's hair and another head pose (seen on footage of people Flux had not seen)."""
    pts = face.landmarks[:, :2] * np.array([width, height], np.float32)
    mask = np.zeros((height, width), np.uint8)
    width_of_face = face_width(face, pts)
    outline = np.zeros((height, width), np.uint8)
    cv2.fillConvexPoly(outline, cv2.convexHull(pts.round().astype(np.int32)), 1)

    def inside(margin: float) -> np.ndarray:
        r = max(1, int(width_of_face * margin))
        return cv2.erode(outline, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))) > 0

    # Ellipses sized by the part's width, not its opening: shut eyes and pressed lips are slits.
    if "mouth" in parts:
        corners = pts[[61, 291]]
        _ellipse(mask, pts[OUTER_LIPS].mean(0), corners, 0.95, 0.7)
    if "eyes" in parts:
        for ring, ends in ((LEFT_EYE_RING, [33, 133]), (RIGHT_EYE_RING, [362, 263])):
            centre = pts[ring].mean(0)
            up = np.array([0.0, -0.05], np.float32) * float(np.linalg.norm(pts[ends[1]] - pts[ends[0]]))
            _ellipse(mask, centre + up, pts[ends], 0.8, 0.5)
    keep = (mask > 0) & inside(0.1)
    if "mouth" in parts:
        # The shot's own lips are always repainted whole, however near the chin a wide-open mouth
        # reaches: a lower lip left at the blend's soft edge showed through under the new mouth
        # (a doubled mouth, seen closing a laughing man's mouth). The margin covers the feather's.
        keep |= lips_mask(face, width, height, LIPS_REACH) & inside(0.02)
        # A wide mouth's ellipse reaches the nose, and the lent face's nostrils, never where the
        # shot's are, showed beside them (a doubled nostril, seen on a girl whose open mouth was
        # closed into a smile).
        nose = _grown_hull(pts[LOWER_NOSE], width, height, width_of_face * NOSE_CLEARANCE)
        keep &= ~(nose & ~lips_mask(face, width, height, LIPS_FIRST))
    return keep


def lips_mask(face: Face, width: int, height: int, reach: float) -> np.ndarray:
    """The shot's lips (their outer contour's hull, so an open mouth's inside too), grown by
    ``reach`` face widths (bool, frame-sized)."""
    pts = face.landmarks[:, :2] * np.array([width, height], np.float32)
    return _grown_hull(pts[OUTER_LIPS], width, height, face_width(face, pts) * reach)


def _grown_hull(points: np.ndarray, width: int, height: int, grow: float) -> np.ndarray:
    """The convex hull of ``points`` grown by ``grow`` pixels (at least one; bool, frame-sized)."""
    hull = np.zeros((height, width), np.uint8)
    cv2.fillConvexPoly(hull, cv2.convexHull(points.round().astype(np.int32)), 1)
    r = max(1, int(grow))
    return cv2.dilate(hull, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))) > 0


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
