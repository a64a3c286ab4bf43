"""The self-check: a model whose edit makes the shot worse (closes the eyes, changes the person)
is left out of the recorded image, and the record says which model and why. The judges are the
real independent ones (dlib, face-api's expression network); the bad models are test models that
do exactly the harm named, on real footage."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from reconstruction.core.generators.base import FluctuationModel
from reconstruction.core.generators.lighting import tone_curve
from reconstruction.core.preview import ModelReconstructor, PreviewSettings, stages
from reconstruction.core.rules import Rule, Step
from reconstruction.core.selfcheck import Checks, SelfCheck, element_findings
from tests.conftest import video_frames


class PastingModel(FluctuationModel):
    """An 'expression model' that pastes a donor image over the face: the harm under test."""

    group = "expression"
    elements = ("expression.smile", "expression.eye_openness", "expression.mouth_openness")

    def __init__(self, donor: np.ndarray, band: str):
        super().__init__()
        self.donor, self.band = donor, band
        self.ranges = {n: (0.0, 1.0) for n in self.elements}

    def _generate(self, rgb, analysis, targets):
        x, y, w, h = (int(v) for v in analysis.main_face.box)
        out = rgb.copy()
        if self.band == "eyes":  # the same head a few frames later, eyes shut: rows of the eyes only
            y0, y1 = y + int(0.2 * h), y + int(0.5 * h)
            out[y0:y1, x : x + w] = self.donor[y0:y1, x : x + w]
        else:  # another person's face resized into the box
            out[y : y + h, x : x + w] = cv2.resize(self.donor, (w, h), interpolation=cv2.INTER_AREA)
        return out


class ToneModel(FluctuationModel):
    """A harmless lighting edit: a gentle tone curve over the frame."""

    group = "lighting"
    elements = ("lighting.exposure", "lighting.light_direction")

    def __init__(self):
        super().__init__()
        self.ranges = {n: (0.0, 1.0) for n in self.elements}

    def _generate(self, rgb, analysis, targets):
        return tone_curve(rgb, 0.25)


@pytest.fixture(scope="module")
def blink():
    """franck.mp4: eyes open at frame 160, shut at 165 (checked by eye and by dlib's EAR)."""
    frames = video_frames("franck.mp4", [160, 165])
    return frames[160], frames[165]


def run(analyzer, rgb, bad, judges=True, settings=None, ask=0.1, events=False):
    analysis = analyzer.analyze(rgb)
    current = analysis.elements
    rule = Rule(
        [
            # A small ask the pasting models neither meet nor harm by themselves: what the check sees
            # is the harm they do (shut eyes, another face), not a missed target.
            Step(
                "expression",
                {"expression.mouth_openness": current["expression.mouth_openness"] + 0.1},
                {"expression.mouth_openness": current["expression.mouth_openness"]},
                {"expression.mouth_openness": 0.3},
                0.1,
            ),
            Step(
                "lighting",
                {"lighting.exposure": current["lighting.exposure"] + ask},
                {"lighting.exposure": current["lighting.exposure"]},
                {"lighting.exposure": 0.6},
                0.1,
            ),
        ]
    )
    models = {"expression": bad, "lighting": ToneModel()}
    check = SelfCheck(Checks() if judges else None)
    shown = list(
        stages(
            rgb, analysis, rule, ModelReconstructor(models, analyzer), settings or PreviewSettings(mode=1), check=check
        )
    )
    return shown if events else shown[-1]


def test_the_self_check_leaves_out_a_model_that_closes_the_eyes(analyzer, blink):
    open_eyes, shut = blink
    final = run(analyzer, open_eyes, PastingModel(shut, "eyes"))
    assert final.kind == "reconstruction" and final.groups == ["lighting"]
    assert [left["group"] for left in final.left_out] == ["expression"]
    assert "eyes closed" in final.left_out[0]["why"]
    # The recorded image is the harmless model's edit alone.
    assert np.array_equal(final.image, tone_curve(open_eyes, 0.25))
    # The quick judges caught it; with the expression edit gone nothing repaints the face, so the
    # slow identity judge had nothing to judge (and nothing was reframed for the border check).
    assert {"eyes", "expression", "artifacts"} <= set(final.checked["independent"])
    assert not {"identity", "borders"} & set(final.checked["independent"])
    assert final.to_json()["left_out"] == final.left_out


@pytest.mark.parametrize("mode,soften", [(1, "weaker"), (3, "fewer_models")])
def test_a_preview_built_before_the_reconstruction_never_shows_a_model_that_closes_the_eyes(
    analyzer, blink, mode, soften
):
    open_eyes, shut = blink
    # An exposure ask past its threshold: the shot diverges, so a gentler preview comes first.
    shown = run(
        analyzer,
        open_eyes,
        PastingModel(shut, "eyes"),
        settings=PreviewSettings(mode=mode, soften=soften),
        ask=0.3,
        events=True,
    )
    previews = [e for e in shown if e.kind == "preview"]
    assert previews and all(p.groups == ["lighting"] for p in previews)
    assert shown[-1].groups == ["lighting"] and [x["group"] for x in shown[-1].left_out] == ["expression"]


def test_the_self_check_leaves_out_a_model_that_changes_the_person(analyzer, blink, portrait):
    open_eyes, _ = blink
    # Grace Hopper's face, cut at her own face box, so the pasted face fills the same box.
    x, y, w, h = (int(v) for v in analyzer.analyze(portrait).main_face.box)
    final = run(analyzer, open_eyes, PastingModel(portrait[y : y + h, x : x + w], "face"))
    assert final.groups == ["lighting"]
    assert [left["group"] for left in final.left_out] == ["expression"]
    # The pasted face is caught before any preview by the artifact check (its seams), or, where
    # that passes, by the identity judge.
    why = final.left_out[0]["why"]
    assert "same person" in why or "the photo would show" in why


def test_a_harmless_edit_passes_the_self_check(analyzer, blink):
    open_eyes, _ = blink
    # The eye band pasted from the same frame changes nothing: the model runs and is kept.
    final = run(analyzer, open_eyes, PastingModel(open_eyes, "eyes"))
    assert final.left_out == [] and set(final.groups) == {"expression", "lighting"}


def test_without_the_independent_judges_the_extractor_still_catches_shut_eyes(analyzer, blink):
    open_eyes, shut = blink
    final = run(analyzer, open_eyes, PastingModel(shut, "eyes"), judges=False)
    assert [left["group"] for left in final.left_out] == ["expression"]
    assert "the eyes closed" in final.left_out[0]["why"] and final.checked["independent"] == []


def test_the_extractor_check_reads_every_element_not_only_the_targets():
    before = {
        "expression.smile": 0.8,
        "expression.eye_openness": 0.9,
        "clothing.clothing_hue": 0.3,
        "lighting.exposure": 0.5,
    }
    after = {
        "expression.smile": 0.5,
        "expression.eye_openness": 0.9,
        "clothing.clothing_hue": 0.6,
        "lighting.exposure": 0.62,
    }
    found = element_findings(before, after, {"lighting.exposure": 0.6}, ran=["lighting"])
    checks = {f.check for f in found}
    assert "expression.smile" in checks  # the smile faded though nothing asked
    assert "clothing.clothing_hue" in checks  # a group that did not run changed
    assert "lighting.exposure" not in checks  # the asked element moved toward its target


def test_a_face_edit_that_shrinks_the_face_box_is_a_finding_unless_the_shot_was_reframed():
    before = {"expression.smile": 0.0, "composition.subject_size": 0.63}
    deformed = {"expression.smile": 0.3, "composition.subject_size": 0.51}  # a broken chin: the box 19 % smaller
    found = element_findings(before, deformed, {"expression.smile": 0.55}, ran=["expression"])
    assert [f.check for f in found] == ["composition.subject_size"]
    assert not element_findings(before, deformed, {"expression.smile": 0.55}, ran=["expression", "composition"])
    # An opened mouth lengthens the face a little: not a finding.
    opened = {"expression.smile": 0.3, "composition.subject_size": 0.67}
    assert not element_findings(before, opened, {"expression.smile": 0.55}, ran=["expression"])


@pytest.mark.django_db
@pytest.mark.db
def test_the_recorded_shot_says_which_model_the_self_check_left_out_and_why(
    alice, analyzer, small_models, blink, monkeypatch, client
):
    import io
    import json
    import zipfile

    from capture import shutter
    from capture.models import Shot
    from reconstruction import services
    from reconstruction.core.imageio import encode_jpeg

    services.store_version(alice, small_models["lighting"], samples=small_models["samples"], seconds=1.0, metrics={})
    open_eyes, shut = blink
    real = services.active_models

    def with_a_harmful_expression_model(user):
        models, versions, unavailable = real(user)
        unavailable.pop("expression", None)
        return {**models, "expression": PastingModel(shut, "eyes")}, {**versions, "expression": 1}, unavailable

    monkeypatch.setattr(services, "active_models", with_a_harmful_expression_model)
    sent = []
    from capture import services as capture_services

    analysis = analyzer.analyze(open_eyes)
    shot = capture_services.save_shot(alice, encode_jpeg(open_eyes, 95), analysis.to_json(), status=Shot.PROCESSING)
    shutter.develop(alice, shot, open_eyes, analysis, analyzer, sent.append, chosen="portrait")
    stage = next(m for m in sent if m["type"] == "stage" and m["stage"] == "reconstruction")
    assert [left["group"] for left in stage["left_out"]] == ["expression"]
    shot = Shot.objects.get(user=alice)
    assert "expression edit was left out" in shot.message and "eyes closed" in shot.message
    assert "expression" not in stage["groups"]
    client.force_login(alice)
    page = client.get(f"/shots/{shot.id}/").content.decode()
    assert "expression left out" in page and "eyes closed" in page
    archive = zipfile.ZipFile(io.BytesIO(client.get(f"/shots/{shot.id}/download/?what=both").content))
    name = next(n for n in archive.namelist() if n.endswith("manifest.json"))
    check = json.loads(archive.read(name))["record"]["self_check"]
    assert check["left_out"][0]["group"] == "expression" and "eyes closed" in check["left_out"][0]["why"]
    assert "eyes" in check["checked"]["independent"]


def test_an_edit_whose_smile_the_independent_classifier_does_not_see_is_left_out(analyzer, blink):
    open_eyes, _ = blink
    analysis = analyzer.analyze(open_eyes)
    smile = analysis.elements["expression.smile"]
    rule = Rule(
        [
            Step(
                "expression",
                {"expression.smile": min(1.0, smile + 0.5)},
                {"expression.smile": smile},
                {"expression.smile": 1.0},
                0.5,
            )
        ]
    )
    # The 'edit' pastes the same frame's eye band: nothing changes, so no smile appears.
    models = {"expression": PastingModel(open_eyes, "eyes")}
    events = list(
        stages(
            open_eyes,
            analysis,
            rule,
            ModelReconstructor(models, analyzer),
            PreviewSettings(mode=1),
            check=SelfCheck(Checks()),
        )
    )
    final = events[-1]
    assert final.groups == [] and "the smile did not take" in final.left_out[0]["why"]
    assert "the original is recorded" in final.note


class ReadingsByImage:
    """Judges that read each image as told: the classifiers' view of a borderline face."""

    def __init__(self, readings):
        self.readings = readings

    def read(self, rgb, box, describe=True):
        return self.readings[int(rgb[0, 0, 0])]

    def borders(self, original, image):
        from types import SimpleNamespace

        return SimpleNamespace(invented=False, reason="")


def test_a_reframing_that_makes_a_borderline_face_read_sad_is_left_out(analyzer, portrait):
    from reconstruction.core.selfcheck import JudgesReading, judge_findings

    # liveportrait_d3 frame 96 zoomed for "fun": the same face to the eye, but face-api's neutral
    # 0.51 became sad 0.60 and the second classifier's sad 0.64.
    neutral = {"neutral": 0.51, "sad": 0.45, "happy": 0.04}
    sad = {"neutral": 0.36, "sad": 0.60, "happy": 0.04}
    shot, zoomed = portrait.copy(), portrait.copy()
    shot[0, 0, 0], zoomed[0, 0, 0] = 1, 2
    analysis = analyzer.analyze(portrait)
    judges = ReadingsByImage(
        {
            1: JudgesReading(expression=neutral, expression2=neutral),
            2: JudgesReading(expression=sad, expression2=neutral),
        }
    )
    found = judge_findings(judges, shot, analysis, zoomed, analysis, {}, ["composition"])
    assert [(f.check, f.group) for f in found] == [("expression", "composition")]
    assert found[0].message == "the face now reads sad (p 0.60) once reframed"
    # The same reading on both sides: nothing to leave out; nor is it asked of the quick preview.
    judges.readings[2] = judges.readings[1]
    assert judge_findings(judges, shot, analysis, zoomed, analysis, {}, ["composition"]) == []
    judges.readings[2] = JudgesReading(expression=sad, expression2=sad)
    assert judge_findings(judges, shot, analysis, zoomed, analysis, {}, ["composition"], quick=True) == []
    assert len(judge_findings(judges, shot, analysis, zoomed, analysis, {}, ["composition"])) == 2
