"""Which of the user's own faces may lend their pixels to a shot's face (exemplars).

The expression model pastes an exemplar's mouth and eyes into the photo (real teeth, a real
eyelid), so an exemplar must show what the target asks and nothing else. Three numbers are not
enough for that: MediaPipe still reads a smile under a hand held over the mouth, and it read
crying faces as broad smiles. So each candidate face also carries what it *shows*:

- ``mouth_visible``: the lips' redness over the skin's, as the LAB a* gap between the band between
  the outer and inner lip contours and patches of cheek and forehead. Lips are redder than the
  skin around them; a hand, a sleeve or hair over the mouth is not (measured on real frames:
  visible lips 2–16 a* units above the skin, the same face with a skin patch over the mouth
  −4 to +2).
- ``eyes_visible``: how dark the darkest tenth of the eye openings is against the skin (iris,
  pupil and lashes are dark; a hand over the eyes is not).
- ``hand``: how surely a hand is at the mouth or chin (``hands.hand_at_face``): fingers over part
  of the lips leave the rest as red as ever, and a smile lent there melted the fingertips into
  the new lips. ``hand_reach``: how high that hand reaches; fingers up to the eyes hide them
  too (an opened eye lent over fingers on a shut one laid its iris across a fingertip), though
  the eyes' darkness stays (the other eye's lashes, the uncovered half).
- ``distress``: ``extraction.distress_degree`` (lip corners pulled while the eyes are squeezed shut
  with no teeth showing, or pulled down): a crying or grimacing face is no exemplar for a smile.

Visibility is judged against the user's own faces (``Judge``), not an absolute bar: a webcam's
washed-out lips give a small gap on every frame of that stream, and what matters is a frame whose
gap falls far below the same person's usual one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from .analysis import Face, face_width, gaze
from .extraction import distress_degree
from .hands import hand_at_face

# MediaPipe face mesh contours.
OUTER_LIPS = [61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185]
INNER_LIPS = [78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311, 312, 13, 82, 81, 80, 191]
LEFT_EYE_RING = [33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246]
RIGHT_EYE_RING = [362, 382, 381, 380, 374, 373, 390, 249, 263, 466, 388, 387, 386, 385, 384, 398]
BROWS = [70, 63, 105, 66, 107, 55, 65, 52, 53, 46, 300, 293, 334, 296, 336, 285, 295, 282, 283, 276]
SKIN_POINTS = (50, 280, 151)  # left cheek, right cheek, forehead

# A face whose lip or eye contrast falls under this share of the user's usual one is occluded.
VISIBLE_SHARE = 0.4
# Below these absolute gaps a usual value means nothing can be told (a grey, blurry stream).
MIN_USUAL_LIPS = 1.5
MIN_USUAL_EYES = 8.0
# Distress above this makes a face no exemplar for a smile (and it reads as no smile at all).
DISTRESS_LIMIT = 0.35
# A hand at the mouth this sure (hands.hand_at_face) hides it: hands read 0.78–0.98, faces
# without one 0.00–0.01 (ten people, every 6th to 40th frame).
HAND_PRESENT = 0.5
# Such a hand whose highest point lies less than this many face widths below the lower eyelids
# covers the eyes too: fingers over an eye rose 0.04–0.19 above them, hands at the mouth or chin
# stayed 0.19–0.67 below (hands.py); the hand's landmarks may be a little off at its edge.
EYE_REACH = 0.1
# Lips rolled in at least this much explain a low lip gap: the mouth is in view, not covered.
ROLLED_LIPS = 0.5


@dataclass(frozen=True)
class Appearance:
    """What a face shows, beyond its degrees."""

    mouth_visible: float  # lip a* minus skin a* (LAB, 0–255 scale); NaN when unmeasurable
    eyes_visible: float  # skin L minus the eye openings' 10th-percentile L; NaN when unmeasurable
    distress: float  # 0–1, from the blendshapes
    skin_light: float = float("nan")  # median L* of cheeks and forehead (0–255): the light the face was in
    lips_rolled: float = 0.0  # 0–1, from the blendshapes: lips pressed and rolled in show little red
    # Where the eyes look, from the blendshapes (−1–1; NaN for faces stored before it was kept):
    # eyes lent by a face looking elsewhere change the gaze, which nobody asked for.
    gaze_x: float = float("nan")  # toward the image's right is positive
    gaze_y: float = float("nan")  # up is positive
    # How surely a hand is at the mouth or chin (hands.hand_at_face, 0–1): fingers over part of
    # the lips leave the lips' median redness as it was.
    hand: float = 0.0
    # How far that hand's highest point lies above the lower eyelids (hands.hand_at_face, face
    # widths; NaN for faces stored before it was kept).
    hand_reach: float = float("nan")

    def as_array(self) -> np.ndarray:
        return np.array(
            [
                self.mouth_visible,
                self.eyes_visible,
                self.distress,
                self.skin_light,
                self.lips_rolled,
                self.gaze_x,
                self.gaze_y,
                self.hand,
                self.hand_reach,
            ],
            np.float32,
        )

    @classmethod
    def from_array(cls, values) -> Appearance:
        return cls(*(float(v) for v in values))


def _polygon(points: np.ndarray, indices, shape) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [points[indices].round().astype(np.int32)], 1)
    return mask.astype(bool)


def appearance(rgb: np.ndarray, face: Face) -> Appearance:
    """Measure a face's visibility cues on its own frame; only the face's box is converted."""
    height, width = rgb.shape[:2]
    pts = face.landmarks[:, :2] * np.array([width, height], np.float32)
    x0, y0 = np.floor(pts.min(0)).astype(int).clip(0)
    x1, y1 = (np.ceil(pts.max(0)).astype(int) + 1).clip(max=(width, height))
    rolled = (face.blendshapes.get("mouthRollLower", 0.0) + face.blendshapes.get("mouthRollUpper", 0.0)) / 2
    gx, gy = gaze(face.blendshapes)
    reading = hand_at_face(rgb, face)
    hand, reach = reading.presence, reading.reach
    if x1 - x0 < 8 or y1 - y0 < 8:
        return Appearance(
            float("nan"),
            float("nan"),
            distress_degree(face.blendshapes),
            lips_rolled=rolled,
            gaze_x=gx,
            gaze_y=gy,
            hand=hand,
            hand_reach=reach,
        )
    crop = rgb[y0:y1, x0:x1].astype(np.float32) / 255.0
    lab = cv2.cvtColor(crop, cv2.COLOR_RGB2LAB)
    local = pts - np.array([x0, y0], np.float32)
    shape = crop.shape[:2]
    lips = _polygon(local, OUTER_LIPS, shape) & ~_polygon(local, INNER_LIPS, shape)
    eyes = _polygon(local, LEFT_EYE_RING, shape) | _polygon(local, RIGHT_EYE_RING, shape)
    skin = np.zeros(shape, bool)
    r = max(2, int(face_width(face, pts) * 0.06))
    for i in SKIN_POINTS:
        cx, cy = local[i].round().astype(int)
        skin[max(0, cy - r) : cy + r, max(0, cx - r) : cx + r] = True
    skin &= ~lips & ~eyes
    if lips.sum() < 6 or skin.sum() < 6:
        mouth = float("nan")
    else:
        # Float LAB: a* in [-127, 127]; scaled to the 8-bit units the thresholds were measured in.
        mouth = float(np.median(lab[..., 1][lips]) - np.median(lab[..., 1][skin])) * (255 / 254)
    lum = lab[..., 0] * 2.55
    light = float(np.median(lum[skin])) if skin.sum() >= 6 else float("nan")
    if eyes.sum() < 6 or skin.sum() < 6:
        eye = float("nan")
    else:
        eye = light - float(np.percentile(lum[eyes], 10))
    return Appearance(mouth, eye, distress_degree(face.blendshapes), light, rolled, gx, gy, hand, reach)


@dataclass(frozen=True)
class Judge:
    """The user's usual visibility, from their own faces: the yardstick for 'occluded'."""

    usual_mouth: float
    usual_eyes: float

    @classmethod
    def from_faces(cls, looks: Sequence[Appearance]) -> Judge:
        mouth = [a.mouth_visible for a in looks if np.isfinite(a.mouth_visible)]
        eyes = [a.eyes_visible for a in looks if np.isfinite(a.eyes_visible)]
        return cls(float(np.median(mouth)) if mouth else float("nan"), float(np.median(eyes)) if eyes else float("nan"))

    def hidden(self, look: Appearance) -> dict[str, str]:
        """The parts of the face ("mouth", "eyes") out of view, each with why."""
        out = {}
        if not np.isfinite(look.mouth_visible):
            out["mouth"] = "the mouth is out of view"
        elif (
            np.isfinite(self.usual_mouth)
            and self.usual_mouth >= MIN_USUAL_LIPS
            and look.mouth_visible < VISIBLE_SHARE * self.usual_mouth
            and look.lips_rolled < ROLLED_LIPS
        ):
            out["mouth"] = "something covers the mouth"
        elif look.hand > HAND_PRESENT:
            # Fingers over part of the lips leave the rest of them as red as ever.
            out["mouth"] = "a hand is at the mouth"
        if (
            np.isfinite(self.usual_eyes)
            and self.usual_eyes >= MIN_USUAL_EYES
            and np.isfinite(look.eyes_visible)
            and look.eyes_visible < VISIBLE_SHARE * self.usual_eyes
        ):
            out["eyes"] = "something covers the eyes"
        elif look.hand > HAND_PRESENT and look.hand_reach > -EYE_REACH:
            # Fingers over one eye leave the other's lashes as dark as ever.
            out["eyes"] = "a hand is over the eyes"
        return out

    def occluded(self, look: Appearance) -> str | None:
        """Why the face is occluded, or None when its mouth and eyes are in view."""
        hidden = self.hidden(look)
        return hidden.get("mouth") or hidden.get("eyes")

    def refusal(self, look: Appearance, src: np.ndarray, dst: np.ndarray) -> str | None:
        """Why this face may not lend its pixels for a change from ``src`` to ``dst`` degrees
        (smile, eye openness, mouth openness), or None when it may."""
        occluded = self.occluded(look)
        if occluded:
            return occluded
        if look.distress > DISTRESS_LIMIT and dst[0] >= src[0] - 0.05:
            return "the face shows distress, not a smile"
        return None

    def to_array(self) -> np.ndarray:
        return np.array([self.usual_mouth, self.usual_eyes], np.float32)

    @classmethod
    def from_array(cls, values) -> Judge:
        return cls(float(values[0]), float(values[1]))
