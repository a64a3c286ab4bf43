"""The only code that writes model-store rows: training runs, model versions, activation."""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, close_old_connections, transaction
from django.shortcuts import get_object_or_404
from django.utils import timezone

from . import cpu, storage
from .core.evaluation import fit_and_measure
from .core.extraction import AnalysisCache, thread_analyzer
from .core.generators import (
    MODEL_CLASSES,
    TRAINABLE_GROUPS,
    DataShortage,
    ModelError,
    load_checkpoint,
    save_checkpoint,
)
from .core.identity import owners_frames
from .core.imageio import FrameError, decode_jpeg
from .core.intention import DEFAULT_TABLE, validate_table
from .core.ranges import Sample
from .core.verdicts import PastVerdict
from .models import Feedback, IntentionTable, LearningSample, ModelVersion, ShootingPreferences, TrainingRun, Verdict

log = logging.getLogger(__name__)


# Hands a run's id to the background worker's queue. Wired by ReconstructionConfig.ready to
# ``tasks.train_group.enqueue``: tasks use services, and services never import tasks.
queue_training: Callable[[int], object] = lambda run_id: None  # noqa: E731


class TrainingBusy(RuntimeError):
    """This user's group is already being trained."""


# --- access helpers (everything is scoped by user) -------------------------------------------------


def models_for(user):
    return ModelVersion.objects.filter(user=user)


def runs_for(user):
    return TrainingRun.objects.filter(user=user)


def get_model(user, pk) -> ModelVersion:
    return get_object_or_404(models_for(user), pk=pk)


# --- training ---------------------------------------------------------------------------------------


def start_training(
    user, group: str, steps: int | None = None, enqueue: bool = True, fine_tune: bool = False
) -> TrainingRun:
    """Queue a training run for the background worker; refuses a second live run of the group."""
    if group not in MODEL_CLASSES:
        raise ValueError(f"unknown group {group!r}")
    take_over_stale_runs(user)
    try:
        with transaction.atomic():
            run = TrainingRun.objects.create(
                user=user,
                group=group,
                steps=steps,
                fine_tune=fine_tune,
                message="waiting for the worker" + (" (fine-tuning with your feedback)" if fine_tune else ""),
            )
    except IntegrityError:
        raise TrainingBusy(f"{group} is already training") from None
    if enqueue:
        transaction.on_commit(lambda: queue_training(run.pk))
    return run


def maybe_auto_train(user) -> list[str]:
    """Once enough learning data exists, start training each group that has no model yet (and
    has not been tried in the last hour, so that a group lacking data is not retried on every
    frame)."""
    if LearningSample.objects.filter(user=user).count() < settings.FLUX_AUTO_TRAIN_MIN_SAMPLES:
        return []
    trained = set(models_for(user).values_list("group", flat=True))
    tried = set(
        runs_for(user).filter(created_at__gte=timezone.now() - timedelta(hours=1)).values_list("group", flat=True)
    )
    started = []
    for group in TRAINABLE_GROUPS:
        if group in trained or group in tried:
            continue
        try:
            start_training(user, group)
        except TrainingBusy:
            continue
        started.append(group)
    return started


