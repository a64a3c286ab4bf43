"""Learning data (the frames models train on, and the verdicts they learn from) is kept by
``reconstruction.services``; capture hands it over and never writes these rows itself."""

import pytest

from capture import services as capture_services
from reconstruction import services
from reconstruction.models import LearningSample
from tests.conftest import solid_jpeg

pytestmark = [pytest.mark.django_db, pytest.mark.db]

ANALYSIS = {"width": 320, "height": 240, "elements": {"lighting.exposure": 0.4}, "faces": []}


def test_learning_data_is_bounded_and_drops_the_oldest_first(alice, bob, settings):
    settings.FLUX_LEARNING_MAX_PER_USER = 3
    made = [services.record_learning_sample(alice, solid_jpeg(rgb=(i * 20, 0, 0)), ANALYSIS) for i in range(5)]
    services.record_learning_sample(bob, solid_jpeg(), ANALYSIS)
    kept = list(services.learning_samples_for(alice).order_by("created_at", "id"))
    assert [s.pk for s in kept] == [s.pk for s in made[2:]]
    for gone in made[:2]:
        assert not gone.image.storage.exists(gone.image.name)
    assert services.learning_samples_for(bob).count() == 1


def test_deleting_a_user_deletes_their_shots_samples_and_files(alice, bob):
    shot = capture_services.save_shot(alice, solid_jpeg(), ANALYSIS)
    sample = services.record_learning_sample(alice, solid_jpeg(), ANALYSIS)
    bobs = capture_services.save_shot(bob, solid_jpeg(), ANALYSIS)
    storage = shot.original.storage
    assert storage.exists(shot.original.name) and storage.exists(sample.image.name)
    alice.delete()
    assert not storage.exists(shot.original.name)
    assert not storage.exists(sample.image.name)
    assert LearningSample.objects.count() == 0
    assert storage.exists(bobs.original.name)
