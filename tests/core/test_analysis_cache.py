"""The worker's cache of analysed learning frames: the same pixels are analysed once, and a group
whose frames carry person masks cannot push another group's faces-only analyses out."""

from types import SimpleNamespace

import numpy as np

from reconstruction.core.extraction import AnalysisCache


class Counting:
    """Stands in for the analyzer: a mask of 1.2 MB when segmenting, as at 640x480."""

    def __init__(self):
        self.calls = []

    def analyze(self, rgb, segment=True):
        self.calls.append(segment)
        mask = np.zeros((480, 640), np.float32) if segment else None
        return SimpleNamespace(person_mask=mask, sky_mask=None, faces=[object()])


def frames(n, seed):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 255, (48, 64, 3), dtype=np.uint8) for _ in range(n)]


def test_a_frame_seen_before_is_not_analysed_again():
    cache, analyzer = AnalysisCache(64 * 2**20), Counting()
    shots = frames(5, 0)
    first = [cache.analyze(analyzer, f, segment=False) for f in shots]
    again = [cache.analyze(analyzer, f.copy(), segment=False) for f in shots]  # same pixels, other arrays
    assert analyzer.calls == [False] * 5 and all(a is b for a, b in zip(first, again))
    changed = shots[0].copy()
    changed[0, 0, 0] ^= 1
    cache.analyze(analyzer, changed, segment=False)
    assert len(analyzer.calls) == 6


def test_segmented_frames_never_push_out_the_faces_only_ones():
    cache, analyzer = AnalysisCache(8 * 2**20), Counting()  # room for 6 masks
    faces = frames(20, 1)
    for f in faces:
        cache.analyze(analyzer, f, segment=False)
    for f in frames(30, 2):  # a lighting fine-tune's frames, with masks, far over the bound
        cache.analyze(analyzer, f, segment=True)
    before = len(analyzer.calls)
    for f in faces:
        cache.analyze(analyzer, f, segment=False)
    assert len(analyzer.calls) == before  # every faces-only analysis was still there
    for f in frames(30, 2)[:10]:  # the oldest masks were dropped, the newest kept
        cache.analyze(analyzer, f, segment=True)
    assert len(analyzer.calls) == before + 10
