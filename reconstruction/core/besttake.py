"""Each person's best take (a group shot): a face that misses the intention's targets (eyes shut,
looking away, caught mid-word, not smiling) gets that part from the same person's own face in the
frames streamed in the seconds before the shutter, the way a phone's "best take" picks each
person's face from a burst. Nothing is generated: every pixel put in is the person's own, from
moments before, and only the part that misses is taken (the eyes, or the mouth), aligned on the
points that part does not move, colour-matched at its edge and blended inside the face's outline,
so the shot keeps its own head pose, outline, hair and light.

A take must be the same person (``identity``: within ``SAME_PERSON`` of that face in the shot,
and nearer to it than to anyone else's face in the shot), in nearly the same head pose and size,
at least as sharp, and better where the shot misses without being worse elsewhere. A part put in
is then checked as it is made, as the expression model's are: no shut lash line half-showing under
opened eyes, no dark line beside the new mouth, no artifact a person sees (``yardstick.artifacts``)
and, where a judge is given, no face reading angrier, sadder or more afraid than shot (the
independent classifier). A face with no such take is left as shot, and says why.

A head turned away is left as shot: only parts are ever taken, never a whole face (a whole face
from another moment showed a second jaw line and another frame's hair on faces Flux had not seen).

Plain numpy and OpenCV; no Django.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import cv2
import numpy as np

from . import identity
from .analysis import Analysis, Face, face_width
from .exemplars import EYE_REACH, HAND_PRESENT, INNER_LIPS, LEFT_EYE_RING, OUTER_LIPS, RIGHT_EYE_RING
from .extraction import distress_degree, head_angles
from .generators.expression.faces import part_mask, similarity
from .generators.expression.model import EDGE_LENGTH, LIDS_LENGTH, half_showing, matched_at_edge
from .hands import hand_at_face
from .recent import RecentFrame
from .regions import feather
from .selfcheck import borrowed_feelings
from .tracking import box_cost, normalised

# MediaPipe mesh points that a part's own movement does not move: the eye corners and the nose
# for the mouth (a smile lifts the corners and cheeks, a word drops the jaw); the nose and the
# mouth's corners' midline for the eyes would move with a smile, so the eyes use the eye corners,
# the brows' inner ends and the nose.
STILL_FOR = {
    "eyes": [33, 133, 362, 263, 168, 6, 197, 1, 2, 98, 327, 55, 285],
    "mouth": [33, 133, 362, 263, 168, 6, 197, 195, 5, 1, 2, 98, 327],
}
IRISES = list(range(468, 478))
MOVES = {"eyes": LEFT_EYE_RING + RIGHT_EYE_RING + IRISES, "mouth": OUTER_LIPS + INNER_LIPS}

# What a face misses, by the intention's per-face ideals.
EYES_SHORT = 0.3  # eye openness this far under its ideal: eyes shut or half shut (a blink)
LOOKING_AWAY = 0.45  # ``Face.looking`` under this, with the head facing the camera: eyes looking elsewhere
MID_WORD = 0.15  # mouth openness this far over its ideal, with no smile: caught mid-word
SMILE_SHORT = 0.3  # smile this far under its ideal: not smiling
TURNED = 15.0  # degrees of yaw or pitch: a head turned away (left as shot: parts only)
NOT_SMILING = 0.3  # a mouth open this little smile is open for a word, not a laugh
# What a take must be.
POSE_CLOSE = 10.0  # degrees of yaw and of pitch from the shot's head: a part from a turned head is misplaced
SIZE_CLOSE = 1.3  # the take's face at most this much larger or smaller than the shot's
OPEN_EYES = 0.6  # a take's eyes at least this open
LOOKING = 0.7  # a take that looks into the lens this much
DISTRESS = 0.35  # a take this distressed (a crying grimace) lends nothing
SHARPER_BY = 0.15  # a take at most this much blurrier (motion blur degree) than the shot
# Takes tried per face before it is left as shot, and kept for the page.
TRIED = 3
KEPT = 4


@dataclass
class Take:
    """One of a person's faces from the frames before the shutter."""

    frame: RecentFrame
    face: Face  # in its own frame
    age: float  # seconds before the shutter
    part: str  # the part it would lend: "eyes" or "mouth"
    fixes: list[str]  # which of the shot face's misses it fixes
    score: float

    def to_json(self) -> dict:
        return {
            "age": round(self.age, 2),
            "part": self.part,
            "fixes": self.fixes,
            "score": round(self.score, 3),
            "degrees": {k: None if v is None else round(float(v), 3) for k, v in self.face.degrees.items()},
        }


