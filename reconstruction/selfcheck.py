"""The self-check: before anything is recorded, is the reconstruction worse than the shot anywhere?

The reconstruction is measured against the original on every element, not only the rule's
targets, and by judges that are not Flux's extractor (``reconstruction.yardstick``: dlib's face
descriptor and eye landmarks, face-api's expression classifier, the border check). A model whose
edit made something worse is left out of the recorded image, the fewer-models machinery of
claim 11 used as a safety net, and the finding says which model and why.

What counts as worse:

- elements the extractor measures: the face lost; eyes closing, the smile falling or the face
  blurring when the rule did not ask for it; an asked element ending farther from its target
  than it started; any element of a group that did not run moving past its threshold;
- identity: dlib's descriptor distance between the two faces at or above ``SAME_PERSON``;
- eyes: the eye aspect ratio from dlib's 68 landmarks falling from open (≥ ``EYES_OPEN``) to shut;
- expression: the independent classifier's "happy" falling from above one half to below it, or
  an unhappy expression (sad, angry, fearful, disgusted) becoming the most likely one;
- borders: pixels that no part of the original frame explains (mirrored or smeared strips).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from .elements import BY_NAME
from .extraction import Analysis

SAME_PERSON = 0.55  # dlib's own same-person bar is 0.6; a reconstruction must stay well inside it
EYES_OPEN = 0.2  # eye aspect ratio of open eyes
UNHAPPY = ("sad", "angry", "fearful", "disgusted")
# Unasked moves that count as worse only in one direction: (element, sign of the bad move, least move).
ONE_WAY = (
    ("expression.eye_openness", -1, 0.25, "the eyes closed"),
    ("expression.smile", -1, 0.2, "the smile faded"),
    ("posture.motion_blur", +1, 0.25, "the face blurred"),
)
# Which model's region each finding lives in, most likely culprit first.
OWNERS = {
    "face": ("expression", "lighting", "composition", "clothing", "climate"),
    "frame": ("composition", "lighting", "climate", "clothing", "expression"),
}


@dataclass
class Finding:
    check: str  # "identity", "eyes", "expression", "border", "face", or an element name
    message: str  # a sentence for the user
    region: str = "face"  # "face" or "frame": where the owner is looked for
    group: str | None = None  # the model it belongs to, when only one can have caused it

    def to_json(self) -> dict:
        return {"check": self.check, "message": self.message}


@dataclass
class FaceReading:
    """What the independent judges say of one face."""

    descriptor: np.ndarray | None = None  # dlib's 128-D identity descriptor
    ear: float | None = None  # mean eye aspect ratio of both eyes (dlib's 68 landmarks)
    expression: Mapping[str, float] | None = None  # the classifier's 7 probabilities


@dataclass
class Checks:
    """The independent judges, loaded on first use; any that cannot load is named in
    ``unavailable`` (judge -> why) and the others still run."""

    unavailable: dict[str, str] = field(default_factory=dict)
    _faces: object | None = None
    _expression: object | None = None
    _loaded: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        from .yardstick import dlib_face, expression, installed

        # Never a server path or a download at the shutter: a judge whose files `make models` did
        # not install is named as unavailable and the others run.
        missing = "its model files are not installed (run `make models`)"
        try:
            if not installed(dlib_face.DLIB_ASSETS):
                raise FileNotFoundError(missing)
            self._faces = dlib_face.get()
        except Exception as exc:  # a broken judge must not cost the user the shot
            reason = missing if isinstance(exc, FileNotFoundError) else f"it could not load ({type(exc).__name__})"
            self.unavailable.update(identity=reason, eyes=reason)
        try:
            if not installed(expression.EXPRESSION_ASSETS):
                raise FileNotFoundError(missing)
            self._expression = expression.get()
        except Exception as exc:
            self.unavailable["expression"] = missing if isinstance(exc, FileNotFoundError) else f"it could not load ({type(exc).__name__})"

    def read(self, rgb: np.ndarray, box: tuple[float, float, float, float]) -> FaceReading:
        """The judges' reading of the face in ``box`` (x, y, width, height in pixels)."""
        with self._lock:  # the judges' networks are shared by the reconstruction threads
            self._load()
            return self._read(rgb, box)

    def _read(self, rgb, box) -> FaceReading:
        x, y, w, h = box
        corners = (int(round(x)), int(round(y)), int(round(x + w)), int(round(y + h)))
        reading = FaceReading()
        if self._faces is not None:
            face = self._faces.at_box(rgb, corners)
            if face is not None:
                reading.descriptor, reading.ear = np.asarray(face.descriptor), float(face.ear)
        if self._expression is not None:
            reading.expression = dict(self._expression.probabilities(rgb, corners))
        return reading

    def distance(self, a: np.ndarray, b: np.ndarray) -> float:
        return float(np.linalg.norm(np.asarray(a) - np.asarray(b)))

    def borders(self, original: np.ndarray, image: np.ndarray):
        from .yardstick.borders import check_borders

        return check_borders(original, image)


def unhappiest(probabilities: Mapping[str, float]) -> tuple[str, float]:
    name = max(UNHAPPY, key=lambda k: probabilities.get(k, 0.0))
    return name, float(probabilities.get(name, 0.0))


