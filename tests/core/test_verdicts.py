"""What accept and reject answers teach a model: a rejected edit shortens similar moves, an
accepted one pulls them toward it, and both travel with the model's checkpoint and reach the
rule, which says so in words."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from reconstruction.core.extraction import exposure_degree
from reconstruction.core.generators import load_checkpoint, save_checkpoint
from reconstruction.core.generators.base import carry_params
from reconstruction.core.generators.lighting import LightingModel, tone_curve
from reconstruction.core.ranges import Sample
from reconstruction.core.rules import fluctuation_rule
from reconstruction.core.verdicts import PastVerdict, steer

E = "lighting.exposure"


def rejected(source=0.30, target=0.50, reached=0.50):
    return PastVerdict(accepted=False, source={E: source}, targets={E: target}, reached={E: reached})


def accepted(source=0.30, target=0.50, reached=0.50):
    return PastVerdict(accepted=True, source={E: source}, targets={E: target}, reached={E: reached})


def test_a_rejected_edit_shortens_the_same_move_from_about_the_same_degree():
    steered = steer([rejected()], E, 0.31, 0.50)
    assert 0.31 < steered.target < 0.31 + 0.5 * 0.19
    assert "you rejected a similar edit" in steered.note


def test_a_rejection_says_nothing_about_the_other_direction_or_a_far_start():
    assert steer([rejected()], E, 0.60, 0.40).target == 0.40 and steer([rejected()], E, 0.60, 0.40).note == ""
    assert steer([rejected()], E, 0.80, 0.95).target == 0.95


def test_two_rejections_shorten_more_than_one():
    once, twice = steer([rejected()], E, 0.30, 0.50), steer([rejected(), rejected()], E, 0.30, 0.50)
    assert twice.target < once.target
    assert "2 similar edits" in twice.note


def test_an_acceptance_after_a_rejection_pulls_the_move_back_toward_the_accepted_edit():
    after_rejection = steer([rejected()], E, 0.30, 0.50).target
    after_both = steer([rejected(), accepted()], E, 0.30, 0.50).target
    assert abs(after_both - 0.50) < abs(after_rejection - 0.50) / 3


def test_an_accepted_gentle_edit_keeps_later_ones_gentle():
    steered = steer([accepted(target=0.50, reached=0.38)], E, 0.30, 0.50)
    assert 0.38 <= steered.target < 0.45
    assert "accepted" in steered.note


def test_hue_moves_the_short_way_round():
    hue = "clothing.hue"
    verdict = PastVerdict(accepted=False, source={hue: 0.95}, targets={hue: 0.05})
    steered = steer([verdict], hue, 0.96, 0.06, circular=True)
    assert steered.note and (0.96 < steered.target or steered.target < 0.06)


def test_the_rule_takes_the_models_steering_and_records_why():
    rule = fluctuation_rule(
        {E: 0.30},
        {E: 0.50},
        {"lighting": {E: (0.1, 0.9)}},
        steer={"lighting": lambda name, current, target: steer([rejected()], name, current, target)},
    )
    step = rule.steps[0]
    assert step.targets[E] < 0.40
    assert "you rejected a similar edit" in step.learned[E]
    assert step.to_json()["learned"] == step.learned


@pytest.fixture(scope="module")
def exposures():
    rng = np.random.default_rng(0)
    base = np.clip(rng.normal(128, 40, (60, 80, 3)), 0, 255).astype(np.uint8)
    samples = []
    for k in np.linspace(-1.0, 1.0, 12):
        rgb = tone_curve(base, float(k))
        # Exposure is all this model measures: the frame's own degree, no face.
        analysis = SimpleNamespace(elements={E: exposure_degree(rgb)}, main_face=None)
        samples.append(Sample(rgb, analysis))
    return samples


def test_a_fine_tune_starts_from_the_active_version_and_keeps_its_verdicts(tmp_path, exposures):
    first = LightingModel(LightingModel.Config(pairs=80))
    first.fit(exposures, verdicts=[rejected()])
    path = tmp_path / "v1.pt"
    save_checkpoint(first, path)
    loaded = load_checkpoint(path)
    assert loaded.verdicts == [rejected()]
    second = LightingModel(LightingModel.Config(pairs=80))
    second.warm_start(loaded)
    metrics = second.fit(exposures)
    assert metrics["fine_tune_pairs"] == 20 and second.verdicts == [rejected()]
    # Three quarters of the previous version's solved strengths stay.
    fresh = LightingModel(LightingModel.Config(pairs=20))
    fresh.fit(exposures)
    expected = [0.75 * a + 0.25 * b for a, b in zip(first.params["exposure_coef"], fresh.params["exposure_coef"])]
    assert second.params["exposure_coef"] == pytest.approx(expected)
    assert second.steer(E, 0.30, 0.50).target < 0.40


def test_carried_limits_take_both_spans_and_other_numbers_are_weighed():
    out = carry_params(
        {"limits": [-1.0, 1.0], "coef": [1.0, 2.0], "name": "x"},
        {"limits": [-0.5, 1.5], "coef": [3.0, 4.0], "name": "y"},
        0.75,
    )
    assert out == {"limits": [-1.0, 1.5], "coef": [1.5, 2.5], "name": "y"}


def test_one_frame_in_five_is_held_out_never_a_verdicts_and_none_from_too_little_data():
    from reconstruction.core.evaluation import held_out

    assert held_out(11) == {0, 5, 10}
    assert held_out(11, keep_in={0, 5}) == {1, 7}  # every fifth of the other frames
    assert held_out(11, min_samples=12) == set()
    many = held_out(300)
    assert len(many) == 24 and many == set(range(0, 300, 13))  # at most 24, spread over all the frames


def test_the_worker_and_the_bench_fit_and_measure_by_one_recipe(exposures):
    from reconstruction.core.evaluation import fit_and_measure

    class ExposureOnly:  # the extractor's exposure formula, for frames that have only exposure
        def analyze(self, rgb):
            return SimpleNamespace(elements={E: exposure_degree(rgb)}, main_face=None)

    said = []
    model = LightingModel(LightingModel.Config(pairs=40))
    metrics, trained = fit_and_measure(
        model,
        exposures,
        ExposureOnly(),
        keep_in={0},
        verdicts=[rejected()],
        on_training=lambda n: said.append(("training", n)),
        on_measuring=lambda n: said.append(("measuring", n)),
    )
    assert trained == [0, 2, 3, 4, 5, 7, 8, 9, 10]  # 1, 6, 11 held out; the verdict's frame 0 trained on
    assert said == [("training", 9), ("measuring", 3)]
    assert model.verdicts == [rejected()] and metrics["progress.exposure"] > 0.5
