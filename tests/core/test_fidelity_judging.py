"""The fidelity judging (reconstruction/core/yardstick/fidelity.py) itself, on real images: the bench's
figures mean something only if an unchanged photo scores as unchanged, another person's face fails
identity, a real blink fails the eyes, and the summary counts what it says."""

import math

import cv2
import numpy as np
import pytest

from reconstruction.core.generators.base import FluctuationModel
from reconstruction.core.imageio import read_image
from reconstruction.core.intention import DEFAULT_TABLE
from reconstruction.core.preview import ModelReconstructor, PreviewSettings, stages
from reconstruction.core.rules import rule_for_models
from reconstruction.core.selfcheck import SelfCheck, shared_checks
from reconstruction.core.yardstick.borders import BorderVerdict
from reconstruction.core.yardstick.fidelity import (
    GOALS,
    Judgement,
    degree_validity,
    judge,
    rank,
    reason_kinds,
    spearman,
    summarize,
)
from tests.conftest import sample_path, video_frames

# franck.mp4: eyes open at frame 160, shut in a blink at 165 (as in test_yardstick_dlib.py).
FRANCK_OPEN, FRANCK_BLINK = 160, 165


class ReturnsItsInput(FluctuationModel):
    """An expression "model" whose every edit is the image it was given."""

    group = "expression"
    elements = ("expression.smile", "expression.eye_openness", "expression.mouth_openness")

    def __init__(self):
        super().__init__()
        self.ranges = {n: (0.0, 1.0) for n in self.elements}

    def _generate(self, rgb, analysis, targets):
        return rgb.copy()


def _comparable(j: Judgement) -> dict:
    out = j.to_json()
    out.pop("applied")
    out.pop("left_out")
    return out


def test_a_model_that_returns_its_input_scores_exactly_as_the_unchanged_image(analyzer, portrait):
    analysis = analyzer.analyze(portrait)
    box = analysis.main_face.box
    model = ReturnsItsInput()
    rule = rule_for_models(analysis.elements, DEFAULT_TABLE["portrait"], {"expression": model}, analysis=analysis)
    assert rule.steps, "the portrait intention should ask this photo's expression for something"
    final = list(
        stages(
            portrait,
            analysis,
            rule,
            ModelReconstructor({"expression": model}, analyzer),
            PreviewSettings(mode=1),
            check=SelfCheck(shared_checks()),
        )
    )[-1]
    assert final.kind == "reconstruction"
    # Whether the self-check keeps the edit or leaves it out (it changed nothing: "the smile did
    # not take"), the recorded image is the original, pixel for pixel.
    assert set(final.groups) | {x["group"] for x in final.left_out} == {"expression"}
    assert np.array_equal(final.image, portrait)

    after = analyzer.analyze(final.image)
    recorded = judge(portrait, final.image, box, after.main_face.box, applied=final.groups, left_out=final.left_out)
    unchanged = judge(portrait, portrait.copy(), box, box)
    assert _comparable(recorded) == _comparable(unchanged)
    assert recorded.probabilities_after == unchanged.probabilities_after == recorded.probabilities_before
    assert recorded.p_happy_after == recorded.p_happy_before
    assert recorded.distance == 0.0 and recorded.same_person
    assert recorded.ear_after == recorded.ear_before
    assert not recorded.invented_border and set(recorded.border.strips.values()) <= {"real"}
    assert not recorded.new_unhappy
    # The unchanged baseline meets every per-shot goal except "happy", which is the photo's own.
    figures = summarize([recorded])
    for key in ("new_unhappy", "same_person", "median_distance", "no_invented_border"):
        assert figures[key]["met"], key


