"""The staged preview as pure functions, one test per claim (1–13), on the toy world."""

from __future__ import annotations

import numpy as np
import pytest

from reconstruction.core.divergence import DivergenceSettings, changed_fraction, divergence
from reconstruction.core.generators.base import ModelError
from reconstruction.core.preview import (
    ModelReconstructor,
    PreviewSettings,
    placeholder_image,
    reconstruct,
    self_checked,
    stages,
)
from reconstruction.core.rules import fluctuation_rule
from reconstruction.core.selfcheck import Finding, suspects

from .toy_world import FULL_RANGES, IDEALS, ToyReconstructor, measure, scene


def plan(mode=1, ideals=IDEALS, ranges=FULL_RANGES, broken=(), div=None, **kw):
    original = scene()
    analysis = measure(original)
    rule = fluctuation_rule(analysis.elements, ideals, ranges)
    toy = ToyReconstructor(broken)
    events = list(stages(original, analysis, rule, toy, PreviewSettings(mode=mode, **kw), div or DivergenceSettings()))
    return original, analysis, rule, toy, events


def kinds(events):
    return [e.kind for e in events]


def gap_from_original(event, original_analysis):
    return sum(abs(event.degrees[n] - original_analysis.elements[n]) for n in IDEALS)


def test_claim_1_a_diverging_reconstruction_is_previewed_by_a_gentler_third_image_after_the_original():
    original, analysis, rule, toy, events = plan(mode=1)
    assert kinds(events) == ["original", "preview", "reconstruction"]
    preview, recon = events[1], events[2]
    assert recon.divergence.diverged
    assert gap_from_original(preview, analysis) < gap_from_original(recon, analysis)
    assert np.array_equal(events[0].image, original)


def test_claim_1_a_reconstruction_close_to_the_original_is_shown_without_a_preview():
    gentle = {"expression.smile": 0.3}  # 0.2 -> 0.3: under the smile threshold
    _, _, _, _, events = plan(mode=1, ideals=gentle)
    assert kinds(events) == ["original", "reconstruction"]
    assert not events[-1].divergence.diverged


def test_claim_2_a_placeholder_comes_between_the_original_and_a_preview_that_still_diverges():
    _, _, _, _, events = plan(mode=2, soften="fewer_models")
    assert kinds(events) == ["original", "placeholder", "preview", "reconstruction"]
    assert events[2].divergence.diverged


def test_claim_2_no_placeholder_when_the_preview_is_close_to_the_original():
    _, _, _, _, events = plan(mode=2, soften="weaker", div=DivergenceSettings("degrees"))
    assert kinds(events) == ["original", "preview", "reconstruction"]
    assert not events[1].divergence.diverged


@pytest.mark.parametrize("kind", ["colour", "card"])
def test_claim_3_the_placeholder_is_a_solid_colour_or_a_processing_card(kind):
    _, _, _, _, events = plan(mode=2, placeholder=kind, placeholder_colour="#203040")
    spec = events[1].placeholder
    assert spec["kind"] == kind and spec["colour"] == "#203040"
    image = placeholder_image(320, 240, spec)
    corner = image[5, 5]
    assert tuple(corner) == (0x20, 0x30, 0x40)
    distinct = len(np.unique(image.reshape(-1, 3), axis=0))
    assert (distinct == 1) == (kind == "colour")  # the card carries text saying work is in progress
    assert ("Reconstructing" in spec["text"]) == (kind == "card")


def test_claim_4_previews_grow_in_strength_until_within_the_threshold_of_the_reconstruction():
    original, analysis, _, _, events = plan(mode=3)
    previews = [e for e in events if e.kind == "preview"]
    assert kinds(events) == ["original"] + ["preview"] * len(previews) + ["reconstruction"]
    assert len(previews) >= 2
    gaps = [gap_from_original(p, analysis) for p in previews] + [gap_from_original(events[-1], analysis)]
    assert gaps == sorted(gaps) and gaps[0] > 0
    assert all(p.to_reconstruction.diverged for p in previews[:-1])


