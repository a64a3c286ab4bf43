"""Fidelity: what the user actually gets recorded, judged by models that are not Flux's extractor.

Flux tunes its models against the degrees its own MediaPipe extractor reads. A figure scored only
by those degrees proves little: a model can reach a smile degree with a face no person would call
happy. Here every (original, recorded) pair is judged by the independent yardsticks of this
package instead:

- expression: face-api's classifier (``expression``): p(happy) before and after, the most likely
  of its seven labels, and whether an unhappy one (sad, angry, fearful, disgusted) became the most
  likely where it was not;
- eyes: the eye aspect ratio on dlib's 68 landmarks (``dlib_face``), open at ``EYES_OPEN`` or more;
- identity: dlib's descriptor distance between the face before and after, one person below
  ``SAME_PERSON`` (dlib's own 0.6);
- borders: whether the recorded frame holds content the original does not (``borders``); only a
  change of geometry can invent any, but it is run on every pair and passes on an unchanged one.

``summarize`` turns a list of judgements into the bench's figures, each beside its goal (``GOALS``);
``degree_validity`` checks Flux's smile degree against the classifier over a clip (``spearman``).
Pure: numpy and the yardsticks, no Django, no scipy.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from . import dlib_face, expression, expression_fer
from .artifacts import ArtifactVerdict
from .borders import BorderVerdict, check_borders

HAPPY = 0.5  # p(happy) at or above which a face is judged happy (the self-check's bar too)
EYES_OPEN = 0.2  # eye aspect ratio of open eyes
SAME_PERSON = 0.6  # dlib's threshold: descriptors of one person are closer than this
UNHAPPY = ("sad", "angry", "fearful", "disgusted")
# How much stronger a feeling nobody asked for may not become (expression.darker_feeling; the
# self-check's bars are lower).
FEELING_RISE, FEELING_FLOOR = 0.2, 0.3
# The models whose edits repaint the face's features.
FACE_EDITS = {"expression"}

Box = tuple[float, float, float, float]  # Flux's (x, y, width, height) in pixels


@dataclass(frozen=True)
class Goal:
    label: str  # what the figure is, for the printout
    op: str  # ">=" or "<="
    bound: float
    unit: str = ""  # "%", "" or "cases"

    def met(self, value: float | None) -> bool | None:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        return value >= self.bound if self.op == ">=" else value <= self.bound

    def text(self) -> str:
        op = "≥" if self.op == ">=" else "≤"
        bound = f"{self.bound:g}"
        return f"{op} {bound}{' ' + self.unit if self.unit else ''}"


# The goals for held-out frames reconstructed with the portrait and fun intentions (mode 1).
GOALS: dict[str, Goal] = {
    "happy": Goal("judged happy", ">=", 90.0, "%"),
    "new_unhappy": Goal("a new unhappy expression", "<=", 0, "cases"),
    "eyes_open": Goal("eyes open (EAR ≥ 0.2)", ">=", 95.0, "%"),
    "same_person": Goal("the same person (dlib distance < 0.6)", ">=", 100.0, "%"),
    "median_distance": Goal("median identity distance", "<=", 0.35),
    "no_invented_border": Goal("no invented border", ">=", 100.0, "%"),
    "spearman": Goal("Spearman(smile, independent p(happy))", ">=", 0.85),
    "unhappy_read_as_smile": Goal("frames judged unhappy that read smile > 0.5", "<=", 0, "cases"),
    "new_unhappy_or_shocked": Goal(
        "angrier, sadder, more fearful, disgusted or shocked (either classifier)", "<=", 0, "cases"
    ),
    "visible_artifacts": Goal("visible artifacts (the artifact check)", "<=", 0, "cases"),
    "improved": Goal("improved where the person shows the feeling in training", ">=", 70.0, "%"),
}


@dataclass
class FaceJudged:
    """The independent judges' reading of one face."""

    box: tuple[int, int, int, int]  # x0, y0, x1, y1 the judges read the face at
    probabilities: dict[str, float]  # face-api's seven expression probabilities
    ear: float  # mean eye aspect ratio (dlib's 68 landmarks)
    descriptor: np.ndarray  # dlib's 128-D identity descriptor
    found_by: str  # "flux box" (the analyzer's) or "dlib detector"
    probabilities2: dict[str, float] = field(default_factory=dict)  # the second (FER2013) classifier's

    @property
    def p_happy(self) -> float:
        return float(self.probabilities.get("happy", 0.0))

    @property
    def top(self) -> str:
        return max(self.probabilities, key=self.probabilities.get)


