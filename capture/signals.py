"""Files belong to their rows: when a row goes (directly or through a deleted user), so does its file."""

from django.db.models.signals import post_delete
from django.dispatch import receiver

from .models import LearningSample, Shot, ShotStage


@receiver(post_delete, sender=Shot)
def _delete_shot_file(sender, instance: Shot, **kwargs):
    for field in (instance.original, instance.reconstruction, instance.thumbnail):
        if field:
            field.storage.delete(field.name)


@receiver(post_delete, sender=ShotStage)
def _delete_stage_file(sender, instance: ShotStage, **kwargs):
    if instance.image:
        instance.image.storage.delete(instance.image.name)


@receiver(post_delete, sender=LearningSample)
def _delete_sample_file(sender, instance: LearningSample, **kwargs):
    if instance.image:
        instance.image.storage.delete(instance.image.name)
