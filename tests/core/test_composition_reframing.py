"""Composition never invents content: a reframed photo holds only the frame's own pixels.

The composition model is really trained on real footage (single_face.mp4, single_face.jpg and
Grace Hopper's portrait, cropped to several framings); its output is checked three ways: pixel by
pixel against the frame (an image whose pixels are their own coordinates), with the extractor
(the subject moves toward what the frame allows), and by the independent border check of
``reconstruction.core.yardstick.borders``, which is also shown to catch the old mirror-and-blur fill.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from reconstruction.core.analysis import Analysis
from reconstruction.core.generators.composition import SIZE, CompositionModel, X, Y, reachable, reframe
from reconstruction.core.imageio import read_image
from reconstruction.core.ranges import Sample
from reconstruction.core.rules import fluctuation_rule
from reconstruction.core.yardstick.borders import check_borders
from tests.conftest import sample_path, video_frames

GROUP = "composition"


def old_mirror_reframe(rgb, centre, goal, zoom):
    """What not to do: the reframing composition used to ship. It zoomed and shifted past the
    frame's edges and filled what that exposed with a blurred mirror image of the frame (a
    mirrored chin under the face, a smeared strip down one side)."""
    height, width = rgb.shape[:2]
    (cx, cy), (gx, gy) = centre, goal
    m = np.array([[zoom, 0, gx - zoom * cx], [0, zoom, gy - zoom * cy]], dtype=np.float32)
    sharp = cv2.warpAffine(rgb, m, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    inside = cv2.warpAffine(
        np.ones((height, width), np.uint8), m, (width, height), flags=cv2.INTER_NEAREST, borderValue=0
    )
    if inside.all():
        return sharp
    soft = cv2.GaussianBlur(sharp, (0, 0), max(3.0, width / 80))
    alpha = cv2.GaussianBlur(inside.astype(np.float32), (0, 0), 2.0)[..., None]
    return np.clip(sharp * alpha + soft * (1 - alpha) + 0.5, 0, 255).astype(np.uint8)


def face_centre(analysis: Analysis) -> tuple[float, float]:
    x, y, w, h = analysis.main_face.box
    return x + w / 2, y + h / 2


def framings(rgb, analysis):
    """The photo as the user might have framed it: as shot, and cropped closer, off-centre."""
    height, width = rgb.shape[:2]
    cx, cy = face_centre(analysis)
    for dx, dy, zoom in ((0, 0, 1.0), (-0.2, 0.1, 1.4), (0.2, -0.1, 1.4), (0.1, 0.15, 1.8)):
        yield reframe(rgb, (cx, cy), (cx + dx * width, cy + dy * height), zoom)


@pytest.fixture(scope="module")
def model(analyzer, portrait):
    photos = list(video_frames("single_face.mp4", range(0, 72, 6)).values())
    photos += [read_image(sample_path("single_face.jpg")), portrait]
    samples = []
    for rgb in photos:
        analysis = analyzer.analyze(rgb)
        samples += [Sample(f, analyzer.analyze(f)) for f in framings(rgb, analysis)]
    trained = CompositionModel()
    trained.fit(samples)
    return trained


@pytest.fixture(scope="module")
def portrait_analysis(analyzer, portrait):
    return analyzer.analyze(portrait)


@pytest.fixture(scope="module")
def close_up(analyzer, portrait, portrait_analysis):
    """Grace Hopper cropped close (a real photo in its own right): her face fills much of it."""
    centre = face_centre(portrait_analysis)
    rgb = reframe(portrait, centre, centre, 1.6)
    return rgb, analyzer.analyze(rgb)


def coordinates(height, width):
    """A float image whose pixels hold their own (x, y): resampled, it says where each output
    pixel came from."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    return np.dstack([xs, ys, np.zeros_like(xs)])


