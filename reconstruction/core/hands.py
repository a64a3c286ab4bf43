"""Whether a hand is at a face's mouth: MediaPipe's hand landmark model, asked about the lower face.

Fingers over part of the mouth are skin beside skin: the lips' redness (``exemplars.appearance``)
falls only where they cover it, and a smile lent there melted the fingertips into the new lips
(WolfgangLanger_Pexels, frames 172 and 212: fingers over the left half of the mouth). MediaPipe's
palm detector does not find such a hand (its palm faces away or is out of the frame; 0 of those
frames at any confidence), but the hand landmark model that follows it also says how surely a hand
fills the crop it is given. Given a square around the lower face (HAND_CROP face widths a side,
centred HAND_DROP face widths below the lips), it read 0.78–0.98 on every frame of that clip with a
hand at the mouth or chin (60–222 of 472, every 6th) and 0.00–0.01 on the rest, and above 0.5 on no
frame of nine other people (640 frames, every 6th to 40th) but cap12's 18 with a hand on the chin.

The model file ships in the mediapipe wheel (assets.MODEL_ASSETS); MediaPipe's tasks API runs it
only behind the palm detector, so LiteRT's interpreter runs it alone.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np

from . import assets
from .analysis import Face, face_width

MODEL = "hand_landmark_full.tflite"
SIDE = 224  # the model's input, pixels
# The lower face's square: its side in face widths (cheek to cheek), and how far below the lips'
# corners its centre sits. Narrower squares (0.9 face widths) missed the fingers beside the lips
# (0.10–0.42 on frames where 1.2 read 0.78–0.92).
HAND_CROP = 2.4
HAND_DROP = 0.3
LIP_CORNERS = (61, 291)

_interpreter = None  # (the interpreter, its input's index, the hand presence output's index)
_lock = threading.Lock()


def _model():
    global _interpreter
    if _interpreter is None:
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=str(assets.model_path(MODEL)), num_threads=1)
        interpreter.allocate_tensors()
        # The outputs: landmarks, the hand's presence, handedness, world landmarks.
        presence = next(d for d in interpreter.get_output_details() if d["name"] == "Identity_1")
        _interpreter = interpreter, interpreter.get_input_details()[0]["index"], presence["index"]
    return _interpreter


def lower_face(rgb: np.ndarray, face: Face) -> np.ndarray:
    """The square around the face's mouth and chin the model is asked about (SIDE x SIDE, RGB)."""
    height, width = rgb.shape[:2]
    pts = face.landmarks[:, :2] * np.array([width, height], np.float32)
    across = face_width(face, pts)
    cx, cy = pts[list(LIP_CORNERS)].mean(0) + np.array([0.0, HAND_DROP * across], np.float32)
    k = SIDE / (HAND_CROP * across)
    m = np.float32([[k, 0, SIDE / 2 - cx * k], [0, k, SIDE / 2 - cy * k]])
    return cv2.warpAffine(rgb, m, (SIDE, SIDE), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_CONSTANT)


def hand_at_mouth(rgb: np.ndarray, face: Face) -> float:
    """How surely a hand is at the face's mouth or chin (0–1)."""
    crop = lower_face(rgb, face).astype(np.float32)[None] / 255.0
    with _lock:
        model, given, presence = _model()
        model.set_tensor(given, crop)
        model.invoke()
        return float(model.get_tensor(presence).ravel()[0])
