"""Training runs: the real queue and worker process, one live run per group, failures that leave
the previous version in use, and the model store's files."""

import math
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from capture import services as capture_services
from reconstruction import services, storage
from reconstruction.core.generators.lighting import tone_curve
from reconstruction.core.imageio import encode_jpeg
from reconstruction.models import Feedback, ModelVersion, TrainingRun
from tests.conftest import video_frames
from tests.reconstruction.test_task_worker import worker_env

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.db, pytest.mark.tasks]


@pytest.fixture(scope="module")
def frames():
    got = video_frames("single_face.mp4", range(0, 72, 4))
    return [got[i] for i in sorted(got)]


def give_learning_data(user, frames, analyzer):
    for f in frames:
        for strength in (-0.7, 0.0, 0.7):
            rgb = tone_curve(f, strength)
            services.record_learning_sample(user, encode_jpeg(rgb), analyzer.analyze(rgb).to_json())


def env_for_worker(settings):
    env = worker_env()
    env["FLUX_MEDIA_DIR"] = str(settings.MEDIA_ROOT)
    env["FLUX_WEIGHTS_DIR"] = os.environ["FLUX_WEIGHTS_DIR"]
    return env


def run_worker(settings, timeout=300):
    proc = subprocess.run(
        [sys.executable, "manage.py", "db_worker", "--batch", "--no-startup-delay"],
        cwd=ROOT,
        env=env_for_worker(settings),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_the_worker_trains_a_queued_run_and_stores_a_new_active_version(alice, frames, analyzer, settings):
    give_learning_data(alice, frames, analyzer)
    run = services.start_training(alice, "lighting", steps=60)
    assert run.status == TrainingRun.QUEUED
    run_worker(settings)
    run.refresh_from_db()
    assert run.status == TrainingRun.SUCCEEDED, run.message
    model = run.result
    assert (model.group, model.version, model.active) == ("lighting", 1, True)
    frames_given = len(frames) * 3
    assert model.samples == frames_given - len(range(0, frames_given, 5))  # every fifth is held out
    assert model.metrics["progress.exposure"] > 0.7  # measured on the held-out frames
    assert model.metrics["preservation_ssim"] > 0.98  # light direction: outside the face untouched
    lo, hi = model.ranges["lighting.exposure"]
    assert hi - lo > 0.2
    assert sum(model.histograms["lighting.exposure"]) == model.samples
    path = storage.absolute(model.weights)
    assert path == storage.weights_path(alice.pk, "lighting", 1) and path.exists()
    loaded, reason = services.load_active(alice, "lighting")
    assert reason is None and loaded.reconstructable_range("lighting.exposure") == (lo, hi)


def test_two_trainings_of_the_same_group_never_run_at_once(alice):
    services.start_training(alice, "lighting", enqueue=False)
    with pytest.raises(services.TrainingBusy):
        services.start_training(alice, "lighting", enqueue=False)
    services.start_training(alice, "climate", enqueue=False)  # another group may


def test_too_little_data_waits_for_data_with_what_to_shoot_and_keeps_nothing(alice, frames, analyzer):
    services.record_learning_sample(alice, encode_jpeg(frames[0]), analyzer.analyze(frames[0]).to_json())
    run = services.start_training(alice, "expression", enqueue=False)
    run = services.run_training(run.pk, analyzer=analyzer)
    assert run.status == TrainingRun.WAITING  # not a failure: the data is not there yet
    assert "shoot a few more seconds" in run.message
    assert not ModelVersion.objects.filter(user=alice).exists()


def _first_version(alice, frames, analyzer):
    give_learning_data(alice, frames, analyzer)
    run = services.run_training(
        services.start_training(alice, "lighting", steps=40, enqueue=False).pk, analyzer=analyzer
    )
    assert run.status == TrainingRun.SUCCEEDED
    return run.result


def test_a_crash_mid_training_marks_the_run_failed_and_keeps_the_previous_version(alice, frames, analyzer, monkeypatch):
    first = _first_version(alice, frames, analyzer)
    from reconstruction.core.generators.lighting import LightingModel

    def explode(self, samples, progress):
        progress(1, 10, 0.5)
        raise MemoryError("out of memory")

    monkeypatch.setattr(LightingModel, "_fit", explode)
    run = services.run_training(services.start_training(alice, "lighting", enqueue=False).pk, analyzer=analyzer)
    assert run.status == TrainingRun.FAILED and "MemoryError" in run.message
    assert services.models_for(alice).get(active=True) == first


def start_worker(settings) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "db_worker", "--no-startup-delay", "--interval", "0.2"],
        cwd=ROOT,
        env=env_for_worker(settings),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def wait_until(check, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while not (got := check()):
        assert time.monotonic() < deadline, what
        time.sleep(0.1)
    return got


def niceness(pid: int) -> list[int]:
    """The nice value of each thread of a process (field 19 of /proc/<pid>/task/<tid>/stat)."""
    values = []
    for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
        fields = stat.read_text().rsplit(")", 1)[1].split()
        values.append(int(fields[16]))
    return values


def training_started(run):
    run.refresh_from_db()
    return run.status == TrainingRun.RUNNING and run.step > 0


def test_two_workers_never_train_the_same_run_twice(alice, frames, analyzer, settings):
    from django_tasks_db.models import DBTaskResult

    give_learning_data(alice, frames, analyzer)
    run = services.start_training(alice, "lighting", steps=3000)
    workers = [start_worker(settings) for _ in range(2)]
    try:
        wait_until(lambda: training_started(run), 120, "no worker started training")
        services.queue_training(run.pk)  # the same run queued again while it trains
        wait_until(lambda: run.refresh_from_db() or run.status == TrainingRun.SUCCEEDED, 300, "it never finished")

        def both_done():
            done = list(DBTaskResult.objects.filter(status="SUCCESSFUL"))
            return done if len(done) == 2 else None

        tasks = wait_until(both_done, 60, "the second task was never run")
    finally:
        for worker in workers:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
    # The second task found the run training on the other worker and left it alone.
    assert sorted(t.return_value for t in tasks) == ["running", "succeeded"]
    assert len({tuple(t.worker_ids) for t in tasks}) == 2  # each taken by a worker of its own
    assert run.attempts == 1
    assert ModelVersion.objects.filter(user=alice, group="lighting").count() == 1


def test_a_run_whose_worker_dies_is_taken_over_by_another_worker(alice, frames, analyzer, settings):
    first = _first_version(alice, frames, analyzer)
    run = services.start_training(alice, "lighting", steps=3000)
    workers = {}
    for _ in range(2):
        worker = start_worker(settings)
        workers[worker.pid] = worker
    try:
        wait_until(lambda: training_started(run), 120, "no worker started training")
        host, pid = run.worker.rsplit(":", 1)
        # It trains at a lower priority, leaving the CPU to live analysis and the shutter.
        assert max(niceness(int(pid))) == settings.FLUX_TRAINING_NICE == 10
        dying = workers.pop(int(pid))
        os.killpg(dying.pid, signal.SIGKILL)  # the worker dies without a word
        dying.wait()
        run.refresh_from_db()
        assert run.status == TrainingRun.RUNNING  # nobody could say otherwise yet
        assert services.models_for(alice).get(active=True) == first
        # Silent for longer than FLUX_TRAINING_STALE_S (waited out here by moving its last beat).
        TrainingRun.objects.filter(pk=run.pk).update(
            heartbeat_at=timezone.now() - timedelta(seconds=settings.FLUX_TRAINING_STALE_S + 1)
        )
        assert services.take_over_stale_runs() == 1
        run.refresh_from_db()
        assert run.status == TrainingRun.QUEUED and "another worker takes it over" in run.message
        wait_until(lambda: run.refresh_from_db() or run.status == TrainingRun.SUCCEEDED, 300, "never taken over")
    finally:
        for worker in workers.values():
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
    (survivor,) = workers
    assert run.attempts == 2 and run.worker == f"{host}:{survivor}"
    assert services.models_for(alice).get(active=True) == run.result
    assert run.result.version == 2  # one new version: the dead worker's start stored nothing


def test_a_run_that_loses_its_worker_every_time_fails_and_keeps_the_previous_version(alice, settings):
    run = services.start_training(alice, "lighting", enqueue=False)
    TrainingRun.objects.filter(pk=run.pk).update(
        status=TrainingRun.RUNNING,
        attempts=settings.FLUX_TRAINING_ATTEMPTS,
        worker="gone:1",
        heartbeat_at=timezone.now() - timedelta(seconds=settings.FLUX_TRAINING_STALE_S + 1),
    )
    assert services.take_over_stale_runs() == 1
    run.refresh_from_db()
    assert run.status == TrainingRun.FAILED and "stopped during training 2 times" in run.message
    services.start_training(alice, "lighting", enqueue=False)  # the group can be trained again


def test_a_worker_taken_for_dead_stores_nothing_when_it_wakes(alice, frames, analyzer, monkeypatch):
    from reconstruction.core.generators.lighting import LightingModel

    give_learning_data(alice, frames, analyzer)
    run = services.start_training(alice, "lighting", steps=40, enqueue=False)
    real = LightingModel._fit

    def stalls(self, samples, progress):
        # Meanwhile its silence was taken for death and another worker took the run over.
        TrainingRun.objects.filter(pk=run.pk).update(status=TrainingRun.QUEUED, worker="")
        return real(self, samples, progress)

    monkeypatch.setattr(LightingModel, "_fit", stalls)
    services.run_training(run.pk, analyzer=analyzer)
    run.refresh_from_db()
    assert run.status == TrainingRun.QUEUED and run.result is None
    assert not ModelVersion.objects.filter(user=alice).exists()


def test_a_running_run_beats_while_it_analyses_its_frames(alice, frames, analyzer, settings, monkeypatch):
    settings.FLUX_TRAINING_BEAT_S = 0.05
    give_learning_data(alice, frames, analyzer)
    run = services.start_training(alice, "lighting", steps=40, enqueue=False)
    beats = []
    real = services.analyse_samples

    def slow(rows, analyzer, **kw):
        first = TrainingRun.objects.get(pk=run.pk).heartbeat_at
        time.sleep(0.5)  # no progress to report while the frames are analysed
        beats.append(TrainingRun.objects.get(pk=run.pk).heartbeat_at > first)
        return real(rows, analyzer, **kw)

    monkeypatch.setattr(services, "analyse_samples", slow)
    assert services.run_training(run.pk, analyzer=analyzer).status == TrainingRun.SUCCEEDED
    assert beats == [True]


def test_a_damaged_or_missing_weights_file_says_which_version_and_how_to_fix_it(alice, frames, analyzer, client):
    first = _first_version(alice, frames, analyzer)
    path = storage.absolute(first.weights)
    path.write_bytes(b"garbage")
    model, reason = services.load_active(alice, "lighting")
    assert model is None and reason.startswith("damaged: version 1 of your lighting model")
    assert "retrain it, or use an earlier version" in reason and str(path.parent) not in reason
    # My models flags it.
    client.force_login(alice)
    page = client.get(reverse("reconstruction:models")).content.decode()
    assert "version 1 is damaged" in page and "retrain it" in page and str(path.parent) not in page
    path.unlink()
    model, reason = services.load_active(alice, "lighting")
    assert model is None and "missing" in reason
    assert services.load_active(alice, "climate") == (None, "not trained")


def test_rollback_and_delete_keep_one_active_version(alice, frames, analyzer):
    first = _first_version(alice, frames, analyzer)
    second = services.run_training(
        services.start_training(alice, "lighting", steps=40, enqueue=False).pk, analyzer=analyzer
    ).result
    assert second.version == 2 and second.active
    services.activate(alice, first.pk)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.active and not second.active
    services.delete_version(alice, first.pk)
    second.refresh_from_db()
    assert second.active
    assert not storage.absolute(first.weights).exists()


def test_deleting_a_user_deletes_their_weights_and_learning_data(alice, bob, frames, analyzer):
    first = _first_version(alice, frames, analyzer)
    path = storage.absolute(first.weights)
    assert path.exists()
    alice.delete()
    assert not path.exists()
    assert not ModelVersion.objects.exists()


def test_training_starts_by_itself_once_enough_learning_data_exists(alice, frames, analyzer, settings):
    settings.FLUX_AUTO_TRAIN_MIN_SAMPLES = 6
    rgb = frames[0]
    for _ in range(5):
        services.record_learning_sample(alice, encode_jpeg(rgb), analyzer.analyze(rgb).to_json())
    assert services.maybe_auto_train(alice) == []
    services.record_learning_sample(alice, encode_jpeg(rgb), analyzer.analyze(rgb).to_json())
    started = services.maybe_auto_train(alice)
    assert set(started) == {"expression", "lighting", "climate", "composition", "clothing"}
    assert services.maybe_auto_train(alice) == []  # neither twice nor while they run


def test_a_version_trained_after_feedback_says_which_feedback_it_learned_from(alice, frames, analyzer, client):
    from tests.capture.test_gallery_and_feedback import make_shot
    from tests.conftest import PASSWORD

    give_learning_data(alice, frames, analyzer)
    shot = make_shot(alice, frames[0])
    capture_services.give_feedback(alice, shot.id, "accepted")
    run = TrainingRun.objects.get(user=alice, group="lighting", status=TrainingRun.QUEUED)  # queued by the feedback
    run = services.run_training(run.pk, analyzer=analyzer)
    assert run.status == TrainingRun.SUCCEEDED, run.message
    fb = Feedback.objects.get(shot_id=shot.id)
    assert list(run.result.learned_from.all()) == [fb]
    client.login(username="alice", password=PASSWORD)
    page = client.get("/models/").content.decode()
    assert "accepted" in page and f"/shots/{shot.id}/" in page


def test_a_verdict_given_while_its_group_trains_gets_a_follow_up_run(alice, frames, analyzer, monkeypatch):
    from tests.capture.test_gallery_and_feedback import make_shot

    give_learning_data(alice, frames, analyzer)
    shot = make_shot(alice, frames[0])
    live = services.start_training(alice, "lighting", enqueue=False)
    real = services.learning_samples

    def loaded_then_judged(user, limit):
        rows = real(user, limit)
        # The verdict arrives while the run trains on data loaded before it.
        capture_services.give_feedback(alice, shot.id, "accepted")
        assert TrainingRun.objects.filter(user=alice, group="lighting").count() == 1  # busy: no second run now
        return rows

    monkeypatch.setattr(services, "learning_samples", loaded_then_judged)
    first = services.run_training(live.pk, analyzer=analyzer)
    monkeypatch.setattr(services, "learning_samples", real)
    assert first.status == TrainingRun.SUCCEEDED and not first.result.learned_from.exists()
    # A follow-up fine-tune was queued when the run ended, and it learns from the verdict.
    follow = TrainingRun.objects.get(user=alice, group="lighting", status=TrainingRun.QUEUED)
    assert follow.fine_tune
    follow = services.run_training(follow.pk, analyzer=analyzer)
    assert list(follow.result.learned_from.all()) == [Feedback.objects.get(shot_id=shot.id)]
    assert not TrainingRun.objects.filter(user=alice, status=TrainingRun.QUEUED).exists()  # no endless loop


def test_learned_from_lists_exactly_the_verdicts_a_version_trained_on(alice, frames, analyzer, settings):
    from tests.capture.test_gallery_and_feedback import make_shot

    settings.FLUX_EVALUATION_MIN_SAMPLES = 5  # a held-out split, which never takes a verdict's frames
    give_learning_data(alice, frames, analyzer)
    shots = [make_shot(alice, frames[k]) for k in range(3)]
    for shot in shots:
        capture_services.give_feedback(alice, shot.id, "accepted")
    run = TrainingRun.objects.get(user=alice, group="lighting", status=TrainingRun.QUEUED)
    run = services.run_training(run.pk, analyzer=analyzer)
    assert run.status == TrainingRun.SUCCEEDED, run.message
    assert set(run.result.learned_from.all()) == set(Feedback.objects.filter(shot_id__in=[s.id for s in shots]))
    # Every verdict's frame was trained on: only every fifth of the other frames was held out.
    everything = services.learning_samples_for(alice).count()
    verdicts = services.learning_samples_for(alice).exclude(feedback=None).count()
    assert verdicts == 6 and run.result.samples == everything - math.ceil((everything - verdicts) / 5)


def test_a_second_run_on_the_same_frames_reads_their_analyses_instead_of_analysing_them_again(alice, frames, analyzer):
    give_learning_data(alice, frames[:4], analyzer)
    services.learning_analyses.clear()
    calls = []

    class Counting:
        def analyze(self, rgb, **options):
            calls.append(options.get("segment", True))
            return analyzer.analyze(rgb, **options)

    rows = services.learning_samples(alice, 100)
    first = services.analyse_samples(rows, Counting())
    assert calls == [True] * len(rows)
    again = services.analyse_samples(rows, Counting())
    assert len(calls) == len(rows)  # a fine-tune after a verdict reads the same frames: none analysed again
    assert [s.analysis.elements for s in again] == [s.analysis.elements for s in first]
    assert all(s.analysis.person_mask is not None for s in again)
    faces_only = services.analyse_samples(rows, Counting(), segment=False)
    # The expression model's frames skip the segmenter (it reads only faces): their own entries.
    assert calls[len(rows) :] == [False] * len(rows)
    assert all(s.analysis.person_mask is None and s.analysis.main_face is not None for s in faces_only)
    assert [s.analysis.elements["expression.smile"] for s in faces_only] == [
        s.analysis.elements["expression.smile"] for s in first
    ]


def test_the_expression_models_training_reads_only_faces():
    from reconstruction.core.generators import MODEL_CLASSES

    assert [g for g, cls in MODEL_CLASSES.items() if not cls.segmented] == ["expression"]