def assert_only_frame_pixels(model, rgb, analysis, targets):
    """Every output pixel comes from inside the frame, by one map that keeps the frame's
    orientation and aspect (no mirror, no stretch), and is a blend of the frame pixels around its
    source point only."""
    height, width = rgb.shape[:2]
    source = model.generate(coordinates(height, width), analysis, targets)
    sx, sy = source[..., 0], source[..., 1]
    assert sx.min() >= 0 and sx.max() <= width - 1 and sy.min() >= 0 and sy.max() <= height - 1
    # One straight line per axis, increasing: a crop, not a mirror. Edge replication may hold the
    # outermost samples up to half an output pixel; a fit through the rest explains every pixel.
    u, v = np.arange(width), np.arange(height)
    ax, bx = np.polyfit(u, sx.mean(axis=0), 1)
    ay, by = np.polyfit(v, sy.mean(axis=1), 1)
    assert ax > 0 and ay > 0
    assert ax == pytest.approx(ay, rel=1e-3)
    assert np.abs(sx - (ax * u + bx)[None, :]).max() <= 0.5
    assert np.abs(sy - (ay * v + by)[:, None]).max() <= 0.5
    assert np.ptp(sx, axis=0).max() < 1e-3 and np.ptp(sy, axis=1).max() < 1e-3
    # The real photo: each output pixel lies between the darkest and brightest of the four frame
    # pixels around its source point (what bilinear resampling of real content can produce).
    out = model.generate(rgb, analysis, targets).astype(np.int16)
    x0 = np.clip(np.floor(sx).astype(int), 0, width - 2)
    y0 = np.clip(np.floor(sy).astype(int), 0, height - 2)
    corners = np.stack([rgb[y0, x0], rgb[y0, x0 + 1], rgb[y0 + 1, x0], rgb[y0 + 1, x0 + 1]]).astype(np.int16)
    assert (out >= corners.min(axis=0) - 1).all() and (out <= corners.max(axis=0) + 1).all()
    return out.astype(np.uint8), (ax, bx, ay, by)


def rule_for(model, analysis, ideals):
    return fluctuation_rule(
        analysis.elements,
        ideals,
        {GROUP: dict(model.ranges)},
        achievable={GROUP: model.achievable(analysis)},
        why={GROUP: lambda targets: model.why_limited(analysis, targets)},
    )


# --- (a) only the frame's pixels ----------------------------------------------------------------


def test_reframing_outputs_only_pixels_of_the_frame(model, portrait, portrait_analysis):
    now = portrait_analysis.elements
    targets = {SIZE: now[SIZE] * 1.4, X: now[X] - 0.12, Y: now[Y] + 0.08}
    out, (ax, bx, ay, by) = assert_only_frame_pixels(model, portrait, portrait_analysis, targets)
    assert ax == pytest.approx(1 / 1.4, rel=0.01)  # zoomed by the size asked for
    assert not np.array_equal(out, portrait)


def test_a_position_alone_zooms_only_as_far_as_the_move_needs(model, portrait, portrait_analysis):
    now = portrait_analysis.elements
    goal = now[X] + 0.1
    _, (ax, *_rest) = assert_only_frame_pixels(model, portrait, portrait_analysis, {X: goal})
    assert 1 / ax == pytest.approx(goal / now[X], rel=0.01)  # p = z·c at the frame's left edge


def test_zooming_out_is_never_done_by_inventing_what_lies_beyond_the_frame(model, close_up):
    rgb, analysis = close_up
    smaller = {SIZE: analysis.elements[SIZE] * 0.7, X: analysis.elements[X] - 0.2}
    out, (ax, *_rest) = assert_only_frame_pixels(model, rgb, analysis, smaller)
    assert ax <= 1.0 + 1e-6  # never a zoom out


def test_the_reframe_function_takes_a_zoom_below_one_as_no_zoom(portrait, portrait_analysis):
    centre = face_centre(portrait_analysis)
    assert np.array_equal(reframe(portrait, centre, (centre[0] + 80, centre[1]), 0.8), portrait)


# --- (b) what the frame does not allow is clamped, and the page says why -------------------------


