"""Per-user fluctuation models (the model store), their training runs, and what they learn from:
the user's learning frames and verdicts. Rows are written only by ``reconstruction.services``;
weights live under ``models/<user id>/<group>/<version>.pt``."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from .core import divergence, preview

_PREVIEW, _DIVERGENCE = preview.PreviewSettings(), divergence.DivergenceSettings()  # the defaults


def _sample_path(instance: "LearningSample", filename: str) -> str:
    return f"users/{instance.user_id}/learning/{uuid.uuid4().hex}.jpg"


class Verdict(models.TextChoices):
    """The one vocabulary of a user's answer on a reconstruction: each ``Feedback`` row's, the
    shot's latest (``capture``'s ``Shot.feedback``), the page's form and the JSON answer."""

    ACCEPTED = "accepted", "accepted"
    REJECTED = "rejected", "rejected"


class Feedback(models.Model):
    """A user's verdict on a shot's reconstruction ([0092]) and the edit it judged: what the models
    that made the edit learn from. The latest one per shot counts; earlier ones stay as history."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="feedback")
    # The judged shot is capture's: kept as its id, so that this app depends on no other (capture
    # removes a deleted shot's verdicts through reconstruction.services.forget_shot).
    shot_id = models.UUIDField(db_index=True)
    verdict = models.CharField(max_length=8, choices=Verdict.choices)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    intention = models.CharField(max_length=32, blank=True)
    targets = models.JSONField(default=dict)  # element -> the degree the rule asked for
    groups = models.JSONField(default=list)  # the models whose edits were judged
    table_shift = models.JSONField(default=dict)  # element -> (old ideal, new ideal) after a rejection
    source = models.JSONField(default=dict)  # element -> the degree the shot had
    reached = models.JSONField(default=dict)  # element -> the degree the judged reconstruction had
    exemplars = models.JSONField(default=dict)  # group -> the face that lent its pixels to the edit (its fingerprint)

    class Meta:
        ordering = ["-created_at"]


class LearningSample(models.Model):
    """A frame kept as training data for the user's fluctuation models (the specification's
    training images), with its degrees. Bounded per user; the oldest go first."""

    SOURCE_STREAM = "stream"
    SOURCE_SHOT = "shot"
    SOURCE_IMPORT = "import"
    SOURCE_ACCEPTED = "accepted"  # the original of a shot whose reconstruction was accepted
    SOURCE_ACCEPTED_EDIT = "accepted_edit"  # the accepted reconstruction itself: a positive example of an edit
    SOURCE_REJECTED = "rejected"
    SOURCES = [
        (SOURCE_STREAM, "live stream"),
        (SOURCE_SHOT, "shutter"),
        (SOURCE_IMPORT, "imported"),
        (SOURCE_ACCEPTED, "accepted shot's original"),
        (SOURCE_ACCEPTED_EDIT, "accepted reconstruction"),
        (SOURCE_REJECTED, "rejected shot"),
    ]

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="learning_samples")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    source = models.CharField(max_length=16, choices=SOURCES, default=SOURCE_STREAM)
    image = models.FileField(upload_to=_sample_path)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    elements = models.JSONField(default=dict)
    faces = models.JSONField(default=list)
    feedback = models.ForeignKey(Feedback, null=True, blank=True, on_delete=models.SET_NULL, related_name="samples")

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["user", "created_at"])]


class ModelVersion(models.Model):
    """One trained version of one user's model for one element group, with the statistics of the
    data it learned from (where its reconstructable range comes from, FIG. 5A)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="model_versions")
    group = models.CharField(max_length=32)
    version = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    active = models.BooleanField(default=False)  # the version generation uses
    samples = models.PositiveIntegerField(default=0)
    seconds = models.FloatField(default=0.0)
    device = models.CharField(max_length=16, default="cpu")
    ranges = models.JSONField(default=dict)  # element -> [lo, hi] or None (not reconstructable)
    histograms = models.JSONField(default=dict)  # element -> 20 counts over [0, 1]
    missing = models.JSONField(default=list)  # what the data lacked, for the user
    metrics = models.JSONField(default=dict)  # training and quality figures
    weights = models.CharField(max_length=255)  # path under FLUX_MODELS_DIR
    learned_from = models.ManyToManyField(
        Feedback, blank=True, related_name="model_versions"
    )  # the verdicts it learned from

    class Meta:
        ordering = ["group", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["user", "group", "version"], name="one_row_per_version"),
            models.UniqueConstraint(fields=["user", "group"], condition=Q(active=True), name="one_active_version"),
        ]

    def __str__(self):
        return f"{self.group} v{self.version} of {self.user_id}"