@dataclass
class FaceTake:
    """What became of one face of the shot."""

    index: int  # in the shot's analysis.faces
    box: tuple[float, float, float, float]
    own: bool = False  # the user's own face: the user's models serve it, the best take leaves it
    misses: list[str] = field(default_factory=list)  # what it misses, in words ("eyes shut", ...)
    parts: list[str] = field(default_factory=list)  # the parts that would fix it ("eyes", "mouth")
    takes: list[Take] = field(default_factory=list)  # the candidates, each part's best first
    chosen: dict[str, int] = field(default_factory=dict)  # part -> the take blended in (index into takes)
    left: list[str] = field(default_factory=list)  # why a part (or the face) was left as shot
    distance: float | None = None  # the largest identity distance of a chosen take to this face in the shot
    refused: dict[int, str] = field(default_factory=dict)  # take index -> why it was refused, in the order tried

    @property
    def tried(self) -> list[str]:
        """Why each take tried and refused was, with its part: "eyes: ..."."""
        return [f"{self.takes[k].part}: {why}" for k, why in self.refused.items()]

    def to_json(self, width: int, height: int) -> dict:
        x, y, w, h = self.box
        return {
            "index": self.index,
            "own": self.own,
            "box": [round(x / width, 4), round(y / height, 4), round(w / width, 4), round(h / height, 4)],
            "misses": self.misses,
            "parts": self.parts,
            "takes": [t.to_json() for t in self.takes],
            "chosen": dict(self.chosen),
            "left": self.left,
            "distance": None if self.distance is None else round(self.distance, 3),
            "tried": self.tried,
            "refused": {str(k): why for k, why in self.refused.items()},
        }


def _pose(face: Face) -> tuple[float, float] | None:
    if face.matrix is not None:
        return head_angles(face.matrix)
    yaw, pitch = face.degrees.get("posture.face_yaw"), face.degrees.get("posture.face_pitch")
    if yaw is None or pitch is None:
        return None
    return (yaw - 0.5) * 120.0, (pitch - 0.5) * 90.0


def misses(face: Face, ideals: Mapping[str, float]) -> tuple[list[str], list[str], str | None]:
    """(what the face misses, the parts that would fix it, why it cannot be fixed or None)."""
    d = face.degrees
    found, parts = [], []
    eyes, mouth, smile = d.get("expression.eye_openness"), d.get("expression.mouth_openness"), d.get("expression.smile")
    pose = _pose(face)
    turned = pose is not None and (abs(pose[0]) > TURNED or abs(pose[1]) > TURNED)
    facing_asked = "posture.face_yaw" in ideals or "posture.face_pitch" in ideals
    if (
        "expression.eye_openness" in ideals
        and eyes is not None
        and eyes < ideals["expression.eye_openness"] - EYES_SHORT
    ):
        found.append("eyes shut")
        parts.append("eyes")
    elif facing_asked and not turned and face.looking is not None and face.looking < LOOKING_AWAY:
        found.append("looking away")
        parts.append("eyes")
    speaking = (
        "expression.mouth_openness" in ideals
        and mouth is not None
        and mouth > ideals["expression.mouth_openness"] + MID_WORD
        and (smile or 0.0) < NOT_SMILING
    )
    if speaking:
        found.append("caught mid-word")
        parts.append("mouth")
    elif "expression.smile" in ideals and smile is not None and smile < ideals["expression.smile"] - SMILE_SHORT:
        found.append("not smiling")
        parts.append("mouth")
    why = None
    if facing_asked and turned:
        found.append("head turned away")
        why = (
            f"the head is turned {max(abs(pose[0]), abs(pose[1])):.0f}° from the camera, and a face is only ever "
            "given parts of its own takes (eyes, mouth), never a whole face from another moment"
        )
    return found, parts, why


