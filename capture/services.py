"""The only code that writes capture rows. Views and consumers call these."""

from __future__ import annotations

from datetime import timedelta

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


def save_shot(user, jpeg: bytes, analysis: dict, status: str = Shot.DONE) -> Shot:
    """Store the original exactly as captured, with every degree measured on it."""
    shot = Shot(
        user=user,
        status=status,
        width=analysis["width"],
        height=analysis["height"],
        elements=analysis["elements"],
        faces=analysis["faces"],
    )
    shot.original.save(f"{shot.id}.jpg", ContentFile(jpeg), save=False)
    shot.save()
    return shot


def attempts_at_scene(user, shot: Shot, window_s: float = 180.0) -> int:
    """This shot's number among the user's recent shots of the same scene ([0059]): same number of
    faces, the main subject in about the same place and size, within the last few minutes."""
    since = shot.created_at - timedelta(seconds=window_s)
    earlier = shots_for(user).filter(created_at__gte=since, created_at__lt=shot.created_at).only("elements", "faces")
    here = shot.elements

    def close(a, b, name, tolerance=0.15):
        x, y = a.get(name), b.get(name)
        return (x is None and y is None) or (x is not None and y is not None and abs(x - y) <= tolerance)

    same = [s for s in earlier if len(s.faces) == len(shot.faces)
            and all(close(here, s.elements, n) for n in ("composition.subject_x", "composition.subject_size"))]
    return 1 + len(same)


def record_reconstruction(shot: Shot, jpeg: bytes | None, plan: dict, stages: list[dict],
                          degrees: dict, message: str = "") -> Shot:
    """Record the shot's reconstruction (claim 8: the full one, never a softened preview) and what
    was shown. Without a reconstruction (no models, or every model failed) the original stays the
    recorded photo."""
    if jpeg is not None:
        shot.reconstruction.save(f"{shot.id}-reconstruction.jpg", ContentFile(jpeg), save=False)
        shot.reconstructed_elements = degrees
    shot.intention = plan.get("intention", {})
    shot.rule = plan.get("rule", {})
    shot.models_used = plan.get("models", {})
    shot.stages = stages
    shot.message = message[:500]
    shot.status = Shot.DONE
    shot.save()
    return shot


def mark_shot_failed(shot: Shot, message: str) -> None:
    Shot.objects.filter(pk=shot.pk).update(status=Shot.FAILED, message=message[:500])


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
