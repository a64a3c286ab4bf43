"""Whether a hand is at a face's mouth and how high it reaches: MediaPipe's hand landmark model,
asked about the lower face.

Fingers over part of the mouth are skin beside skin: the lips' redness (``exemplars.appearance``)
falls only where they cover it, and a smile lent there melted the fingertips into the new lips
(WolfgangLanger_Pexels, frames 172 and 212: fingers over the left half of the mouth). MediaPipe's
palm detector does not find such a hand (its palm faces away or is out of the frame; 0 of those
frames at any confidence), but the hand landmark model that follows it also says how surely a hand
fills the crop it is given. Given a square around the lower face (HAND_CROP face widths a side,
centred HAND_DROP face widths below the lips), it read 0.78–0.98 on every frame of that clip with a
hand at the mouth or chin (60–222 of 472, every 6th) and 0.00–0.01 on the rest, and above 0.5 on no
frame of nine other people (640 frames, every 6th to 40th) but cap12's 18 with a hand on the chin.

The same model also places the hand's 21 landmarks in that square, which tells how high the hand
reaches: fingers over the nose and the inner corner of a shut eye (wolfgang 96–138) rose 0.04–0.19
face widths above the lower eyelids, and an opened eye lent there laid its iris across a fingertip
(frame 128, portrait); a hand at the mouth or chin stayed 0.19–0.40 below them (wolfgang 60–90,
150–222) and 0.55–0.67 below (cap12 holding his chin).

The model file ships in the mediapipe wheel (assets.MODEL_ASSETS); MediaPipe's tasks API runs it
only behind the palm detector, so LiteRT's interpreter runs it alone.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass

import cv2
import numpy as np

from . import assets
from .analysis import Face, face_width

MODEL = "hand_landmark_full.tflite"
SIDE = 224  # the model's input, pixels
READINGS_KEPT = 4096  # the last crops read, with what the model said of them (a few bytes each)
# The lower face's square: its side in face widths (cheek to cheek), and how far below the lips'
# corners its centre sits. Narrower squares (0.9 face widths) missed the fingers beside the lips
# (0.10–0.42 on frames where 1.2 read 0.78–0.92).
HAND_CROP = 2.4
HAND_DROP = 0.3
LIP_CORNERS = (61, 291)
LOWER_EYELIDS = (145, 374)

_interpreter = None  # (the interpreter, its input's index, the landmarks' and the presence's output indices)
_lock = threading.Lock()
_readings: OrderedDict[bytes, tuple[float, float]] = OrderedDict()  # guarded by _lock


@dataclass(frozen=True)
class HandReading:
    """A hand at the lower face, as the hand landmark model reads it."""

    presence: float  # how surely a hand fills the lower face's square (0–1)
    # How far the hand's highest landmark lies above the lower eyelids, in face widths (negative:
    # below them); meaningful only where presence is high.
    reach: float


def _model():
    global _interpreter
    if _interpreter is None:
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=str(assets.model_path(MODEL)), num_threads=1)
        interpreter.allocate_tensors()
        # The outputs: landmarks (Identity), the hand's presence, handedness, world landmarks.
        outputs = {d["name"]: d["index"] for d in interpreter.get_output_details()}
        _interpreter = (
            interpreter,
            interpreter.get_input_details()[0]["index"],
            outputs["Identity"],
            outputs["Identity_1"],
        )
    return _interpreter


def _square(rgb: np.ndarray, face: Face) -> tuple[np.ndarray, np.ndarray, float]:
    """The affine map from the frame to the lower face's square, the face's landmarks in pixels and
    its width."""
    height, width = rgb.shape[:2]
    pts = face.landmarks[:, :2] * np.array([width, height], np.float32)
    across = face_width(face, pts)
    cx, cy = pts[list(LIP_CORNERS)].mean(0) + np.array([0.0, HAND_DROP * across], np.float32)
    k = SIDE / (HAND_CROP * across)
    return np.float32([[k, 0, SIDE / 2 - cx * k], [0, k, SIDE / 2 - cy * k]]), pts, across


def hand_at_face(rgb: np.ndarray, face: Face) -> HandReading:
    """Whether a hand is at the face's mouth or chin, and how high it reaches."""
    m, pts, across = _square(rgb, face)
    crop = cv2.warpAffine(rgb, m, (SIDE, SIDE), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_CONSTANT)
    # The same crop reads the same (8 ms): a training run reads its frames again, and the rule,
    # the generation and the self-check read the shot's face several times.
    key = hashlib.blake2b(crop.data, digest_size=16).digest()
    with _lock:
        reading = _readings.get(key)
        if reading is None:
            model, given, landmarks, presence = _model()
            model.set_tensor(given, crop.astype(np.float32)[None] / 255.0)
            model.invoke()
            reading = (
                float(model.get_tensor(presence).ravel()[0]),
                float(model.get_tensor(landmarks).reshape(21, 3)[:, 1].min()),
            )
            _readings[key] = reading
            if len(_readings) > READINGS_KEPT:
                _readings.popitem(last=False)
        else:
            _readings.move_to_end(key)
    present, top = reading
    # Back from the square to the frame: the map only scales and shifts.
    top = (top - m[1, 2]) / m[1, 1]
    eyelids = float(pts[list(LOWER_EYELIDS), 1].max())
    return HandReading(present, (eyelids - top) / across)