def element_findings(before: Mapping[str, float | None], after: Mapping[str, float | None],
                     targets: Mapping[str, float], ran: Iterable[str]) -> list[Finding]:
    """The extractor's view: every element of the result against the original's."""
    from .rules import degree_gap

    ran = set(ran)
    found: list[Finding] = []
    if before.get("expression.smile") is not None and after.get("expression.smile") is None:
        found.append(Finding("face", "the face is no longer found", "frame"))
        return found
    for name, sign, least, message in ONE_WAY:
        if name in targets or before.get(name) is None or after.get(name) is None:
            continue
        move = (after[name] - before[name]) * sign
        if move >= least:
            found.append(Finding(name, f"{message} ({before[name]:.2f} → {after[name]:.2f}) though the rule did not ask for it"))
    for name, target in targets.items():
        if before.get(name) is None or after.get(name) is None:
            continue
        if degree_gap(name, after[name], target) > degree_gap(name, before[name], target) + BY_NAME[name].threshold / 2:
            found.append(Finding(name, f"{BY_NAME[name].label} moved away from its target "
                                       f"({before[name]:.2f} → {after[name]:.2f}, asked {target:.2f})",
                                 BY_NAME[name].region if BY_NAME[name].region == "face" else "frame", BY_NAME[name].group))
    for name, element in BY_NAME.items():
        if element.group in ran or element.group not in OWNERS["frame"] or before.get(name) is None or after.get(name) is None:
            continue
        if degree_gap(name, after[name], before[name]) > element.threshold * 1.5:
            found.append(Finding(name, f"{element.label} changed ({before[name]:.2f} → {after[name]:.2f}) though its model did not run",
                                 "face" if element.region == "face" else "frame"))
    return found


def judge_findings(checks: Checks, original: np.ndarray, analysis: Analysis, image: np.ndarray, result: Analysis,
                   targets: Mapping[str, float], ran: Iterable[str], cache: dict | None = None) -> list[Finding]:
    """The independent judges' view of the main face and the borders."""
    found: list[Finding] = []
    ran = set(ran)
    if "composition" in ran:
        verdict = checks.borders(original, image)
        if verdict.invented:
            found.append(Finding("border", f"the borders hold content that is not in the shot ({verdict.reason})", "frame", "composition"))
    face, after_face = analysis.main_face, result.main_face
    if face is None or after_face is None:
        return found
    cache = cache if cache is not None else {}
    if "original" not in cache:
        cache["original"] = checks.read(original, face.box)
    a, b = cache["original"], checks.read(image, after_face.box)
    if a.descriptor is not None and b.descriptor is not None:
        d = checks.distance(a.descriptor, b.descriptor)
        if d >= SAME_PERSON:
            found.append(Finding("identity", f"the face no longer passes as the same person (distance {d:.2f})"))
    eyes_asked_down = "expression.eye_openness" in targets and targets["expression.eye_openness"] < (analysis.elements.get("expression.eye_openness") or 0)
    if a.ear is not None and b.ear is not None and a.ear >= EYES_OPEN > b.ear and not eyes_asked_down:
        found.append(Finding("eyes", f"the eyes closed (eye aspect ratio {a.ear:.2f} → {b.ear:.2f})"))
    if a.expression and b.expression:
        smile_asked_down = "expression.smile" in targets and targets["expression.smile"] < (analysis.elements.get("expression.smile") or 0)
        happy_a, happy_b = a.expression.get("happy", 0.0), b.expression.get("happy", 0.0)
        if happy_a >= 0.5 > happy_b and not smile_asked_down:
            found.append(Finding("expression", f"the face no longer looks happy (p(happy) {happy_a:.2f} → {happy_b:.2f})"))
        name_b, p_b = unhappiest(b.expression)
        top_a, top_b = max(a.expression, key=a.expression.get), max(b.expression, key=b.expression.get)
        if top_b in UNHAPPY and top_a not in UNHAPPY:
            found.append(Finding("expression", f"the face now looks {name_b} (p {p_b:.2f})"))
    return found


def suspects(findings: Iterable[Finding], applied: list[str]) -> list[str]:
    """The applied models to leave out, most likely culprit first."""
    score = {g: 0.0 for g in applied}
    for f in findings:
        if f.group in score:
            score[f.group] += 10.0
            continue
        for rank, group in enumerate(OWNERS.get(f.region, OWNERS["frame"])):
            if group in score:
                score[group] += 1.0 / (1 + rank)
    return sorted(applied, key=lambda g: -score[g])


class SelfCheck:
    """What ``preview.stages`` runs on a reconstruction: the extractor's findings on every element
    and, when ``checks`` is given, the independent judges'."""

    def __init__(self, checks: Checks | None = None):
        self.checks = checks
        self.ran_judges = False

    def findings(self, original, analysis, image, result, targets, ran, cache) -> list[Finding]:
        found = element_findings(analysis.elements, result.elements, targets, ran)
        if self.checks is not None:
            found += judge_findings(self.checks, original, analysis, image, result, targets, ran, cache)
            self.ran_judges = True
        return found

    def culprit(self, findings: list[Finding], applied: list[str]) -> str:
        return suspects(findings, applied)[0]

    def summary(self) -> dict:
        judges = [] if self.checks is None else ["identity", "eyes", "expression", "borders"]
        missing = dict(self.checks.unavailable) if self.checks is not None else {}
        return {"elements": True, "independent": [j for j in judges if j not in missing], "unavailable": missing}


_checks: Checks | None = None


def shared_checks() -> Checks:
    """One set of judges per process: loading dlib's and the classifier's weights takes a second."""
    global _checks
    if _checks is None:
        _checks = Checks()
    return _checks