class TrainingRun(models.Model):
    QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "running", "succeeded", "failed"
    # Ended without a version because the learning data is too little or too uniform yet: not a
    # failure; its message says what to shoot.
    WAITING = "waiting"
    STATUSES = [(s, s) for s in (QUEUED, RUNNING, SUCCEEDED, FAILED, WAITING)]

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="training_runs")
    group = models.CharField(max_length=32)
    status = models.CharField(max_length=16, choices=STATUSES, default=QUEUED)
    steps = models.PositiveIntegerField(null=True, blank=True)  # override of the model's training steps
    fine_tune = models.BooleanField(default=False)  # start from the active version (after feedback)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)  # a running run that stops beating has died
    # The worker running it (host:pid) and how many workers have started it: one whose worker died
    # is taken over by another (services.take_over_stale_runs), up to FLUX_TRAINING_ATTEMPTS.
    worker = models.CharField(max_length=160, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    step = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    loss = models.FloatField(null=True, blank=True)
    message = models.CharField(max_length=500, blank=True)
    result = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # Two trainings of the same user's group never run at once.
            models.UniqueConstraint(
                fields=["user", "group"], condition=Q(status__in=["queued", "running"]), name="one_live_run_per_group"
            ),
        ]


class ShootingPreferences(models.Model):
    """How a user's shots are previewed and judged (the settings page). Missing row = defaults."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="shooting_preferences")
    preview_mode = models.PositiveSmallIntegerField(choices=list(preview.MODES.items()), default=_PREVIEW.mode)
    soften = models.CharField(max_length=16, choices=list(preview.SOFTENINGS.items()), default=_PREVIEW.soften)
    sequence_unit = models.CharField(max_length=16, choices=list(preview.UNITS.items()), default=_PREVIEW.unit)
    sequence_order = models.CharField(max_length=16, choices=list(preview.ORDERS.items()), default=_PREVIEW.order)
    placeholder = models.CharField(
        max_length=16, choices=list(preview.PLACEHOLDERS.items()), default=_PREVIEW.placeholder
    )
    placeholder_colour = models.CharField(max_length=7, default=_PREVIEW.placeholder_colour)
    divergence_method = models.CharField(
        max_length=16, choices=list(divergence.METHODS.items()), default=_DIVERGENCE.method
    )
    divergence_scale = models.FloatField(default=_DIVERGENCE.scale)  # multiplies every element threshold
    pixel_fraction = models.FloatField(
        default=_DIVERGENCE.pixel_fraction
    )  # share of the frame that must change (claim 10)
    model_order = models.JSONField(default=list, blank=True)  # groups in the user's order; empty = largest gap first
    updated_at = models.DateTimeField(auto_now=True)

    def preview_settings(self) -> preview.PreviewSettings:
        return preview.PreviewSettings(
            mode=self.preview_mode,
            soften=self.soften,
            unit=self.sequence_unit,
            order=self.sequence_order,
            placeholder=self.placeholder,
            placeholder_colour=self.placeholder_colour,
        )

    def divergence_settings(self) -> divergence.DivergenceSettings:
        return divergence.DivergenceSettings(
            method=self.divergence_method, scale=self.divergence_scale, pixel_fraction=self.pixel_fraction
        )


class IntentionTable(models.Model):
    """A user's own row of the intention table (FIG. 5B); intentions without a row use the
    shipped defaults."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="intention_rows")
    intention = models.CharField(max_length=32)
    ideals = models.JSONField(default=dict)  # element -> ideal degree; elements left out are not changed
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "intention"], name="one_row_per_intention")]
