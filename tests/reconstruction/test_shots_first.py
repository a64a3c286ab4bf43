"""Shots first: a training run on the same machine waits between its steps while a shot develops
(reconstruction.cpu), so the shutter keeps its budget while a model trains."""

from __future__ import annotations

import os
import threading
import time

import pytest

from reconstruction import cpu


@pytest.fixture(autouse=True)
def _own_var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    settings.FLUX_TRAINING_YIELDS = True


def test_a_training_step_waits_while_a_shot_develops_on_this_machine():
    started = threading.Event()

    def shot():
        with cpu.developing():
            started.set()
            time.sleep(0.4)

    developing = threading.Thread(target=shot)
    developing.start()
    started.wait(5)
    waited = cpu.wait_for_shots()
    developing.join()
    assert 0.25 <= waited <= cpu.YIELD_MAX_S
    assert cpu.wait_for_shots() < 0.05  # recorded: training goes on at once


def test_a_mark_left_by_a_process_that_died_holds_nothing_up():
    cpu.marks().mkdir()
    left = cpu.marks() / "4242-1-dead"
    left.touch()
    long_ago = time.time() - cpu.FRESH_S - 5
    os.utime(left, (long_ago, long_ago))
    assert not cpu.shot_developing() and cpu.wait_for_shots() < 0.05


def test_a_long_shot_holds_training_up_for_a_bounded_time(monkeypatch):
    monkeypatch.setattr(cpu, "YIELD_MAX_S", 0.2)
    with cpu.developing():
        waited = cpu.wait_for_shots()
    assert 0.2 <= waited < 0.5


def test_switched_off_nothing_waits(settings):
    settings.FLUX_TRAINING_YIELDS = False
    with cpu.developing():
        assert not cpu.shot_developing() and cpu.wait_for_shots() == 0.0


@pytest.mark.django_db(transaction=True)
@pytest.mark.db
def test_a_shot_is_marked_developing_until_it_is_recorded(alice, portrait_jpeg):
    from capture import shutter

    seen = []
    shutter.take(alice, portrait_jpeg, lambda message: seen.append((message["type"], cpu.shot_developing())))
    assert ("plan", True) in seen and ("recorded", True) in seen
    assert not cpu.shot_developing()


@pytest.mark.django_db(transaction=True)
@pytest.mark.db
def test_every_training_step_gives_way_to_shots_first(alice, analyzer, monkeypatch):
    from reconstruction import services
    from reconstruction.models import TrainingRun
    from tests.conftest import video_frames
    from tests.reconstruction.test_training_runs import give_learning_data

    frames = video_frames("single_face.mp4", range(0, 72, 4))
    give_learning_data(alice, [frames[i] for i in sorted(frames)], analyzer)
    asked = []
    monkeypatch.setattr(cpu, "wait_for_shots", lambda: asked.append(1) or 0.0)
    run = services.run_training(
        services.start_training(alice, "expression", steps=6, enqueue=False).pk, analyzer=analyzer
    )
    assert run.status == TrainingRun.SUCCEEDED, run.message
    assert len(asked) >= run.total  # before each step, the regressor's and the generator's