def test_a_shot_allows_no_smaller_subject_and_no_move_without_a_closer_crop(model, portrait_analysis):
    now = portrait_analysis.elements
    spans = model.achievable(portrait_analysis)
    assert spans[SIZE][0] == pytest.approx(now[SIZE]) and spans[SIZE][1] > now[SIZE]
    assert spans[X][0] < now[X] < spans[X][1]
    held = model.achievable(portrait_analysis, {SIZE: now[SIZE]})  # zoom 1: nothing can move
    assert held[X] == pytest.approx((now[X], now[X]), abs=1e-9) and held[Y] == pytest.approx((now[Y], now[Y]), abs=1e-9)
    why = model.why_limited(portrait_analysis, {SIZE: now[SIZE], X: now[X] - 0.2})
    assert "no room to move" in why[X]
    why = model.why_limited(portrait_analysis, {SIZE: now[SIZE] * 0.5})
    assert why[SIZE].startswith("Subject size: the frame holds nothing beyond its edges")


def test_a_target_beyond_the_frame_is_clamped_without_inventing_pixels_and_the_step_says_why(model, close_up):
    rgb, analysis = close_up
    now = analysis.elements
    ideals = {SIZE: max(model.ranges[SIZE][0], now[SIZE] - 0.2), X: 0.0, Y: now[Y]}
    rule = rule_for(model, analysis, ideals)
    (step,) = rule.steps
    assert "cannot be made smaller" in step.limited[SIZE]
    assert SIZE not in step.targets  # nothing to do about the size: the shot is as wide as it gets
    lo, hi = model.achievable(analysis)[X]
    assert step.targets[X] == pytest.approx(max(lo, model.ranges[X][0]))
    if lo > model.ranges[X][0]:
        assert step.limited[X].startswith("Subject left/right: moving the subject further needs a closer crop")
        assert f"{lo:.2f}–{hi:.2f}" in step.limited[X]
    assert step.to_json()["limited"] == step.limited
    out, _ = assert_only_frame_pixels(model, rgb, analysis, step.targets)
    verdict = check_borders(rgb, out)
    assert not verdict.invented, verdict.reason


def test_a_group_whose_every_target_the_frame_refuses_is_skipped_with_the_reason(model, close_up):
    rgb, analysis = close_up
    rule = rule_for(model, analysis, {SIZE: model.ranges[SIZE][0]})
    assert rule.steps == []
    (skip,) = rule.skipped
    assert skip.group == GROUP and "the frame holds nothing beyond its edges" in skip.reason


def test_a_rule_without_per_shot_limits_behaves_as_before(model, close_up):
    _, analysis = close_up
    ideals = {X: 0.0}
    plain = fluctuation_rule(analysis.elements, ideals, {GROUP: dict(model.ranges)})
    assert plain.steps[0].targets[X] == pytest.approx(model.ranges[X][0]) and plain.steps[0].limited == {}


# --- (c) the subject still moves toward what the frame allows -------------------------------------


def test_the_subject_moves_and_grows_toward_an_achievable_target(model, analyzer):
    rgb = video_frames("single_face.mp4", [33])[33]  # not among the training frames
    held = analyzer.analyze(rgb)
    now = held.elements
    targets = {X: now[X] - 0.1, SIZE: min(model.ranges[SIZE][1], now[SIZE] * 1.25)}
    assert model.why_limited(held, targets) == {}
    out, _ = assert_only_frame_pixels(model, rgb, held, targets)
    after = analyzer.analyze(out).elements
    for name, target in targets.items():
        assert (after[name] - now[name]) / (target - now[name]) > 0.8, name
    assert after[Y] == pytest.approx(now[Y], abs=0.02)  # no target: the face keeps its height


def test_a_portrait_is_reframed_to_the_left_and_closer(model, analyzer, portrait, portrait_analysis):
    now = portrait_analysis.elements
    targets = {SIZE: now[SIZE] * 1.35, X: now[X] - 0.1}
    out = model.generate(portrait, portrait_analysis, targets)
    after = analyzer.analyze(out).elements
    assert after[X] == pytest.approx(targets[X], abs=0.03)
    assert after[SIZE] == pytest.approx(targets[SIZE], abs=0.04)


# --- (d) the independent border check -------------------------------------------------------------


@pytest.fixture(scope="module")
def photos(portrait):
    return {
        "portrait": portrait,
        "single_face.jpg": read_image(sample_path("single_face.jpg")),
        "home.jpg": read_image(sample_path("home.jpg")),
    }