def test_claim_4_the_sequence_stops_once_a_preview_is_within_the_threshold():
    lenient = DivergenceSettings(method="degrees", scale=1.0)
    ideals = {"expression.smile": 0.9, "climate.sunniness": 0.4}  # climate's step is small
    _, _, _, _, events = plan(mode=3, ideals=ideals, div=lenient, order="near_far")
    previews = [e for e in events if e.kind == "preview"]
    assert [p.groups for p in previews] == [["expression"]]
    assert not previews[-1].to_reconstruction.diverged


def test_claim_5_previews_are_built_model_by_model_or_region_by_region():
    _, _, _, _, by_element = plan(mode=3, unit="element")
    groups = [e.groups for e in by_element if e.kind == "preview"]
    assert [len(g) for g in groups] == list(range(1, len(groups) + 1))
    ideals = {"expression.smile": 0.9, "climate.sunniness": 0.9}
    _, _, _, _, by_region = plan(mode=3, unit="region", ideals=ideals)
    regions = [e.regions for e in by_region if e.kind == "preview"]
    assert regions == [["background"]]


def test_claim_6_previews_go_from_near_to_far_or_far_to_near():
    _, _, _, _, near = plan(mode=3, order="near_far")
    _, _, _, _, far = plan(mode=3, order="far_near")
    assert [e.groups for e in near if e.kind == "preview"] == [["expression"], ["expression", "composition"]]
    assert [e.groups for e in far if e.kind == "preview"] == [["climate"], ["climate", "composition"]]
    ideals = {"expression.smile": 0.9, "climate.sunniness": 0.9}
    _, _, _, _, sky_first = plan(mode=3, unit="region", order="far_near", ideals=ideals)
    assert [e.regions for e in sky_first if e.kind == "preview"] == [["sky"]]


def test_claim_7_previews_go_in_ascending_or_descending_divergence():
    _, _, _, _, asc = plan(mode=3, order="divergence_asc")
    _, _, _, _, desc = plan(mode=3, order="divergence_desc")
    # Against their thresholds: smile 0.7/0.25, sunniness 0.6/0.2, subject_x 0.2/0.1 weighted 2.
    assert [e.groups[-1] for e in asc if e.kind == "preview"] == ["expression", "climate"]
    assert [e.groups[-1] for e in desc if e.kind == "preview"] == ["composition", "climate"]


def test_claim_8_the_recorded_image_is_the_full_reconstruction_never_a_preview():
    original, analysis, rule, _, events = plan(mode=3)
    recorded = events[-1]
    assert recorded.kind == "reconstruction"
    full = reconstruct(original, analysis, rule.steps, ToyReconstructor())
    assert np.array_equal(recorded.image, full.image)
    assert all(not np.array_equal(e.image, full.image) for e in events if e.kind == "preview")


def test_claim_9_divergence_by_degree_gaps_weighs_composition_above_expression():
    a = {"expression.smile": 0.2, "composition.subject_x": 0.3}
    smile = divergence(
        None, a, None, {"expression.smile": 0.4, "composition.subject_x": 0.3}, DivergenceSettings("degrees")
    )
    framing = divergence(
        None, a, None, {"expression.smile": 0.2, "composition.subject_x": 0.42}, DivergenceSettings("degrees")
    )
    assert not smile.diverged and framing.diverged  # a bigger smile gap than framing gap, yet only framing diverges
    assert framing.exceeded == ["composition.subject_x"]
    assert framing.score > 0 and smile.gaps["expression.smile"] == pytest.approx(0.2)
    stricter = divergence(
        None, a, None, {"expression.smile": 0.4, "composition.subject_x": 0.3}, DivergenceSettings("degrees", scale=0.5)
    )
    assert stricter.diverged