def take_over_stale_runs(user=None) -> int:
    """A running run whose worker stopped beating (the worker died) is queued again for another
    worker, or marked failed once it has been started FLUX_TRAINING_ATTEMPTS times; the previous
    version stays in use meanwhile. How many runs it took over or failed."""
    cutoff = timezone.now() - timedelta(seconds=settings.FLUX_TRAINING_STALE_S)
    stale = TrainingRun.objects.filter(status=TrainingRun.RUNNING, heartbeat_at__lt=cutoff)
    if user is not None:
        stale = stale.filter(user=user)
    with transaction.atomic():
        # Each stale run once, however many pages and supervisors look at the same moment.
        runs = list(stale.select_for_update(skip_locked=True))
        retry = [r.pk for r in runs if r.attempts < settings.FLUX_TRAINING_ATTEMPTS]
        TrainingRun.objects.filter(pk__in=retry).update(
            status=TrainingRun.QUEUED,
            worker="",
            message="its worker stopped during training; another worker takes it over",
        )
        TrainingRun.objects.filter(pk__in=[r.pk for r in runs if r.pk not in retry]).update(
            status=TrainingRun.FAILED,
            finished_at=timezone.now(),
            message=f"the worker stopped during training {settings.FLUX_TRAINING_ATTEMPTS} times; the previous "
            "version stays in use",
        )
        for pk in retry:
            transaction.on_commit(lambda pk=pk: queue_training(pk))
    for pk in retry:
        log.warning("training run %s lost its worker: queued again", pk)
    return len(runs)


def latest_runs(user) -> dict[str, TrainingRun]:
    """The user's newest run of each group (stale ones taken over first)."""
    take_over_stale_runs(user)
    newest = (
        runs_for(user).select_related("result").filter(group=g).order_by("-created_at").first()
        for g in TRAINABLE_GROUPS
    )
    return {run.group: run for run in newest if run is not None}


def _fail(mine, message: str, status: str = TrainingRun.FAILED) -> None:
    """Mark the run failed (or waiting for data): ``mine``, its row while this worker still holds it."""
    mine.update(status=status, finished_at=timezone.now(), message=message[:500])


def learning_samples(user, limit: int):
    """The user's newest learning frames, oldest first."""
    newest = LearningSample.objects.filter(user=user).order_by("-created_at", "-id")[:limit]
    return list(reversed(list(newest)))


# The worker's analyses of learning frames, kept for its next run: a fine-tune after a verdict
# reads the same 300-odd frames again, and analysing them was a quarter of its time.
learning_analyses = AnalysisCache(settings.FLUX_ANALYSIS_CACHE_MB * 2**20)


def analyse_samples(rows, analyzer, with_rows: bool = False, segment: bool = True):
    """The learning rows as analysed samples (unreadable ones skipped); ``with_rows``: as (row,
    sample) pairs, so that what a version trained on can be traced back to its rows.
    ``segment``: False for a group whose training reads only faces (``segmented``)."""
    pairs = []
    for row in rows:
        cpu.wait_for_shots()  # in the worker: a shot developing on this machine goes first
        try:
            with row.image.open("rb") as fh:
                rgb = decode_jpeg(fh.read())
        except (OSError, FrameError):
            log.warning("skipping unreadable learning sample %s", row.pk)
            continue
        analysis = learning_analyses.analyze(analyzer, rgb, segment)
        accepted = row.source == LearningSample.SOURCE_ACCEPTED_EDIT
        pairs.append((row, Sample(rgb=rgb, analysis=analysis, accepted=accepted, verdict=row.feedback_id)))
    # Personal models stay personal: a friend in the frames teaches the user's models nothing.
    owned = owners_frames([(s.rgb, s.analysis) for _, s in pairs])
    pairs = [(row, dataclasses.replace(s, analysis=a)) for (row, s), a in zip(pairs, owned) if a is not None]
    return pairs if with_rows else [sample for _, sample in pairs]


def verdicts_for(user, group: str):
    """(verdicts, their feedback ids): the user's standing answers on edits this group made,
    oldest first, the latest answer per shot (``reconstruction.core.verdicts``)."""
    elements = MODEL_CLASSES[group].elements
    latest = {}
    for fb in Feedback.objects.filter(user=user).order_by("created_at", "pk"):
        latest[fb.shot_id] = fb
    pick = lambda d: {e: float(d[e]) for e in elements if isinstance(d, dict) and d.get(e) is not None}  # noqa: E731
    verdicts, ids = [], []
    for fb in sorted(latest.values(), key=lambda f: (f.created_at, f.pk)):
        targets = pick(fb.targets)
        if group not in fb.groups or not targets:
            continue
        verdicts.append(
            PastVerdict(
                accepted=fb.verdict == Verdict.ACCEPTED,
                source=pick(fb.source),
                targets=targets,
                reached=pick(fb.reached),
                exemplar=str((fb.exemplars or {}).get(group, "")),
            )
        )
        ids.append(fb.pk)
    return verdicts, ids


