"""The divergence counts every face of a group, not only the main subject's (issue 22)."""

import numpy as np

from reconstruction.core.analysis import Face
from reconstruction.core.divergence import DivergenceSettings, divergence
from reconstruction.core.elements import empty_degrees


def face(x, eyes, main=False):
    return Face(
        box=(x, 100.0, 80.0, 100.0),
        landmarks=np.zeros((478, 3), np.float32),
        blendshapes={},
        matrix=None,
        degrees={"expression.eye_openness": eyes, "expression.smile": 0.2},
        main=main,
    )


def test_a_second_persons_eyes_opened_is_as_far_as_the_main_faces_would_be():
    degrees = empty_degrees() | {"expression.eye_openness": 0.8, "expression.smile": 0.2}
    before = [face(100, 0.8, main=True), face(300, 0.1)]
    after = [face(101, 0.8, main=True), face(302, 0.85)]
    by_degrees = DivergenceSettings("degrees")
    alone = divergence(None, degrees, None, degrees, by_degrees)
    assert not alone.diverged and alone.score == 0
    counted = divergence(None, degrees, None, degrees, by_degrees, (before, after))
    assert counted.faces == {"face 2": {"expression.eye_openness": 0.75, "expression.smile": 0.0}}
    assert counted.diverged and counted.exceeded == ["face 2: expression.eye_openness"]
    assert counted.score > 0
    # The same eyes opened on the main face read the same gap.
    main_moved = divergence(None, degrees, None, degrees | {"expression.eye_openness": 0.05}, by_degrees)
    assert main_moved.gaps["expression.eye_openness"] == counted.faces["face 2"]["expression.eye_openness"]


def test_a_face_not_found_again_is_left_to_the_main_faces_degrees():
    degrees = empty_degrees() | {"expression.eye_openness": 0.8}
    counted = divergence(None, degrees, None, degrees, DivergenceSettings("degrees"), ([face(300, 0.1)], []))
    assert counted.faces == {} and not counted.diverged
