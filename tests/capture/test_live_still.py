"""A live frame in which nothing moved beyond noise is not measured again (issue 20's lever for
idle cameras), and no frame of real talking footage is taken for one."""

from __future__ import annotations

import numpy as np
import pytest

from capture import live
from reconstruction.core.imageio import encode_jpeg
from tests.conftest import video_frames


def noisy(rgb: np.ndarray, seed: int) -> bytes:
    """The same scene as a webcam sends it again: sensor noise (σ 3 levels), then JPEG."""
    rng = np.random.default_rng(seed)
    return encode_jpeg(np.clip(rgb + rng.normal(0, 3, rgb.shape), 0, 255).astype(np.uint8), quality=80)


def test_a_still_scene_is_not_measured_again_and_the_message_says_so(portrait, monkeypatch):
    stream = live.LiveStream()
    first = stream.analyze(noisy(portrait, 0)).analysis
    assert "unchanged" not in first and first["faces"]
    again = [stream.analyze(noisy(portrait, seed)).analysis for seed in (1, 2, 3)]
    assert all(a["unchanged"] for a in again)
    assert all(a["elements"] == first["elements"] and a["faces"] == first["faces"] for a in again)
    # The frames still reach the shutter's recent frames.
    assert len(stream.recent.snapshot()) == 4
    # Anything that moves is measured: the person stepping closer to the light.
    brighter = stream.analyze(encode_jpeg(np.clip(portrait.astype(np.int16) + 12, 0, 255).astype(np.uint8)))
    assert "unchanged" not in brighter.analysis
    # And a still scene at least once a second.
    monkeypatch.setattr(live, "STILL_SECONDS", 0.0)
    assert "unchanged" not in stream.analyze(noisy(portrait, 4)).analysis


@pytest.mark.parametrize("clip", ["franck.mp4", "carphone_pristine.mp4"])
def test_every_frame_of_real_talking_footage_is_measured(clip):
    # 10 frames a second of each clip, as the page sends them (25-30 fps footage, every 3rd).
    frames = video_frames(clip, range(0, 90, 3))
    stream = live.LiveStream()
    outcomes = [stream.analyze(encode_jpeg(frames[i], quality=80)).analysis for i in sorted(frames)]
    assert len(outcomes) == 30 and not [o for o in outcomes if o.get("unchanged")]