def corners(box: Box) -> tuple[int, int, int, int]:
    """Flux's (x, y, w, h) as the (x0, y0, x1, y1) the judges take, rounded as the self-check does."""
    x, y, w, h = box
    return int(round(x)), int(round(y)), int(round(x + w)), int(round(y + h))


def read_face(rgb: np.ndarray, box: Box | None) -> FaceJudged | None:
    """The judges' reading of the face at Flux's ``box``, or of the largest face dlib's detector
    finds when ``box`` is None; None when there is no face to read."""
    faces = dlib_face.get()
    if box is not None:
        at = corners(box)
        reading = faces.at_box(rgb, at, describe=True)
        found_by = "flux box"
    else:
        reading = faces.largest(rgb, describe=True)
        if reading is None:
            return None
        at = tuple(int(v) for v in reading.box)
        found_by = "dlib detector"
    probabilities = expression.get().probabilities(rgb, at)
    second = expression_fer.get().probabilities(rgb, at)
    return FaceJudged(
        at,
        {k: float(v) for k, v in probabilities.items()},
        float(reading.ear),
        np.asarray(reading.descriptor, np.float64),
        found_by,
        {k: float(v) for k, v in second.items()},
    )


@dataclass
class Judgement:
    """One (original, recorded) pair, judged independently of Flux's extractor."""

    p_happy_before: float | None  # None: no face read in the original
    p_happy_after: float | None  # None: no face read in the recorded image
    top_before: str | None  # the most likely expression label
    top_after: str | None
    ear_before: float | None
    ear_after: float | None
    distance: float | None  # dlib descriptor distance before → after; None without both faces
    border: BorderVerdict | None = None  # None: the border check was not run
    applied: list[str] = field(default_factory=list)  # models whose edits the recorded image holds
    left_out: list[dict] = field(default_factory=list)  # models the self-check left out ({"group", "why"})
    probabilities_before: dict[str, float] = field(default_factory=dict)
    probabilities_after: dict[str, float] = field(default_factory=dict)
    second_before: dict[str, float] = field(default_factory=dict)  # the second classifier's
    second_after: dict[str, float] = field(default_factory=dict)
    artifact: ArtifactVerdict | None = None  # None: not checked (the photo is the shot)
    unchanged: bool = False  # the recorded photo is the shot itself: every edit left out, or none asked
    improvable: bool = False  # the shot lacks the asked feeling and the person shows it in their training frames

    @property
    def darker(self) -> str | None:
        """A feeling nobody asked for that the edit brought, by either classifier ("sad", "surprised"...).
        Only an edit that repaints the face can bring one: a reframed crop of the same face read
        "sad" where the shot read "neutral" (liveportrait_d3, frames 64 and 96), and a fill light
        alone "surprised" (liveportrait_d11, frame 204); a gentle tone curve took the second
        classifier's "fearful" from 0.26 to 0.49 (WolfgangLanger, frame 200). That is the
        classifiers' noise under resampling and light, not a feeling."""
        if not set(self.applied) & FACE_EDITS:
            return None
        for before, after in (
            (self.probabilities_before, self.probabilities_after),
            (self.second_before, self.second_after),
        ):
            found = expression.darker_feeling(before, after, FEELING_RISE, FEELING_FLOOR)
            if found is not None:
                return found[0]
        return None

    @property
    def visible_artifact(self) -> bool:
        return self.artifact is not None and self.artifact.visible

    @property
    def improved(self) -> bool:
        """The asked feeling reached where the shot lacked it, cleanly."""
        return self.improvable and self.happy and not self.darker and not self.visible_artifact

    @property
    def face_found(self) -> bool:
        return self.p_happy_after is not None

    @property
    def happy_before(self) -> bool:
        return self.p_happy_before is not None and self.p_happy_before >= HAPPY

    @property
    def happy(self) -> bool:
        """The recorded face judged happy (p(happy) ≥ ``HAPPY``)."""
        return self.p_happy_after is not None and self.p_happy_after >= HAPPY

    @property
    def new_unhappy(self) -> bool:
        """An unhappy expression became the most likely one where the original's was not."""
        return self.top_after in UNHAPPY and self.top_before not in UNHAPPY

    @property
    def eyes_open(self) -> bool:
        return self.ear_after is not None and self.ear_after >= EYES_OPEN

    @property
    def same_person(self) -> bool:
        return self.distance is not None and self.distance < SAME_PERSON

    @property
    def invented_border(self) -> bool:
        return self.border is not None and self.border.invented

    def to_json(self) -> dict:
        r = lambda v: None if v is None else round(float(v), 4)  # noqa: E731
        return {
            "p_happy_before": r(self.p_happy_before),
            "p_happy_after": r(self.p_happy_after),
            "top_before": self.top_before,
            "top_after": self.top_after,
            "ear_before": r(self.ear_before),
            "ear_after": r(self.ear_after),
            "distance": r(self.distance),
            "happy": self.happy,
            "happy_before": self.happy_before,
            "new_unhappy": self.new_unhappy,
            "eyes_open": self.eyes_open,
            "same_person": self.same_person,
            "invented_border": self.invented_border,
            "border": None
            if self.border is None
            else {"invented": self.border.invented, "strips": self.border.strips, "reason": self.border.reason},
            "applied": list(self.applied),
            "left_out": list(self.left_out),
            "darker": self.darker,
            "artifact": None if self.artifact is None else self.artifact.to_json(),
            "unchanged": self.unchanged,
            "improvable": self.improvable,
            "improved": self.improved,
        }