def _fixes(take: Face, shot: Face, parts: Sequence[str], ideals: Mapping[str, float]) -> list[str] | None:
    """What the take fixes of the shot's misses, or None when it is no take for this face: another
    pose or size, blurrier, distressed, or worse than the shot in a part it would lend."""
    pa, pb = _pose(take), _pose(shot)
    if pa is None or pb is None or abs(pa[0] - pb[0]) > POSE_CLOSE or abs(pa[1] - pb[1]) > POSE_CLOSE:
        return None
    ratio = take.box[2] / max(1.0, shot.box[2])
    if not 1 / SIZE_CLOSE <= ratio <= SIZE_CLOSE:
        return None
    td, sd = take.degrees, shot.degrees
    blur_t, blur_s = td.get("posture.motion_blur"), sd.get("posture.motion_blur")
    if blur_t is not None and blur_s is not None and blur_t > blur_s + SHARPER_BY:
        return None
    if take.blendshapes and distress_degree(take.blendshapes) > DISTRESS:
        return None
    fixed = []
    if "eyes" in parts:
        t_eyes, s_eyes = td.get("expression.eye_openness") or 0.0, sd.get("expression.eye_openness") or 0.0
        if t_eyes < max(OPEN_EYES, s_eyes):
            return None
        shut = s_eyes < OPEN_EYES
        if not shut and (take.looking or 0.0) < LOOKING:
            return None  # the shot's open eyes look away: only eyes looking into the lens help
        if take.looking is not None and shot.looking is not None and take.looking < min(LOOKING, shot.looking - 0.1):
            return None  # open eyes that look further away than the shot's shut ones would
        fixed.append("eyes open" if shut else "looking at the camera")
    if "mouth" in parts:
        t_mouth, t_smile = td.get("expression.mouth_openness") or 0.0, td.get("expression.smile") or 0.0
        s_smile = sd.get("expression.smile") or 0.0
        if t_smile < s_smile - 0.05:
            return None  # a mouth that smiles less than the shot's is no better
        ideal_mouth = ideals.get("expression.mouth_openness")
        mid_word = ideal_mouth is not None and t_mouth > ideal_mouth + MID_WORD and t_smile < NOT_SMILING
        if mid_word:
            return None
        ideal_smile = ideals.get("expression.smile")
        if ideal_smile is not None and t_smile >= s_smile + 0.15:
            fixed.append("smiling")
        elif (sd.get("expression.mouth_openness") or 0) > (ideal_mouth or 1.0) + MID_WORD:
            fixed.append("mouth at rest")
        else:
            return None
    return fixed


def _score(take: Face, shot: Face, fixes: list[str], age: float) -> float:
    pa, pb = _pose(take), _pose(shot)
    pose = (abs(pa[0] - pb[0]) + abs(pa[1] - pb[1])) / (2 * POSE_CLOSE)
    td = take.degrees
    return (
        len(fixes)
        + 0.5 * (td.get("expression.eye_openness") or 0.0)
        + 0.3 * (take.looking or 0.0)
        + 0.3 * (td.get("expression.smile") or 0.0)
        - 0.5 * pose
        - 0.5 * (td.get("posture.motion_blur") or 0.0)
        - 0.05 * age
    )


def match_tracks(analysis: Analysis, recent: Sequence[RecentFrame]) -> list[int | None]:
    """Each shot face's number in the stream: the face of the newest streamed frame it stands on
    (the shutter's frame is the stream's latest; people do not move far in a tenth of a second)."""
    newest = next((f for f in reversed(recent) if f.faces), None)
    if newest is None:
        return [None] * len(analysis.faces)
    aspect = analysis.width / max(1, analysis.height)
    out: list[int | None] = []
    for face in analysis.faces:
        box = normalised(face.box, analysis.width, analysis.height)
        costs = [
            (box_cost(normalised(f.box, newest.width, newest.height), box, aspect), f.track)
            for f in newest.faces
            if f.track is not None
        ]
        best = min(costs, default=(math.inf, None))
        out.append(best[1] if best[0] < 0.8 else None)
    return out


