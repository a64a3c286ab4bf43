"""Where things are in a frame: the face's outline, the torso under it, the sky, the rest of the
frame, and soft masks over them. The extractor, the models, the staged preview's region-by-region
sequence and the quality figures all take their regions from here."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .analysis import Analysis, Face


def face_hull_mask(face: Face, x0: int, y0: int, w: int, h: int, width: int, height: int) -> np.ndarray:
    pts = face.landmarks[:, :2] * np.array([width, height], dtype=np.float32) - np.array([x0, y0], dtype=np.float32)
    hull = cv2.convexHull(pts.astype(np.int32))
    mask = np.zeros((h, w), np.uint8)
    cv2.fillConvexPoly(mask, hull, 1)
    return mask.astype(bool)


def torso_box(face_box: tuple[float, float, float, float], width: int, height: int) -> tuple[int, int, int, int]:
    """Where the torso is expected: from a fifth of a face height under the chin down to 1.6
    face heights under it, one face width either side of the face centre."""
    x, y, w, h = face_box
    cx = x + w / 2
    top = y + h * 1.2
    x0, x1 = int(max(0, cx - w)), int(min(width, cx + w))
    y0, y1 = int(min(height, top)), int(min(height, top + 1.4 * h))
    return x0, y0, x1, y1


@dataclass
class Torso:
    x0: int
    y0: int
    x1: int
    y1: int
    mask: np.ndarray  # bool, crop-sized


def torso_region(rgb: np.ndarray, analysis: Analysis) -> Torso | None:
    face = analysis.main_face
    if face is None or analysis.person_mask is None:
        return None
    height, width = rgb.shape[:2]
    x0, y0, x1, y1 = torso_box(face.box, width, height)
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    mask = analysis.person_mask[y0:y1, x0:x1] > 0.5
    if mask.sum() < 50:
        return None
    return Torso(x0, y0, x1, y1, mask)


def sky_at(mask_small: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    return cv2.resize(mask_small.astype(np.uint8), (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST).astype(bool)


def feather(mask: np.ndarray, radius: float) -> np.ndarray:
    """A soft float mask in [0, 1] from a boolean one, fading over about ``radius`` pixels inside
    the mask's edge so that nothing outside it changes."""
    m = mask.astype(np.uint8)
    if radius >= 1:
        k = int(radius) | 1
        m = cv2.erode(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
        soft = cv2.GaussianBlur(m.astype(np.float32), (0, 0), radius / 2)
        return np.clip(soft, 0.0, 1.0) * mask
    return mask.astype(np.float32)


def region_mask(analysis: Analysis, region: str, shape: tuple[int, int]) -> np.ndarray | None:
    """Where an element lives in a frame of ``shape`` (True inside), with a small margin, or None
    for whole-frame elements: what the quality figures measure an edit's spill outside of."""
    height, width = shape
    mask = np.zeros((height, width), bool)
    if region == "face" and analysis.main_face is not None:
        x, y, w, h = (int(v) for v in analysis.main_face.box)
        mask[max(0, y - 2) : y + h + 2, max(0, x - 2) : x + w + 2] = True
        return mask
    if region == "torso" and analysis.main_face is not None:
        x0, y0, x1, y1 = torso_box(analysis.main_face.box, width, height)
        mask[y0:y1, x0:x1] = True
        return mask
    if region == "sky" and analysis.sky_mask is not None:
        sky = sky_at(analysis.sky_mask, (height, width)).astype(np.uint8)
        return cv2.dilate(sky, np.ones((5, 5), np.uint8)).astype(bool)
    return None


def region_masks(rgb: np.ndarray, analysis: Analysis) -> dict[str, np.ndarray]:
    """Float masks of the face, torso, sky and the rest of the frame, feathered at their edges."""
    height, width = rgb.shape[:2]
    masks: dict[str, np.ndarray] = {}
    taken = np.zeros((height, width), bool)
    face = analysis.main_face
    if face is not None:
        hull = face_hull_mask(face, 0, 0, width, height, width, height)
        hull = cv2.dilate(hull.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (15, 15))) > 0
        masks["face"], taken = hull, taken | hull
    torso = torso_region(rgb, analysis) if face is not None else None
    if torso is not None:
        m = np.zeros((height, width), bool)
        m[torso.y0 : torso.y1, torso.x0 : torso.x1] = torso.mask
        m &= ~taken
        if m.any():
            masks["torso"], taken = m, taken | m
    if analysis.sky_mask is not None:
        sky = sky_at(analysis.sky_mask, (height, width)) & ~taken
        if sky.any():
            masks["sky"], taken = sky, taken | sky
    masks["background"] = ~taken
    return {k: feather(v, 4.0) for k, v in masks.items()}