def _paste_face(target: np.ndarray, target_box, donor: np.ndarray, donor_box) -> np.ndarray:
    """The donor's face resized onto the target's, blended with a soft ellipse (a face swap)."""

    def grown(b, k=0.1):
        x, y, w, h = b
        return tuple(int(round(v)) for v in (x - k * w, y - k * h, w * (1 + 2 * k), h * (1 + 2 * k)))

    px, py, pw, ph = grown(donor_box)
    tx, ty, tw, th = grown(target_box)
    face = cv2.resize(donor[py : py + ph, px : px + pw], (tw, th), interpolation=cv2.INTER_AREA).astype(np.float32)
    mask = np.zeros((th, tw), np.float32)
    cv2.ellipse(mask, (tw // 2, th // 2), (int(tw * 0.45), int(th * 0.48)), 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), tw / 30)[..., None]
    out = target.copy()
    region = out[ty : ty + th, tx : tx + tw].astype(np.float32)
    out[ty : ty + th, tx : tx + tw] = np.clip(region * (1 - mask) + face * mask + 0.5, 0, 255).astype(np.uint8)
    return out


def test_another_persons_face_pasted_in_fails_same_person(analyzer, portrait):
    photo = read_image(sample_path("single_face.jpg"))
    box = analyzer.analyze(photo).main_face.box
    swapped = _paste_face(photo, box, portrait, analyzer.analyze(portrait).main_face.box)
    after = analyzer.analyze(swapped).main_face
    assert after is not None

    j = judge(photo, swapped, box, after.box)
    assert not j.same_person and j.distance >= 0.6
    # Found by dlib's own detector instead of Flux's box: the same verdict.
    assert not judge(photo, swapped, box, None).same_person
    # The paste moved no border: that figure stays clean, as it should.
    assert not j.invented_border
    assert judge(photo, photo, box, box).same_person


def test_a_real_blink_fails_eyes_open(analyzer):
    frames = video_frames("franck.mp4", [FRANCK_OPEN, FRANCK_BLINK])
    open_, shut = frames[FRANCK_OPEN], frames[FRANCK_BLINK]
    box_open = analyzer.analyze(open_).main_face.box
    box_shut = analyzer.analyze(shut).main_face.box

    j = judge(open_, shut, box_open, box_shut)
    assert j.ear_before >= 0.2 > j.ear_after
    assert not j.eyes_open
    assert j.same_person  # the same man, a fifth of a second later
    assert judge(open_, open_, box_open, box_open).eyes_open


def _hand_made() -> list[Judgement]:
    mirrored = BorderVerdict(
        True, 0.02, {"left": "mirrored", "right": "real", "top": "real", "bottom": "real"}, "left border mirrored"
    )
    clean = BorderVerdict(
        False,
        0.0,
        {s: "real" for s in ("left", "right", "top", "bottom")},
        "every border holds the frame's own content",
    )
    return [
        # a crying face made happy, eyes opened, same person; borders not checked
        Judgement(0.1, 0.9, "sad", "happy", 0.10, 0.30, 0.20, None, ["expression"]),
        # a happy face turned sad: a new unhappy expression, eyes shut, an invented border; the
        # self-check left the expression model out for identity
        Judgement(
            0.8,
            0.3,
            "happy",
            "sad",
            0.30,
            0.15,
            0.40,
            mirrored,
            ["composition"],
            [{"group": "expression", "why": "the face no longer passes as the same person (distance 0.61)"}],
        ),
        # happy kept happy, but another person
        Judgement(0.9, 0.95, "happy", "happy", 0.25, 0.25, 0.70, clean, ["expression"]),
        # the face lost in the recorded image
        Judgement(0.2, None, "neutral", None, 0.30, None, None, None, []),
    ]


def test_summarize_computes_the_percentages_and_goals():
    f = summarize(_hand_made())
    assert f["n"] == 4 and f["faces_found"] == 3
    assert f["happy"]["value"] == 50.0 and f["happy"]["count"] == 2 and f["happy"]["met"] is False
    assert f["happy"]["goal"] == GOALS["happy"].text() == "≥ 90 %"
    assert f["new_unhappy"]["value"] == 1 and f["new_unhappy"]["met"] is False
    assert f["eyes_open"]["value"] == 50.0 and f["eyes_open"]["met"] is False
    assert f["same_person"]["value"] == 50.0 and f["same_person"]["met"] is False
    assert f["median_distance"]["value"] == pytest.approx(0.4) and f["median_distance"]["met"] is False
    # Borders: of the two judgements whose borders were checked, one was invented.
    assert f["no_invented_border"]["value"] == 50.0 and f["no_invented_border"]["checked"] == 2
    assert f["no_invented_border"]["invented"] == 1 and f["no_invented_border"]["met"] is False
    # Split by the original: happy originals (0.8, 0.9) stayed happy once of twice; the others
    # (0.1, 0.2) became happy once of twice.
    assert f["happy_when_original_happy"] == {"value": 50.0, "n": 2}
    assert f["happy_when_original_not_happy"] == {"value": 50.0, "n": 2}
    assert f["left_out"] == {"count": 1, "by_group": {"expression": 1}, "by_reason": {"expression: identity": 1}}

    good = summarize([_hand_made()[0], _hand_made()[0]])
    for key in ("happy", "new_unhappy", "eyes_open", "same_person", "median_distance"):
        assert good[key]["met"] is True, key
    assert good["happy"]["value"] == 100.0 and good["median_distance"]["value"] == pytest.approx(0.2)
    assert good["no_invented_border"]["value"] is None  # none checked: no figure, not a pass

    empty = summarize([])
    assert empty["n"] == 0 and empty["happy"]["value"] is None and empty["happy"]["met"] is None


def test_left_out_reasons_are_sorted_by_kind():
    assert reason_kinds("the eyes closed (eye aspect ratio 0.25 → 0.12); the face now looks sad (p 0.61)") == [
        "eyes closed (dlib)",
        "now looks unhappy (face-api)",
    ]
    assert reason_kinds("Smile moved away from its target (0.20 → 0.05, asked 0.55)") == ["moved away from its target"]
    assert reason_kinds("something new") == ["other"]


def test_spearman_matches_known_values():
    # scipy.stats.spearmanr([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]) = 0.8207826816681233 (ties averaged):
    # ranks (1, 2, 3.5, 5, 3.5), so 8 / sqrt(10 * 9.5).
    assert spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]) == pytest.approx(8 / math.sqrt(95), abs=1e-12)
    assert spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]) == pytest.approx(0.8207826816681233, abs=1e-12)
    assert spearman([0.1, 0.5, 0.2, 0.9], [1, 100, 10, 1000]) == pytest.approx(1.0)  # any monotone map
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3]))
    assert rank([10, 20, 20, 30]).tolist() == [1.0, 2.5, 2.5, 4.0]


def test_degree_validity_counts_unhappy_frames_read_as_smiles():
    p = lambda happy, sad: {"neutral": 1 - happy - sad, "happy": happy, "sad": sad}  # noqa: E731
    v = degree_validity(
        [0.0, 0.2, 0.6, 0.9], [p(0.0, 0.9), p(0.1, 0.2), p(0.05, 0.8), p(0.95, 0.0)], ["a", "b", "c", "d"]
    )
    assert v["n"] == 4 and v["judged_unhappy"] == 2
    assert v["unhappy_read_as_smile"]["value"] == 1 and v["unhappy_read_as_smile"]["frames"] == ["c"]
    assert v["unhappy_read_as_smile"]["met"] is False
    assert v["spearman"]["value"] == pytest.approx(spearman([0.0, 0.2, 0.6, 0.9], [0.0, 0.1, 0.05, 0.95]), abs=1e-4)