@pytest.mark.parametrize("name", ["portrait", "single_face.jpg", "home.jpg"])
def test_the_border_check_flags_the_old_mirrored_and_blurred_borders(photos, name):
    rgb = photos[name]
    height, width = rgb.shape[:2]
    centre = (width * 0.5, height * 0.45)
    for goal, zoom in (
        ((width * 0.68, height * 0.45), 1.0),
        ((width * 0.5, height * 0.6), 1.0),
        ((width * 0.5, height * 0.45), 0.8),
    ):
        verdict = check_borders(rgb, old_mirror_reframe(rgb, centre, goal, zoom))
        assert verdict.invented, verdict.reason
        assert verdict.invented_fraction > 0.1
        assert {"mirrored", "smeared"} & set(verdict.strips.values()), verdict.strips


@pytest.mark.parametrize("name", ["portrait", "single_face.jpg", "home.jpg"])
def test_the_border_check_passes_the_crop_reframe_and_an_unchanged_photo(photos, name):
    rgb = photos[name]
    height, width = rgb.shape[:2]
    centre = (width * 0.5, height * 0.45)
    for out in (
        rgb,
        reframe(rgb, centre, (width * 0.35, height * 0.5), 1.3),
        reframe(rgb, centre, (width * 0.7, height * 0.3), 1.7),
    ):
        verdict = check_borders(rgb, out)
        assert not verdict.invented, verdict.reason
        assert verdict.invented_fraction < 0.005
        assert set(verdict.strips.values()) == {"real"}, verdict.strips


def test_the_border_check_catches_a_sharp_mirror_too(photos):
    rgb = photos["home.jpg"]
    shifted = cv2.warpAffine(
        rgb, np.float32([[1, 0, 60], [0, 1, 0]]), rgb.shape[1::-1], borderMode=cv2.BORDER_REFLECT_101
    )
    verdict = check_borders(rgb, shifted)
    assert verdict.invented and verdict.strips["left"] == "mirrored"
    assert verdict.invented_fraction == pytest.approx(60 / rgb.shape[1], abs=0.01)


def test_without_a_map_the_border_check_compares_the_strips_with_the_original_and_says_so():
    # Soft blobs: nothing for feature matching to hold on to.
    rng = np.random.default_rng(3)
    small = rng.integers(0, 255, (6, 8, 3)).astype(np.uint8)
    smooth = cv2.resize(small, (400, 300), interpolation=cv2.INTER_CUBIC)
    mirrored = cv2.warpAffine(
        smooth, np.float32([[1, 0, 70], [0, 1, 0]]), (400, 300), borderMode=cv2.BORDER_REFLECT_101
    )
    verdict = check_borders(smooth, mirrored)
    assert "no map" in verdict.reason and "compared directly" in verdict.reason
    assert math.isnan(verdict.invented_fraction)
    assert verdict.invented and verdict.strips["left"] == "mirrored"
    assert not check_borders(smooth, smooth).invented


def test_the_positions_a_zoom_reaches_are_where_the_crop_at_either_edge_puts_the_face(portrait, portrait_analysis):
    # p ∈ [1 − z(1 − c), z·c]: the window against the frame's right edge, then its left edge.
    height, width = portrait.shape[:2]
    cx, cy = face_centre(portrait_analysis)
    grid = coordinates(height, width)
    for zoom in (1.0, 1.3, 2.0):
        lo, hi = reachable(cx / width, zoom)
        for goal, expected in ((-width, lo), (2 * width, hi)):
            row = reframe(grid, (cx, cy), (goal, cy), zoom)[0, :, 0]
            landed = (np.interp(cx, row, np.arange(width)) + 0.5) / width
            assert landed == pytest.approx(expected, abs=1.0 / width), (zoom, goal)


def test_real_crops_of_a_plain_wall_are_never_called_smeared():
    # A door and a plain wall at the frame's edge: the strip is the original's own content (it
    # correlates with it), however little detail it has next to an edge nearby.
    from tests.conftest import video_frames

    for frame in video_frames("single_face.mp4", range(0, 72, 8)).values():
        frame = cv2.resize(frame, (640, 480))
        for dx, zoom in ((64, 1.23), (-64, 1.23), (32, 1.1), (0, 1.3)):
            verdict = check_borders(frame, reframe(frame, (300, 200), (300 + dx, 200), zoom))
            assert not verdict.invented, verdict.reason
