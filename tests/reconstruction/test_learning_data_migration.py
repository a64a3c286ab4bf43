"""Learning frames and verdicts moved from capture to reconstruction in place: a database that
held them before the move holds every row, link and file name after it."""

import uuid

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.db]

BEFORE = [("capture", "0007_one_verdict_vocabulary"), ("reconstruction", "0006_model_version_row")]
AFTER = [("capture", "0008_learning_data_moved"), ("reconstruction", "0008_learning_data_tables")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_moving_learning_data_to_reconstruction_keeps_every_row_and_link():
    old = migrate(BEFORE)
    User = old.get_model("auth", "User")
    alice = User.objects.create(username="alice")
    shot = old.get_model("capture", "Shot").objects.create(
        id=uuid.uuid4(), user=alice, original="users/1/shots/a.jpg", width=4, height=3
    )
    fb = old.get_model("capture", "Feedback").objects.create(
        user=alice,
        shot=shot,
        verdict="rejected",
        intention="portrait",
        targets={"lighting.exposure": 0.55},
        groups=["lighting"],
        table_shift={"lighting.exposure": [0.5, 0.47]},
    )
    sample = old.get_model("capture", "LearningSample").objects.create(
        user=alice, source="rejected", image="users/1/learning/x.jpg", width=4, height=3, feedback=fb
    )
    version = old.get_model("reconstruction", "ModelVersion").objects.create(
        user=alice, group="lighting", version=1, weights="1/lighting/1.pt"
    )
    version.learned_from.add(fb)
    try:
        new = migrate(AFTER)
        Feedback = new.get_model("reconstruction", "Feedback")
        moved = Feedback.objects.get()
        assert (moved.pk, moved.shot_id, moved.verdict, moved.table_shift) == (
            fb.pk,
            shot.id,
            "rejected",
            {"lighting.exposure": [0.5, 0.47]},
        )
        kept = new.get_model("reconstruction", "LearningSample").objects.get()
        assert (kept.pk, kept.feedback_id, kept.image.name) == (sample.pk, fb.pk, "users/1/learning/x.jpg")
        assert [f.pk for f in new.get_model("reconstruction", "ModelVersion").objects.get().learned_from.all()] == [
            fb.pk
        ]
        assert "reconstruction_feedback" in connection.introspection.table_names()
        assert "capture_feedback" not in connection.introspection.table_names()
        # The verdict no longer holds a foreign key into capture: deleting the shot is capture's
        # business (it asks reconstruction to forget the shot's verdicts).
        new.get_model("capture", "Shot").objects.all().delete()
        assert Feedback.objects.count() == 1
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
