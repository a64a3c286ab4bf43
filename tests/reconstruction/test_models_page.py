"""My models over HTTP: listing, training requests, progress, rollback, delete, and privacy."""

import html

import pytest
from django.urls import reverse

from reconstruction import services, storage
from reconstruction.core.generators import save_checkpoint
from reconstruction.models import ModelVersion, TrainingRun

pytestmark = [pytest.mark.django_db, pytest.mark.db]


@pytest.fixture(autouse=True)
def _weights(small_models):
    """Versions made by ``make_version`` get a real weights file, as trained ones have."""
    global WEIGHTS
    WEIGHTS = small_models


def make_version(user, group="lighting", version=1, active=True):
    row = ModelVersion.objects.create(
        user=user,
        group=group,
        version=version,
        active=False,
        samples=40,
        seconds=3.2,
        ranges={"lighting.exposure": [0.2, 0.7], "lighting.light_direction": None},
        histograms={"lighting.exposure": [0] * 4 + [10] * 10 + [0] * 6, "lighting.light_direction": [0] * 20},
        missing=["Light direction: too uniform; shoot a few seconds from the left and a few from the right"],
        metrics={"exposure_fit_rmse": 0.05},
        weights=f"{user.pk}/{group}/{version}.pt",
    )
    path = storage.absolute(row.weights)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(WEIGHTS[group], path)
    if active:
        services.activate(user, row.pk)
    return row


WEIGHTS: dict = {}


def test_the_models_page_requires_login(client):
    assert client.get(reverse("reconstruction:models")).status_code == 302


def test_it_shows_each_version_with_its_histogram_range_and_what_is_missing(client, alice):
    make_version(alice, version=1, active=False)
    make_version(alice, version=2)
    client.force_login(alice)
    page = client.get(reverse("reconstruction:models")).content.decode()
    assert "version 2 in use" in page
    assert page.count('<tr class="') == 2  # the update history keeps older versions
    assert 'class="range"' in page and "range 0.20–0.70" in page
    assert "too uniform" in page
    assert "not trained" in page  # the groups without a model


def test_training_is_requested_by_post_and_a_second_request_waits(client, alice):
    client.force_login(alice)
    assert client.get(reverse("reconstruction:train", args=["lighting"])).status_code == 405
    client.post(reverse("reconstruction:train", args=["lighting"]))
    response = client.post(reverse("reconstruction:train", args=["lighting"]), follow=True)
    assert "already training" in response.content.decode()
    assert TrainingRun.objects.filter(user=alice, group="lighting").count() == 1
    assert client.post(reverse("reconstruction:train", args=["nonsense"])).status_code == 404


def test_progress_is_reported_for_the_users_own_runs_only(client, alice, bob):
    run = services.start_training(alice, "expression", enqueue=False)
    TrainingRun.objects.filter(pk=run.pk).update(status=TrainingRun.RUNNING, step=30, total=120, loss=0.31)
    services.start_training(bob, "climate", enqueue=False)
    client.force_login(alice)
    runs = client.get(reverse("reconstruction:runs")).json()["runs"]
    assert [(r["group"], r["status"], r["step"], r["total"]) for r in runs] == [("expression", "running", 30, 120)]


def test_rollback_and_delete_are_posts_and_others_models_answer_404(client, alice, bob):
    old = make_version(alice, version=1, active=False)
    new = make_version(alice, version=2)
    client.force_login(bob)
    assert client.post(reverse("reconstruction:activate", args=[old.pk])).status_code == 404
    assert client.post(reverse("reconstruction:delete", args=[new.pk])).status_code == 404
    client.force_login(alice)
    assert client.get(reverse("reconstruction:activate", args=[old.pk])).status_code == 405
    client.post(reverse("reconstruction:activate", args=[old.pk]))
    old.refresh_from_db()
    assert old.active
    client.post(reverse("reconstruction:delete", args=[new.pk]))
    assert not ModelVersion.objects.filter(pk=new.pk).exists()


def test_each_version_shows_how_its_figures_moved_since_the_version_before(client, alice):
    old = make_version(alice, version=1, active=False)
    new = make_version(alice, version=2)
    ModelVersion.objects.filter(pk=old.pk).update(metrics={"exposure_fit_rmse": 0.05, "progress.exposure": 0.80})
    ModelVersion.objects.filter(pk=new.pk).update(
        metrics={"exposure_fit_rmse": 0.05, "progress.exposure": 0.86, "fine_tune_pairs": 100}
    )
    client.force_login(alice)
    page = client.get(reverse("reconstruction:models")).content.decode()
    assert 'progress.exposure 0.86 <span class="delta" title="since the version before">(+0.06)</span>' in page
    assert "exposure_fit_rmse 0.05</span>" in page  # unchanged: no delta
    assert page.count('class="delta"') == 1  # the first version has nothing to compare with


def test_each_element_gets_a_sentence_and_the_raw_figures_sit_behind_a_toggle(client, alice):
    make_version(alice, version=1)
    client.force_login(alice)
    page = html.unescape(client.get(reverse("reconstruction:models")).content.decode())
    # Exposure reaches 0.20–0.70: the user is told what to shoot to go further.
    assert 'Exposure: from 0.20 to 0.70 of 0–1; shoot a few frames where it is "bright" to go further' in page
    assert "Light direction: too uniform; shoot a few seconds from the left" in page
    assert "<details><summary>figures</summary>" in page and "exposure_fit_rmse 0.05" in page


def test_a_new_version_whose_figures_fell_says_so(client, alice):
    old = make_version(alice, version=1, active=False)
    new = make_version(alice, version=2)
    ModelVersion.objects.filter(pk=old.pk).update(metrics={"progress.exposure": 0.98})
    ModelVersion.objects.filter(pk=new.pk).update(metrics={"progress.exposure": 0.49})
    client.force_login(alice)
    page = client.get(reverse("reconstruction:models")).content.decode()
    assert "Worse than the version before: exposure reached 0.98 → 0.49" in page
    assert page.count('class="fell"') == 1


def test_a_group_without_enough_data_waits_for_data_instead_of_failing(client, alice):
    TrainingRun.objects.create(
        user=alice,
        group="expression",
        status=TrainingRun.WAITING,
        message="Smile: only 0 frames measured; shoot a few more seconds with your face in view",
    )
    client.force_login(alice)
    page = client.get(reverse("reconstruction:models")).content.decode()
    section = page[page.index('data-group="expression"') :][:3000]
    assert "waiting for data" in section and 'data-status="waiting"' in section
    assert "failed" not in section
    assert client.get(reverse("reconstruction:runs")).json()["runs"][0]["status"] == "waiting"