class _Beating:
    """While a run trains, its worker says so every FLUX_TRAINING_BEAT_S from a thread of its own
    (analysing the frames gives no progress to report for a while); the beat names the worker and
    its start, so one that was taken over for dead does not speak for the run any more."""

    def __init__(self, run: TrainingRun):
        self.mine = TrainingRun.objects.filter(
            pk=run.pk, status=TrainingRun.RUNNING, worker=run.worker, attempts=run.attempts
        )
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"flux-run-{run.pk}", daemon=True)

    def _run(self):
        try:
            while not self.stop.wait(settings.FLUX_TRAINING_BEAT_S):
                try:
                    self.mine.update(heartbeat_at=timezone.now())
                except Exception:  # the database away for a moment: the next beat tries again
                    log.warning("training heartbeat failed", exc_info=True)
        finally:
            close_old_connections()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def run_training(run_id: int, analyzer=None) -> TrainingRun:
    """Train one run to the end (in the worker, or in the `train` command). Any failure marks the
    run failed with a message and leaves the active version as it was. A run another worker has
    started already is left to it (two workers never train the same run)."""
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().get(pk=run_id)
        if run.status != TrainingRun.QUEUED:
            return run
        now = timezone.now()
        run.status, run.started_at, run.heartbeat_at, run.worker, run.attempts = (
            TrainingRun.RUNNING,
            now,
            now,
            cpu.this_process(),
            run.attempts + 1,
        )
        run.message = "analysing the learning data" + (f" (start {run.attempts})" if run.attempts > 1 else "")
        run.save(update_fields=["status", "started_at", "heartbeat_at", "worker", "attempts", "message"])
    _yield_cpu()
    with _Beating(run) as beating:
        return _train(run, beating.mine, analyzer)


def _yield_cpu() -> None:
    """Train at FLUX_TRAINING_NICE: the threads started from here on (torch's, the heartbeat)
    inherit it. Never raised back: a process may only lower its own priority."""
    try:
        now = os.getpriority(os.PRIO_PROCESS, 0)
        if settings.FLUX_TRAINING_NICE > now:
            os.setpriority(os.PRIO_PROCESS, 0, settings.FLUX_TRAINING_NICE)
    except (AttributeError, OSError):  # not on this platform: training runs at the usual priority
        pass


