"""One user's burst of shutters must not hold up everyone else: shots are developed user by user
in turn, each user's queue is bounded, the shutter has a pace, and a user's sockets are capped."""

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from capture.models import Shot
from capture.shutter import FairShots
from fluxsite.asgi import application
from tests.capture.test_shoot_socket import assert_still_connected, open_socket, session_headers


def test_shots_are_developed_user_by_user_in_turn():
    pool = ThreadPoolExecutor(max_workers=1)
    fair = FairShots(pool, limit=5)
    hold, order = threading.Event(), []

    def job(name, wait=False):
        def run():
            if wait:
                assert hold.wait(10)
            order.append(name)
            return name

        return run

    first = fair.submit("alice", job("a1", wait=True))
    rest = [fair.submit("alice", job(f"a{k}")) for k in (2, 3, 4)] + [fair.submit("bob", job("b1"))]
    hold.set()
    assert [f.result(10) for f in [first, *rest]] == ["a1", "a2", "a3", "a4", "b1"]
    # Bob came after alice's burst, yet his shot is developed right after the one that was running.
    assert order == ["a1", "b1", "a2", "a3", "a4"]
    pool.shutdown()


def test_a_users_queue_is_bounded_and_frees_as_shots_finish():
    pool = ThreadPoolExecutor(max_workers=1)
    fair = FairShots(pool, limit=2)
    hold = threading.Event()
    held = [fair.submit("alice", lambda: hold.wait(10)) for _ in range(2)]
    assert fair.submit("alice", lambda: None) is None  # a third is refused
    bobs = fair.submit("bob", lambda: "b")  # others are not
    assert bobs is not None
    hold.set()
    assert bobs.result(10) == "b"
    for f in held:
        f.result(10)
    assert fair.pending_for("alice") == 0
    assert fair.submit("alice", lambda: "again").result(10) == "again"
    pool.shutdown()


def test_a_failing_shot_job_reports_its_error_and_frees_its_place():
    pool = ThreadPoolExecutor(max_workers=1)
    fair = FairShots(pool, limit=1)

    def boom():
        raise RuntimeError("broken")

    with pytest.raises(RuntimeError):
        fair.submit("alice", boom).result(10)
    assert fair.submit("alice", lambda: 1).result(10) == 1
    pool.shutdown()


@pytest.mark.django_db(transaction=True)
@pytest.mark.db
@pytest.mark.channels
async def test_a_burst_of_shutters_gets_clear_errors_and_saves_only_what_is_allowed(alice, settings, portrait_jpeg):
    settings.FLUX_SHUTTER_RATE, settings.FLUX_SHUTTER_BURST, settings.FLUX_MAX_PENDING_SHOTS = 1.0, 3.0, 2
    comm, _ = await open_socket(await session_headers(alice))
    for _ in range(12):
        await comm.send_to(text_data=json.dumps({"type": "shutter"}))
        await comm.send_to(bytes_data=portrait_jpeg)
    codes, saved = [], 0
    while len(codes) + saved < 12:
        msg = json.loads(await comm.receive_from(timeout=120))
        if msg["type"] == "error":
            codes.append(msg["code"])
        elif msg["type"] == "shot_saved":
            saved += 1
    assert set(codes) <= {"busy", "shutter_too_fast"} and "shutter_too_fast" in codes
    assert 1 <= saved <= 3
    await assert_still_connected(comm)
    await comm.disconnect()
    assert await sync_to_async(Shot.objects.filter(user=alice).count)() == saved


@pytest.mark.django_db(transaction=True)
@pytest.mark.db
@pytest.mark.channels
async def test_a_user_may_hold_only_so_many_camera_sockets(alice, bob, settings):
    settings.FLUX_MAX_SOCKETS_PER_USER = 2
    headers = await session_headers(alice)
    first, _ = await open_socket(headers)
    second, _ = await open_socket(headers)
    third = WebsocketCommunicator(application, "/ws/shoot/", headers=headers)
    connected, _ = await third.connect(timeout=10)
    assert connected
    assert json.loads(await third.receive_from(timeout=10))["code"] == "too_many_sockets"
    assert await third.receive_output(timeout=10) == {"type": "websocket.close", "code": 4429}
    bobs, _ = await open_socket(await session_headers(bob))  # another user is not counted
    await first.disconnect()
    again, _ = await open_socket(headers)  # a closed one frees its place
    for comm in (second, bobs, again):
        await comm.disconnect()