def judge(
    original: np.ndarray,
    recorded: np.ndarray,
    box_before: Box | None,
    box_after: Box | None,
    *,
    before: FaceJudged | None = None,
    applied: Sequence[str] = (),
    left_out: Sequence[dict] = (),
    borders: bool = True,
    artifact: ArtifactVerdict | None = None,
    improvable: bool = False,
) -> Judgement:
    """Judge the recorded image against the original. Boxes are Flux's (x, y, w, h) of the main
    face in each image (the analyzer's); None: the largest face dlib's detector finds.
    ``before``: the original's reading when already made (``read_face(original, box_before)``), to
    spare the judges a second pass over the same face; ``applied`` and ``left_out``: what the
    pipeline says it did, carried into the judgement for the figures."""
    a = before if before is not None else read_face(original, box_before)
    b = read_face(recorded, box_after)
    distance = None
    if a is not None and b is not None:
        distance = float(np.linalg.norm(a.descriptor - b.descriptor))
    verdict = check_borders(original, recorded) if borders else None
    return Judgement(
        p_happy_before=a.p_happy if a else None,
        p_happy_after=b.p_happy if b else None,
        top_before=a.top if a else None,
        top_after=b.top if b else None,
        ear_before=a.ear if a else None,
        ear_after=b.ear if b else None,
        distance=distance,
        border=verdict,
        applied=list(applied),
        left_out=[dict(x) for x in left_out],
        probabilities_before=dict(a.probabilities) if a else {},
        probabilities_after=dict(b.probabilities) if b else {},
        second_before=dict(a.probabilities2) if a else {},
        second_after=dict(b.probabilities2) if b else {},
        artifact=artifact,
        unchanged=bool(np.array_equal(original, recorded)),
        improvable=improvable,
    )


# Why the self-check left a model out: its findings' sentences (``reconstruction.core.selfcheck``) by kind.
REASON_PATTERNS = (
    ("identity", re.compile(r"no longer passes as the same person")),
    ("eyes closed (dlib)", re.compile(r"the eyes closed \(eye aspect ratio")),
    ("no longer happy (face-api)", re.compile(r"no longer looks happy")),
    ("now looks unhappy (face-api)", re.compile(r"the face now looks")),
    ("smile did not take (face-api)", re.compile(r"the smile did not take")),
    ("invented border", re.compile(r"borders hold content")),
    ("face lost", re.compile(r"the face is no longer found")),
    ("moved away from its target", re.compile(r"moved away from its target")),
    ("unasked move (extractor)", re.compile(r"though the rule did not ask for it")),
    ("changed without its model", re.compile(r"though its model did not run")),
    ("artifact", re.compile(r"the photo would show")),
    ("borrowed feeling", re.compile(r"reads more \w+ than the shot|the face now reads \w+")),
)


def reason_kinds(why: str) -> list[str]:
    """The kinds of finding in one left-out model's ``why`` (several can hold at once)."""
    kinds = [kind for kind, pattern in REASON_PATTERNS if pattern.search(why)]
    return kinds or ["other"]


def _percent(flags: Sequence[bool]) -> float | None:
    return round(100.0 * sum(flags) / len(flags), 1) if flags else None


def _figure(key: str, value, **extra) -> dict:
    goal = GOALS[key]
    return {"value": value, "goal": goal.text(), "met": goal.met(value), **extra}


