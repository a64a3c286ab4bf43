import pytest

from capture import services
from tests.conftest import solid_jpeg

pytestmark = [pytest.mark.django_db, pytest.mark.db]

ANALYSIS = {"width": 320, "height": 240, "elements": {"lighting.exposure": 0.4}, "faces": []}


def test_each_user_sees_only_their_own_shots(alice, bob):
    services.save_shot(alice, solid_jpeg(), ANALYSIS)
    assert services.shots_for(alice).count() == 1
    assert services.shots_for(bob).count() == 0


def test_attempts_count_recent_shots_of_the_same_scene_only(alice, bob):
    from datetime import timedelta

    from django.utils import timezone

    from capture.models import Shot

    here = {"composition.subject_x": 0.5, "composition.subject_size": 0.4}
    elsewhere = {"composition.subject_x": 0.1, "composition.subject_size": 0.4}

    def shot(user, elements, faces=1, ago=0):
        s = services.save_shot(
            user, solid_jpeg(), {"width": 320, "height": 240, "elements": elements, "faces": [{}] * faces}
        )
        Shot.objects.filter(pk=s.pk).update(created_at=timezone.now() - timedelta(seconds=ago))
        s.refresh_from_db()
        return s

    shot(alice, here, ago=60)
    shot(alice, here, ago=30)
    shot(alice, elsewhere, ago=20)  # another framing
    shot(alice, here, faces=2, ago=10)  # another group of people
    shot(alice, here, ago=600)  # too long ago
    shot(bob, here, ago=5)  # someone else's
    latest = shot(alice, here)
    assert services.attempts_at_scene(alice, latest) == 3