def test_claim_10_divergence_by_interframe_difference_counts_the_changed_share_of_the_frame():
    base = scene()
    assert changed_fraction(base, base) == 0.0
    small = changed_fraction(base, scene(smile=0.9))
    large = changed_fraction(base, np.roll(base, 30, axis=1))
    assert 0 < small < 0.08 < large
    verdict = divergence(base, {}, np.roll(base, 30, axis=1), {}, DivergenceSettings("pixels", pixel_fraction=0.1))
    assert verdict.diverged and verdict.changed == pytest.approx(large)
    assert not divergence(base, {}, scene(smile=0.9), {}, DivergenceSettings("pixels")).diverged


def test_claim_11_the_gentler_preview_uses_fewer_models_leaving_out_the_reframing_first():
    _, _, rule, toy, events = plan(mode=1, soften="fewer_models")
    preview, recon = events[1], events[2]
    assert set(recon.groups) == {"expression", "climate", "composition"}
    assert "composition" not in preview.groups and 0 < len(preview.groups) < 3
    assert preview.strength == 1.0


def test_claim_12_the_gentler_preview_uses_weaker_parameters():
    _, analysis, _, _, events = plan(mode=1, soften="weaker")
    preview, recon = events[1], events[2]
    assert preview.groups == recon.groups and preview.strength < 1.0
    for name in IDEALS:
        before, soft, full = analysis.elements[name], preview.degrees[name], recon.degrees[name]
        assert min(before, full) - 0.01 <= soft <= max(before, full) + 0.01
        assert abs(soft - before) < abs(full - before)


def test_claim_13_the_original_is_shown_before_any_model_runs():
    original = scene()
    analysis = measure(original)
    toy = ToyReconstructor()
    rule = fluctuation_rule(analysis.elements, IDEALS, FULL_RANGES)
    events = stages(original, analysis, rule, toy, PreviewSettings(mode=2))
    first = next(events)
    assert first.kind == "original" and np.array_equal(first.image, original)
    assert toy.calls == []
    rest = list(events)
    assert toy.calls and rest[-1].kind == "reconstruction"


@pytest.mark.parametrize("mode", [1, 2, 3])
def test_the_first_preview_reaches_the_screen_before_the_full_reconstruction_is_made(mode):
    original = scene()
    analysis = measure(original)
    toy = ToyReconstructor()
    rule = fluctuation_rule(analysis.elements, IDEALS, FULL_RANGES)
    events = stages(original, analysis, rule, toy, PreviewSettings(mode=mode))
    shown = next(e for e in events if e.kind == "preview")
    made = {g for g, strength in toy.calls if strength == 1.0}
    assert made == set(shown.groups) and made != {"expression", "climate", "composition"}
    rest = list(events)
    assert rest[-1].kind == "reconstruction"
    full = reconstruct(original, analysis, rule.steps, ToyReconstructor())
    assert np.array_equal(rest[-1].image, full.image)


def test_the_reconstruction_goes_on_from_a_preview_of_its_first_models_instead_of_making_them_again():
    _, _, rule, toy, events = plan(mode=1, soften="fewer_models")
    preview = events[1]
    assert 0 < len(preview.groups) < 3 and rule.groups[: len(preview.groups)] == preview.groups
    assert sorted(g for g, _ in toy.calls) == ["climate", "composition", "expression"]


def test_going_on_from_a_chain_gives_the_image_of_making_it_in_one_go():
    original = scene()
    analysis = measure(original)
    rule = fluctuation_rule(analysis.elements, IDEALS, FULL_RANGES)
    toy = ToyReconstructor()
    whole = reconstruct(original, analysis, rule.steps, toy)
    for cut in range(len(rule.steps) + 1):
        head = reconstruct(original, analysis, rule.steps[:cut], toy)
        tail = reconstruct(original, analysis, rule.steps[cut:], toy, start=head)
        assert np.array_equal(tail.image, whole.image) and tail.applied == whole.applied
        assert tail.analysis.elements == whole.analysis.elements


def test_a_failing_model_still_delivers_the_others_and_says_which_failed():
    _, _, _, _, events = plan(mode=1, broken=("climate",))
    recon = events[-1]
    assert set(recon.groups) == {"expression", "composition"}
    assert recon.failed[0]["group"] == "climate" and "unreadable" in recon.failed[0]["reason"]


