"""The only code that writes capture rows. Views and consumers call these."""

from __future__ import annotations

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.shortcuts import get_object_or_404

from .models import LearningSample, Shot


def shots_for(user):
    """Every query for shots goes through here, so a user only ever sees their own."""
    return Shot.objects.filter(user=user)


def get_shot(user, shot_id) -> Shot:
    """The user's shot, or 404 (also for someone else's)."""
    return get_object_or_404(shots_for(user), pk=shot_id)


def learning_samples_for(user):
    return LearningSample.objects.filter(user=user)


def save_shot(user, jpeg: bytes, analysis: dict) -> Shot:
    """Store the original exactly as captured, with every degree measured on it."""
    shot = Shot(
        user=user,
        width=analysis["width"],
        height=analysis["height"],
        elements=analysis["elements"],
        faces=analysis["faces"],
    )
    shot.original.save(f"{shot.id}.jpg", ContentFile(jpeg), save=False)
    shot.save()
    return shot


def record_learning_sample(user, jpeg: bytes, analysis: dict, source: str = LearningSample.SOURCE_STREAM) -> LearningSample:
    """Keep a frame as learning data, then drop the user's oldest beyond the bound."""
    sample = LearningSample(
        user=user,
        source=source,
        width=analysis["width"],
        height=analysis["height"],
        elements=analysis["elements"],
        faces=analysis["faces"],
    )
    sample.image.save("frame.jpg", ContentFile(jpeg), save=False)
    sample.save()
    prune_learning_samples(user)
    return sample


def prune_learning_samples(user, keep: int | None = None) -> int:
    keep = settings.FLUX_LEARNING_MAX_PER_USER if keep is None else keep
    with transaction.atomic():
        stale = list(learning_samples_for(user).order_by("-created_at", "-id").values_list("id", flat=True)[keep:])
        if not stale:
            return 0
        # Deleting row by row fires post_delete, which removes each file too.
        for sample in LearningSample.objects.filter(id__in=stale):
            sample.delete()
    return len(stale)
