"""The artifact check: would a person see that the photo was edited?

It looks at the pixels of the shot and of its reconstruction, never at Flux's degrees: the
extractor and the judges it was tuned with called every face below fine (the same person, happier)
while a person saw at a glance

- **a grey or coloured patch**: skin whose colour moved away from the rest of the face's (a
  light edit that darkened half a face inside a circle turned it grey; a lent forehead brought a
  blotch of hair colour);
- **ghosts and seams**: contours in the photo that the shot does not have, outside the features
  an expression edit may redraw (a second jaw line, another frame's hair or highlight showing
  through the cheek, the edge of a pasted patch);
- **soft ghosts at the outline**: where a face from another frame was blended in, its jaw line,
  earrings or the shirt below its chin show through at the outline, fainter than the shot's own
  contours. There the photo's detail is compared with the shot's after the shot was allowed to
  move (dense optical flow: an expression edit that drops the jaw moves the jaw line, which is no
  ghost); detail no movement of the shot explains is what the shot never had.

Everything is measured on the face brought to a fixed size (``FACE_WIDTH`` pixels wide), so the
thresholds mean the same on a webcam's 1280×720 frame and a phone's 512×512 crop. The features an
edit may legitimately redraw (lips and teeth, eyelids) are read from the landmarks of both
images and left out of the ghost search; their own soundness is what the expression classifier
and the identity descriptor judge.

Thresholds were set on reconstructions labelled by looking at them (``bench/artifact_labels.json``,
``bench/artifact_bench.py`` prints precision and recall on the labels not used to set them).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import cv2
import numpy as np

from .borders import estimate_map

FACE_WIDTH = 160  # the face's width after scaling, pixels
MARGIN = 0.6  # face widths of context kept around the face's box
# A contour is new where the photo's gradient exceeds the shot's (anywhere within a pixel) by this
# much, in L* units per pixel at FACE_WIDTH, after a light blur.
NEW_EDGE = 5.0
# ... and at least this many times the shot's own there (a tone curve steepens every contour a little).
NEW_CONTRAST = 1.6
# ... and a ghost or seam is a run of new contour at least this long, as a share of the face's width.
GHOST_LENGTH = 0.1
# A patch is skin whose colour moved, relative to the face's median move, by this many a*b* units ...
PATCH_CHROMA = 8.0
# ... or that lost this share of its chroma (turned grey) while darkening ...
GREY_LOSS = 0.25
# ... or that darkened by this many L* units more than the face's median ...
DARKENED = 8.0
# ... over at least this share of the face's area: a face from another frame blended in whole
# brings its own shading, 2–4.5 % of the face darker that nobody saw as a defect; the grey discs
# people saw covered 6.6–11 %, and the smaller blotches they saw have an outline the outline
# search finds.
PATCH_AREA = 0.05

# The outline search covers the face's rim, up to this share of the face's width inside its outline
# (and the tenth beyond it the ghost search reaches); further in, brows, glasses' rims and
# reflections move with an expression in ways a flow does not follow.
OUTLINE_RIM = 0.12
# Detail is what a Gaussian of this sigma (pixels at FACE_WIDTH) does not keep: contours, not light.
DETAIL_SIGMA = 6.0
# Detail the moved shot does not explain, in L*a*b* units (after a blur of 1.5 pixels) ...
UNEXPLAINED = 4.0
# ... and at least this share of the shot's own detail there: a softer or resampled photo (a
# reframing's zoom, a low-resolution video) leaves a fraction of every strong contour unexplained,
# and a face from another frame blended in whole brings its own hair strands at the outline,
# which nobody saw as defects; a ghost or strip lies where the shot had little.
OUTLINE_RELATIVE = 0.8
# ... in a run at least this long, as a share of the face's width.
OUTLINE_RUN = 0.12

# MediaPipe face mesh contours (the same indices as ``exemplars``; repeated here so the yardstick
# reads no part of the pipeline it judges).
OUTER_LIPS = [61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185]
LEFT_EYE_RING = [33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246]
RIGHT_EYE_RING = [362, 382, 381, 380, 374, 373, 390, 249, 263, 466, 388, 387, 386, 385, 384, 398]


@dataclass
class ArtifactVerdict:
    visible: bool  # a person would see an artifact
    reasons: list[str] = field(default_factory=list)  # what, for the page and the bench
    figures: dict[str, float] = field(default_factory=dict)  # the measured values behind it

    def to_json(self) -> dict:
        return {"visible": self.visible, "reasons": self.reasons, "figures": self.figures}


@dataclass
class _View:
    """The face and its surroundings, scaled so the face is FACE_WIDTH wide."""

    scale: float
    x0: int
    y0: int
    x1: int
    y1: int

    def crop(self, rgb: np.ndarray) -> np.ndarray:
        crop = rgb[self.y0 : self.y1, self.x0 : self.x1]
        size = (max(1, round(crop.shape[1] * self.scale)), max(1, round(crop.shape[0] * self.scale)))
        return cv2.resize(crop, size, interpolation=cv2.INTER_AREA if self.scale < 1 else cv2.INTER_LINEAR)

    def points(self, landmarks: np.ndarray, width: int, height: int) -> np.ndarray:
        pts = landmarks[:, :2] * np.array([width, height], np.float32)
        return (pts - np.array([self.x0, self.y0], np.float32)) * self.scale


def _view(box, width: int, height: int) -> _View:
    x, y, w, h = box
    side = max(w, h)
    x0, y0 = int(max(0, x - MARGIN * side)), int(max(0, y - MARGIN * side))
    x1, y1 = int(min(width, x + w + MARGIN * side)), int(min(height, y + h + MARGIN * side))
    return _View(FACE_WIDTH / max(1.0, w), x0, y0, x1, y1)


def _lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)


def _gradient(lum: np.ndarray) -> np.ndarray:
    blurred = cv2.GaussianBlur(lum, (0, 0), 1.0)
    gx = cv2.Sobel(blurred, cv2.CV_32F, 1, 0, ksize=3) / 8
    gy = cv2.Sobel(blurred, cv2.CV_32F, 0, 1, ksize=3) / 8
    return np.hypot(gx, gy)


def _hull(points: np.ndarray, shape, grow: float = 1.0) -> np.ndarray:
    centre = points.mean(0)
    grown = (points - centre) * grow + centre
    mask = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(grown.round().astype(np.int32)), 1)
    return mask > 0


def _disc(r: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def _features(points: np.ndarray, shape) -> np.ndarray:
    """Where an expression edit may redraw contours: the lips and the eyes with their lids."""
    mask = _hull(points[OUTER_LIPS], shape, 1.25)
    for ring in (LEFT_EYE_RING, RIGHT_EYE_RING):
        mask |= _hull(points[ring], shape, 1.6)
    return mask


def _within(mask: np.ndarray, radius: float) -> np.ndarray:
    """The mask grown by ``radius`` pixels (a distance transform: a large dilation costs 10 ms)."""
    return cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 3) <= radius


def _smooth(image: np.ndarray, sigma: float) -> np.ndarray:
    """A wide Gaussian blur, computed at a quarter of the size (the same, four times cheaper)."""
    h, w = image.shape[:2]
    small = cv2.resize(image, (max(1, w // 4), max(1, h // 4)), interpolation=cv2.INTER_AREA)
    return cv2.resize(cv2.GaussianBlur(small, (0, 0), sigma / 4), (w, h), interpolation=cv2.INTER_LINEAR)


def _components(mask: np.ndarray) -> np.ndarray:
    """The statistics (cv2.CC_STAT_*) of each connected component of ``mask``, background left out."""
    return cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)[2][1:]


def _longest_run(mask: np.ndarray) -> float:
    """The largest extent (bounding-box diagonal) of a connected component of ``mask``, pixels."""
    stats = _components(mask)
    if not len(stats):
        return 0.0
    return float(np.hypot(stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]).max())


def _largest_area(mask: np.ndarray) -> int:
    stats = _components(mask)
    return int(stats[:, cv2.CC_STAT_AREA].max()) if len(stats) else 0


def _detail(lab: np.ndarray) -> np.ndarray:
    return lab - cv2.GaussianBlur(lab, (0, 0), DETAIL_SIGMA)


_FLOW = threading.local()


def _flow():
    """A DIS optical flow (OpenCV's; about as costly as the rest of the check together), one per
    thread: it keeps state between calls, and faces are checked on several threads at once."""
    flow = getattr(_FLOW, "flow", None)
    if flow is None:
        flow = _FLOW.flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return flow


def _shot_moved(o: np.ndarray, r: np.ndarray):
    """The shot's detail (L*a*b*) and a function moving any map of the shot the way its contours
    moved to fit the photo best (an edit that drops the jaw or lowers the brows moves contours; a
    ghost adds them)."""
    d_o, d_r = _detail(o), _detail(r)

    def grey(detail):  # the flow runs on 8 bits: ±42 L* of detail is plenty
        return np.clip(detail[..., 0] * 3 + 128, 0, 255).astype(np.uint8)

    h, w = o.shape[:2]
    flow = _flow().calc(grey(d_r), grey(d_o), None)
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    mx, my = gx + flow[..., 0], gy + flow[..., 1]

    def move(image: np.ndarray) -> np.ndarray:
        return cv2.remap(image, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    return d_o, d_r, move


def _tone_matched(o: np.ndarray, r: np.ndarray) -> np.ndarray:
    """The shot with the photo's tones: each L*a*b* channel mapped through the monotone curve that
    gives it the photo's distribution (a tone curve or exposure change is undone exactly; what
    it cannot undo are changes in one place and not another)."""
    q = np.linspace(0, 100, 101)
    out = np.empty_like(o)
    # Every other pixel each way gives the same curve at a quarter of the cost (it was 9 of 40 ms).
    so, sr = o[::2, ::2], r[::2, ::2]
    for c in range(3):
        out[..., c] = np.interp(o[..., c], np.percentile(so[..., c], q), np.percentile(sr[..., c], q))
    return out


def _unexplained(d_r: np.ndarray, moved: np.ndarray) -> np.ndarray:
    """How far the photo's detail is from the moved shot's, per pixel (L*a*b* units)."""
    return np.sqrt((cv2.GaussianBlur(d_r - moved, (0, 0), 1.5) ** 2).sum(axis=2))


def check_artifacts(
    original: np.ndarray,
    reconstruction: np.ndarray,
    landmarks: np.ndarray,
    box: tuple[float, float, float, float],
    after_landmarks: np.ndarray | None = None,
    thorough: bool = True,
) -> ArtifactVerdict:
    """Whether the reconstruction of the face at ``box`` (its 478 normalised ``landmarks`` in the
    original; ``after_landmarks`` in the reconstruction when a face was found there) shows an
    artifact a person would see. Both images are RGB uint8 of the same size, in the same framing
    (a reframed photo is compared after mapping the shot onto it; see ``selfcheck``).
    ``thorough=False`` leaves out the flow and the outline search (half the cost), for a preview
    that must be on screen fast: a moved contour may then read as a ghost, and a soft ghost at the
    outline goes unseen; the recorded photo is always checked thoroughly."""
    if original.shape != reconstruction.shape:
        raise ValueError(f"original {original.shape} and reconstruction {reconstruction.shape} differ in size")
    height, width = original.shape[:2]
    view = _view(box, width, height)
    o, r = _lab(view.crop(original)), _lab(view.crop(reconstruction))
    shape = o.shape[:2]
    before = view.points(landmarks, width, height)
    face = _hull(before, shape)
    features = _features(before, shape)
    if after_landmarks is not None:
        after = view.points(after_landmarks, width, height)
        face |= _hull(after, shape)
        features |= _features(after, shape)
    face_area = max(1, int(face.sum()))
    # Ghosts may sit just outside the outline (a second jaw line), so the search reaches a tenth
    # of a face beyond it.
    near = _within(face, 0.1 * FACE_WIDTH)
    # Nothing is searched further out: the rest of the view need not be compared (the flow's cost
    # grows with the area).
    ys, xs = np.nonzero(near)
    keep = (slice(max(0, ys.min() - 12), ys.max() + 13), slice(max(0, xs.min() - 12), xs.max() + 13))
    o, r, face, features, near = o[keep], r[keep], face[keep], features[keep], near[keep]
    figures: dict[str, float] = {}
    reasons: list[str] = []

    # Ghosts and seams: contours the shot does not have, outside the features.
    g_o, g_r = _gradient(o[..., 0]), _gradient(r[..., 0])
    if thorough:
        d_o, d_r, move = _shot_moved(_tone_matched(o, r), r)
        # A contour the shot has, in place or moved, is no ghost (a lowered brow where it now lies).
        g_o = np.maximum(g_o, move(g_o))
    # Relative too: a tone curve steepens every contour the shot has.
    shot_edges = cv2.dilate(g_o, _disc(1))
    new = ((g_r - shot_edges) > NEW_EDGE) & (g_r > NEW_CONTRAST * shot_edges)
    # Outside the features an edit may redraw, with a margin: both contour searches leave them out.
    searched = near & ~(cv2.dilate(features.astype(np.uint8), _disc(3)) > 0)
    new &= searched
    run = _longest_run(new) / FACE_WIDTH
    figures["ghost_length"] = round(run, 3)
    if run >= GHOST_LENGTH:
        reasons.append(f"a contour the shot does not have ({run:.2f} of the face's width long)")

    if thorough:
        # Soft ghosts at the outline: detail no movement of the shot explains, along the face's rim.
        rim = searched & ~(cv2.distanceTransform(face.astype(np.uint8), cv2.DIST_L2, 3) > OUTLINE_RIM * FACE_WIDTH)
        moved_detail = move(d_o)
        unexplained = _unexplained(d_r, moved_detail)
        own = cv2.GaussianBlur(np.sqrt((moved_detail**2).sum(axis=2)), (0, 0), 1.5)
        hot = (unexplained > UNEXPLAINED) & (unexplained > OUTLINE_RELATIVE * own)
        strip = _longest_run(hot & rim) / FACE_WIDTH
        figures["outline_run"] = round(strip, 3)
        if strip >= OUTLINE_RUN:
            reasons.append(f"a strip or second contour at the face's outline ({strip:.2f} of the face's width long)")

    # Patches: skin whose colour moved apart from the rest of the face.
    # The face inside its outline: beyond it lie hair and background, whose colours a tone curve
    # moves otherwise than skin's (a saturated blue backdrop read as a recoloured patch).
    skin = face & ~(cv2.dilate(features.astype(np.uint8), _disc(2)) > 0)
    if skin.sum() >= 50:
        ab_o = cv2.GaussianBlur(o[..., 1:], (0, 0), 2.0)
        d_ab = cv2.GaussianBlur(r[..., 1:], (0, 0), 2.0) - ab_o
        c_o = np.hypot(ab_o[..., 0], ab_o[..., 1])
        c_r = np.hypot(*(ab_o + d_ab).transpose(2, 0, 1))
        d_l = cv2.GaussianBlur(r[..., 0] - o[..., 0], (0, 0), 2.0)
        # Another colour, not the same colour lighter or darker: what is left of the move once each
        # pixel's chroma is scaled as the face around it was (a tone curve scales every colour
        # alike, a fill light one side's more than the other's, smoothly; a blotch of hair, a strip
        # of shirt or a greyed patch stands out from its surroundings).
        ratio = c_r / np.maximum(c_o, 1.0)
        weight = _smooth(skin.astype(np.float32), FACE_WIDTH / 5)
        scale = _smooth(np.where(skin, ratio, 0).astype(np.float32), FACE_WIDTH / 5) / np.maximum(weight, 1e-3)
        residual = (ab_o + d_ab) - scale[..., None] * ab_o
        residual -= np.median(residual[skin], axis=0)
        hue_move = np.hypot(residual[..., 0], residual[..., 1])
        moved = (hue_move > PATCH_CHROMA) & skin
        # Lighter or darker than the face's own move.
        relative = d_l - np.median(d_l[skin])
        # Greyer than the rest of the face became, and darker: the grey disc.
        grey = (ratio < (1 - GREY_LOSS) * np.median(ratio[skin])) & (relative < -5.0) & skin
        # Part of the face darkened against the rest: light does not fall that way from a
        # change of light a person asks for (a fill light brightens), and the patch's outline shows.
        # (Darker than the shot too: a fill light brightening one side leaves the other side
        # darker than the face's median move, but no darker than it was.)
        dark = (relative < -DARKENED) & (d_l < -DARKENED) & skin
        areas = {"greyed": _largest_area(grey), "darkened": _largest_area(dark), "changed colour": _largest_area(moved)}
        what = max(areas, key=areas.get)
        patch = areas[what] / face_area
        figures["patch_area"] = round(patch, 3)
        figures["grey_area"] = round(areas["greyed"] / face_area, 3)
        figures["dark_area"] = round(areas["darkened"] / face_area, 3)
        if patch >= PATCH_AREA:
            reasons.append(f"a patch of skin {what} ({patch:.0%} of the face)")

    return ArtifactVerdict(bool(reasons), reasons, figures)


MAP_WIDTH = 360  # the reframing is found on frames this wide (at 640 px it cost the shutter ~80 ms)


def _frame_map(original: np.ndarray, reconstruction: np.ndarray) -> np.ndarray | None:
    """The border check's map from photo to shot pixels, found on smaller frames: a similarity's
    rotation and scale are the same at any size, its shift scales with it."""
    width = original.shape[1]
    if width <= MAP_WIDTH:
        return estimate_map(original, reconstruction)[0]
    s = MAP_WIDTH / width
    size = (MAP_WIDTH, max(1, round(original.shape[0] * s)))
    m, _ = estimate_map(
        cv2.resize(original, size, interpolation=cv2.INTER_AREA),
        cv2.resize(reconstruction, size, interpolation=cv2.INTER_AREA),
    )
    if m is None:
        return None
    m = m.copy()
    m[:, 2] /= s
    return m


def check_face_artifacts(
    original: np.ndarray,
    reconstruction: np.ndarray,
    landmarks: np.ndarray,
    box: tuple[float, float, float, float],
    after_landmarks: np.ndarray | None = None,
    reframed: bool = False,
    thorough: bool = True,
) -> ArtifactVerdict:
    """``check_artifacts``, for a photo that may have been reframed: the shot is first mapped
    onto the photo's framing (the border check's feature map), and its landmarks and box with it.
    A reframed photo whose map cannot be found cannot be compared: it is reported as not checked
    (no artifact, ``figures['unmapped']``)."""
    if not reframed:
        return check_artifacts(original, reconstruction, landmarks, box, after_landmarks, thorough)
    m = _frame_map(original, reconstruction)
    if m is None:
        return ArtifactVerdict(False, [], {"unmapped": 1.0})
    if abs(np.hypot(m[0, 0], m[1, 0]) - 1) < 0.005 and np.abs(m[:, 2]).max() < 0.01 * max(original.shape[:2]):
        # Not reframed after all.
        return check_artifacts(original, reconstruction, landmarks, box, after_landmarks, thorough)
    height, width = reconstruction.shape[:2]
    warped = cv2.warpAffine(
        original, m, (width, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE
    )
    # m sends photo pixels to shot pixels; its inverse carries the shot's landmarks over.
    inverse = cv2.invertAffineTransform(m)
    oh, ow = original.shape[:2]
    pts = landmarks[:, :2] * np.array([ow, oh], np.float64)
    moved = pts @ inverse[:, :2].T + inverse[:, 2]
    carried = landmarks.copy()
    carried[:, 0], carried[:, 1] = moved[:, 0] / width, moved[:, 1] / height
    scale = float(np.hypot(inverse[0, 0], inverse[1, 0]))
    x, y, w, h = box
    corner = np.array([x, y]) @ inverse[:, :2].T + inverse[:, 2]
    return check_artifacts(warped, reconstruction, carried, (*corner, w * scale, h * scale), after_landmarks, thorough)