def candidates(
    shot: Face, track: int | None, analysis: Analysis, recent: Sequence[RecentFrame], part: str, ideals, now: float
) -> list[Take]:
    """The person's own faces in the streamed frames that would fix what the shot's face misses,
    best first. The same number in the stream, or (a frame the tracker did not number) the face
    standing where this one stands."""
    aspect = analysis.width / max(1, analysis.height)
    box = normalised(shot.box, analysis.width, analysis.height)
    takes = []
    for frame in recent:
        for face in frame.faces:
            same = (
                face.track == track
                if track is not None and face.track is not None
                else box_cost(normalised(face.box, frame.width, frame.height), box, aspect) < 0.8
            )
            if not same:
                continue
            # Sizes and poses are compared in the shot's pixels.
            scaled = _in_shot_pixels(face, frame, analysis)
            fixes = _fixes(scaled, shot, [part], ideals)
            if fixes:
                age = max(0.0, now - frame.at)
                takes.append(Take(frame, face, age, part, fixes, _score(scaled, shot, fixes, age)))
    takes.sort(key=lambda t: -t.score)
    return takes


def _in_shot_pixels(face: Face, frame: RecentFrame, analysis: Analysis) -> Face:
    k = analysis.width / max(1, frame.width)
    x, y, w, h = face.box
    return dataclasses.replace(face, box=(x * k, y * k, w * k, h * k))


# --- blending a part ---------------------------------------------------------------------------


def _points(face: Face, width: int, height: int) -> np.ndarray:
    return face.landmarks[:, :2].astype(np.float64) * np.array([width, height], np.float64)


