"""Gallery, shot page, replay record, accept/reject feedback, downloads, deletion and history,
each scoped to its owner."""

import hashlib
import io
import json
import zipfile

import cv2
import numpy as np
import pytest
from django.test import Client
from django.urls import reverse

from capture import services
from capture.models import Shot, ShotStage
from reconstruction import services as model_services
from reconstruction.core.generators.lighting import tone_curve
from reconstruction.core.imageio import decode_jpeg, encode_jpeg
from reconstruction.core.intention import DEFAULT_TABLE
from reconstruction.models import Feedback, LearningSample, TrainingRun, Verdict
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.django_db, pytest.mark.db]


def make_shot(user, rgb, reconstructed=True, intention="portrait", check=None):
    """A shot as the shutter leaves it: original, reconstruction, replay record, thumbnail."""
    analysis = {
        "width": rgb.shape[1],
        "height": rgb.shape[0],
        "faces": [],
        "elements": {"lighting.exposure": 0.40, "expression.smile": 0.2},
    }
    shot = services.save_shot(user, encode_jpeg(rgb), analysis, status=Shot.PROCESSING)
    brighter = tone_curve(rgb, 0.6)
    softer = tone_curve(rgb, 0.3)
    plan = {
        "intention": {
            "name": intention,
            "label": intention.title(),
            "source": "image",
            "confidence": 0.6,
            "reasons": ["one person"],
        },
        "rule": {
            "steps": [
                {
                    "group": "lighting",
                    "targets": {"lighting.exposure": 0.55},
                    "current": {"lighting.exposure": 0.40},
                    "ideal": {"lighting.exposure": 0.55},
                    "gap": 0.15,
                }
            ],
            "skipped": [],
        },
        "models": {"lighting": 1} if reconstructed else {},
        "mode": 2,
    }
    stages = [
        {"index": 0, "stage": "original", "groups": []},
        {
            "index": 1,
            "stage": "placeholder",
            "groups": [],
            "placeholder": {"kind": "card", "colour": "#102030", "text": "Reconstructing…"},
        },
        {
            "index": 2,
            "stage": "preview",
            "groups": ["lighting"],
            "strength": 0.5,
            "divergence": {"score": 0.1, "diverged": False},
        },
        {
            "index": 3,
            "stage": "reconstruction",
            "groups": ["lighting"],
            "divergence": {"score": 0.2, "changed": 0.3, "diverged": True, "exceeded": ["lighting.exposure"]},
            **(check or {}),
        },
    ]
    if not reconstructed:
        plan["rule"]["steps"], stages = [], [stages[0], {"index": 1, "stage": "reconstruction", "groups": []}]
    return services.record_reconstruction(
        shot,
        encode_jpeg(brighter) if reconstructed else None,
        plan,
        stages,
        {"lighting.exposure": 0.55, "expression.smile": 0.2} if reconstructed else {},
        "",
        {2: encode_jpeg(softer)} if reconstructed else {},
        encode_jpeg(cv2.resize(brighter, (180, 135))),
    )


@pytest.fixture
def frame():
    rng = np.random.default_rng(0)
    base = np.full((120, 160, 3), 110, np.uint8)
    return np.clip(base + rng.integers(0, 40, base.shape), 0, 255).astype(np.uint8)


def client_for(user):
    c = Client()
    c.login(username=user.username, password=PASSWORD)
    return c


def test_the_gallery_lists_only_my_shots_newest_first_paginated(alice, bob, frame):
    mine = [make_shot(alice, frame) for _ in range(26)]
    make_shot(bob, frame)
    page1 = client_for(alice).get(reverse("capture:gallery"))
    body = page1.content.decode()
    assert page1.status_code == 200 and body.count('class="thumb"') == 24
    assert body.index(str(mine[-1].id)) < body.index(str(mine[-2].id))  # newest first
    page2 = client_for(alice).get(reverse("capture:gallery") + "?page=2").content.decode()
    assert page2.count('class="thumb"') == 2 and str(mine[0].id) in page2


