"""A web process that dies while shots develop on it loses nothing: its shots are marked failed
(never "developing" forever), the user's open pages are told, and the shot page develops it again
from the stored original. The processes themselves are killed for real in test_web_processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest
from asgiref.sync import sync_to_async
from django.core.cache import cache

from capture import processes, services, shutter
from capture.models import Shot, ShotStage
from reconstruction.storage import put_jpeg
from tests.capture.test_shoot_socket import next_of, open_socket, session_headers
from tests.conftest import solid_jpeg

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.db]

ANALYSIS = {"width": 320, "height": 240, "elements": {}, "faces": []}


def a_dead_pid() -> int:
    """The pid of a process of this machine that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def developing(user, developer: str) -> Shot:
    return services.save_shot(user, solid_jpeg(), ANALYSIS, status=Shot.PROCESSING, developer=developer)


def status(shot) -> str:
    return Shot.objects.get(pk=shot.pk).status


def test_a_shot_names_the_web_process_that_develops_it_and_what_its_shutter_asked(alice, portrait_jpeg):
    shutter.take(alice, portrait_jpeg, lambda message: None, chosen="fun", wish="make me laugh")
    shot = Shot.objects.get(user=alice)
    assert shot.developer == f"{socket.gethostname()}:{os.getpid()}"
    assert shot.asked == {"intention": "fun", "wish": "make me laugh"}
    assert shot.status == Shot.DONE


def test_shots_left_developing_by_a_process_that_is_gone_are_marked_failed_and_no_others(alice, bob, settings):
    settings.REDIS_URL = ""  # one machine: no beats shared with others
    host = socket.gethostname()
    lost = developing(alice, f"{host}:{a_dead_pid()}")
    unnamed = developing(bob, "")  # saved before shots named their developer
    mine = developing(alice, processes.me())  # this process lives
    elsewhere = developing(bob, "another-machine:12")  # without Redis there is no other machine
    done = services.save_shot(alice, solid_jpeg(), ANALYSIS, developer=f"{host}:{a_dead_pid()}")

    assert processes.sweep() == 2
    assert status(lost) == status(unnamed) == Shot.FAILED
    assert "develop it again" in Shot.objects.get(pk=lost.pk).message
    assert status(mine) == status(elsewhere) == Shot.PROCESSING
    assert status(done) == Shot.DONE
    assert processes.sweep() == 0


def test_a_process_on_another_machine_is_gone_when_it_stops_saying_it_is_alive(settings, alice):
    settings.REDIS_URL = "redis://the-shared-cache"  # the beats are read from the (test's) cache
    other = "another-machine:12"
    shot = developing(alice, other)
    cache.set(f"flux:web-process:{other}", time.time(), timeout=processes.ALIVE_SECONDS)
    assert processes.sweep() == 0 and status(shot) == Shot.PROCESSING
    cache.delete(f"flux:web-process:{other}")
    assert processes.sweep() == 1 and status(shot) == Shot.FAILED


def test_a_process_that_develops_shots_says_it_is_alive():
    shutter.reconstruction_pool()
    cache.clear()  # as if its last word had expired: it says so again within a beat
    deadline = time.monotonic() + 2 * processes.BEAT_SECONDS + 1
    while not processes.alive(processes.me()):
        assert time.monotonic() < deadline, "the web process stopped saying it is alive"
        time.sleep(0.1)
    assert not processes.gone(processes.me())


async def test_the_users_open_pages_hear_that_a_lost_shot_failed(alice, bob):
    comm, _ = await open_socket(await session_headers(alice))
    others, _ = await open_socket(await session_headers(bob))
    try:
        lost = await sync_to_async(developing)(alice, f"{socket.gethostname()}:{a_dead_pid()}")
        await sync_to_async(processes.sweep)()
        told = await next_of(comm, "error")
        assert told["code"] == "reconstruction_failed" and told["shot"] == str(lost.pk)
        assert "develop it again" in told["message"]
        assert await others.receive_nothing(timeout=0.5)
    finally:
        await comm.disconnect()
        await others.disconnect()


def test_a_failed_shot_is_developed_again_from_its_original(alice, bob, client, portrait_jpeg):
    lost = services.save_shot(
        alice,
        portrait_jpeg,
        {"width": 640, "height": 480, "elements": {}, "faces": []},
        status=Shot.FAILED,
        developer="gone:1",
        asked={"intention": "fun", "wish": None},
    )
    # What the attempt that died had left: a stage row with its image.
    row = ShotStage(shot=lost, index=1, kind="preview", record={"index": 1})
    put_jpeg(row.image, solid_jpeg())
    row.save()
    Shot.objects.filter(pk=lost.pk).update(message=services.ORPHANED)
    client.force_login(alice)
    page = client.get(f"/shots/{lost.pk}/").content.decode()
    assert 'id="develop-again"' in page and "develop it again" in page

    # Someone else's shot is not theirs to develop.
    client.force_login(bob)
    assert client.post(f"/shots/{lost.pk}/develop/").status_code == 404
    client.force_login(alice)
    assert client.post(f"/shots/{lost.pk}/develop/").status_code == 302
    shutter._pool.submit(lambda: None).result(timeout=120)  # the reconstruction thread is done
    again = Shot.objects.get(pk=lost.pk)
    assert again.status == Shot.DONE, again.message
    assert again.intention["name"] == "fun"  # what its shutter asked
    assert again.developer == processes.me()
    assert [s.kind for s in again.shown.all()] == ["original", "reconstruction"]
    assert client.get(f"/shots/{lost.pk}/status/").json()["status"] == "done"
    page = client.get(f"/shots/{lost.pk}/").content.decode()
    assert 'id="develop-again"' not in page and 'data-status="done"' in page

    # A developed shot is not developed again.
    client.post(f"/shots/{lost.pk}/develop/")
    assert Shot.objects.get(pk=lost.pk).shown.count() == 2
    assert "This shot is developed." in client.get(f"/shots/{lost.pk}/").content.decode()


def test_a_shot_still_developing_shows_so_on_its_page(alice, client):
    shot = developing(alice, processes.me())
    client.force_login(alice)
    page = client.get(f"/shots/{shot.pk}/").content.decode()
    assert 'id="developing"' in page and 'data-status="processing"' in page
    assert client.get(f"/shots/{shot.pk}/status/").json() == {"status": "processing", "message": ""}
