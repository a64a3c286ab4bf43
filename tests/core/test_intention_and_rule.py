"""Shooting intention ([0058]–[0060], [0077]–[0080]) and the fluctuation rule (FIGS. 5B–5D)."""

from __future__ import annotations

import pytest

from reconstruction.core.elements import empty_degrees
from reconstruction.core.intention import DEFAULT_TABLE, INTENTIONS, infer_intention, parse_wish, validate_table
from reconstruction.core.rules import fluctuation_rule


def degrees(**named):
    out = empty_degrees()
    for key, value in named.items():
        group, element = key.split("__")
        out[f"{group}.{element}"] = value
    return out


def test_a_shot_without_faces_under_the_sky_is_a_landscape():
    it = infer_intention(degrees(climate__sunniness=0.4), faces=0)
    assert it.name == "landscape" and it.source == "image" and "sky" in it.reasons[0]


def test_several_people_are_a_group_photo_and_a_group_small_before_the_sky_a_souvenir():
    assert infer_intention(degrees(expression__smile=0.7), faces=3).name == "group"
    assert infer_intention(degrees(expression__smile=0.1), faces=2).name == "group"
    before_sky = degrees(expression__smile=0.1, climate__sunniness=0.8, composition__subject_size=0.15)
    assert infer_intention(before_sky, faces=3).name == "souvenir"


def test_a_group_photo_says_how_many_people_it_is_of_and_how_many_stand_farther_back():
    from reconstruction.core.intention import people_in

    boxes = [(0, 0, 100, 120), (200, 0, 95, 110), (400, 300, 30, 40)]  # a couple, a stranger far behind
    assert people_in(boxes) == 2
    reasons = infer_intention(degrees(expression__smile=0.2), faces=2, behind=1).reasons
    assert reasons == ["2 people in the shot (and 1 farther back): everyone's eyes open, facing the camera"]


def test_a_group_photo_asks_every_face_for_open_eyes_facing_the_camera_and_no_word_midway():
    row = DEFAULT_TABLE["group"]
    assert row["expression.eye_openness"] >= 0.8 and row["expression.mouth_openness"] <= 0.15
    assert row["posture.face_yaw"] == 0.5 and row["posture.face_pitch"] == 0.5
    assert parse_wish("one of all of us")[0] == "group"


def test_one_small_person_under_the_sky_is_travel_and_one_close_up_a_portrait():
    assert (
        infer_intention(
            degrees(expression__smile=0.1, climate__sunniness=0.5, composition__subject_size=0.2), faces=1
        ).name
        == "travel"
    )
    assert infer_intention(degrees(expression__smile=0.1, composition__subject_size=0.6), faces=1).name == "portrait"


def test_repeated_attempts_at_a_scene_raise_confidence_and_say_so():
    once = infer_intention(degrees(expression__smile=0.7, composition__subject_size=0.6), faces=1, attempts=1)
    thrice = infer_intention(degrees(expression__smile=0.7, composition__subject_size=0.6), faces=1, attempts=3)
    assert once.name == "fun" and thrice.name == "portrait"
    assert thrice.confidence > once.confidence
    assert any("attempt 3" in r for r in thrice.reasons)


def test_i_wish_it_was_sunny_asks_for_high_sunniness():
    intention, wished, reasons = parse_wish("I wish it was sunny")
    assert wished["climate.sunniness"] >= 0.9 and wished["climate.cloudiness"] <= 0.2
    assert reasons and "sunny" in reasons[0]
    it = infer_intention(degrees(climate__sunniness=0.2), faces=0, wish="it's clouded over")
    assert it.source == "said" and it.ideals(DEFAULT_TABLE)["climate.sunniness"] >= 0.9


def test_a_wish_can_name_an_intention_and_a_clothing_colour():
    it = infer_intention(degrees(expression__smile=0.1), faces=1, wish="holiday snap, make my shirt blue")
    assert it.name == "travel"
    assert it.wished["clothing.clothing_hue"] == pytest.approx(0.62)


def test_a_chosen_intention_beats_a_said_one_and_the_image():
    it = infer_intention(degrees(), faces=0, chosen="portrait", wish="for fun")
    assert it.name == "portrait" and it.source == "chosen" and it.confidence == 1.0
    with pytest.raises(ValueError):
        infer_intention(degrees(), faces=0, chosen="astronaut")


def test_the_default_table_covers_every_intention_and_validates():
    assert set(DEFAULT_TABLE) == set(INTENTIONS)
    assert validate_table(DEFAULT_TABLE) == DEFAULT_TABLE
    with pytest.raises(ValueError):
        validate_table({"fun": {"expression.smile": 1.4}})
    with pytest.raises(ValueError):
        validate_table({"fun": {"expression.grin": 0.4}})


def test_fig_5c_the_ideal_degree_is_clamped_into_the_reconstructable_range():
    rule = fluctuation_rule(
        degrees(expression__smile=0.2), {"expression.smile": 1.0}, {"expression": {"expression.smile": (0.05, 0.8)}}
    )
    step = rule.steps[0]
    assert step.targets == {"expression.smile": 0.8} and step.ideal == {"expression.smile": 1.0}
    assert step.gap == pytest.approx(0.6)


def test_fig_5d_models_run_largest_gap_first_or_in_the_users_order():
    current = degrees(expression__smile=0.2, climate__sunniness=0.5, composition__subject_x=0.4)
    ideals = {"expression.smile": 0.9, "climate.sunniness": 0.9, "composition.subject_x": 0.5}
    ranges = {
        "expression": {"expression.smile": (0, 1)},
        "climate": {"climate.sunniness": (0, 1)},
        "composition": {"composition.subject_x": (0, 1)},
    }
    assert fluctuation_rule(current, ideals, ranges).groups == ["expression", "climate", "composition"]
    assert fluctuation_rule(current, ideals, ranges, order=["composition"]).groups == [
        "composition",
        "expression",
        "climate",
    ]


def test_groups_without_a_model_or_an_element_in_the_shot_are_skipped_with_a_reason():
    current = degrees(expression__smile=0.2, lighting__exposure=0.55, clothing__clothing_hue=0.3)
    ideals = {
        "expression.smile": 0.9,
        "climate.sunniness": 0.9,
        "lighting.exposure": 0.56,
        "clothing.clothing_hue": 0.5,
    }
    ranges = {
        "lighting": {"lighting.exposure": (0, 1)},
        "clothing": {"clothing.clothing_hue": None},
        "climate": {"climate.sunniness": (0, 1)},
    }
    rule = fluctuation_rule(current, ideals, ranges, unavailable={"expression": "not trained"})
    assert rule.steps == []
    reasons = {s.group: s.reason for s in rule.skipped}
    assert reasons["expression"] == "not trained"
    assert "not in this shot" in reasons["climate"]
    assert "already at" in reasons["lighting"]
    assert "no range" in reasons["clothing"]


def test_hue_targets_go_the_short_way_round():
    rule = fluctuation_rule(
        degrees(clothing__clothing_hue=0.95),
        {"clothing.clothing_hue": 0.05},
        {"clothing": {"clothing.clothing_hue": (0.9, 0.1)}},
    )
    step = rule.steps[0]
    assert step.gap == pytest.approx(0.1)
    assert step.at(0.5)["clothing.clothing_hue"] == pytest.approx(0.0, abs=1e-9)