def test_the_gallery_filters_by_date_intention_and_feedback(alice, frame):
    fun = make_shot(alice, frame, intention="fun")
    portrait = make_shot(alice, frame, intention="portrait")
    services.give_feedback(alice, portrait.id, "rejected")
    c = client_for(alice)
    body = c.get(reverse("capture:gallery") + "?intention=fun").content.decode()
    assert str(fun.id) in body and str(portrait.id) not in body
    body = c.get(reverse("capture:gallery") + "?feedback=rejected").content.decode()
    assert str(portrait.id) in body and str(fun.id) not in body
    today = fun.created_at.date().isoformat()
    assert str(fun.id) in c.get(reverse("capture:gallery") + f"?date={today}").content.decode()
    assert str(fun.id) not in c.get(reverse("capture:gallery") + "?date=2001-01-01").content.decode()
    assert c.get(reverse("capture:gallery") + "?feedback=maybe").status_code == 404


def test_the_shot_page_shows_both_images_degrees_rule_divergence_and_the_replay(alice, frame):
    shot = make_shot(alice, frame)
    page = client_for(alice).get(reverse("capture:shot", args=[shot.id]))
    body = page.content.decode()
    assert page.status_code == 200
    assert (
        reverse("capture:shot-original", args=[shot.id]) in body
        and reverse("capture:shot-reconstruction", args=[shot.id]) in body
    )
    assert 'id="slider"' in body and "Exposure" in body and "0.40" in body and "0.55" in body
    assert "too far" in body and "lighting.exposure" in body
    replay = page.context["replay"]
    assert [s["stage"] for s in replay] == ["original", "placeholder", "preview", "reconstruction"]
    assert replay[1]["placeholder"]["colour"] == "#102030"
    assert replay[2]["image"] == reverse("capture:shot-stage", args=[shot.id, 2])
    stage = client_for(alice).get(replay[2]["image"])
    assert stage.status_code == 200 and b"".join(stage.streaming_content)[:2] == b"\xff\xd8"


def test_the_shot_page_and_the_manifest_say_when_a_bigger_smile_was_asked(alice, frame):
    why = "the smile took only in part (p(happy) 0.00 → 0.48)"
    raised = [{"group": "expression", "element": "expression.smile", "from": 0.55, "to": 0.7, "why": why}]
    shot = make_shot(alice, frame, check={"checked": {"independent": ["face-api"]}, "left_out": [], "raised": raised})
    body = client_for(alice).get(reverse("capture:shot", args=[shot.id])).content.decode()
    assert 'data-raised="expression.smile"' in body
    assert "A bigger smile was asked of expression (0.55 → 0.70): the smile took only in part" in body
    response = client_for(alice).get(reverse("capture:shot-download", args=[shot.id]) + "?what=both")
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    record = json.loads(archive.read(next(n for n in archive.namelist() if n.endswith(".json"))))["record"]
    assert record["self_check"]["raised"] == raised


@pytest.mark.parametrize(
    "name",
    [
        "capture:shot",
        "capture:shot-original",
        "capture:shot-reconstruction",
        "capture:shot-thumb",
        "capture:shot-recorded",
        "capture:shot-download",
    ],
)
def test_another_users_shot_and_its_files_answer_404(alice, bob, frame, name):
    shot = make_shot(alice, frame)
    assert client_for(bob).get(reverse(name, args=[shot.id])).status_code == 404
    assert client_for(alice).get(reverse(name, args=[shot.id])).status_code == 200


def test_another_users_replay_image_feedback_and_delete_answer_404(alice, bob, frame):
    shot = make_shot(alice, frame)
    bobs = client_for(bob)
    assert bobs.get(reverse("capture:shot-stage", args=[shot.id, 2])).status_code == 404
    assert bobs.post(reverse("capture:shot-feedback", args=[shot.id]), {"verdict": "accepted"}).status_code == 404
    assert bobs.post(reverse("capture:shot-delete", args=[shot.id])).status_code == 404
    assert Shot.objects.filter(pk=shot.pk, feedback=Shot.NO_FEEDBACK).exists()


