"""Feedback that teaches: after a rejection and its fine-tune, the same kind of shot is
reconstructed measurably away from the rejected edit; after an acceptance, toward it. The whole
path is real: the shutter's development, the verdict service, the queued fine-tune run and the
next shot, with the lighting model trained on real frames."""

from __future__ import annotations

import numpy as np
import pytest

from capture import services as capture_services
from capture import shutter
from capture.models import Shot
from reconstruction import services
from reconstruction.core.generators.lighting import tone_curve
from reconstruction.core.imageio import decode_jpeg, encode_jpeg
from reconstruction.models import TrainingRun
from tests.conftest import video_frames
from tests.reconstruction.test_training_runs import give_learning_data

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.db]
E = "lighting.exposure"


@pytest.fixture(scope="module")
def frames():
    got = video_frames("single_face.mp4", range(0, 72, 4))
    return [got[i] for i in sorted(got)]


def shoot(user, rgb, analyzer) -> dict:
    """A portrait shot of ``rgb`` through the shutter's development; what it asked and made."""
    analysis = analyzer.analyze(rgb)
    shot = capture_services.save_shot(user, encode_jpeg(rgb, 95), analysis.to_json(), status=Shot.PROCESSING)
    shutter.develop(user, shot, rgb, analysis, analyzer, lambda message: None, chosen="portrait")
    shot = Shot.objects.get(pk=shot.pk)
    step = next(s for s in shot.rule["steps"] if s["group"] == "lighting")
    with shot.reconstruction.open("rb") as fh:
        made = decode_jpeg(fh.read())
    return {
        "shot": shot,
        "step": step,
        "move": shot.reconstructed_elements[E] - shot.elements[E],
        "brightening": float(made.mean()) - float(rgb.mean()),
    }


def fine_tune(user, analyzer) -> TrainingRun:
    run = TrainingRun.objects.get(user=user, group="lighting", status=TrainingRun.QUEUED)
    assert run.fine_tune
    run = services.run_training(run.pk, analyzer=analyzer)
    assert run.status == TrainingRun.SUCCEEDED, run.message
    return run


def test_a_rejection_moves_the_next_similar_shot_away_from_the_edit_and_an_acceptance_back_toward_it(
    alice, frames, analyzer, client
):
    give_learning_data(alice, frames, analyzer)
    first = services.start_training(alice, "lighting", steps=60, enqueue=False)
    assert services.run_training(first.pk, analyzer=analyzer).status == TrainingRun.SUCCEEDED
    dim = [tone_curve(f, -0.6) for f in frames[1:5]]
    rejected, accepted = shoot(alice, dim[0], analyzer), shoot(alice, dim[1], analyzer)
    assert rejected["move"] > 0.08 and rejected["brightening"] > 8  # a clear brightening to judge

    capture_services.give_feedback(alice, rejected["shot"].id, "rejected")
    run = fine_tune(alice, analyzer)
    assert run.result.version == 2 and len(services.load_active(alice, "lighting")[0].verdicts) == 1
    after_rejection = shoot(alice, dim[2], analyzer)
    assert "you rejected a similar edit" in after_rejection["step"]["learned"][E]
    # Measurably away: the degree moves under 60 % as far, and so does the picture's brightness
    # (the mean of its pixels, which the exposure degree does not use directly).
    assert after_rejection["move"] < 0.6 * rejected["move"]
    assert after_rejection["brightening"] < 0.6 * rejected["brightening"]
    # More than the table's own shift explains: the model's verdict shortened the asked move.
    asked = after_rejection["step"]["targets"][E] - after_rejection["step"]["current"][E]
    ideal = after_rejection["step"]["ideal"][E] - after_rejection["step"]["current"][E]
    assert asked < 0.6 * ideal
    client.force_login(alice)
    page = client.get(f"/shots/{after_rejection['shot'].id}/").content.decode()
    assert "Exposure: you rejected a similar edit, so this one goes" in page

    capture_services.give_feedback(alice, accepted["shot"].id, "accepted")
    fine_tune(alice, analyzer)
    after_acceptance = shoot(alice, dim[3], analyzer)
    assert "you accepted" in after_acceptance["step"]["learned"][E]
    # Toward the accepted edit: nearer to its move than the shot after the rejection was.
    assert abs(after_acceptance["move"] - accepted["move"]) < 0.5 * abs(after_rejection["move"] - accepted["move"])
    assert abs(after_acceptance["brightening"] - accepted["brightening"]) < 0.5 * abs(
        after_rejection["brightening"] - accepted["brightening"]
    )


def test_switching_a_verdict_takes_its_lesson_back(alice, frames, analyzer):
    give_learning_data(alice, frames, analyzer)
    first = services.start_training(alice, "lighting", steps=60, enqueue=False)
    services.run_training(first.pk, analyzer=analyzer)
    shot = shoot(alice, tone_curve(frames[1], -0.6), analyzer)["shot"]
    capture_services.give_feedback(alice, shot.id, "rejected")
    fine_tune(alice, analyzer)
    capture_services.give_feedback(alice, shot.id, "accepted")
    fine_tune(alice, analyzer)
    (verdict,) = services.load_active(alice, "lighting")[0].verdicts
    assert verdict.accepted
    np.testing.assert_allclose(verdict.reached[E], shot.reconstructed_elements[E])
