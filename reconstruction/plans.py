"""The shutter's plan for a user, Django side: read the user's preferences, intention table and active
models, then hand everything to the pure core (intention → rule → preview stages).

Used by the shooting socket (``capture.shutter``) and by ``manage.py reconstruct``; both show the
same stages in the same order.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from . import services
from .core.besttake import PER_FACE_IDEALS, BestTakeStep
from .core.divergence import DivergenceSettings
from .core.imageio import decode_jpeg, encode_jpeg
from .core.intention import Intention, infer_intention, people_in
from .core.preview import ModelReconstructor, PreviewSettings, Stage, stages
from .core.rules import Rule, Step, rule_for_models
from .core.selfcheck import SelfCheck, shared_checks
from .core.yardstick.artifacts import check_face_artifacts


@dataclass
class Plan:
    intention: Intention
    rule: Rule
    preview: PreviewSettings
    divergence: DivergenceSettings
    models: dict  # group -> loaded fluctuation model
    versions: dict[str, int]  # group -> active version
    trained: list[str]  # every group the user has a usable model for, used or not
    damaged: dict[str, str] = field(
        default_factory=dict
    )  # group -> why its active version cannot be used, for the page
    reports: dict = field(
        default_factory=dict
    )  # group -> what its model chose (exemplar source), filled while the stages are made

    def to_json(self) -> dict:
        return {
            "intention": self.intention.to_json(),
            "rule": self.rule.to_json(),
            "mode": self.preview.mode,
            "models": self.versions,
        }

    def stages(self, rgb, analysis, analyzer, recent=(), independent: bool = True) -> Iterator[Stage]:
        """The display stages; ``recent``: the frames streamed before the shutter (exemplars
        first); ``independent``: run the independent judges in the self-check."""
        reconstructor = ModelReconstructor(self.models, analyzer, recent)
        self.reports = reconstructor.reports
        checks = shared_checks() if independent else None
        check = SelfCheck(checks)
        faces = self.models.get(BestTakeStep.group)
        if faces is not None and checks is not None:
            faces.judge = checks.expression
        return stages(rgb, analysis, self.rule, reconstructor, self.preview, self.divergence, check)


def settings_for(user) -> tuple[PreviewSettings, DivergenceSettings, list[str]]:
    prefs = services.preferences_for(user)
    return prefs.preview_settings(), prefs.divergence_settings(), list(prefs.model_order or [])


def plan_for(
    user,
    analysis,
    *,
    chosen: str | None = None,
    wish: str | None = None,
    attempts: int = 1,
    mode: int | None = None,
    order: str | None = None,
    rgb=None,
    takes=None,
    choose=None,
) -> Plan:
    """Everything the shot needs before the first model runs; ``rgb``: the shot itself;
    ``takes``: face -> part -> the best takes the shot kept (developed again from its page), and
    ``choose``: face -> part -> the one the user picked."""
    preview, div, model_order = settings_for(user)
    if mode is not None:
        preview = replace(preview, mode=mode)
    if order is not None:
        preview = replace(preview, order=order)
    people = people_in([f.box for f in analysis.faces])
    intention = infer_intention(
        analysis.elements, people, attempts, chosen=chosen, wish=wish, behind=len(analysis.faces) - people
    )
    ideals = intention.ideals(services.intention_table_for(user))
    models, versions, unavailable = services.active_models(user)
    # No model turns a head: a face turned away is faced to the camera only by that person's own
    # take from the seconds before the shutter (the best take), never by a generator.
    unavailable = {"posture": "no model turns a head; only a take of the person's own can", **unavailable}
    rule = rule_for_models(analysis.elements, ideals, models, unavailable, model_order, analysis, rgb=rgb)
    chosen_models = {s.group: models[s.group] for s in rule.steps}
    chosen_versions = {s.group: versions[s.group] for s in rule.steps}
    faces = best_take_step(analysis, ideals, rule, people, takes, choose)
    if faces is not None:
        # First in the chain: the takes are blended on the shot's own framing, before a reframing.
        step, model = faces
        rule.steps.insert(0, step)
        chosen_models = {step.group: model, **chosen_models}
        chosen_versions = {step.group: BEST_TAKE_VERSION, **chosen_versions}
    return Plan(
        intention,
        rule,
        preview,
        div,
        chosen_models,
        chosen_versions,
        sorted(models),
        {g: services.damage_sentence(why) for g, why in unavailable.items() if why.startswith(services.DAMAGED)},
    )


RECORDED_QUALITY = 92  # the recorded photo's JPEG quality (capture.shutter records at it)
BEST_TAKE_VERSION = 1  # what the shot's record names the best take by, beside the models' versions


def best_take_step(analysis, ideals, rule: Rule, people: int, given=None, choose=None):
    """(step, model) of each person's best take, for a shot of two people or more whose intention
    asks anything of their faces; None otherwise. The main face is left to the user's own models
    where they edit it (it is the user's face), and given its best take like everyone's otherwise."""
    asked = {n: v for n, v in ideals.items() if n in PER_FACE_IDEALS}
    if people < 2 or not asked:
        return None

    def artifacts(shot, image, face, after):
        # The photo as it is recorded, a JPEG: around a lent mouth on a 100-pixel face its ringing
        # read as a strip at the outline (0.12) where the blend itself read 0.03 (the group bench).
        recorded = decode_jpeg(encode_jpeg(image, RECORDED_QUALITY))
        return check_face_artifacts(shot, recorded, face.landmarks, face.box, after).reasons

    main = next((i for i, f in enumerate(analysis.faces) if f.main), None)
    skip = {main} if main is not None and "expression" in rule.groups else set()
    step = Step(group=BestTakeStep.group, targets={}, current={}, ideal=asked, gap=0.0)
    return step, BestTakeStep(asked, skip, artifacts=artifacts, given=given, choose=choose)
