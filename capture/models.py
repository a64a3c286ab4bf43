"""Shots and learning samples. Rows are written only by ``capture.services``."""

import uuid

from django.conf import settings
from django.db import models


def _shot_path(instance: "Shot", filename: str) -> str:
    return f"users/{instance.user_id}/shots/{instance.id}.jpg"


def _reconstruction_path(instance: "Shot", filename: str) -> str:
    return f"users/{instance.user_id}/shots/{instance.id}-reconstruction.jpg"


def _sample_path(instance: "LearningSample", filename: str) -> str:
    return f"users/{instance.user_id}/learning/{uuid.uuid4().hex}.jpg"


class Shot(models.Model):
    """A photo the user took with the shutter: the original (the specification's first image)
    and every element's degree measured on it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="shots")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    original = models.FileField(upload_to=_shot_path)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    elements = models.JSONField(default=dict)  # element name -> degree or None (absent)
    faces = models.JSONField(default=list)  # per face: normalised box, main flag, own degrees
    # The staged preview (issue 4). The recorded photo is the reconstruction when there is one
    # (claim 8), else the original; softened previews are never stored as the shot.
    PROCESSING, DONE, FAILED = "processing", "done", "failed"
    status = models.CharField(max_length=16, default=DONE, choices=[(s, s) for s in (PROCESSING, DONE, FAILED)])
    reconstruction = models.FileField(upload_to=_reconstruction_path, blank=True)
    reconstructed_elements = models.JSONField(default=dict, blank=True)  # degrees measured on the reconstruction
    intention = models.JSONField(default=dict, blank=True)  # name, source, confidence, reasons, wished
    rule = models.JSONField(default=dict, blank=True)  # steps (group, targets, ...) and skipped groups
    stages = models.JSONField(default=list, blank=True)  # what was shown, in order, without the images
    models_used = models.JSONField(default=dict, blank=True)  # group -> version
    message = models.CharField(max_length=500, blank=True)  # for the user: no models yet, a model failed, ...

    @property
    def recorded(self):
        """The recorded photo: the reconstruction when one was made, else the original."""
        return self.reconstruction if self.reconstruction else self.original

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "-created_at"])]

    def __str__(self):
        return f"shot {self.id} of {self.user_id}"


class LearningSample(models.Model):
    """A frame kept as training data for the user's fluctuation models (the specification's
    training images), with its degrees. Bounded per user; the oldest go first."""

    SOURCE_STREAM = "stream"
    SOURCE_SHOT = "shot"
    SOURCE_IMPORT = "import"
    SOURCES = [(SOURCE_STREAM, "live stream"), (SOURCE_SHOT, "shutter"), (SOURCE_IMPORT, "imported")]

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="learning_samples")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    source = models.CharField(max_length=16, choices=SOURCES, default=SOURCE_STREAM)
    image = models.FileField(upload_to=_sample_path)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    elements = models.JSONField(default=dict)
    faces = models.JSONField(default=list)

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["user", "created_at"])]