def summarize(judgements: Sequence[Judgement]) -> dict:
    """The figures over a set of judgements, each with its goal and whether it is met; a
    reconstruction without a face in the recorded image counts as not happy, eyes not open and
    not the same person. Percentages are of all judgements (the border's: of those whose borders
    were checked); None for an empty set."""
    js = list(judgements)
    n = len(js)
    distances = [j.distance for j in js if j.distance is not None]
    bordered = [j for j in js if j.border is not None]
    happy_orig = [j for j in js if j.happy_before]
    not_happy_orig = [j for j in js if not j.happy_before]
    trimmed = [j for j in js if j.left_out]
    by_reason: Counter = Counter()
    by_group: Counter = Counter()
    for j in trimmed:
        for item in j.left_out:
            by_group[item.get("group", "?")] += 1
            for kind in reason_kinds(item.get("why", "")):
                by_reason[f"{item.get('group', '?')}: {kind}"] += 1
    return {
        "n": n,
        "faces_found": sum(j.face_found for j in js),
        "happy": _figure("happy", _percent([j.happy for j in js]), count=sum(j.happy for j in js)),
        "new_unhappy": _figure("new_unhappy", sum(j.new_unhappy for j in js) if n else None),
        "eyes_open": _figure("eyes_open", _percent([j.eyes_open for j in js]), count=sum(j.eyes_open for j in js)),
        "same_person": _figure(
            "same_person", _percent([j.same_person for j in js]), count=sum(j.same_person for j in js)
        ),
        "median_distance": _figure(
            "median_distance",
            round(float(np.median(distances)), 4) if distances else None,
            max=round(max(distances), 4) if distances else None,
        ),
        "no_invented_border": _figure(
            "no_invented_border",
            _percent([not j.invented_border for j in bordered]),
            invented=sum(j.invented_border for j in bordered),
            checked=len(bordered),
        ),
        "happy_when_original_happy": {"value": _percent([j.happy for j in happy_orig]), "n": len(happy_orig)},
        "happy_when_original_not_happy": {
            "value": _percent([j.happy for j in not_happy_orig]),
            "n": len(not_happy_orig),
        },
        "left_out": {"count": len(trimmed), "by_group": dict(by_group), "by_reason": dict(by_reason)},
        "new_unhappy_or_shocked": _figure(
            "new_unhappy_or_shocked",
            sum(j.darker is not None for j in js) if n else None,
            feelings=dict(Counter(j.darker for j in js if j.darker)),
        ),
        "visible_artifacts": _figure(
            "visible_artifacts",
            sum(j.visible_artifact for j in js) if n else None,
            checked=sum(j.artifact is not None for j in js),
        ),
        "improved": _figure(
            "improved",
            _percent([j.improved for j in js if j.improvable]),
            n=sum(j.improvable for j in js),
            count=sum(j.improved for j in js),
        ),
        "unchanged": {"value": _percent([j.unchanged for j in js]), "count": sum(j.unchanged for j in js)},
    }


def rank(values: Sequence[float]) -> np.ndarray:
    """Ranks from 1, ties given their average rank (as scipy's ``rankdata``)."""
    x = np.asarray(values, dtype=np.float64)
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), np.float64)
    ranks[order] = np.arange(1, len(x) + 1)
    sorted_x = x[order]
    start = 0
    for end in range(1, len(x) + 1):
        if end == len(x) or sorted_x[end] != sorted_x[start]:
            ranks[order[start:end]] = (start + 1 + end) / 2.0
            start = end
    return ranks


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman's rank correlation: Pearson's on the (tie-averaged) ranks; nan when either side
    is constant or there are fewer than two pairs."""
    if len(a) != len(b):
        raise ValueError(f"{len(a)} values against {len(b)}")
    if len(a) < 2:
        return float("nan")
    ra, rb = rank(a), rank(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    norm = math.sqrt(float(ra @ ra) * float(rb @ rb))
    return float(ra @ rb / norm) if norm > 0 else float("nan")


def degree_validity(
    smiles: Sequence[float], probabilities: Sequence[Mapping[str, float]], labels: Sequence[object] | None = None
) -> dict:
    """Does Flux's smile degree mean what the independent classifier sees? Spearman's correlation
    of the smile with p(happy) over frames, and the frames judged unhappy (an unhappy label the
    most likely) that read smile > 0.5. ``labels``: a name per frame (its index) for the list."""
    labels = list(labels) if labels is not None else list(range(len(smiles)))
    happy = [float(p.get("happy", 0.0)) for p in probabilities]
    rho = spearman(smiles, happy)
    bad = [label for label, s, p in zip(labels, smiles, probabilities) if max(p, key=p.get) in UNHAPPY and s > 0.5]
    return {
        "n": len(smiles),
        "spearman": _figure("spearman", None if math.isnan(rho) else round(rho, 4)),
        "unhappy_read_as_smile": _figure("unhappy_read_as_smile", len(bad), frames=bad),
        "judged_unhappy": sum(max(p, key=p.get) in UNHAPPY for p in probabilities),
    }