def blend_part(
    shot_rgb: np.ndarray, shot: Face, take_rgb: np.ndarray, take: Face, parts: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, str | None]:
    """The shot with ``parts`` of ``take`` blended in: (image, the landmarks of the result in the
    shot's normalised coordinates, why it was refused or None)."""
    height, width = shot_rgb.shape[:2]
    th, tw = take_rgb.shape[:2]
    s_pts, t_pts = _points(shot, width, height), _points(take, tw, th)
    out = shot_rgb.astype(np.float32)
    after = shot.landmarks.copy()
    fw = face_width(shot, s_pts.astype(np.float32))
    for part in parts:
        m = similarity(t_pts[STILL_FOR[part]], s_pts[STILL_FOR[part]])
        warped = cv2.warpAffine(take_rgb, m, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
        moved = t_pts @ m[:, :2].T + m[:, 2]
        # The part's region (the expression model's own parts) on the shot and on the lent face
        # both: a closed mouth lent over an open one must cover the open one, and an open eye over
        # a shut one must show whole.
        lent = Face(
            box=shot.box, landmarks=np.c_[moved / [width, height], take.landmarks[:, 2]], blendshapes={}, matrix=None
        )
        region = part_mask(shot, width, height, {part}) | part_mask(lent, width, height, {part})
        alpha = feather(region, max(3.0, shot.box[2] / 16))
        ys, xs = np.nonzero(alpha > 0)
        if not len(ys):
            return shot_rgb, shot.landmarks, f"no {part} to take"
        box = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
        a = alpha[box]
        shot_box = out[box]
        edited = matched_at_edge(warped[box].astype(np.float32), shot_box, a)
        zone = cv2.dilate(region.astype(np.uint8), np.ones((5, 5), np.uint8))[box] > 0
        if part == "eyes":
            showing = half_showing(shot_box, edited, a, zone) / fw
            if showing > LIDS_LENGTH:
                return shot_rgb, shot.landmarks, f"the shot's eyelids would show under the lent eyes ({showing:.2f})"
        else:
            beside = half_showing(edited, shot_box, a, zone) / fw
            if beside > EDGE_LENGTH:
                return shot_rgb, shot.landmarks, f"a line would show beside the lent mouth ({beside:.2f})"
        out[box] = shot_box * (1 - a[..., None]) + edited * a[..., None]
        after[MOVES[part], :2] = moved[MOVES[part]] / [width, height]
    return np.clip(out + 0.5, 0, 255).astype(np.uint8), after, None


# --- the whole group ---------------------------------------------------------------------------

Judge = Callable[[np.ndarray, tuple[float, float, float, float]], Mapping[str, float] | None]
ArtifactCheck = Callable[[np.ndarray, np.ndarray, Face, np.ndarray], list[str]]


@dataclass
class BestTakes:
    image: np.ndarray
    faces: list[FaceTake]

    @property
    def changed(self) -> list[FaceTake]:
        return [f for f in self.faces if f.chosen]

    def to_json(self, width: int, height: int) -> list[dict]:
        return [f.to_json(width, height) for f in self.faces]


# Faces worked on at once: each face's reads, blends and checks are its own, and most of their
# time is spent outside Python's lock (torch, OpenCV, the hand model), so two cores do two faces.
FACE_WORKERS = 2
_workers: ThreadPoolExecutor | None = None
_workers_lock = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _workers
    with _workers_lock:
        if _workers is None:
            _workers = ThreadPoolExecutor(max_workers=FACE_WORKERS, thread_name_prefix="flux-best-take")
        return _workers


def best_takes(
    rgb: np.ndarray,
    analysis: Analysis,
    recent: Sequence[RecentFrame],
    ideals: Mapping[str, float],
    skip: set[int] = frozenset(),
    now: float | None = None,
    artifacts: ArtifactCheck | None = None,
    judge: Judge | None = None,
    choose: Mapping[int, Mapping[str, int]] | None = None,
    given: Mapping[int, Mapping[str, Sequence[Take]]] | None = None,
) -> BestTakes:
    """Every face of the shot but those in ``skip`` (indices: the user's own face, which the
    user's models serve) given its best take where it misses ``ideals``. ``artifacts(shot,
    image, face, after_landmarks) -> reasons``: the artifact check; ``judge(rgb, box) ->
    probabilities``: the independent expression classifier; ``choose``: face index -> part ->
    the take index the user picked (tried first, through the same checks); ``given``: face index
    -> part -> the takes found for it before (the shot's kept takes, developed again), used
    instead of looking in ``recent``."""
    now = now if now is not None else (recent[-1].clock() if recent else 0.0)
    tracks = match_tracks(analysis, recent)
    known = _track_signatures(recent)
    work = []
    for i, face in enumerate(analysis.faces):
        outcome = FaceTake(i, face.box, own=i in skip)
        if i not in skip:
            outcome.misses, outcome.parts, why = misses(face, ideals)
            if why:
                outcome.left.append(why)
        work.append(outcome)
    # The shot's faces, read in one batch: each face a take would replace from the shot itself
    # (someone may have stepped into a place just left), everyone else from what the stream knows
    # of them where it knows them.
    wanted = [o.index for o in work if o.parts or tracks[o.index] not in known]
    read = dict(zip(wanted, identity.signatures([(rgb, analysis.faces[i]) for i in wanted])))
    own = [read.get(i) for i in range(len(work))]
    others = [read[i] if i in read else known.get(tracks[i]) for i in range(len(work))]

    def one(outcome: FaceTake) -> np.ndarray | None:
        return _face_best_take(
            outcome, rgb, analysis, recent, tracks, own, others, ideals, now, artifacts, judge, choose, given
        )

    busy = [o for o in work if o.parts]
    if len(busy) > 1 and not _overlapping([analysis.faces[o.index] for o in busy]):
        images = list(_pool().map(one, busy))
    else:
        images = [one(o) for o in busy]
    # Each face blended into the shot on its own; the parts lie inside each face's outline and the
    # faces apart, so the photo takes each face's changed pixels.
    image = rgb
    for made in images:
        if made is not None:
            if image is rgb:
                image = rgb.copy()
            changed = np.any(made != rgb, axis=2)
            image[changed] = made[changed]
    return BestTakes(image, work)


def _overlapping(faces: Sequence[Face]) -> bool:
    """Whether any two faces' boxes, a tenth larger, meet: their parts could then blend over each
    other's pixels, and are made one after the other instead."""
    grown = [(x - 0.1 * w, y - 0.1 * h, x + 1.1 * w, y + 1.1 * h) for x, y, w, h in (f.box for f in faces)]
    for k, a in enumerate(grown):
        for b in grown[k + 1 :]:
            if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]:
                return True
    return False


