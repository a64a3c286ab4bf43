"""Each fluctuation model really trains on a user's frames and really generates: the degree the
extractor measures on the result moves toward the target, and pixels outside the element's region
stay put. Frames come from real footage fetched from registry packages, varied by the tests."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from reconstruction.core.generators import ModelError, load_checkpoint, save_checkpoint
from reconstruction.core.generators.climate import ClimateModel
from reconstruction.core.generators.clothing import ClothingModel
from reconstruction.core.generators.composition import CompositionModel, reframe
from reconstruction.core.generators.expression import ExpressionConfig, ExpressionModel
from reconstruction.core.generators.lighting import LightingModel, face_region, relight, tone_curve
from reconstruction.core.imageio import fit_within, read_image
from reconstruction.core.ranges import Sample, degree_range
from reconstruction.core.regions import torso_region
from reconstruction.core.yardstick.artifacts import check_face_artifacts
from tests.conftest import sample_path, video_frames


def make_sample(analyzer, rgb):
    return Sample(rgb=rgb, analysis=analyzer.analyze(rgb))


@pytest.fixture(scope="module")
def face_frames():
    frames = video_frames("single_face.mp4", range(0, 72, 3))
    return [frames[i] for i in sorted(frames)]


def outside_box(shape, box, margin=2):
    """Everything but the box (landmark extremes are fractional: a pixel of slack)."""
    x, y, w, h = (int(v) for v in box)
    outside = np.ones(shape[:2], bool)
    outside[max(0, y - margin) : y + h + margin, max(0, x - margin) : x + w + margin] = False
    return outside


def progress(before, after, target):
    return (after - before) / (target - before)


def test_a_range_needs_enough_varied_data():
    assert degree_range([0.5] * 30) is None
    assert degree_range([0.1, 0.9]) is None
    span = degree_range(list(np.linspace(0.2, 0.8, 40)))
    assert span[0] == pytest.approx(0.212, abs=0.01) and span[1] == pytest.approx(0.788, abs=0.01)


def test_a_model_without_usable_data_says_what_to_shoot(analyzer, face_frames):
    same = [make_sample(analyzer, face_frames[0]) for _ in range(10)]
    with pytest.raises(ModelError) as err:
        LightingModel().fit(same)
    assert "too uniform" in str(err.value) and "dark" in str(err.value)


def test_lighting_moves_exposure_toward_the_target(analyzer, face_frames):
    train = [make_sample(analyzer, tone_curve(f, s)) for f in face_frames[::2] for s in (-0.8, -0.3, 0.0, 0.4, 0.8)]
    model = LightingModel(LightingModel.Config(pairs=150))
    model.fit(train)
    lo, hi = model.reconstructable_range("lighting.exposure")
    held = make_sample(analyzer, face_frames[1])
    before = held.degree("lighting.exposure")
    target = hi - 0.03 if before < (lo + hi) / 2 else lo + 0.03
    out = model.generate(held.rgb, held.analysis, {"lighting.exposure": target})
    after = analyzer.analyze(out).elements["lighting.exposure"]
    assert progress(before, after, target) > 0.7


def test_lighting_moves_the_light_direction_and_touches_only_the_face(analyzer, face_frames):
    train = []
    for f in face_frames[::2]:
        s = make_sample(analyzer, f)
        region = face_region(f, s.analysis)
        for slope in (-0.6, -0.2, 0.2, 0.6):
            lit = f.copy()
            lit[region.y : region.y + region.h, region.x : region.x + region.w] = relight(
                f[region.y : region.y + region.h, region.x : region.x + region.w], region, slope
            )
            train.append(make_sample(analyzer, lit))
    model = LightingModel(LightingModel.Config(pairs=150))
    model.fit(train)
    held = make_sample(analyzer, face_frames[3])
    before = held.degree("lighting.light_direction")
    lo, hi = model.reconstructable_range("lighting.light_direction")
    # A fill light's worth either way: it evens the light out or leans it, never reverses it.
    for target in (max(lo, before - 0.08), min(hi, before + 0.08)):
        out = model.generate(held.rgb, held.analysis, {"lighting.light_direction": target})
        after = analyzer.analyze(out).elements["lighting.light_direction"]
        assert progress(before, after, target) > 0.7
        # A fill light only brightens: no side of the face turns grey.
        assert (out.astype(int) >= held.rgb.astype(int) - 1).all()
        # It fades out within half a face around the face, and leaves the rest as shot.
        x, y, w, h = held.analysis.main_face.box
        grown = (x - w / 2, y - w / 2, 2 * w, h + w)
        outside = outside_box(out.shape, grown)
        assert np.array_equal(out[outside], held.rgb[outside])
        face = held.analysis.main_face
        assert not check_face_artifacts(held.rgb, out, face.landmarks, face.box).visible


def _recoloured(frame, analysis, gain, hue=150):
    region = torso_region(frame, analysis)
    hsv = cv2.cvtColor(frame, cv2.COLOR_RGB2HSV_FULL).astype(np.float32)
    hsv[..., 0] = hue  # 150: a blue shirt
    hsv[..., 1] = np.clip(40 * gain + 20, 0, 255)
    shirt = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB_FULL)
    out = frame.copy()
    mask = np.zeros(frame.shape[:2], bool)
    mask[region.y0 : region.y1, region.x0 : region.x1] = region.mask
    out[mask] = shirt[mask]
    return out


def test_clothing_recolours_only_the_clothes(analyzer, face_frames):
    base = [make_sample(analyzer, f) for f in face_frames[::3]]
    train = [
        make_sample(analyzer, _recoloured(s.rgb, s.analysis, g, hue))
        for s in base
        for g in (0.5, 1.5, 2.5, 3.5, 4.5)
        for hue in (30, 150)
    ]
    model = ClothingModel(ClothingModel.Config(pairs=120))
    model.fit(train)
    held = make_sample(analyzer, _recoloured(face_frames[1], analyzer.analyze(face_frames[1]), 1.0))
    before = held.degree("clothing.clothing_saturation")
    lo, hi = model.reconstructable_range("clothing.clothing_saturation")
    target = hi - 0.03
    hue_lo, hue_hi = model.reconstructable_range("clothing.clothing_hue")
    assert hue_lo < 0.2 < hue_hi
    out = model.generate(
        held.rgb, held.analysis, {"clothing.clothing_saturation": target, "clothing.clothing_hue": 0.2}
    )
    after = analyzer.analyze(out).elements
    assert progress(before, after["clothing.clothing_saturation"], target) > 0.7
    assert after["clothing.clothing_hue"] == pytest.approx(0.2, abs=0.05)  # from blue to orange-yellow
    # A hue outside what the user ever wore is clamped to the nearest one they did (FIG. 5C).
    clamped = model.generate(held.rgb, held.analysis, {"clothing.clothing_hue": 0.95})
    assert analyzer.analyze(clamped).elements["clothing.clothing_hue"] == pytest.approx(hue_hi, abs=0.05)
    region = torso_region(held.rgb, held.analysis)
    outside = np.ones(out.shape[:2], bool)
    outside[region.y0 : region.y1, region.x0 : region.x1] = False
    assert np.array_equal(out[outside], held.rgb[outside])


def _greyed_sky(rgb, analysis, amount):
    from reconstruction.core.regions import sky_at

    sky = sky_at(analysis.sky_mask, rgb.shape[:2])
    grey = rgb.astype(np.float32).mean(axis=2, keepdims=True).repeat(3, axis=2) * 1.05
    out = rgb.astype(np.float32)
    out[sky] = (1 - amount) * out[sky] + amount * grey[sky]
    return np.clip(out, 0, 255).astype(np.uint8)


def test_climate_makes_the_sky_sunnier_and_leaves_the_ground_alone(analyzer):
    home = fit_within(read_image(sample_path("home.jpg")), 640, 480)
    street = fit_within(read_image(sample_path("leuvenA.jpg")), 640, 480)
    home_analysis = analyzer.analyze(home)
    train = [make_sample(analyzer, _greyed_sky(home, home_analysis, a)) for a in np.linspace(0, 1, 9)]
    train += [make_sample(analyzer, cv2.convertScaleAbs(street, alpha=a)) for a in (0.9, 1.0, 1.1)]
    model = ClimateModel(ClimateModel.Config(pairs=80))
    model.fit(train)
    held = make_sample(analyzer, _greyed_sky(home, home_analysis, 0.8))
    before = held.degree("climate.sunniness")
    lo, hi = model.reconstructable_range("climate.sunniness")
    target = hi - 0.05
    out = model.generate(held.rgb, held.analysis, {"climate.sunniness": target})
    after = analyzer.analyze(out).elements["climate.sunniness"]
    assert progress(before, after, target) > 0.7
    from reconstruction.core.regions import sky_at

    sky = sky_at(held.analysis.sky_mask, out.shape[:2])
    assert np.array_equal(out[~sky], held.rgb[~sky])


def test_composition_reframes_the_subject_toward_the_target(analyzer, face_frames):
    train = []
    for f in face_frames[::3]:
        face = analyzer.analyze(f).main_face
        x, y, w, h = face.box
        for dx, zoom in ((-120, 0.8), (0, 1.0), (120, 1.2), (60, 0.9)):
            train.append(make_sample(analyzer, reframe(f, (x + w / 2, y + h / 2), (x + w / 2 + dx, y + h / 2), zoom)))
    model = CompositionModel()
    model.fit(train)
    held = make_sample(analyzer, face_frames[5])
    lo, hi = model.reconstructable_range("composition.subject_x")
    before = held.degree("composition.subject_x")
    out = model.generate(held.rgb, held.analysis, {"composition.subject_x": lo + 0.02})
    after = analyzer.analyze(out).elements["composition.subject_x"]
    assert progress(before, after, lo + 0.02) > 0.7


def test_checkpoints_carry_config_and_ranges_and_refuse_corrupt_files(analyzer, face_frames, tmp_path):
    train = [make_sample(analyzer, tone_curve(f, s)) for f in face_frames[:6] for s in (-0.6, 0.0, 0.6)]
    model = LightingModel(LightingModel.Config(pairs=40, seed=7))
    model.fit(train)
    path = tmp_path / "1.pt"
    save_checkpoint(model, path)
    loaded = load_checkpoint(path)
    assert isinstance(loaded, LightingModel) and loaded.config.seed == 7
    assert loaded.ranges == model.ranges
    held = make_sample(analyzer, face_frames[7])
    target = {"lighting.exposure": model.ranges["lighting.exposure"][1]}
    assert np.array_equal(
        loaded.generate(held.rgb, held.analysis, target), model.generate(held.rgb, held.analysis, target)
    )
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ModelError, match="damaged") as damaged:
        load_checkpoint(path)
    with pytest.raises(ModelError, match="missing") as missing:
        load_checkpoint(Path(tmp_path / "nope.pt"))
    # The words reach users: no server path in them.
    assert str(tmp_path) not in str(damaged.value) + str(missing.value)


def test_the_expression_gan_trains_and_changes_only_the_face(analyzer, face_frames, tmp_path):
    train = [make_sample(analyzer, f) for f in face_frames]
    model = ExpressionModel(ExpressionConfig(steps=8, regressor_steps=4, batch=4))
    steps = []
    metrics = model.fit(train, lambda step, total, loss: steps.append((step, total)))
    assert steps[-1][0] == steps[-1][1] == 12 and metrics["crops"] == len(train)
    assert model.reconstructable_range("expression.smile")[1] > 0.9
    held = make_sample(analyzer, face_frames[0])
    out = model.generate(held.rgb, held.analysis, {"expression.smile": 1.0})
    assert not np.array_equal(out, held.rgb)
    outside = outside_box(out.shape, held.analysis.main_face.box)
    assert np.array_equal(out[outside], held.rgb[outside])
    save_checkpoint(model, tmp_path / "e.pt")
    again = load_checkpoint(tmp_path / "e.pt")
    assert np.array_equal(again.generate(held.rgb, held.analysis, {"expression.smile": 1.0}), out)


def test_the_expression_gan_moves_the_smile_the_way_asked_and_keeps_the_exemplars(analyzer, face_frames, tmp_path):
    train = [make_sample(analyzer, f) for f in face_frames]
    model = ExpressionModel(ExpressionConfig(steps=40, regressor_steps=10, batch=4))
    model.fit(train)
    # The user's own faces travel with the model ([0054]), at the exemplar resolution.
    assert model._bank.shape == (len(train), model.config.bank_crop, model.config.bank_crop, 3)
    neutral = min(train, key=lambda s: s.degree("expression.smile"))
    smiling = max(train, key=lambda s: s.degree("expression.smile"))
    up = model.generate(neutral.rgb, neutral.analysis, {"expression.smile": 1.0})
    down = model.generate(smiling.rgb, smiling.analysis, {"expression.smile": 0.0})
    assert analyzer.analyze(up).elements["expression.smile"] > neutral.degree("expression.smile") + 0.3
    assert analyzer.analyze(down).elements["expression.smile"] < smiling.degree("expression.smile") - 0.3
    for source, out in ((neutral, up), (smiling, down)):
        outside = outside_box(out.shape, source.analysis.main_face.box)
        assert np.array_equal(out[outside], source.rgb[outside])
    save_checkpoint(model, tmp_path / "e.pt")
    again = load_checkpoint(tmp_path / "e.pt")
    assert np.array_equal(again._bank, model._bank)


def test_fine_tuning_the_expression_gan_starts_from_the_previous_version(analyzer, face_frames):
    import torch

    train = [make_sample(analyzer, f) for f in face_frames]
    first = ExpressionModel(ExpressionConfig(steps=8, regressor_steps=4, batch=4))
    first.fit(train)

    def tuned(steps, seed):
        model = ExpressionModel(
            ExpressionConfig(
                seed=seed, steps=8, regressor_steps=4, batch=4, finetune_steps=steps, finetune_regressor_steps=0
            )
        )
        model.warm_start(first)
        ticks = []
        model.fit(train, lambda step, total, loss: ticks.append((step, total)))
        return model, ticks

    def same(a, b):
        return all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))

    # Another seed's initialisation is thrown away: the previous version's weights are the start.
    untouched, _ = tuned(0, seed=7)
    assert same(untouched._generator, first._generator) and same(untouched._regressor, first._regressor)
    moved, ticks = tuned(3, seed=7)
    assert ticks[-1] == (3, 3)  # the fine-tuning budget, not a full training
    assert not same(moved._generator, first._generator) and same(moved._regressor, first._regressor)


def test_a_hue_range_is_the_shortest_arc_and_may_wrap_through_red():
    from reconstruction.core.ranges import clamp_to_range

    reds = [0.93, 0.95, 0.97, 0.99, 0.01, 0.03, 0.05, 0.07, 0.02, 0.96]
    lo, hi = degree_range(reds)
    assert hi - lo > 0.9  # read linearly, a few reds would claim almost every hue
    span = degree_range(reds, circular=True)
    assert span == (0.93, 0.07)
    assert clamp_to_range(0.98, span) == pytest.approx(0.98)
    assert clamp_to_range(0.5 - 0.1, span) == 0.07  # nearer the 0.07 end
    assert clamp_to_range(0.6, span) == 0.93
    assert degree_range([0.30 + 0.001 * i for i in range(20)], circular=True) is None  # one colour only
