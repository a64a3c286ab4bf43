"""Each element's formula on arrays the tests build: no models, no Django."""

import cv2
import numpy as np
import pytest

from reconstruction.core import extraction as ex
from reconstruction.core.elements import ELEMENT_NAMES, empty_degrees
from reconstruction.core.imageio import FrameError, FrameLimits, decode_jpeg, encode_jpeg, jpeg_size
from tests.conftest import solid_frame


def test_every_element_starts_absent_not_made_up():
    degrees = empty_degrees()
    assert set(degrees) == set(ELEMENT_NAMES)
    assert all(v is None for v in degrees.values())
    assert len(ELEMENT_NAMES) == 16


def test_exposure_follows_brightness():
    dark, mid, bright = (ex.exposure_degree(solid_frame(rgb=(v, v, v))) for v in (20, 128, 235))
    assert dark < 0.1 < mid < bright
    assert mid == pytest.approx(128 / 255, abs=0.01)


def test_light_direction_reads_which_side_is_brighter():
    mask = np.ones((40, 40), bool)
    lit_left = np.full((40, 40), 0.3, np.float32)
    lit_left[:, :20] = 0.8
    lit_right = lit_left[:, ::-1].copy()
    even = np.full((40, 40), 0.5, np.float32)
    assert ex.light_direction_degree(lit_left, mask, 20) < 0.2
    assert ex.light_direction_degree(lit_right, mask, 20) > 0.8
    assert ex.light_direction_degree(even, mask, 20) == pytest.approx(0.5)


def test_motion_blur_rises_when_a_sharp_crop_is_smeared():
    rng = np.random.default_rng(1)
    sharp = (rng.random((128, 128)) * 255).astype(np.uint8)
    sharp = cv2.GaussianBlur(sharp, (3, 3), 0)
    kernel = np.zeros((21, 21), np.float32)
    np.fill_diagonal(kernel, 1 / 21)  # a diagonal streak: motion in both axes
    smeared = cv2.filter2D(sharp, -1, kernel)
    assert ex.motion_blur_degree(sharp) < 0.2
    assert ex.motion_blur_degree(smeared) > ex.motion_blur_degree(sharp) + 0.3


def test_subject_spacing_is_absent_for_one_person_and_grows_with_distance():
    face = (100, 100, 50, 60)
    assert ex.subject_spacing_degree([face]) is None
    close = ex.subject_spacing_degree([face, (150, 100, 50, 60)])
    far = ex.subject_spacing_degree([face, (330, 100, 50, 60)])
    assert close == pytest.approx(0.0, abs=0.01)
    assert far == pytest.approx(0.9)  # 230 px apart = 4.6 face widths


def test_subject_position_and_size_come_from_the_face_box():
    x, y = ex.subject_position((0, 0, 64, 48), 640, 480)
    assert (x, y) == (pytest.approx(0.05), pytest.approx(0.05))
    assert ex.subject_size_degree((0, 0, 100, 96), 480) == pytest.approx(0.25)
    assert ex.subject_size_degree((0, 0, 400, 470), 480) == 1.0


def test_head_angles_turn_the_right_way():
    def rot_y(deg):
        a = np.radians(deg)
        return np.array([[np.cos(a), 0, np.sin(a), 0], [0, 1, 0, 0], [-np.sin(a), 0, np.cos(a), 0], [0, 0, 0, 1]])

    yaw, pitch = ex.head_angles(rot_y(30))
    assert yaw == pytest.approx(30, abs=0.01) and pitch == pytest.approx(0, abs=0.01)
    assert ex.face_yaw_degree(0) == 0.5
    assert ex.face_yaw_degree(60) == 1.0 and ex.face_yaw_degree(-60) == 0.0
    assert ex.face_pitch_degree(45) == 1.0


