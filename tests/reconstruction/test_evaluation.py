"""The quality figures pair each held-out frame with a real target the way the quality bar says,
and score the model against the baselines on the same pairs."""

import numpy as np
import pytest

from reconstruction.core.evaluation import _placement_target, _target_for, realism
from reconstruction.core.generators.expression import ELEMENTS
from reconstruction.core.ranges import Sample
from tests.conftest import video_frames

SMILE = "expression.smile"


@pytest.fixture(scope="module")
def frames(analyzer):
    shot = video_frames("single_face.mp4", range(0, 72, 6))
    samples = [Sample(rgb, analyzer.analyze(rgb)) for _, rgb in sorted(shot.items())]
    return [s for s in samples if s.analysis.main_face is not None]


def test_the_realism_target_is_where_the_head_sits_as_in_the_source(analyzer, frames):
    neutral = min(frames, key=lambda s: s.degree(SMILE))
    smiling = max(frames, key=lambda s: s.degree(SMILE))
    assert smiling.degree(SMILE) - neutral.degree(SMILE) > 0.3
    # The same smile with the head 100 px to the side, and a frame as neutral as the source.
    moved_rgb = np.roll(smiling.rgb, 100, axis=1)
    moved = Sample(moved_rgb, analyzer.analyze(moved_rgb))
    alike = Sample(neutral.rgb.copy(), neutral.analysis)
    held = [neutral, alike, moved, smiling]
    span = (0.0, 1.0)
    assert _placement_target(held, 0, SMILE, neutral.degree(SMILE), span) is smiling
    # Paired in order instead, the moved head comes first: that pairing measures where the head is.
    assert _target_for(held, 0, SMILE, neutral.degree(SMILE), span) is moved
    # No frame qualifies when none differs enough in smile.
    assert _placement_target([neutral, alike], 0, SMILE, neutral.degree(SMILE), span) is None


class Unchanged:
    """A model that returns the source as it is: it must score exactly the unchanged baseline."""

    group = "expression"
    elements = ELEMENTS

    def reconstructable_range(self, element):
        return (0.0, 1.0)

    def generate(self, rgb, analysis, targets):
        return rgb.copy()


def test_realism_scores_the_model_on_the_same_pairs_as_both_baselines(frames):
    held, train = frames[::2], frames[1::2]
    figures = realism(Unchanged(), held, train)
    assert set(figures) == {"model", "unchanged", "nearest_training", "target_face_pasted"}
    assert figures["model"] == figures["unchanged"]
    # Pasting a face changes the score: the baselines really paste.
    assert figures["nearest_training"] != figures["unchanged"] and figures["target_face_pasted"] != figures["unchanged"]
    anywhere = realism(Unchanged(), held, train, "any")
    assert anywhere["model"] == anywhere["unchanged"]
