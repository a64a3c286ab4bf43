"""Per-user fluctuation models (the model store) and their training runs. Rows are written only by
``reconstruction.services``; weights live under ``models/<user id>/<group>/<version>.pt``."""

from django.conf import settings
from django.db import models
from django.db.models import Q


class FluctuationModel(models.Model):
    """One trained version of one user's model for one element group, with the statistics of the
    data it learned from (where its reconstructable range comes from, FIG. 5A)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="fluctuation_models")
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
    learned_from = models.ManyToManyField("capture.Feedback", blank=True, related_name="model_versions")  # feedback in its data

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
    STATUSES = [(s, s) for s in (QUEUED, RUNNING, SUCCEEDED, FAILED)]

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="training_runs")
    group = models.CharField(max_length=32)
    status = models.CharField(max_length=16, choices=STATUSES, default=QUEUED)
    steps = models.PositiveIntegerField(null=True, blank=True)  # override of the model's training steps
    fine_tune = models.BooleanField(default=False)  # start from the active version (after feedback)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)  # a running run that stops beating has died
    step = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    loss = models.FloatField(null=True, blank=True)
    message = models.CharField(max_length=500, blank=True)
    result = models.ForeignKey(FluctuationModel, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # Two trainings of the same user's group never run at once.
            models.UniqueConstraint(fields=["user", "group"], condition=Q(status__in=["queued", "running"]), name="one_live_run_per_group"),
        ]


class ShootingPreferences(models.Model):
    """How a user's shots are previewed and judged (the settings page). Missing row = defaults."""

    MODES = [(1, "1 · gentler preview"), (2, "2 · placeholder, then gentler"), (3, "3 · growing sequence")]
    SOFTENINGS = [("fewer_models", "fewer models"), ("weaker", "weaker edits")]  # claims 11 and 12
    UNITS = [("element", "model by model"), ("region", "region by region")]
    ORDERS = [("near_far", "near to far"), ("far_near", "far to near"),
              ("divergence_asc", "smallest change first"), ("divergence_desc", "largest change first")]
    PLACEHOLDERS = [("card", "a \u201cprocessing\u201d card"), ("colour", "a solid colour")]
    METHODS = [("both", "degrees or pixels"), ("degrees", "element degrees"), ("pixels", "changed pixels")]  # claims 9 and 10

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="shooting_preferences")
    preview_mode = models.PositiveSmallIntegerField(choices=MODES, default=2)
    soften = models.CharField(max_length=16, choices=SOFTENINGS, default="fewer_models")
    sequence_unit = models.CharField(max_length=16, choices=UNITS, default="element")
    sequence_order = models.CharField(max_length=16, choices=ORDERS, default="near_far")
    placeholder = models.CharField(max_length=16, choices=PLACEHOLDERS, default="card")
    placeholder_colour = models.CharField(max_length=7, default="#1b1f27")
    divergence_method = models.CharField(max_length=16, choices=METHODS, default="both")
    divergence_scale = models.FloatField(default=1.0)  # multiplies every element threshold
    pixel_fraction = models.FloatField(default=0.12)  # share of the frame that must change (claim 10)
    model_order = models.JSONField(default=list, blank=True)  # groups in the user's order; empty = largest gap first
    updated_at = models.DateTimeField(auto_now=True)


class IntentionTable(models.Model):
    """A user's own row of the intention table (FIG. 5B); intentions without a row use the
    shipped defaults."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="intention_rows")
    intention = models.CharField(max_length=32)
    ideals = models.JSONField(default=dict)  # element -> ideal degree; elements left out are not changed
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "intention"], name="one_row_per_intention")]
