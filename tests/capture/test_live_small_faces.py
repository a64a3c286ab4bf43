"""A live stream looks for faces too small for the whole-frame pass, except while the server is busy,
and keeps measuring those it found."""

from __future__ import annotations

from capture import live
from reconstruction.core.imageio import encode_jpeg
from tests.conftest import farther_back, video_frames


def frames_of_a_far_person(count: int) -> list[bytes]:
    """jwpIntro (a registry clip) shrunk about the centre: a face about 42 px wide in 640x480."""
    frames = video_frames("jwpIntro.mp4", range(0, 2 * count, 2))
    return [encode_jpeg(farther_back(frames[k], 0.3)) for k in sorted(frames)]


def test_a_busy_server_scans_for_new_faces_later_and_keeps_measuring_those_found():
    jpegs = frames_of_a_far_person(24)
    busy = live.LiveStream()
    assert not any(busy.analyze(j, busy=True).analysis["faces"] for j in jpegs[:12])
    stream = live.LiveStream()
    found = [bool(stream.analyze(j).analysis["faces"]) for j in jpegs[:12]]
    assert any(found), found
    # Found once, the face is measured on every frame after, busy or not.
    first = found.index(True)
    later = [bool(stream.analyze(j, busy=True).analysis["faces"]) for j in jpegs[12:]]
    assert sum(later) >= len(later) - 1 and first < 12, later
