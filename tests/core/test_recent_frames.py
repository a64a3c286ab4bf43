"""The frames of the last seconds before the shutter: bounded by age, count and bytes."""

import numpy as np

from reconstruction.core.analysis import Analysis, Face
from reconstruction.core.recent import RecentFrames


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def analysis_with_face(smile=0.5) -> Analysis:
    face = Face(
        box=(10, 10, 50, 50),
        landmarks=np.zeros((478, 3), np.float32),
        blendshapes={},
        matrix=np.eye(4),
        degrees={"expression.smile": smile},
        main=True,
    )
    return Analysis(width=320, height=240, faces=[face], elements={"expression.smile": smile})


def test_the_window_keeps_only_the_newest_frames_under_a_long_stream():
    clock = Clock()
    window = RecentFrames(seconds=5.0, max_frames=10, max_bytes=10**9, clock=clock)
    for i in range(1000):
        window.add(bytes([i % 256]) * 1000, analysis_with_face(i / 1000))
        clock.now += 0.1
        assert len(window) <= 10
    frames = window.snapshot()
    assert len(frames) == 10
    assert frames[-1].face.degrees["expression.smile"] == 0.999  # the newest
    assert frames[-1].face.matrix is None  # only what the exemplar choice reads is kept


def test_the_window_drops_frames_older_than_its_seconds_and_beyond_its_bytes():
    clock = Clock()
    window = RecentFrames(seconds=2.0, max_frames=100, max_bytes=50_000, clock=clock)
    for _ in range(5):
        window.add(b"x" * 5000, analysis_with_face())
    clock.now += 2.5
    assert window.snapshot() == ()
    for _ in range(40):
        window.add(b"x" * 5000, analysis_with_face())
    assert window.nbytes <= 50_000 and len(window) < 40
    window.add(b"x" * 60_000, analysis_with_face())  # one frame above the bound is not kept at all
    assert window.nbytes <= 50_000


def test_a_frame_without_a_face_is_kept_without_one_and_clear_frees_everything():
    window = RecentFrames()
    empty = Analysis(width=320, height=240, faces=[], elements={})
    window.add(b"jpeg", empty)
    window.add(b"jpeg", analysis_with_face())
    assert [f.face is None for f in window.snapshot()] == [True, False]
    assert RecentFrames.held()[0] >= 2
    window.clear()
    assert len(window) == 0 and window.nbytes == 0