def _train(run: TrainingRun, mine, analyzer) -> TrainingRun:
    """The training itself; ``mine``: the run's row while this worker still holds it."""
    started = time.perf_counter()
    try:
        import torch

        # Leave a core to the web process's live analysis on small machines.
        torch.set_num_threads(settings.FLUX_TRAINING_THREADS)
        if analyzer is None:
            analyzer = thread_analyzer()
        # The verdicts before the frames: one given in between is in neither, and gets its follow-up.
        verdicts, verdict_ids = verdicts_for(run.user, run.group)
        rows = learning_samples(run.user, settings.FLUX_TRAINING_MAX_SAMPLES)
        cls = MODEL_CLASSES[run.group]
        pairs = analyse_samples(rows, analyzer, with_rows=True, segment=cls.segmented)
        samples = [sample for _, sample in pairs]
        config = cls.Config()
        if run.steps:
            field = "steps" if hasattr(config, "steps") else "pairs" if hasattr(config, "pairs") else None
            if field:
                config = dataclasses.replace(config, **{field: run.steps})
                if hasattr(config, "regressor_steps"):
                    config = dataclasses.replace(
                        config, regressor_steps=max(5, min(config.regressor_steps, run.steps // 2))
                    )
        model = cls(config)
        if run.fine_tune:
            previous, _ = load_active(run.user, run.group)
            if previous is not None:
                model.warm_start(previous)
        last_write = [0.0]

        def progress(step: int, total: int, loss: float) -> None:
            cpu.wait_for_shots()  # a shot developing on this machine goes first
            now = time.monotonic()
            if now - last_write[0] < 0.5 and step < total:
                return
            last_write[0] = now
            mine.update(step=step, total=total, loss=loss, heartbeat_at=timezone.now(), message="training")

        def note(message: str) -> None:
            mine.update(message=message, heartbeat_at=timezone.now())

        metrics, trained = fit_and_measure(
            model,
            samples,
            analyzer,
            keep_in={k for k, (row, _) in enumerate(pairs) if row.feedback_id},
            min_samples=settings.FLUX_EVALUATION_MIN_SAMPLES,
            progress=progress,
            verdicts=verdicts,
            on_training=lambda frames: note(f"training on {frames} frames"),
            on_measuring=lambda frames: note(f"measuring quality on {frames} held-out frames"),
        )
        trained_rows = [pairs[k][0] for k in trained]
    except DataShortage as exc:
        _fail(mine, str(exc), TrainingRun.WAITING)
        return TrainingRun.objects.get(pk=run.pk)
    except ModelError as exc:
        _fail(mine, str(exc))
        return TrainingRun.objects.get(pk=run.pk)
    except Exception as exc:
        log.exception("training run %s crashed", run.pk)
        _fail(mine, f"training crashed: {type(exc).__name__}: {exc}; the previous version stays in use")
        return TrainingRun.objects.get(pk=run.pk)
    seconds = time.perf_counter() - started
    with transaction.atomic():
        # Stored only while this worker still holds the run: one taken for dead and taken over
        # (it stalled past FLUX_TRAINING_STALE_S) stores nothing, so no run gives two versions.
        if not mine.select_for_update().exists():
            log.warning("training run %s was taken over by another worker; this result is dropped", run.pk)
            return TrainingRun.objects.get(pk=run.pk)
        row = store_version(run.user, model, samples=len(trained_rows), seconds=seconds, metrics=metrics)
        # Which accept/reject feedback this version learned from (shown on My models): exactly the
        # verdicts it carries and those whose frames it trained on.
        feedback = {r.feedback_id for r in trained_rows if r.feedback_id} | set(verdict_ids)
        if feedback:
            row.learned_from.set([f for f in Feedback.objects.filter(pk__in=feedback) if run.group in f.groups])
        mine.update(
            status=TrainingRun.SUCCEEDED,
            finished_at=timezone.now(),
            heartbeat_at=timezone.now(),
            result=row,
            message=f"version {row.version} trained",
        )
    _follow_up(run, set(verdict_ids))
    return TrainingRun.objects.get(pk=run.pk)


def _follow_up(run: TrainingRun, learned: set[int]) -> None:
    """A verdict on this group given while the run trained (so not among the ones it carries)
    starts one more fine-tune: no verdict is lost."""
    if set(verdicts_for(run.user, run.group)[1]) - learned:
        try:
            start_training(run.user, run.group, fine_tune=True)
        except TrainingBusy:
            pass


def store_version(user, model, samples: int, seconds: float, metrics: dict) -> ModelVersion:
    """Save a trained model's weights as the group's next version and make it the active one."""
    with transaction.atomic():
        last = models_for(user).filter(group=model.group).order_by("-version").first()
        version = (last.version if last else 0) + 1
        path = storage.weights_path(user.pk, model.group, version)
        save_checkpoint(model, path, meta={"user": user.pk, "samples": samples})
        summary = model.summary
        row = ModelVersion.objects.create(
            user=user,
            group=model.group,
            version=version,
            samples=samples,
            seconds=round(seconds, 2),
            device=str(metrics.get("device", "cpu")),
            ranges={k: (list(v) if v else None) for k, v in model.ranges.items()},
            histograms=summary.histograms,
            missing=summary.missing,
            metrics=metrics,
            weights=storage.relative(path),
        )
        _activate(row)
    return row


# --- versions ---------------------------------------------------------------------------------------


def _activate(row: ModelVersion) -> None:
    models_for(row.user).filter(group=row.group, active=True).exclude(pk=row.pk).update(active=False)
    ModelVersion.objects.filter(pk=row.pk).update(active=True)


def activate(user, pk) -> ModelVersion:
    """Roll back (or forward) to a version."""
    with transaction.atomic():
        row = get_model(user, pk)
        _activate(row)
    row.refresh_from_db()
    return row


def delete_version(user, pk) -> None:
    """Delete a version and its weights; if it was active, the newest remaining one takes over."""
    with transaction.atomic():
        row = get_model(user, pk)
        was_active = row.active
        row.delete()  # its weights file goes with it (reconstruction.signals)
        if was_active:
            newest = models_for(user).filter(group=row.group).order_by("-version").first()
            if newest:
                _activate(newest)


# (user, group) -> (version row id, loaded model, the weights file's (size, mtime) when loaded)
_model_cache: dict[tuple[int, str], tuple[int, object, tuple]] = {}
_model_cache_lock = threading.Lock()


def _file_stamp(row: ModelVersion) -> tuple:
    try:
        stat = storage.absolute(row.weights).stat()
    except OSError:
        return ()
    return (stat.st_size, stat.st_mtime_ns)


def active_models(user) -> tuple[dict[str, object], dict[str, int], dict[str, str]]:
    """(group -> loaded model, group -> version, group -> why unusable) for every trainable group.

    Loaded models are kept per (user, group) while that version stays active, so a shutter does
    not read weights from disk; a new version, a rollback or a deletion changes the row and the
    next call loads again."""
    rows = {row.group: row for row in models_for(user).filter(active=True)}
    loaded, versions, unavailable = {}, {}, {}
    for group in TRAINABLE_GROUPS:
        row = rows.get(group)
        if row is None:
            unavailable[group] = "not trained yet"
            continue
        model, reason = _loaded(user, row)
        if model is None:
            unavailable[group] = reason
            continue
        loaded[group], versions[group] = model, row.version
    return loaded, versions, unavailable


def load_active(user, group: str):
    """(model, None) for the group's active version, or (None, reason) when it is not usable."""
    row = models_for(user).filter(group=group, active=True).first()
    if row is None:
        return None, "not trained"
    return _load(row)


DAMAGED = "damaged"  # how a reason for an unusable model starts when its version's file cannot be read


def _load(row: ModelVersion):
    """(model, None) from the version's weights file, or (None, reason) when it cannot be read:
    which version, what is wrong, and what fixes it, in words for the user."""
    try:
        return load_checkpoint(storage.absolute(row.weights)), None
    except ModelError as exc:
        return None, (
            f"{DAMAGED}: version {row.version} of your {row.group} model cannot be used ({exc}); "
            "retrain it, or use an earlier version, on My models"
        )


def damage_sentence(reason: str) -> str:
    """A damaged version's reason without its ``DAMAGED`` label: the sentence a page shows."""
    return reason.split(": ", 1)[-1]


def damaged_versions(user) -> dict[int, str]:
    """Active version row id -> why it cannot be used, for My models."""
    out = {}
    for row in models_for(user).filter(active=True):
        model, reason = _loaded(user, row, check_file=True)
        if model is None:
            out[row.pk] = damage_sentence(reason)
    return out


def _loaded(user, row: ModelVersion, check_file: bool = False):
    """``_load`` for an active version, read once per process and kept while it stays active, so
    a shutter does not read weights from disk. ``check_file``: read it again when its file changed
    or went since (My models should say so now; a version in memory keeps working until restart)."""
    key = (user.pk, row.group)
    with _model_cache_lock:
        cached = _model_cache.get(key)
    stamp = _file_stamp(row) if check_file else None  # no disk access for a shutter's cache hit
    if cached is not None and cached[0] == row.pk and (not check_file or (stamp and cached[2] == stamp)):
        return cached[1], None
    if stamp is None:
        stamp = _file_stamp(row)
    model, reason = _load(row)
    if model is not None:
        with _model_cache_lock:
            _model_cache[key] = (row.pk, model, stamp)
    return model, reason


# --- shooting preferences and the intention table ----------------------------------------------------


def preferences_for(user) -> ShootingPreferences:
    """The user's preferences, or the defaults (unsaved) when they never changed them."""
    return ShootingPreferences.objects.filter(user=user).first() or ShootingPreferences(user=user)


def save_preferences(user, **values) -> ShootingPreferences:

    order = values.get("model_order")
    if order is not None:
        unknown = [g for g in order if g not in TRAINABLE_GROUPS]
        if unknown:
            raise ValueError(f"unknown model groups: {', '.join(unknown)}")
    prefs = preferences_for(user)
    for name, value in values.items():
        setattr(prefs, name, value)
    prefs.full_clean(exclude=["user"])
    prefs.save()
    return prefs


def intention_table_for(user) -> dict[str, dict[str, float]]:
    """FIG. 5B for this user: the shipped table with the user's own rows in place of defaults."""
    table = {k: dict(v) for k, v in DEFAULT_TABLE.items()}
    for row in IntentionTable.objects.filter(user=user):
        if row.intention in table:
            table[row.intention] = dict(row.ideals)
    return table


def save_intention_table(user, table: dict[str, dict[str, float]] | None) -> None:
    """Keep the user's rows that differ from the shipped defaults; None resets every row."""
    with transaction.atomic():
        IntentionTable.objects.filter(user=user).delete()
        for intention, ideals in validate_table(table or {}).items():
            if ideals != DEFAULT_TABLE.get(intention):
                IntentionTable.objects.create(user=user, intention=intention, ideals=ideals)


def customised_intentions(user) -> list[str]:
    return list(IntentionTable.objects.filter(user=user).values_list("intention", flat=True))


# --- learning data: frames kept for training, and the user's verdicts on edits -------------------

# How far a rejection moves the intention's ideal degree toward what the user kept (the original).
REJECTION_SHIFT = 0.3


def learning_samples_for(user):
    return LearningSample.objects.filter(user=user)


def record_learning_sample(
    user, jpeg: bytes, analysis: dict, source: str = LearningSample.SOURCE_STREAM, feedback: Feedback | None = None
) -> LearningSample:
    """Keep a frame as learning data, then drop the user's oldest beyond the bound."""
    sample = LearningSample(
        user=user,
        source=source,
        feedback=feedback,
        width=analysis["width"],
        height=analysis["height"],
        elements=analysis["elements"],
        faces=analysis["faces"],
    )
    storage.put_jpeg(sample.image, jpeg)
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


def feedback_for(user):
    """Every query for verdicts goes through here, so a user only ever sees their own."""
    return Feedback.objects.filter(user=user)


def feedback_on(user, shot_id):
    """The verdicts given on one shot, newest first."""
    return feedback_for(user).filter(shot_id=shot_id)


@dataclasses.dataclass(frozen=True)
class JudgedEdit:
    """What a verdict judged: the shot as taken and the reconstruction the models made of it."""

    shot_id: object  # the shot's id (capture's): verdicts keep the id, so this app needs no other
    intention: str
    targets: dict  # element -> the degree the rule asked for
    groups: list  # the models whose edits were judged
    source: dict  # element -> the degree the shot had
    reached: dict  # element -> the degree the reconstruction had
    exemplars: dict  # group -> the fingerprint of the face that lent its pixels
    # The two JPEGs are read only when the verdict needs them: not for the same verdict twice, and
    # the reconstruction only when it is accepted.
    read_original: Callable[[], bytes]
    read_reconstruction: Callable[[], bytes]
    width: int
    height: int
    faces: list


def record_verdict(user, verdict: str, edit: JudgedEdit) -> tuple[Feedback, bool]:
    """Keep the user's verdict on an edit ([0092]): (the standing verdict, whether it changed).

    Accepting adds the pair (original, reconstruction) to the learning data as a positive example.
    Rejecting adds the original as a negative example and moves the intention's ideal degrees
    toward what the shot had, away from the rejected edit. The same verdict twice changes nothing
    the second time; a changed verdict first undoes the previous one (its learning data goes and
    its shift of the intention table is taken back). The caller holds the shot's lock."""
    if verdict not in Verdict.values:
        raise ValueError("the verdict is accepted or rejected")
    current = feedback_on(user, edit.shot_id).order_by("-created_at", "-pk").first()
    if current is not None and current.verdict == verdict:
        return current, False
    if current is not None:
        _undo_feedback(user, current)
    fb = Feedback.objects.create(
        user=user,
        shot_id=edit.shot_id,
        verdict=verdict,
        intention=edit.intention,
        targets=edit.targets,
        groups=edit.groups,
        source=edit.source,
        reached=edit.reached,
        exemplars=edit.exemplars,
    )
    meta = {"width": edit.width, "height": edit.height, "faces": edit.faces}
    original = edit.read_original()
    if verdict == Verdict.ACCEPTED:
        record_learning_sample(user, original, meta | {"elements": edit.source}, LearningSample.SOURCE_ACCEPTED, fb)
        record_learning_sample(
            user,
            edit.read_reconstruction(),
            meta | {"elements": edit.reached, "faces": []},
            LearningSample.SOURCE_ACCEPTED_EDIT,
            fb,
        )
    else:
        record_learning_sample(user, original, meta | {"elements": edit.source}, LearningSample.SOURCE_REJECTED, fb)
        fb.table_shift = _shift_away(user, edit.intention, edit.source, edit.targets)
        fb.save(update_fields=["table_shift"])
    return fb, True


def learn_from_verdict(user, fb: Feedback) -> None:
    """Fine-tune the models that made the judged edit, in the background; a group already
    training gets a follow-up run when it finishes (``run_training``)."""
    for group in fb.groups:
        try:
            start_training(user, group, fine_tune=True)
        except TrainingBusy:
            pass


def forget_shot(user, shot_id) -> None:
    """A deleted shot's verdicts go; the learning data they gave stays."""
    feedback_on(user, shot_id).delete()


def _undo_feedback(user, fb: Feedback) -> None:
    """Take back what a verdict did: its learning data, and its shift of the intention table
    (where the ideal still holds the shifted value; a later change by hand is kept)."""
    for sample in LearningSample.objects.filter(user=user, feedback=fb):
        sample.delete()  # its file goes with it (reconstruction.signals)
    if fb.table_shift:
        table = intention_table_for(user)
        row = dict(table.get(fb.intention, {}))
        for element, (before, after) in fb.table_shift.items():
            if row.get(element) is not None and abs(row[element] - after) < 1e-6:
                row[element] = before
        table[fb.intention] = row
        save_intention_table(user, table)


def _shift_away(user, intention: str, kept_degrees: dict, targets: dict) -> dict:
    """Move the intention's ideal degrees toward the rejected shot's own degrees."""
    table = intention_table_for(user)
    row = dict(table.get(intention, {}))
    shift = {}
    for element in targets:
        ideal, kept = row.get(element), kept_degrees.get(element)
        if ideal is None or kept is None:
            continue
        moved = round(ideal + REJECTION_SHIFT * (kept - ideal), 3)
        if moved != ideal:
            shift[element] = [ideal, moved]
            row[element] = moved
    if shift:
        table[intention] = row
        save_intention_table(user, table)
    return shift
