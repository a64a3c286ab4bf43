"""Borders: whether a reframed photo's borders hold the frame's real detail, or copies made up
to fill them (mirror images, smears).

A second opinion for the bench, sharing nothing with the composition model: it is given only the
original and the reconstruction and knows nothing of how the one was made from the other.

1. Geometry. ORB features of both images are matched (Lowe's ratio test) and a similarity map
   from reconstruction to original (rotation, uniform scale, shift; never a reflection) is fitted
   with RANSAC (``cv2.estimateAffinePartial2D``). A mirrored or smeared fill has no features that
   match, so it cannot pull the fit. ``invented_fraction`` is the share of output pixels that the
   map sends outside the original frame by more than ``TOLERANCE_PX``: content the frame never
   held.
2. Content, per border strip (``STRIP`` of the side, oriented so the strip is on the left):
   - mirrored: the strip's horizontal gradient is the negated reflection of the gradient beyond
     some axis (what ``BORDER_REFLECT``/``_101`` produce: a mirror flips the sign of d/dx, whereas
     real content continues, so neighbouring columns correlate with the same sign), by
     ``MIRROR_SCORE`` and by ``MIRROR_MARGIN`` more than the original shows at that place;
   - smeared: its detail (variance of the Laplacian) is below ``SMEAR_RATIO`` of the original's
     at the mapped place, resampled by the same map (so a zoom's softening is no smear), or of the
     reconstruction's interior where the strip maps outside the frame;
   - otherwise "real" when it maps inside the frame and agrees with the original there, "altered"
     when it maps inside but other edits changed it (a tone change is no invention), "outside"
     when it holds content from beyond the frame.
3. Without enough matches for a map, each strip is compared directly with the same strip of the
   original (the mirror and smear tests only), and the reason says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

STRIP = 0.06  # border strip width, as a share of the side it runs across
TOLERANCE_PX = 2.0  # resampling reaches half a pixel past the outermost pixel centres; fits err a bit more
INVENTED_SHARE = 0.005  # more of the output than this outside the frame is invented content
MIN_INLIERS = 12  # fewer RANSAC inliers than this and the map is not trusted
MIRROR_SCORE = 0.6  # gradient correlation with a reflection that reads as a mirror image (real borders reach ~0.4)
MIRROR_MARGIN = 0.25  # ... and by how much it must exceed the original's own at that place
SMEAR_RATIO = 0.2  # detail below this share of the reference's is a smear
DETAIL_FLOOR = 4.0  # a reference flatter than this (Laplacian variance) cannot reveal a smear
SMEAR_AGREE = 0.5  # a mapped strip correlating this well with the original there is not a smear
AGREE = 0.8  # intensity correlation with the original at the mapped place that counts as the same content

SIDES = ("left", "right", "top", "bottom")


@dataclass
class BorderVerdict:
    invented: bool  # the reconstruction shows content the original frame does not hold
    invented_fraction: float  # share of output pixels mapped outside the frame; nan without a map
    strips: dict[str, str]  # side -> "real", "altered", "outside", "mirrored" or "smeared"
    reason: str
    scores: dict[str, dict[str, float]] = field(default_factory=dict)  # side -> the figures behind its label


def estimate_map(original: np.ndarray, reconstruction: np.ndarray) -> tuple[np.ndarray | None, int]:
    """The 2×3 similarity sending reconstruction pixels to original pixels, and its inlier
    count; (None, count) when too few features agree."""
    orb = cv2.ORB_create(nfeatures=4000, fastThreshold=10)
    kr, dr = orb.detectAndCompute(_gray_u8(reconstruction), None)
    ko, do = orb.detectAndCompute(_gray_u8(original), None)
    if dr is None or do is None or len(kr) < MIN_INLIERS or len(ko) < MIN_INLIERS:
        return None, 0
    pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(dr, do, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < 0.8 * p[1].distance]
    if len(good) < MIN_INLIERS:
        return None, len(good)
    src = np.float32([kr[m.queryIdx].pt for m in good])
    dst = np.float32([ko[m.trainIdx].pt for m in good])
    m, inliers = cv2.estimateAffinePartial2D(
        src, dst, method=cv2.RANSAC, ransacReprojThreshold=2.0, maxIters=5000, confidence=0.999, refineIters=30
    )
    count = int(inliers.sum()) if inliers is not None else 0
    if m is None or count < MIN_INLIERS:
        return None, count
    scale = math.hypot(m[0, 0], m[1, 0])
    if not 0.2 < scale < 5.0:
        return None, count
    return m.astype(np.float64), count


def check_borders(original: np.ndarray, reconstruction: np.ndarray, max_width: int | None = 360) -> BorderVerdict:
    """Whether the reconstruction's borders hold the original's real content (RGB uint8 arrays
    of the same size). Both are first brought down to ``max_width`` pixels wide (None: as they
    are): the shutter's self-check runs this, and at 640×480 the feature matching alone cost
    about 300 ms; mirrored and smeared strips are as plain at half the size."""
    if original.shape != reconstruction.shape:
        raise ValueError(f"original {original.shape} and reconstruction {reconstruction.shape} differ in size")
    if max_width is not None and original.shape[1] > max_width:
        size = (max_width, max(1, round(original.shape[0] * max_width / original.shape[1])))
        original = cv2.resize(original, size, interpolation=cv2.INTER_AREA)
        reconstruction = cv2.resize(reconstruction, size, interpolation=cv2.INTER_AREA)
    height, width = reconstruction.shape[:2]
    rec, orig = _gray(reconstruction), _gray(original)
    m, inliers = estimate_map(original, reconstruction)
    if m is None:
        return _without_map(orig, rec, inliers)

    u, v = np.meshgrid(np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64))
    mx = m[0, 0] * u + m[0, 1] * v + m[0, 2]
    my = m[1, 0] * u + m[1, 1] * v + m[1, 2]
    inside = (
        (mx >= -TOLERANCE_PX)
        & (mx <= width - 1 + TOLERANCE_PX)
        & (my >= -TOLERANCE_PX)
        & (my <= height - 1 + TOLERANCE_PX)
    )
    fraction = float(1.0 - inside.mean())
    # The original seen through the map, so that both sides of every comparison are resampled
    # alike; ``valid`` keeps only pixels whose bilinear footprint lies inside the frame.
    warped = cv2.warpAffine(
        orig,
        m,
        (width, height),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    valid = (mx >= 0) & (mx <= width - 1) & (my >= 0) & (my <= height - 1)

    rec_lap, warped_lap = _laplacian(rec), _laplacian(warped)
    interior = _detail(rec_lap[height // 5 : height - height // 5, width // 5 : width - width // 5])
    strips, scores = {}, {}
    for side in SIDES:
        r, w_, ok, ins = (_as_left(a, side) for a in (rec, warped, valid, inside))
        rl, wl = _as_left(rec_lap, side), _as_left(warped_lap, side)
        k = _strip_width(r.shape[1])
        share_inside = float(ins[:, :k].mean())
        mapped = float(ok[:, :k].mean()) >= 0.9
        mirror = _mirror_score(r, k)
        if mapped:
            keep = ok[:, :k]
            ref_mirror = _mirror_score(w_, k)
            ref_detail = _detail(wl[:, :k][_shrink(ok)[:, :k]]) if _shrink(ok)[:, :k].any() else 0.0
            agree = _ncc(r[:, :k][keep], w_[:, :k][keep])
        else:
            ref_mirror = _mirror_score(_as_left(orig, side), k)
            ref_detail, agree = interior, float("nan")
        detail = _detail(rl[:, 1:k])
        scores[side] = {
            "inside": round(share_inside, 3),
            "mirror": round(mirror, 3),
            "mirror_ref": round(ref_mirror, 3),
            "detail": round(detail, 2),
            "detail_ref": round(ref_detail, 2),
            "agree": round(agree, 3),
        }
        if share_inside >= 0.98 and agree >= AGREE:
            # The strip is the original's own content at the mapped place (a strong edge in
            # the reference made real crops read as smeared; measured: correlation 0.999, detail
            # 0.12 of the reference's).
            strips[side] = "real"
        elif mirror >= MIRROR_SCORE and mirror - ref_mirror >= MIRROR_MARGIN:
            strips[side] = "mirrored"
        elif ref_detail >= DETAIL_FLOOR and detail < SMEAR_RATIO * ref_detail and not (mapped and agree >= SMEAR_AGREE):
            # A flat wall correlates weakly with itself through JPEG noise, so a smear must also
            # differ clearly from what the original holds there.
            strips[side] = "smeared"
        elif share_inside >= 0.98:
            strips[side] = "real" if agree >= AGREE else "altered"
        else:
            strips[side] = "outside"

    bad = {s: label for s, label in strips.items() if label in ("mirrored", "smeared", "outside")}
    invented = fraction > INVENTED_SHARE or bool(bad)
    scale = math.hypot(m[0, 0], m[1, 0])
    where = f"a similarity map from {inliers} matched features (scale {1 / scale:.2f})"
    if invented:
        parts = [f"{fraction:.1%} of the output lies outside the original frame"] if fraction > INVENTED_SHARE else []
        parts += [f"{s} border {label}" for s, label in bad.items()]
        reason = f"{'; '.join(parts)}; by {where}"
    else:
        reason = f"every border holds the frame's own content, by {where}"
    return BorderVerdict(invented, fraction, strips, reason, scores)


def _without_map(orig: np.ndarray, rec: np.ndarray, matches: int) -> BorderVerdict:
    height, width = rec.shape
    rec_lap, orig_lap = _laplacian(rec), _laplacian(orig)
    interior = _detail(rec_lap[height // 5 : height - height // 5, width // 5 : width - width // 5])
    strips, scores = {}, {}
    for side in SIDES:
        r, o = _as_left(rec, side), _as_left(orig, side)
        k = _strip_width(r.shape[1])
        mirror, ref_mirror = _mirror_score(r, k), _mirror_score(o, k)
        detail = _detail(_as_left(rec_lap, side)[:, 1:k])
        ref_detail = _detail(_as_left(orig_lap, side)[:, 1:k])
        scores[side] = {
            "mirror": round(mirror, 3),
            "mirror_ref": round(ref_mirror, 3),
            "detail": round(detail, 2),
            "detail_ref": round(ref_detail, 2),
            "interior": round(interior, 2),
        }
        if mirror >= MIRROR_SCORE and mirror - ref_mirror >= MIRROR_MARGIN:
            strips[side] = "mirrored"
        elif min(ref_detail, interior) >= DETAIL_FLOOR and detail < SMEAR_RATIO * min(ref_detail, interior):
            strips[side] = "smeared"
        else:
            strips[side] = "real"
    bad = [f"{s} border {label}" for s, label in strips.items() if label != "real"]
    why = (
        f"no map from the reconstruction to the original could be estimated ({matches} feature matches); "
        f"the border strips were compared directly with the original's"
    )
    return BorderVerdict(
        bool(bad), float("nan"), strips, f"{'; '.join(bad) or 'no mirrored or smeared border'}; {why}", scores
    )


# --- measures ---------------------------------------------------------------------------------


def _gray(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)


def _gray_u8(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def _laplacian(gray: np.ndarray) -> np.ndarray:
    return cv2.Laplacian(gray, cv2.CV_32F, ksize=3)


def _detail(values: np.ndarray) -> float:
    return float(np.var(values)) if values.size else 0.0


def _strip_width(across: int) -> int:
    return max(4, int(round(STRIP * across)))


def _as_left(a: np.ndarray, side: str) -> np.ndarray:
    """``a`` turned so that the given side is the left one (columns run inward from it)."""
    if side == "left":
        return a
    if side == "right":
        return a[:, ::-1]
    if side == "top":
        return a.T
    return a[::-1].T


def _shrink(mask: np.ndarray) -> np.ndarray:
    """The mask less a 2-pixel rim, where a 3×3 Laplacian would see the edge of the valid area."""
    return cv2.erode(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)


def _ncc(a: np.ndarray, b: np.ndarray) -> float:
    a = a.astype(np.float64).ravel() - a.mean()
    b = b.astype(np.float64).ravel() - b.mean()
    norm = math.sqrt(float(a @ a) * float(b @ b))
    return float(a @ b / norm) if norm > 1e-9 else 0.0


def _mirror_score(gray: np.ndarray, k: int) -> float:
    """How strongly the first ``k`` columns are a mirror image of the columns beyond some axis:
    the best correlation, over axes, between d/dx at column x and −d/dx at its reflection s − x.
    Both reflections (s = 2a about a column, s = 2a − 1 between two) are tried; at least half the
    strip must lie before the axis, so that a thin symmetric line cannot pass for a mirror."""
    g = cv2.GaussianBlur(gray.astype(np.float32), (0, 0), 1.0)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3).astype(np.float64)
    rows, n = gx.shape
    # Column sums, sums of squares and the strip's cross products with every column, so that
    # each axis's correlation costs O(k) instead of a pass over the pixels.
    total, squares = gx.sum(axis=0), (gx * gx).sum(axis=0)
    cross = gx[:, :k].T @ gx
    fewest = max(3, k // 2)
    best = -1.0
    for s in range(2 * fewest + 1, int(0.8 * n)):
        x = np.arange(1, min(k, (s + 1) // 2))  # column 0's gradient is an artefact of the image edge
        count = rows * x.size
        sa, sb = total[x].sum(), -total[s - x].sum()
        saa, sbb = squares[x].sum(), squares[s - x].sum()
        sab = -cross[x, s - x].sum()
        var = (saa - sa * sa / count) * (sbb - sb * sb / count)
        if var > 1e-9:
            best = max(best, float((sab - sa * sb / count) / math.sqrt(var)))
    return best
