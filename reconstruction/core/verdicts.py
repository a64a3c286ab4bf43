"""What the user's accept and reject answers teach a fluctuation model ([0092]).

A verdict is kept with every model that made the judged edit, as a plain record: the degrees the
shot had, the degrees the rule asked for, the degrees the recorded reconstruction reached and,
for a model that pastes a face, which face lent its pixels. Each model trained after the verdict
carries all of them in its checkpoint and uses them on every later shot:

- a rejected edit narrows the model's strength for similar moves: from about the same degree, in
  the same direction, the next edit goes a shorter way (``REJECTED_STRENGTH``); the expression
  model also refuses the rejected exemplar face for similar asks;
- an accepted edit is a positive pair: a similar shot's move leans toward the accepted one
  (``ACCEPTED_PULL``), so an acceptance after a rejection gives back what the user accepted and
  an accepted gentle edit keeps later ones gentle; the expression model prefers the accepted
  reconstruction's own face as an exemplar.

"Similar" is a Gaussian in the source degree (``REACH``) over moves in the same direction, so an
answer about lifting dim light says nothing about darkening a bright frame.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

from .elements import difference, shifted

REACH = 0.15  # source degrees this far apart are about e^-1 alike: the span one answer speaks for
REJECTED_STRENGTH = 0.4  # the share of a move that stays after one rejection of the same move
ACCEPTED_PULL = 0.8  # how far a similar move leans toward an accepted one (at full likeness)
MIN_MOVE = 0.02  # a smaller move is no edit: the rule skips it too (rules.AT_TARGET)
KEEP = 200  # the newest verdicts a model keeps: bounds the checkpoint


@dataclass
class PastVerdict:
    """One accepted or rejected reconstruction as a model remembers it, as far as the model's
    group took part in it."""

    accepted: bool
    source: dict[str, float]  # element -> the degree the shot had
    targets: dict[str, float]  # element -> the degree the rule asked this model for
    reached: dict[str, float] = field(default_factory=dict)  # element -> the degree the recorded reconstruction showed
    exemplar: str = ""  # fingerprint of the face that lent its pixels (expression), "" for none

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping) -> PastVerdict:
        floats = lambda d: {str(k): float(v) for k, v in (d or {}).items() if v is not None}  # noqa: E731
        return cls(
            accepted=bool(data["accepted"]),
            source=floats(data.get("source")),
            targets=floats(data.get("targets")),
            reached=floats(data.get("reached")),
            exemplar=str(data.get("exemplar") or ""),
        )

    def move(self, element: str, circular: bool = False) -> float | None:
        s, t = self.source.get(element), self.targets.get(element)
        return None if s is None or t is None else difference(t, s, circular)


def likeness(verdict: PastVerdict, element: str, source: float, move: float, circular: bool = False) -> float:
    """How much a verdict on ``element`` speaks for a move of ``move`` from ``source``: 0 for an
    element it did not move, a move the other way or no move; 1 for the same start."""
    past = verdict.move(element, circular)
    if past is None or abs(past) < MIN_MOVE or abs(move) < MIN_MOVE or (past > 0) != (move > 0):
        return 0.0
    return math.exp(-((difference(source, verdict.source[element], circular) / REACH) ** 2))


@dataclass
class Steered:
    """A target after the verdicts: the degree, and a sentence for the user when it moved."""

    target: float
    note: str = ""


def steer(
    verdicts: Sequence[PastVerdict], element: str, source: float, target: float, circular: bool = False
) -> Steered:
    """The target for a move of ``element`` from ``source`` once the user's answers on similar
    moves are taken into account, oldest first so that the latest answer counts most: a
    rejection shortens the move, an acceptance pulls it toward the accepted one."""
    move = difference(target, source, circular)
    steered, rejected, accepted = move, 0, 0
    for v in verdicts:
        w = likeness(v, element, source, move, circular)
        if w < 0.05:
            continue
        if not v.accepted:
            steered *= 1.0 - (1.0 - REJECTED_STRENGTH) * w
            rejected += 1
            continue
        reached = v.reached.get(element)
        if reached is None:
            continue
        anchor = difference(reached, v.source[element], circular)
        if abs(anchor) >= MIN_MOVE and (anchor > 0) == (move > 0):
            steered += ACCEPTED_PULL * w * (anchor - steered)
            accepted += 1
    if abs(steered - move) < 0.005:
        return Steered(target)
    share = abs(steered / move)
    if share < 1 and rejected:
        edits = "a similar edit" if rejected == 1 else f"{rejected} similar edits"
        why = f"you rejected {edits}, so this one goes {share:.0%} of the way"
        if accepted:
            why += " (and leans toward one you accepted)"
    else:
        why = f"leaning toward a similar edit you accepted ({share:.0%} of the asked change)"
    return Steered(shifted(source, steered, circular), why)


def newest(verdicts: Sequence[PastVerdict]) -> list[PastVerdict]:
    return list(verdicts)[-KEEP:]