def _face_best_take(outcome, rgb, analysis, recent, tracks, own, others, ideals, now, artifacts, judge, choose, given):
    """Each missing part of one face from its best take (``outcome`` filled in); the shot with that
    face's parts blended in, or None when it was left as shot."""
    i, face, image = outcome.index, analysis.faces[outcome.index], rgb
    read: list = []

    def as_shot():
        if not read:
            read.append(judge(rgb, face.box))
        return read[0]

    # Each part from its own best take (the eyes of one moment, the mouth of another), both the
    # person's own; the eyes first, so that the mouth's checks see the face as it will be.
    for part in outcome.parts:
        covered = _hand_over(rgb, face, part)
        if covered:
            # A part lent over fingers melts them into it (issue 19, WolfgangLanger 172 and 212).
            outcome.left.append(f"{', '.join(m for m in outcome.misses if m in PART_MISSES[part])}: {covered}")
            continue
        if given is not None:
            takes = list(given.get(i, {}).get(part, ()))
        else:
            takes = candidates(face, tracks[i], analysis, recent, part, ideals, now)[:KEPT]
        first = len(outcome.takes)
        outcome.takes += takes
        order = list(range(min(TRIED, len(takes))))
        picked = (choose or {}).get(i, {}).get(part)
        if picked is not None and first <= picked < first + len(takes):
            order = [picked - first] + [k for k in order if k != picked - first]
        for k in order:
            refused = _refused(image, rgb, analysis, i, takes[k], own, others, artifacts, judge, as_shot)
            if isinstance(refused, str):
                outcome.refused[first + k] = refused
                continue
            image, distance = refused
            outcome.distance = max(distance, outcome.distance or 0.0)
            outcome.chosen[part] = first + k
            break
        if part not in outcome.chosen:
            missed = ", ".join(m for m in outcome.misses if m in PART_MISSES[part])
            if order:
                outcome.left.append(f"{missed}: no clean take ({outcome.refused[first + order[-1]]})")
            else:
                outcome.left.append(
                    f"{missed}: none of this person's faces in the seconds before the shutter did better in the "
                    "same pose"
                )
    return image if outcome.chosen else None


def _hand_over(rgb: np.ndarray, face: Face, part: str) -> str | None:
    """Why ``part`` of ``face`` is under a hand (hands.hand_at_face: a hand at the mouth or chin,
    reaching up over the eyes), or None."""
    hand = hand_at_face(rgb, face)
    if hand.presence < HAND_PRESENT:
        return None
    if part == "mouth":
        return "a hand is at the mouth, so the mouth is left as shot"
    if hand.reach > -EYE_REACH:
        return "a hand is over the eyes, so the eyes are left as shot"
    return None


def _track_signatures(recent: Sequence[RecentFrame]) -> dict[int, np.ndarray]:
    """Each stream number's identity signature, as the stream read it."""
    known: dict[int, np.ndarray] = {}
    for frame in recent:
        for face in frame.faces:
            if face.track is not None and face.signature is not None:
                known[face.track] = face.signature
    return known


PART_MISSES = {"eyes": ("eyes shut", "looking away"), "mouth": ("caught mid-word", "not smiling")}


def _refused(image, shot_rgb, analysis, i, take: Take, own, others, artifacts, judge, as_shot):
    """(image, identity distance) with the take blended in, or why it was refused. ``own``: each
    shot face's signature read from the shot; ``others``: each one's as known (read or streamed);
    ``as_shot()``: the classifier's reading of the face as shot (read once for all its takes)."""
    face = analysis.faces[i]
    take_rgb = take.frame.rgb()
    mine = identity.signature(take_rgb, take.face)
    d = identity.distance(mine, own[i])
    if not d < identity.SAME_PERSON:
        return "the face in that frame is not surely the same person" + ("" if math.isinf(d) else f" ({d:.2f})")
    for j in range(len(analysis.faces)):
        if j != i and identity.distance(mine, others[j]) <= d:
            return "the face in that frame is as near to someone else in the shot"
    covered = _hand_over(take_rgb, take.face, take.part)
    if covered:
        return f"in that frame {covered.split(',')[0]}"
    blended, after, why = blend_part(image, face, take_rgb, take.face, [take.part])
    if why:
        return why
    # The classifier first: it costs a third of the artifact check, and a lent part that brings
    # a feeling tends to bring it from every take of that moment.
    if judge is not None:
        before, after_p = as_shot(), judge(blended, face.box)
        if before and after_p:
            found = borrowed_feelings(before, after_p, ["faces"])
            if found:
                return found[0].message
    if artifacts is not None:
        reasons = artifacts(shot_rgb, blended, face, after)
        if reasons:
            return f"the photo would show {reasons[0]}"
    return blended, d


# --- in the shutter's chain --------------------------------------------------------------------

# The elements a group intention asks of every face.
PER_FACE_IDEALS = (
    "expression.smile",
    "expression.eye_openness",
    "expression.mouth_openness",
    "posture.face_yaw",
    "posture.face_pitch",
)