def test_no_models_records_the_original_and_says_so():
    original, _, rule, toy, events = plan(mode=2, ranges={})
    assert kinds(events) == ["original", "reconstruction"]
    assert np.array_equal(events[-1].image, original) and events[-1].groups == []
    assert "no models" in events[-1].note and toy.calls == []
    assert {s.group for s in rule.skipped} == {"expression", "climate", "composition"}


class LendingReconstructor(ToyReconstructor):
    """The toy expression model borrowing its smile from lenders A, B, C in turn (skipping those
    it is told to avoid); a ``bad`` lender leaves a mark on the image, as a ghost would."""

    lend_again = ModelReconstructor.lend_again

    def __init__(self, bad):
        super().__init__()
        self.bad = set(bad)
        self.avoid, self.last_lender, self.lent = {}, {}, []

    def apply(self, rgb, analysis, step, strength):
        out = super().apply(rgb, analysis, step, strength)
        if step.group == "expression":
            lender = next((x for x in "ABC" if x not in self.avoid.get("expression", {})), None)
            if lender is None:
                raise ModelError("none of your faces can lend it")
            self.last_lender["expression"], out[0, 0] = lender, (255, 0, 255) if lender in self.bad else out[0, 0]
            self.lent.append(lender)
        return out


class MarkCheck:
    """A self-check that sees the bad lenders' mark, and blames the expression model for it (as a
    ghost, or, ``too_little``, as a smile too weak to read)."""

    def __init__(self, too_little=False):
        self.too_little = too_little

    def findings(self, original, analysis, image, result, targets, ran, cache, quick=False):
        mark = Finding("artifact", "a mark by the mouth", group="expression", too_little=self.too_little)
        return [mark] if image[0, 0, 1] == 0 else []

    def suspects(self, found, applied):
        return suspects(found, applied)

    def summary(self):
        return {}


def lent_and_checked(bad, quick=False, too_little=False):
    original = scene()
    analysis = measure(original)
    # No reframing: it would roll the mark away from the corner the check looks at.
    ideals = {n: v for n, v in IDEALS.items() if not n.startswith("composition")}
    rule = fluctuation_rule(analysis.elements, ideals, FULL_RANGES)
    reconstructor = LendingReconstructor(bad)
    full = reconstruct(original, analysis, rule.steps, reconstructor)
    check = MarkCheck(too_little)
    final, left_out, _ = self_checked(original, analysis, rule.steps, full, reconstructor, check, quick=quick)
    return final, left_out, reconstructor


def test_an_edit_whose_lent_face_the_self_check_refuses_is_made_again_from_another_face():
    final, left_out, reconstructor = lent_and_checked(bad={"A"})
    assert "expression" in final.applied and not left_out
    assert final.lenders["expression"] == "B" and final.image[0, 0, 1] != 0
    assert "a mark by the mouth" in reconstructor.avoid["expression"]["A"]


def test_an_edit_no_lender_makes_cleanly_is_left_out_after_two_other_faces():
    final, left_out, reconstructor = lent_and_checked(bad={"A", "B", "C"})
    assert "expression" not in final.applied
    assert [x["group"] for x in left_out] == ["expression"] and "a mark by the mouth" in left_out[0]["why"]
    assert set(reconstructor.avoid["expression"]) == {"A", "B"}  # ANOTHER_LENDER other faces after the first
    assert final.image[0, 0, 1] != 0


def test_no_other_face_is_tried_for_an_edit_that_did_too_little():
    final, left_out, reconstructor = lent_and_checked(bad={"A"}, too_little=True)
    assert [x["group"] for x in left_out] == ["expression"]
    # Neither another face nor a bigger smile: a smile that did not move the classifier is left out.
    assert not reconstructor.avoid and reconstructor.lent == ["A"]


