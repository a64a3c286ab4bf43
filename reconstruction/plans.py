"""The shutter's plan for a user, Django side: read the user's preferences, intention table and active
models, then hand everything to the pure core (intention → rule → preview stages).

Used by the shooting socket (``capture.shutter``) and by ``manage.py reconstruct``; both show the
same stages in the same order.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from . import services
from .core.divergence import DivergenceSettings
from .core.intention import Intention, infer_intention
from .core.preview import ModelReconstructor, PreviewSettings, Stage, stages
from .core.rules import Rule, rule_for_models
from .core.selfcheck import SelfCheck, shared_checks


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
        check = SelfCheck(shared_checks() if independent else None)
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
) -> Plan:
    """Everything the shot needs before the first model runs; ``rgb``: the shot itself."""
    preview, div, model_order = settings_for(user)
    if mode is not None:
        preview = replace(preview, mode=mode)
    if order is not None:
        preview = replace(preview, order=order)
    intention = infer_intention(analysis.elements, len(analysis.faces), attempts, chosen=chosen, wish=wish)
    ideals = intention.ideals(services.intention_table_for(user))
    models, versions, unavailable = services.active_models(user)
    rule = rule_for_models(analysis.elements, ideals, models, unavailable, model_order, analysis, rgb=rgb)
    return Plan(
        intention,
        rule,
        preview,
        div,
        {s.group: models[s.group] for s in rule.steps},
        {s.group: versions[s.group] for s in rule.steps},
        sorted(models),
        {g: services.damage_sentence(why) for g, why in unavailable.items() if why.startswith(services.DAMAGED)},
    )
