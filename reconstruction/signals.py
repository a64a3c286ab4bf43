"""Files go with their rows (a deleted version, a pruned learning frame, or everything of a deleted
user): weights and learning frames."""

from django.db.models.signals import post_delete
from django.dispatch import receiver

from . import storage
from .models import LearningSample, ModelVersion


@receiver(post_delete, sender=ModelVersion)
def _delete_weights(sender, instance: ModelVersion, **kwargs):
    storage.absolute(instance.weights).unlink(missing_ok=True)


@receiver(post_delete, sender=LearningSample)
def _delete_sample_file(sender, instance: LearningSample, **kwargs):
    if instance.image:
        instance.image.storage.delete(instance.image.name)
