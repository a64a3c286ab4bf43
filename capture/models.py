"""Shots and what the page showed after the shutter. Rows are written only by ``capture.services``;
a shot's verdicts and the learning data it gave belong to ``reconstruction`` (where models learn)."""

import uuid

from django.conf import settings
from django.db import models

from reconstruction.models import Verdict


def _shot_path(instance: "Shot", filename: str) -> str:
    return f"users/{instance.user_id}/shots/{instance.id}.jpg"


def _reconstruction_path(instance: "Shot", filename: str) -> str:
    return f"users/{instance.user_id}/shots/{instance.id}-reconstruction.jpg"


def _thumbnail_path(instance: "Shot", filename: str) -> str:
    return f"users/{instance.user_id}/shots/{instance.id}-thumb.jpg"


def _kept_path(instance: "Shot", filename: str) -> str:
    return f"users/{instance.user_id}/shots/{instance.id}-kept.jpg"


def _stage_path(instance: "ShotStage", filename: str) -> str:
    return f"users/{instance.shot.user_id}/shots/{instance.shot_id}-stage-{instance.index}.jpg"


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
    # The staged preview. The recorded photo is the reconstruction when there is one
    # (claim 8), else the original; softened previews are never stored as the shot.
    PROCESSING, DONE, FAILED = "processing", "done", "failed"
    status = models.CharField(max_length=16, default=DONE, choices=[(s, s) for s in (PROCESSING, DONE, FAILED)])
    # The web process developing it (capture.processes.me: host and pid), so that a shot whose
    # process died is marked failed instead of developing forever.
    developer = models.CharField(max_length=160, blank=True)
    # What the shutter asked (the intention chosen, the wish said), kept so that developing the
    # shot again asks the same.
    asked = models.JSONField(default=dict, blank=True)
    reconstruction = models.FileField(upload_to=_reconstruction_path, blank=True)
    reconstructed_elements = models.JSONField(default=dict, blank=True)  # degrees measured on the reconstruction
    # The original with Content Credentials saying it was kept: where no model changed the photo,
    # or the user rejected the reconstruction (the reconstruction carries its own credentials).
    kept = models.FileField(upload_to=_kept_path, blank=True)
    intention = models.JSONField(default=dict, blank=True)  # name, source, confidence, reasons, wished
    rule = models.JSONField(default=dict, blank=True)  # steps (group, targets, ...) and skipped groups
    models_used = models.JSONField(default=dict, blank=True)  # group -> version
    preview_mode = models.PositiveSmallIntegerField(null=True, blank=True)  # the embodiment the stages followed (1-3)
    message = models.CharField(max_length=500, blank=True)  # for the user: no models yet, a model failed, ...
    intention_name = models.CharField(max_length=32, blank=True, db_index=True)  # for the gallery's filter
    thumbnail = models.FileField(upload_to=_thumbnail_path, blank=True)  # the recorded photo, small, for the gallery
    NO_FEEDBACK = "none"
    feedback = models.CharField(
        max_length=16, default=NO_FEEDBACK, db_index=True, choices=[(NO_FEEDBACK, "no feedback"), *Verdict.choices]
    )  # the latest verdict, or none

    @property
    def stages(self) -> list[dict]:
        """What was shown after the shutter, in order, without the images: the replay record
        (``ShotStage``) is the one place this is kept."""
        return [row.record for row in self.shown.all()]

    @property
    def recorded(self):
        """The recorded photo: the reconstruction when one was made and not rejected, else the
        original ([0092]: a rejected reconstruction leaves the original as the photo), signed as
        kept where it was."""
        if self.recorded_kind == "reconstruction":
            return self.reconstruction
        return self.kept or self.original

    @property
    def targets(self) -> dict[str, float]:
        """Every element the rule asked a model to change, with the degree it asked for."""
        return {k: v for step in self.rule.get("steps", []) for k, v in step.get("targets", {}).items()}

    @property
    def recorded_kind(self) -> str:
        return "reconstruction" if self.reconstruction and self.feedback != Verdict.REJECTED else "original"

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["user", "-created_at"]),
            # serve looks for shots left developing every few seconds: only those are indexed.
            models.Index(fields=["developer"], condition=models.Q(status="processing"), name="shots_developing"),
        ]

    def __str__(self):
        return f"shot {self.id} of {self.user_id}"


class ShotStage(models.Model):
    """What the page showed after the shutter, kept for the replay ([0092]): the
    softened previews' images live here, apart from the shot, which records only the full
    reconstruction (claim 8). The original and reconstruction stages point at the shot's files."""

    shot = models.ForeignKey(Shot, on_delete=models.CASCADE, related_name="shown")
    index = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=16)  # original, placeholder, preview or reconstruction
    image = models.FileField(upload_to=_stage_path, blank=True)  # previews only
    record = models.JSONField(default=dict)  # the stage as sent: groups, strength, degrees, divergence, note, ...

    class Meta:
        ordering = ["index"]
        constraints = [models.UniqueConstraint(fields=["shot", "index"], name="one_stage_per_index")]


def _take_path(instance: "ShotTake", filename: str) -> str:
    return f"users/{instance.shot.user_id}/shots/{instance.shot_id}-take-{instance.face}-{instance.index}.jpg"


class ShotTake(models.Model):
    """One of a person's own faces from the seconds before the shutter that a group shot's best
    take found for them (``reconstruction.core.besttake``): kept with the shot, so that the page can
    show each person's takes and develop the photo again with another one. The image is a crop of
    the streamed frame around that face; ``face`` holds its landmarks (x, y over the crop's size),
    box, degrees and where it looks."""

    shot = models.ForeignKey(Shot, on_delete=models.CASCADE, related_name="takes")
    face = models.PositiveSmallIntegerField()  # the face of the shot it was found for (its index)
    index = models.PositiveSmallIntegerField()  # its place among that face's takes (as the record's "takes")
    part = models.CharField(max_length=8)  # the part it would lend: eyes or mouth
    age = models.FloatField()  # seconds before the shutter
    image = models.FileField(upload_to=_take_path)
    face_data = models.JSONField(default=dict)
    chosen = models.BooleanField(default=False)  # blended into the recorded photo

    class Meta:
        ordering = ["face", "index"]
        constraints = [models.UniqueConstraint(fields=["shot", "face", "index"], name="one_take_per_place")]