def test_state_changes_need_post_and_csrf(alice, frame):
    shot = make_shot(alice, frame)
    c = client_for(alice)
    assert c.get(reverse("capture:shot-feedback", args=[shot.id])).status_code == 405
    assert c.get(reverse("capture:shot-delete", args=[shot.id])).status_code == 405
    strict = Client(enforce_csrf_checks=True)
    strict.login(username="alice", password=PASSWORD)
    assert strict.post(reverse("capture:shot-feedback", args=[shot.id]), {"verdict": "accepted"}).status_code == 403
    assert strict.post(reverse("capture:shot-delete", args=[shot.id])).status_code == 403
    assert Shot.objects.filter(pk=shot.pk).exists()


def test_accepting_adds_the_pair_to_the_learning_data_and_fine_tunes_the_models(alice, frame):
    shot = make_shot(alice, frame)
    response = client_for(alice).post(
        reverse("capture:shot-feedback", args=[shot.id]), {"verdict": "accepted"}, HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 200 and response.json()["verdict"] == "accepted"
    shot.refresh_from_db()
    assert shot.feedback == Verdict.ACCEPTED and shot.recorded_kind == "reconstruction"
    original = LearningSample.objects.get(user=alice, source=LearningSample.SOURCE_ACCEPTED)
    edit = LearningSample.objects.get(user=alice, source=LearningSample.SOURCE_ACCEPTED_EDIT)
    assert (original.elements["lighting.exposure"], edit.elements["lighting.exposure"]) == (0.40, 0.55)
    fb = Feedback.objects.get(shot_id=shot.id)
    assert fb.targets == {"lighting.exposure": 0.55} and fb.groups == ["lighting"]
    assert fb.source["lighting.exposure"] == 0.40 and fb.reached["lighting.exposure"] == 0.55
    assert TrainingRun.objects.filter(user=alice, group="lighting", status=TrainingRun.QUEUED, fine_tune=True).exists()


def test_rejecting_keeps_the_original_and_moves_the_intention_away_from_the_edit(alice, frame):
    shot = make_shot(alice, frame)
    client_for(alice).post(reverse("capture:shot-feedback", args=[shot.id]), {"verdict": "rejected"})
    shot.refresh_from_db()
    assert shot.feedback == Verdict.REJECTED and shot.recorded_kind == "original"
    recorded = client_for(alice).get(reverse("capture:shot-recorded", args=[shot.id]))
    with shot.original.open("rb") as fh:
        # The original's pixels, now carrying Content Credentials that say it was kept.
        assert np.array_equal(decode_jpeg(b"".join(recorded.streaming_content)), decode_jpeg(fh.read()))
    assert LearningSample.objects.filter(user=alice, source=LearningSample.SOURCE_REJECTED).count() == 1
    table = model_services.intention_table_for(alice)
    before = DEFAULT_TABLE["portrait"]["lighting.exposure"]
    assert table["portrait"]["lighting.exposure"] == pytest.approx(before + 0.3 * (0.40 - before), abs=1e-3)
    assert Feedback.objects.get(shot_id=shot.id).table_shift == {
        "lighting.exposure": [before, table["portrait"]["lighting.exposure"]]
    }
    assert TrainingRun.objects.filter(user=alice, group="lighting").exists()


def test_the_same_verdict_twice_changes_nothing_the_second_time(alice, frame):
    shot = make_shot(alice, frame)
    first = services.give_feedback(alice, shot.id, "rejected")
    table = model_services.intention_table_for(alice)
    runs = TrainingRun.objects.filter(user=alice).count()
    again = services.give_feedback(alice, shot.id, "rejected")
    assert again.pk == first.pk and Feedback.objects.filter(shot_id=shot.id).count() == 1
    assert model_services.intention_table_for(alice) == table  # shifted once, not twice
    assert LearningSample.objects.filter(user=alice, source=LearningSample.SOURCE_REJECTED).count() == 1
    assert TrainingRun.objects.filter(user=alice).count() == runs


def test_switching_a_verdict_undoes_the_first_ones_effects(alice, frame):
    shot = make_shot(alice, frame)
    before = model_services.intention_table_for(alice)["portrait"]["lighting.exposure"]
    services.give_feedback(alice, shot.id, "rejected")
    assert model_services.intention_table_for(alice)["portrait"]["lighting.exposure"] != before
    services.give_feedback(alice, shot.id, "accepted")
    # The rejection's shift and negative example are gone; the acceptance's pair is there.
    assert model_services.intention_table_for(alice)["portrait"]["lighting.exposure"] == pytest.approx(before)
    assert not LearningSample.objects.filter(user=alice, source=LearningSample.SOURCE_REJECTED).exists()
    accepted = [LearningSample.SOURCE_ACCEPTED, LearningSample.SOURCE_ACCEPTED_EDIT]
    assert LearningSample.objects.filter(user=alice, source__in=accepted).count() == 2
    shot.refresh_from_db()
    assert shot.feedback == Verdict.ACCEPTED
    services.give_feedback(alice, shot.id, "rejected")  # and back again
    assert not LearningSample.objects.filter(user=alice, source__in=accepted).exists()
    assert LearningSample.objects.filter(user=alice, source=LearningSample.SOURCE_REJECTED).count() == 1
    shifted = model_services.intention_table_for(alice)["portrait"]["lighting.exposure"]
    assert shifted == pytest.approx(before + 0.3 * (0.40 - before), abs=1e-3)  # one shift, not two


def test_an_unknown_verdict_is_refused_and_changes_nothing(alice, frame):
    shot = make_shot(alice, frame)
    response = client_for(alice).post(
        reverse("capture:shot-feedback", args=[shot.id]), {"verdict": "maybe"}, HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 400 and "accepted or rejected" in response.json()["error"]
    shot.refresh_from_db()
    assert shot.feedback == Shot.NO_FEEDBACK and shot.recorded_kind == "reconstruction"
    assert not Feedback.objects.exists() and not LearningSample.objects.exists()
    assert not TrainingRun.objects.filter(user=alice, fine_tune=True).exists()


def test_a_rejection_reads_only_the_original_and_the_same_verdict_again_reads_nothing(alice, frame):
    import os

    shot = make_shot(alice, frame)
    os.remove(shot.reconstruction.path)  # a rejection never needs the reconstruction's pixels
    first = services.give_feedback(alice, shot.id, "rejected")
    os.remove(shot.original.path)
    again = services.give_feedback(alice, shot.id, "rejected")  # nothing changes, so nothing is read
    assert again.pk == first.pk and Feedback.objects.filter(shot_id=shot.id).count() == 1


def test_a_shot_without_reconstruction_cannot_be_judged(alice, frame):
    shot = make_shot(alice, frame, reconstructed=False)
    response = client_for(alice).post(
        reverse("capture:shot-feedback", args=[shot.id]), {"verdict": "accepted"}, HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 400 and "no reconstruction" in response.json()["error"]
    assert not Feedback.objects.exists()
    page = client_for(alice).get(reverse("capture:shot", args=[shot.id]))
    assert page.status_code == 200 and "No reconstruction was made" in page.content.decode()
    assert 'id="accept"' not in page.content.decode()


def test_downloading_both_gives_the_images_and_the_manifest(alice, frame):
    shot = make_shot(alice, frame)
    services.give_feedback(alice, shot.id, "accepted")
    response = client_for(alice).get(reverse("capture:shot-download", args=[shot.id]) + "?what=both")
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    names = archive.namelist()
    assert any(n.endswith("-original.jpg") for n in names) and any(n.endswith("-reconstruction.jpg") for n in names)
    manifest = json.loads(archive.read(next(n for n in names if n.endswith("manifest.json"))))
    original = archive.read(next(n for n in names if n.endswith("-original.jpg")))
    with shot.original.open("rb") as fh:
        assert hashlib.sha256(original).digest() == hashlib.sha256(fh.read()).digest()  # the camera's file, unsigned
    record = manifest["record"]
    assert [s["stage"] for s in record["preview"]["stages"]] == ["original", "placeholder", "preview", "reconstruction"]
    assert record["models"] == {"lighting": 1} and record["targets"] == {"lighting.exposure": 0.55}
    assert record["preview"]["mode"] == 2 and manifest["state"] == "valid"
    assert [a["action"] for a in manifest["actions"]] == ["c2pa.opened", "c2pa.edited"]
    single = client_for(alice).get(reverse("capture:shot-download", args=[shot.id]) + "?what=original")
    assert "attachment" in single["Content-Disposition"]


def test_deleting_a_shot_removes_its_files_and_replay_record(alice, frame):
    shot = make_shot(alice, frame)
    files = [shot.original, shot.reconstruction, shot.thumbnail, ShotStage.objects.get(shot=shot, index=2).image]
    paths = [f.path for f in files]
    assert all(__import__("os").path.exists(p) for p in paths)
    response = client_for(alice).post(reverse("capture:shot-delete", args=[shot.id]))
    assert response.status_code == 302
    assert not Shot.objects.filter(pk=shot.pk).exists() and not ShotStage.objects.exists()
    assert not any(__import__("os").path.exists(p) for p in paths)


def test_deleting_a_judged_shot_removes_its_verdicts_and_keeps_the_learning_data_it_gave(alice, bob, frame):
    shot = make_shot(alice, frame)
    services.give_feedback(alice, shot.id, "rejected")
    bobs = make_shot(bob, frame)
    services.give_feedback(bob, bobs.id, "accepted")
    verdicts, ids = model_services.verdicts_for(alice, "lighting")
    assert len(verdicts) == 1 and ids == [Feedback.objects.get(shot_id=shot.id).pk]
    # bob cannot make alice's verdicts go
    model_services.forget_shot(bob, shot.id)
    assert Feedback.objects.filter(shot_id=shot.id).count() == 1
    response = client_for(alice).post(reverse("capture:shot-delete", args=[shot.id]))
    assert response.status_code == 302
    assert not Feedback.objects.filter(user=alice).exists()
    assert model_services.verdicts_for(alice, "lighting") == ([], [])
    kept = LearningSample.objects.get(user=alice, source=LearningSample.SOURCE_REJECTED)
    assert kept.feedback_id is None and kept.image.storage.exists(kept.image.name)
    assert Feedback.objects.filter(user=bob, shot_id=bobs.id).count() == 1


def test_history_shows_shots_feedback_and_trainings_of_mine_only(alice, bob, frame):
    shot = make_shot(alice, frame)
    services.give_feedback(alice, shot.id, "rejected")
    make_shot(bob, frame)
    page = client_for(alice).get(reverse("capture:history"))
    kinds = [e["kind"] for e in page.context["events"]]
    assert page.status_code == 200 and set(kinds) == {"shot", "feedback", "training"} and kinds.count("shot") == 1
    assert "lighting.exposure" in page.content.decode()


def test_deleting_a_user_deletes_their_shots_files_and_learning_data(alice, frame):
    import os

    shot = make_shot(alice, frame)
    services.give_feedback(alice, shot.id, "accepted")
    paths = [shot.original.path, shot.reconstruction.path] + [
        s.image.path for s in LearningSample.objects.filter(user=alice)
    ]
    alice.delete()
    assert not any(os.path.exists(p) for p in paths)
    assert not LearningSample.objects.exists() and not Feedback.objects.exists()


def test_the_gallery_opens_with_hundreds_of_shots_in_a_few_queries(alice, django_assert_max_num_queries):
    Shot.objects.bulk_create(
        [
            Shot(
                user=alice,
                original=f"users/{alice.pk}/shots/x{i}.jpg",
                width=640,
                height=480,
                intention_name="fun",
                status=Shot.DONE,
            )
            for i in range(400)
        ]
    )
    c = client_for(alice)
    with django_assert_max_num_queries(6):
        page = c.get(reverse("capture:gallery") + "?page=9")
    assert page.status_code == 200 and page.content.decode().count('class="thumb"') == 24
    assert "page 9 of 17" in page.content.decode()
