"""What the extractor makes of a frame: its faces (box, landmarks, blendshapes, head pose, each
face's own degrees) and every element's degree. Plain data, used by every part of the core;
``extraction`` fills it in."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def both_sides(blendshapes: dict[str, float], name: str) -> float:
    """The mean of a blendshape's Left and Right coefficients (``name`` without the side)."""
    return (blendshapes.get(name + "Left", 0.0) + blendshapes.get(name + "Right", 0.0)) / 2


def gaze(blendshapes: dict[str, float]) -> tuple[float, float]:
    """Where the eyes look (x toward the image's right, y up; each −1–1), from MediaPipe's eyeLook
    blendshapes. The subject's left eye is on the image's right: looking toward the image's right
    turns that eye outward and the other inward."""
    if not blendshapes:
        return float("nan"), float("nan")
    b = blendshapes.get
    x = (b("eyeLookOutLeft", 0.0) + b("eyeLookInRight", 0.0) - b("eyeLookInLeft", 0.0) - b("eyeLookOutRight", 0.0)) / 2
    y = (
        b("eyeLookUpLeft", 0.0) + b("eyeLookUpRight", 0.0) - b("eyeLookDownLeft", 0.0) - b("eyeLookDownRight", 0.0)
    ) / 2
    return float(x), float(y)


@dataclass
class Face:
    box: tuple[float, float, float, float]  # x, y, width, height in pixels of the analysed image
    landmarks: np.ndarray  # (478, 3): x, y normalised to the image, z relative depth
    blendshapes: dict[str, float]  # MediaPipe's 52 ARKit-style coefficients in [0, 1]
    matrix: np.ndarray | None  # 4x4 facial transformation (head pose), None if not returned
    degrees: dict[str, float | None] = field(default_factory=dict)  # this face's own elements
    main: bool = False  # the main subject: the largest, most central face
    track: int | None = None  # its number in a stream (tracking.FaceTracker), None outside one
    looking: float | None = None  # how straight it looks into the lens, 1 (straight) to 0 (30° off or more)
    signature: np.ndarray | None = field(
        default=None, repr=False
    )  # its person's identity (identity.signature), when read

    @property
    def eyes_wide(self) -> float:
        """How far the eyes are widened beyond open (``eyeWide``, both eyes' mean): a stare."""
        return both_sides(self.blendshapes, "eyeWide")

    def to_json(self, width: int, height: int) -> dict:
        x, y, w, h = self.box
        out = {
            "box": [round(x / width, 4), round(y / height, 4), round(w / width, 4), round(h / height, 4)],
            "main": self.main,
            "degrees": _rounded(self.degrees),
            "looking": None if self.looking is None else round(self.looking, 3),
        }
        if self.track is not None:
            out["track"] = self.track
        return out


# The mesh's two cheek points (MediaPipe face mesh): the face's width is measured between them.
FACE_SIDES = (234, 454)


def face_width(face: Face, pts: np.ndarray) -> float:
    """The face's width in pixels (cheek to cheek on the mesh; ``pts``: its landmarks in pixels),
    or its box's width."""
    return float(np.linalg.norm(pts[FACE_SIDES[1]] - pts[FACE_SIDES[0]])) or face.box[2]


@dataclass
class Analysis:
    width: int
    height: int
    faces: list[Face]
    elements: dict[str, float | None]  # every element name; None when absent
    person_mask: np.ndarray | None = None  # float32 (H, W) in [0, 1], None if not segmented
    sky_mask: np.ndarray | None = None  # bool at working scale, None when no sky
    ms: float = 0.0  # wall time of the analysis

    @property
    def main_face(self) -> Face | None:
        return next((f for f in self.faces if f.main), None)

    def to_json(self) -> dict:
        return {
            "width": self.width,
            "height": self.height,
            "faces": [f.to_json(self.width, self.height) for f in self.faces],
            "elements": _rounded(self.elements),
            "ms": round(self.ms, 2),
        }


def _rounded(degrees: dict[str, float | None]) -> dict[str, float | None]:
    return {k: (None if v is None else round(float(v), 4)) for k, v in degrees.items()}