def _landscape(sky_rgb, ground_rgb=(70, 90, 40), width=160, height=120):
    frame = np.zeros((height, width, 3), np.uint8)
    frame[: height // 2] = sky_rgb
    frame[height // 2 :] = ground_rgb
    rng = np.random.default_rng(0)
    noise = rng.integers(-40, 40, (height - height // 2, width, 1))
    frame[height // 2 :] = np.clip(frame[height // 2 :].astype(int) + noise, 0, 255).astype(np.uint8)
    return frame


def test_a_blue_sky_is_sunny_and_a_grey_one_is_cloudy():
    blue = _landscape((70, 130, 215))
    grey = _landscape((190, 192, 196))
    blue_mask = ex.sky_mask(blue, None, None)
    grey_mask = ex.sky_mask(grey, None, None)
    assert blue_mask is not None and grey_mask is not None
    sunny, clear = ex.climate_degrees(blue, blue_mask)
    dull, overcast = ex.climate_degrees(grey, grey_mask)
    assert sunny > 0.7 and clear < 0.2
    assert dull < 0.1 and overcast > 0.8


def test_no_sky_is_reported_for_an_indoor_frame():
    rng = np.random.default_rng(3)
    indoor = (rng.random((120, 160, 3)) * 120 + 40).astype(np.uint8)  # textured, mid-tone, no smooth top
    assert ex.sky_mask(indoor, None, None) is None
    warm_wall = _landscape((225, 200, 160))  # a bright, smooth but warm-white wall
    assert ex.sky_mask(warm_wall, None, None) is None


def test_a_backdrop_darker_than_the_face_is_not_sky():
    backdrop = _landscape((40, 110, 220))
    assert ex.sky_mask(backdrop, None, face_luma=0.7) is None
    assert ex.sky_mask(backdrop, None, face_luma=None) is not None


def test_the_sky_must_stay_outside_the_person():
    blue = _landscape((70, 130, 215))
    person = np.ones(blue.shape[:2], np.float32)
    assert ex.sky_mask(blue, person, None) is None


def test_clothing_degrees_read_the_colour_and_ignore_too_few_pixels():
    red = solid_frame(40, 40, (200, 30, 30))
    green = solid_frame(40, 40, (30, 160, 40))
    full = np.ones((40, 40), bool)
    hue_red, sat_red = ex.clothing_degrees(red, full)
    hue_green, _ = ex.clothing_degrees(green, full)
    assert min(hue_red, 1 - hue_red) < 0.03
    assert 0.25 < hue_green < 0.4
    assert sat_red > 0.8
    assert ex.clothing_degrees(red, np.zeros((40, 40), bool)) is None


def test_jpeg_size_reads_the_header_without_decoding():
    assert jpeg_size(encode_jpeg(solid_frame(321, 123))) == (321, 123)
    assert jpeg_size(b"not a jpeg") is None


def test_decode_refuses_oversized_and_corrupt_frames():
    with pytest.raises(FrameError) as too_big:
        decode_jpeg(encode_jpeg(solid_frame(400, 300)), FrameLimits(max_bytes=100))
    assert too_big.value.code == "frame_too_large"
    with pytest.raises(FrameError) as too_wide:
        decode_jpeg(encode_jpeg(solid_frame(2000, 500)))
    assert too_wide.value.code == "frame_too_large"
    good = encode_jpeg(solid_frame(64, 48))
    with pytest.raises(FrameError) as corrupt:
        decode_jpeg(good[:200] + b"\x00" * 50)
    assert corrupt.value.code == "corrupt_frame"
    assert decode_jpeg(good).shape == (48, 64, 3)


def test_decode_refuses_scrambled_scan_data_and_a_forged_size_header(portrait):
    real_frame = portrait
    good = encode_jpeg(real_frame, 85)
    scrambled = bytearray(good)
    rng = np.random.default_rng(3)
    middle = len(good) // 2
    scrambled[middle : middle + 300] = rng.integers(0, 255, 300, dtype=np.uint8).tobytes()
    forged = bytearray(good)
    sof = forged.find(b"\xff\xc0")
    h, w = real_frame.shape[:2]
    forged[sof + 5 : sof + 7] = (h * 2).to_bytes(2, "big")  # the header claims twice the rows the data holds
    for damaged in (bytes(scrambled), bytes(forged)):
        with pytest.raises(FrameError) as refused:
            decode_jpeg(damaged)
        assert refused.value.code == "corrupt_frame"
    assert decode_jpeg(good).shape == real_frame.shape


def test_hue_arithmetic_goes_the_short_way_round_and_other_degrees_do_not_wrap():
    from reconstruction.core.elements import arc_distance, degree_gap, difference, toward

    hue, smile = "clothing.clothing_hue", "expression.smile"
    assert difference(0.05, 0.95, circular=True) == pytest.approx(0.10)
    assert difference(0.05, 0.95) == pytest.approx(-0.90)
    assert arc_distance(0.02, 0.98) == pytest.approx(0.04)
    assert degree_gap(hue, 0.02, 0.98) == pytest.approx(0.04) and degree_gap(smile, 0.02, 0.98) == pytest.approx(0.96)
    assert toward(hue, 0.9, 0.1, 0.5) == pytest.approx(0.0) and toward(smile, 0.9, 0.1, 0.5) == pytest.approx(0.5)