class BestTakeStep:
    """The best takes as one step of the shutter's chain (group ``GROUP``), beside the user's
    models: it needs no training and has no weaker version (half a lent eye is a ghost), so at a
    preview's reduced strength it changes nothing. ``skip``: the face indices the user's own models
    serve (the user's own face); ``artifacts`` and ``judge`` as for ``best_takes``."""

    group = "faces"
    whole_only = True  # no weaker version: a preview at reduced strength leaves every face as shot

    def __init__(
        self,
        ideals: Mapping[str, float],
        skip: set[int] = frozenset(),
        artifacts: ArtifactCheck | None = None,
        judge: Judge | None = None,
        choose: Mapping[int, Mapping[str, int]] | None = None,
        given: Mapping[int, Mapping[str, Sequence[Take]]] | None = None,
    ):
        self.ideals = {n: v for n, v in ideals.items() if n in PER_FACE_IDEALS}
        self.skip = set(skip)
        self.artifacts, self.judge, self.choose, self.given = artifacts, judge, choose, given
        self.last: BestTakes | None = None
        self._key: tuple | None = None

    def generate(self, rgb, analysis, targets, recent=(), report=None, avoid=None) -> np.ndarray:
        # First in the chain, it is asked the same of the same shot by every trial the previews and
        # the self-check make: the takes are chosen and checked once.
        key = (id(rgb), id(analysis), len(recent))
        if self.last is not None and self._key == key:
            result = self.last
        else:
            result = best_takes(
                rgb,
                analysis,
                recent,
                self.ideals,
                self.skip,
                artifacts=self.artifacts,
                judge=self.judge,
                choose=self.choose,
                given=self.given,
            )
            self.last, self._key = result, key
        if report is not None:
            report["faces"] = result.to_json(analysis.width, analysis.height)
        return result.image


# --- kept with the shot ------------------------------------------------------------------------

TAKE_MARGIN = 0.35  # of the face's box, around a kept take's crop: the blend reaches inside the outline only


def take_crop(take: Take) -> tuple[np.ndarray, Face]:
    """The take's frame cropped around its face (what a shot keeps of each take), and that face
    with its landmarks and box over the crop."""
    rgb = take.frame.rgb()
    height, width = rgb.shape[:2]
    x, y, w, h = take.face.box
    x0, y0 = max(0, int(x - TAKE_MARGIN * w)), max(0, int(y - TAKE_MARGIN * h))
    x1, y1 = min(width, int(x + w + TAKE_MARGIN * w) + 1), min(height, int(y + h + TAKE_MARGIN * h) + 1)
    crop = np.ascontiguousarray(rgb[y0:y1, x0:x1])
    marks = take.face.landmarks.copy()
    marks[:, 0] = (marks[:, 0] * width - x0) / crop.shape[1]
    marks[:, 1] = (marks[:, 1] * height - y0) / crop.shape[0]
    face = Face(
        box=(x - x0, y - y0, w, h),
        landmarks=marks,
        blendshapes=dict(take.face.blendshapes),
        matrix=None,
        degrees=dict(take.face.degrees),
        looking=take.face.looking,
    )
    return crop, face


def face_data(face: Face) -> dict:
    """A take's face as JSON (landmarks to four decimals: a ten-thousandth of the crop)."""
    return {
        "box": [round(float(v), 2) for v in face.box],
        "landmarks": np.round(face.landmarks.astype(np.float64), 4).tolist(),
        "blendshapes": {k: round(float(v), 4) for k, v in face.blendshapes.items()},
        "degrees": {k: None if v is None else round(float(v), 4) for k, v in face.degrees.items()},
        "looking": None if face.looking is None else round(float(face.looking), 4),
    }


def kept_take(jpeg: bytes, data: dict, age: float, part: str, width: int, height: int) -> Take:
    """A take as the shot kept it, ready to be blended again (``best_takes``' ``given``)."""
    face = Face(
        box=tuple(data["box"]),
        landmarks=np.asarray(data["landmarks"], np.float32),
        blendshapes=dict(data.get("blendshapes") or {}),
        matrix=None,
        degrees=dict(data.get("degrees") or {}),
        looking=data.get("looking"),
    )
    frame = RecentFrame(jpeg, None, width, height, -float(age), lambda: 0.0, (face,))
    return Take(frame, face, float(age), part, [], 0.0)
