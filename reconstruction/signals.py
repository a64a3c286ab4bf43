"""Weights go with their rows (a deleted version, or every version of a deleted user)."""

from django.db.models.signals import post_delete
from django.dispatch import receiver

from . import storage
from .models import ModelVersion


@receiver(post_delete, sender=ModelVersion)
def _delete_weights(sender, instance: ModelVersion, **kwargs):
    storage.absolute(instance.weights).unlink(missing_ok=True)