class SmileReadFrom(MarkCheck):
    """A classifier that reads the toy's smile as happy only from ``bar`` up (a gentle smile under
    worried brows reads as no smile at all)."""

    def __init__(self, bar):
        self.bar = bar

    def prefetch(self, original, analysis, cache, groups=()):
        pass

    def findings(self, original, analysis, image, result, targets, ran, cache, quick=False):
        asked = targets.get("expression.smile")
        if "expression" in ran and asked is not None and asked < self.bar - 1e-6:
            return [
                Finding("expression", f"the smile did not take at {asked:.2f}", group="expression", too_little=True)
            ]
        return []


def smile_asked(ideal, bar):
    original = scene()
    analysis = measure(original)
    rule = fluctuation_rule(analysis.elements, {"expression.smile": ideal}, FULL_RANGES)
    toy = ToyReconstructor()
    events = list(stages(original, analysis, rule, toy, PreviewSettings(mode=1), check=SmileReadFrom(bar)))
    return rule, toy, events[-1]


def test_a_smile_that_did_not_take_is_left_out_without_asking_a_bigger_one():
    _, toy, final = smile_asked(ideal=0.55, bar=0.8)
    assert final.groups == [] and final.raised == []
    assert "the smile did not take at 0.55" in final.left_out[0]["why"]
    # Made once at full strength: no bigger smile was tried (each costs a generation and a check).
    assert toy.calls.count(("expression", 1.0)) == 1


def test_a_smile_that_reads_as_asked_is_not_raised():
    _, toy, final = smile_asked(ideal=0.55, bar=0.5)
    assert final.groups == ["expression"] and final.raised == []
    assert final.degrees["expression.smile"] == pytest.approx(0.55, abs=0.01)


class SmileReadPartly(MarkCheck):
    """A classifier that reads the toy's smile only in part below ``bar`` (no defect: the photo
    may be kept) and sees a defect from ``defect`` up (a bigger smile that reads surprised)."""

    def __init__(self, bar, defect=9.0):
        self.bar, self.defect = bar, defect

    def prefetch(self, original, analysis, cache, groups=()):
        pass

    def findings(self, original, analysis, image, result, targets, ran, cache, quick=False):
        asked = targets.get("expression.smile")
        if "expression" not in ran or asked is None:
            return []
        if asked >= self.defect - 1e-6:
            return [Finding("expression", f"the face now looks surprised at {asked:.2f}")]
        if asked < self.bar - 1e-6:
            return [
                Finding("expression", f"the smile took only in part at {asked:.2f}", group="expression", partial=True)
            ]
        return []


def smile_read_partly(bar, defect=9.0):
    original = scene()
    analysis = measure(original)
    rule = fluctuation_rule(analysis.elements, {"expression.smile": 0.55}, FULL_RANGES)
    events = list(
        stages(
            original, analysis, rule, ToyReconstructor(), PreviewSettings(mode=1), check=SmileReadPartly(bar, defect)
        )
    )
    return events[-1]


def test_a_smile_that_reads_only_in_part_is_asked_bigger_and_kept_where_it_reads():
    final = smile_read_partly(bar=0.7)
    assert final.groups == ["expression"] and not final.left_out
    assert final.degrees["expression.smile"] == pytest.approx(0.70, abs=0.01)
    assert final.raised == [
        {
            "group": "expression",
            "element": "expression.smile",
            "from": 0.55,
            "to": 0.7,
            "why": "the smile took only in part at 0.55",
        }
    ]


def test_a_partial_smile_stays_as_asked_when_no_bigger_one_reads_or_one_brings_a_defect():
    # No bigger smile up to the model's reach reads as one: the smile asked is kept, not a laugh.
    never = smile_read_partly(bar=2.0)
    # The bigger smile reads surprised: the gentle one, which had no defect, stays.
    worse = smile_read_partly(bar=0.85, defect=0.7)
    for final in (never, worse):
        assert final.groups == ["expression"] and not final.left_out and final.raised == []
        assert final.degrees["expression.smile"] == pytest.approx(0.55, abs=0.01)


def test_a_previews_quick_check_tries_another_face_too():
    # Its leaving out is kept by the recorded photo, which would otherwise never try one.
    final, left_out, reconstructor = lent_and_checked(bad={"A"}, quick=True)
    assert "expression" in final.applied and not left_out
