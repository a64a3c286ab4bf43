"""The expression model itself: what a shot allows, generation, the exemplar choice and the
checkpoint. Training is in ``training.py``, the networks in ``networks.py`` (both import torch and
are imported only when needed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import cv2
import numpy as np

from ... import identity
from ...analysis import Analysis, Face
from ...exemplars import Appearance, Judge, appearance
from ...ranges import Progress, Sample, clamp_to_range
from ...recent import RecentFrame
from ...regions import face_hull_mask, feather
from ...verdicts import likeness
from ..base import DataShortage, FluctuationModel, ModelError, alpha_box
from .config import ExpressionConfig
from .faces import (
    ELEMENTS,
    HIDES,
    PART_WORDS,
    alignment,
    decode_faces,
    eye_band,
    face_degrees,
    face_pose,
    fingerprints,
    lips_mask,
    part_mask,
)


def stored_lender(index: int) -> str:
    """The name a stored face lends its pixels under (``report["exemplar"]["lender"]``)."""
    return f"stored face {int(index)}"


def recent_lender(frame: RecentFrame) -> str:
    """The name a frame streamed before the shutter lends its pixels under."""
    return f"streamed frame {frame.at:.3f}"


def matched_at_edge(edited: np.ndarray, shot: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """The edit with its colour matched to the shot where the two meet: the mean difference on
    the blend's soft edge (alpha between 0.05 and 0.6) is added to the whole edit, so a lent
    mouth in other light or make-up does not sit on the skin as a blotch with a seam around it."""
    edge = (alpha > 0.05) & (alpha < 0.6)
    if edge.sum() < 20:
        return edited
    offset = (shot[edge] - edited[edge]).mean(0)
    return edited + np.clip(offset, -30.0, 30.0)


def half_showing(darker: np.ndarray, lighter: np.ndarray, alpha: np.ndarray, zone: np.ndarray) -> int:
    """The longest stretch (pixels) inside ``zone`` of dark lines of one layer of a blend left
    half-showing over the other, lighter there: where the blend mixes the two (the soft edge of
    the edited region) a person sees both, and the difference weighted by alpha (1 - alpha) is
    largest at an even mix. Opening a shut eye over a lash line that reaches past the lent eye
    (crying eyes' heavy lashes; a head turned so the eye sits near the face's edge, where the
    face's outline narrows the blend) left a second lash line under the opened eye (WolfgangLanger
    frame 0: the shot darker by 35 levels over a tenth of the face)."""
    weights = np.array([0.299, 0.587, 0.114], np.float32)
    showing = np.maximum(0.0, lighter @ weights - darker @ weights) * alpha * (1 - alpha)
    count, _, stats, _ = cv2.connectedComponentsWithStats(((showing > SHOWING_LEVEL) & zone).astype(np.uint8))
    return int(max((max(stats[k, 2], stats[k, 3]) for k in range(1, count)), default=0))


# A line of one layer showing over the other by this much (half_showing, grey levels at an even mix) ...
SHOWING_LEVEL = 10.0
# ... over this much of the face's width is a second lash line a person sees. WolfgangLanger's
# crying eyes opened: frames 0 and 128, both seen with a second lash line, read 0.093-0.125 (by the
# face lent), frame 44, seen clean, 0.038-0.058; her laughing eyes 0.014-0.018.
LIDS_LENGTH = 0.075
# A lent mouth's own dark lines half-showing over the shot's cheek beside it (half_showing, the
# edit darker) this long, in face widths, are a ghost line a person sees: a crying woman given a
# smile (WolfgangLanger frame 20, seen by both labellers) read 0.136, frame 24 (a fainter streak)
# 0.088, a talking girl's mouth closed into a smile (zzhang_vlog 150, a line down the cheek) 0.111;
# frames 0, 8, 16 (seen clean) 0.060-0.071, laughing and calm faces 0-0.005. The next face is tried.
EDGE_LENGTH = 0.08
LINE_BESIDE = "its face left a line showing on the cheek beside the new mouth"
# How many lenders a mouth is tried from before it is left as shot.
LENDERS_TRIED = 3
# Eyes this shut in the shot, asked to open by more than OPENING, are being opened.
SHUT = 0.3
OPENING = 0.2
EYES_KEPT = (
    "the shot's shut eyelids would show under opened eyes (a second lash line), so only the smile changed and "
    "the eyes are as shot"
)


def feather_radius(face: Face) -> float:
    """How far the blend of a repainted part fades into the shot, in pixels: a sixteenth of the face."""
    return max(3.0, face.box[2] / 16)


def edit_zone(face: Face, width: int, height: int, part: str) -> np.ndarray:
    """Where an edit of ``part`` reaches: its region grown by the blend's feather (bool)."""
    grow = 2 * int(feather_radius(face)) + 1
    zone = part_mask(face, width, height, {part}).astype(np.uint8)
    return cv2.dilate(zone, np.ones((grow, grow), np.uint8)) > 0


SMILE = "expression.smile"
MOUTH = "expression.mouth_openness"
EYES = "expression.eye_openness"
# Faces that smile at least this much less than asked still count as smiling as asked, for how
# open a smiling mouth may be (mouth_with_smile).
JOINT_SMILE = 0.1
# A degree asked to move by more than this is asked to change.
ASKED = 0.02
# A lent face must be nearer each asked target than the shot is, or this near it (a mouth asked
# from 0.48 to 0.45 may come from a face at 0.54).
NEAR_ENOUGH = 0.1
# A smile degree a person calls a smile (no frame an independent classifier calls unhappy reads
# above it): models that never saw one cannot make one.
SMILE_SEEN = 0.5
# Eyes at least this open have a gaze worth keeping.
OPEN_ENOUGH = 0.4
# A mouth whose openness is asked to fall by more than this is being closed.
CLOSING = 0.05
# How far around the shot's lips a closing mouth is taken whole from the lent face, in face widths.
LENT_REACH = 0.05
# The most of the shot's own open mouth that may show through a closed one (1 - the blend's weight
# on it): above it a second mouth shows.
SHOWS_THROUGH = 0.1
NEVER_SMILED = "your models have never seen you smile: shoot a few seconds smiling"
# The main face is someone else's: the user's expression model learned only the user's face, and
# lends only the user's own eyes and mouth.
NOT_YOURS = (
    "this face is not yours: your expression model learned only your own face, so this face keeps its own "
    "expression (or its own best take)"
)
# The learning frames whose faces are read to know whose face the model learns (each read costs
# 70-150 ms; the owner's face is the main face of nearly all of them).
OWNER_READS = 16


# A face at least this far (dlib) from every one of the owner's faces read is someone else's: dlib's
# own bar for one person.
OWNER_BOUND = 0.6


def _owner_of(samples: Sequence[Sample]):
    """The identity signatures of the person the model learns, (k, 128): the main faces of up to
    ``OWNER_READS`` of its frames, spread over them, but those far from the rest (a stray frame
    of someone else)."""
    faced = [s for s in samples if s.analysis.main_face is not None]
    step = max(1, len(faced) // OWNER_READS)
    read = [identity.signature(s.rgb, s.analysis.main_face) for s in faced[::step][:OWNER_READS]]
    read = [r for r in read if r is not None]
    centre = identity.medoid(read)
    if centre is None:
        return None
    return np.stack([r for r in read if identity.distance(r, centre) < OWNER_BOUND + 0.1])


# What the page says when a smile was lent under the shot's own open mouth (``SHOWS_THROUGH``).
MOUTH_KEPT = (
    "the mouth is open wider than the model's view of the face reaches, so only the smile changed "
    "and the mouth is as open as shot"
)


class ExpressionModel(FluctuationModel):
    group = "expression"
    segmented = False
    elements = ELEMENTS
    version = 5  # 5: the crop reaches a wide-open mouth's lower lip, the lips repainted whole; 4: exemplars chosen by what the face shows, smile read as a happy smile; 3: exemplar-guided; 2: flow + residual
    uses_recent = True  # takes the frames streamed before the shutter as its first exemplars
    Config = ExpressionConfig

    def __init__(self, config: ExpressionConfig | None = None):
        super().__init__(config)
        self._generator = None
        self._regressor = None
        self._bank = None  # (exemplars, bank_crop, bank_crop, 3) uint8: aligned training faces
        self._bank_jpeg = (
            None  # the same faces as stored: re-encoding a JPEG changes it, and a reloaded model must generate the same
        )
        self._bank_degrees = None  # (exemplars, 3) their degrees
        self._bank_poses = None  # (exemplars, 2) their head pose (yaw, pitch)
        self._bank_looks = None  # (exemplars, 4) what each shows (exemplars.Appearance.as_array)
        self._bank_accepted = None  # (exemplars,) bool: the face of a reconstruction the user accepted
        self._bank_prints: list[str] = []  # each stored face's fingerprint (see fingerprints)
        self._judge = None  # the user's usual lip and eye contrast: what "occluded" is measured against
        self._last_look: tuple[bytes, Appearance] | None = None  # the last shot face read (see _look)
        self._warm = None  # the previous version's weights when fine-tuning
        self._unteachable = None  # (analysis, why) of the last achievable(): why_limited words it
        self._owner = None  # (k, 128) identity signatures of the face it learned, read from k of its frames

    # --- data ---------------------------------------------------------------------------------

    def crops(self, samples: Sequence[Sample]):
        """Aligned crops at the network's size, their degrees, head poses and landmarks (crop
        pixels), and the same faces at the exemplar size."""
        size = self.config.crop
        images, degrees, poses, marks, bank, looks, accepted, verdicts = [], [], [], [], [], [], [], []
        for s in samples:
            face = s.analysis.main_face
            if face is None or face.degrees.get("expression.smile") is None:
                continue
            height, width = s.rgb.shape[:2]
            m = alignment(face, width, height, size)
            images.append(
                cv2.warpAffine(s.rgb, m, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT_101)
            )
            bank.append(self.bank_face(s.rgb, m))
            degrees.append(face_degrees(face))
            pts = face.landmarks[:, :2] * np.array([width, height], np.float32)
            marks.append(pts @ m[:, :2].T + m[:, 2])
            poses.append(face_pose(face))
            looks.append(appearance(s.rgb, face).as_array())
            accepted.append(s.accepted)
            verdicts.append(s.verdict)
        if not images:
            raise DataShortage("no face in the learning data: shoot a few seconds with your face in view")
        self._owner = _owner_of(samples)
        return (
            np.stack(images),
            np.stack(degrees),
            np.array(poses, np.float32),
            np.stack(marks).astype(np.float32),
            np.stack(bank),
            np.stack(looks),
            np.array(accepted, bool),
            verdicts,
        )

    # --- training -----------------------------------------------------------------------------

    def _fit(self, samples: Sequence[Sample], progress: Progress) -> dict:
        from .training import fit

        return fit(self, samples, progress)

    # --- what a shot allows ---------------------------------------------------------------------

    def _look(self, rgb: np.ndarray, face: Face) -> Appearance:
        """What the shot's face shows. The rule asks for it several times per shot (what the shot
        allows, why) and the generation once more, so the last reading is kept, keyed by the
        face's landmarks (no two shots share them) and a sparse sample of the pixels (an image
        another model already edited is read afresh)."""
        key = face.landmarks.tobytes() + rgb[::31, ::29].tobytes()
        last = self._last_look
        if last is not None and last[0] == key:
            return last[1]
        look = appearance(rgb, face)
        self._last_look = (key, look)
        return look

    def _hidden(self, analysis: Analysis, rgb: np.ndarray | None) -> dict[str, str]:
        if rgb is None or analysis.main_face is None or self._judge is None:
            return {}
        return self._judge.hidden(self._look(rgb, analysis.main_face))

    def is_owner(self, rgb: np.ndarray, face: Face) -> bool | None:
        """Whether ``face`` is the face this model learned (None: a model trained before it kept
        its owner's signature, or a face too small to read)."""
        if self._owner is None:
            return None
        mine = identity.signature(rgb, face)
        if mine is None:
            return None
        # Nearest to any of the owner's faces read, not to their average: the owner crying behind a
        # hand read 0.58-0.62 from the average face and at most 0.43 from one of their own faces
        # (WolfgangLanger, every 8th frame); five other people read 0.73 or more from the nearest.
        return identity.nearest(mine, self._owner) < OWNER_BOUND

    def unteachable(self, analysis: Analysis, targets: dict[str, float] | None) -> str | None:
        """Why the feeling asked cannot come from this user's models, or None. An intention asks
        for a happy face; a user whose frames never show a smile has models that cannot make one,
        and moving their eyes and mouth toward the asked degrees then borrows faces they made for
        other reasons (a calm woman who never smiled was given a frown and a shocked mouth). The
        face is then left as shot, and the page says what to shoot."""
        face = analysis.main_face
        shot = face.degrees.get(SMILE) if face is not None else None
        asked = (targets or {}).get(SMILE)
        if shot is None or asked is None or asked < SMILE_SEEN or asked <= shot + ASKED:
            return None
        seen = self.ranges.get(SMILE)
        if seen is not None and seen[1] >= SMILE_SEEN:
            return None
        return NEVER_SMILED

    def achievable(self, analysis, targets=None, rgb=None):
        """A covered mouth keeps its smile and its openness (a smile painted over fingers is an
        invented mouth); covered eyes keep their openness. The part in view can still change.
        A smile the user's models have never seen keeps the whole face as shot."""
        why = self.unteachable(analysis, targets)
        if why is None and rgb is not None and analysis.main_face is not None and targets:
            if self.is_owner(rgb, analysis.main_face) is False:
                why = NOT_YOURS
        # why_limited words it for every element, though the eyes' sentence is asked without the
        # smile's target: the verdict is kept for this analysis (held, so never mistaken for another).
        self._unteachable = (analysis, why)
        if why:
            return {n: None for n in ELEMENTS}
        hidden = self._hidden(analysis, rgb)
        allowed = {n: None for part, names in HIDES.items() if part in hidden for n in names}
        if MOUTH not in allowed:
            span = self.mouth_with_smile(analysis, targets)
            if span is not None:
                allowed[MOUTH] = span
        return allowed

    def mouth_with_smile(self, analysis: Analysis, targets: dict[str, float] | None) -> tuple[float, float] | None:
        """How open the mouth is on the user's faces that smile as much as asked, where a smile and
        a mouth are both asked: a mouth is lent with its smile, and a user whose smiles all
        have closed lips has models that cannot make a laugh (asked one, the mouth came out
        closed and the self-check left the whole edit out as moving away from its target). None:
        no such limit (no smile asked, or no face smiles that much)."""
        face = analysis.main_face
        targets = targets or {}
        if face is None or self._bank_degrees is None or SMILE not in targets or MOUTH not in targets:
            return None
        smile = clamp_to_range(targets[SMILE], self.ranges.get(SMILE))
        shot = face.degrees.get(SMILE)
        if smile is None or shot is None or smile <= shot + ASKED:
            return None
        smiling = self._bank_degrees[self._bank_degrees[:, 0] >= smile - JOINT_SMILE]
        if not len(smiling):
            return None
        return float(smiling[:, 2].min()), float(smiling[:, 2].max())

    def why_limited(self, analysis, targets, rgb=None):
        last = self._unteachable
        if last is not None and last[0] is analysis and last[1]:
            return {n: last[1] for n in targets if n in ELEMENTS}
        hidden = self._hidden(analysis, rgb)
        why = {
            n: f"{hidden[part]}, so {PART_WORDS[n]} is left as shot"
            for part, names in HIDES.items()
            if part in hidden
            for n in names
            if n in targets
        }
        if MOUTH in targets and MOUTH not in why:
            span = self.mouth_with_smile(analysis, targets)
            if span is not None and not span[0] - 1e-6 <= targets[MOUTH] <= span[1] + 1e-6:
                why[MOUTH] = (
                    f"your models smile with the mouth open {span[0]:.2f}–{span[1]:.2f}: "
                    "shoot a few seconds laughing to teach them a laugh"
                )
        return why

    # --- generation ---------------------------------------------------------------------------

    def _generate(
        self,
        rgb: np.ndarray,
        analysis: Analysis,
        targets: dict[str, float],
        recent: Sequence[RecentFrame] = (),
        report: dict | None = None,
        avoid: Mapping[str, str] | None = None,
    ) -> np.ndarray:
        face = analysis.main_face
        if face is None:
            return rgb.copy()
        return self.generate_face(rgb, face, targets, recent, report, avoid)

    def generate_face(
        self,
        rgb: np.ndarray,
        face: Face,
        targets: dict[str, float],
        recent: Sequence[RecentFrame] = (),
        report: dict | None = None,
        avoid: Mapping[str, str] | None = None,
    ) -> np.ndarray:
        import torch

        if self._generator is None:
            raise ModelError("the expression model has no weights")
        size, scale = self.config.crop, self.config.bank_crop / self.config.crop
        height, width = rgb.shape[:2]
        m = alignment(face, width, height, size)
        hull = face_hull_mask(face, 0, 0, width, height, width, height)
        covered = cv2.warpAffine(
            np.ones((size, size), np.uint8),
            m,
            (width, height),
            flags=cv2.WARP_INVERSE_MAP | cv2.INTER_NEAREST,
            borderValue=0,
        )
        alpha = feather(hull & (covered > 0), max(3.0, face.box[2] / 12))
        box = alpha_box(alpha)
        if box is None:
            return rgb.copy()
        crop = cv2.warpAffine(rgb, m, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT_101)
        src = face_degrees(face)
        dst = self.complete(src, targets)
        look = self._look(rgb, face)
        hidden = self._judge.hidden(look)
        asked = {
            part for part, ks in (("mouth", (0, 2)), ("eyes", (1,))) if any(abs(dst[k] - src[k]) > ASKED for k in ks)
        }
        covered = [part for part in ("mouth", "eyes") if part in asked and part in hidden]
        if covered:
            # Editing under a hand would erase it and paste a mouth (or an eye) where the fingers were.
            raise ModelError(f"{hidden[covered[0]]}, so the expression is left as shot")
        if not asked:
            return rgb.copy()
        # Only the parts asked to change are repainted; the rest of the face (its outline, pose,
        # light, skin detail, hair, glasses) is the shot's own.
        keep = part_mask(face, width, height, asked)
        if hidden:
            # The hand over a part not asked stays exactly as shot.
            keep &= eye_band(face, width, height) if "mouth" in hidden else ~eye_band(face, width, height)
        alpha = alpha * feather(keep, feather_radius(face))
        closing = float(dst[2]) < float(src[2]) - CLOSING
        if closing:
            # The shot's own open mouth must go entirely: where it would still show (a mouth
            # reaching past what the network's crop of the face holds), a second mouth shows
            # under the new one.
            showing = 1.0 - float(alpha[lips_mask(face, width, height, 0.0)].min(initial=1.0))
            if report is not None:
                report["mouth_showing"] = round(showing, 3)
            if showing > SHOWS_THROUGH and float(dst[0]) > float(src[0]) + ASKED:
                # A smile is asked too: the gentler edit keeps the mouth as open as shot (a laugh
                # for a laugh) and lends the smile alone.
                dst = dst.copy()
                dst[2] = src[2]
                closing = False
                if report is not None:
                    report.setdefault("kept", []).append(MOUTH_KEPT)
            elif showing > SHOWS_THROUGH:
                raise ModelError(
                    "the mouth is open wider than the model's view of the face reaches, and closing it would "
                    "leave the open mouth showing under the new one, so the expression is left as shot"
                )
        box = alpha_box(alpha)
        if box is None:
            return rgb.copy()
        big, chosen = self.exemplar_face(
            src, dst, np.array(face_pose(face), np.float32), recent, look.skin_light, (look.gaze_x, look.gaze_y), avoid
        )
        if report is not None:
            report["exemplar"] = chosen
        ex = cv2.resize(big, (size, size), interpolation=cv2.INTER_AREA)

        def tensor(image):
            return torch.from_numpy(image).permute(2, 0, 1)[None].float().div(127.5).sub(1)

        with torch.no_grad():
            flow, flow_ex, mix, residual = self._generator.edit(
                tensor(crop), tensor(ex), torch.from_numpy(src)[None], torch.from_numpy(dst)[None]
            )
        # Everything happens at the frame's resolution inside the face's box: the flow moves the
        # frame's own pixels, the exemplar is sampled from its stored larger crop, and the share
        # and the residual are warped back; the face keeps its sharpness and the rest is untouched.
        rows, cols = box
        y0, y1, x0, x1 = rows.start, rows.stop, cols.start, cols.stop
        mb = m.copy()
        mb[:, 2] += m[:, :2] @ np.array([x0, y0], np.float32)

        def to_box(array):
            return cv2.warpAffine(
                array, mb, (x1 - x0, y1 - y0), flags=cv2.WARP_INVERSE_MAP | cv2.INTER_LINEAR, borderValue=0
            )

        def pixels(f):
            return f[0].permute(1, 2, 0).numpy() * (size / 2)

        gx, gy = np.meshgrid(np.arange(x0, x1, dtype=np.float32), np.arange(y0, y1, dtype=np.float32))
        shift = to_box(pixels(flow)) @ np.linalg.inv(m[:, :2]).T
        moved = cv2.remap(
            rgb, gx + shift[..., 0], gy + shift[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
        )
        at = to_box(pixels(flow_ex))
        ex_x = scale * (m[0, 0] * gx + m[0, 1] * gy + m[0, 2] + at[..., 0])
        ex_y = scale * (m[1, 0] * gx + m[1, 1] * gy + m[1, 2] + at[..., 1])
        pasted = cv2.remap(big, ex_x, ex_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
        share = to_box(mix[0, 0].numpy())[..., None]
        if closing:
            # A mouth being closed: the shot's own open mouth, which the flow cannot fold away,
            # must not show through under the lent one (a doubled mouth, seen closing a laughing
            # man's mouth), so there the lent mouth is taken whole.
            # Only just around the lips: farther out a lent face from another frame can hold its
            # jaw line or shirt (a green strip beside a laughing man's mouth, liveportrait_d12).
            lips = feather(lips_mask(face, width, height, LENT_REACH)[box], max(2.0, face.box[2] / 40))
            share = np.maximum(share, lips[..., None])
        change = to_box(residual[0].permute(1, 2, 0).numpy() * 127.5)
        edited = share * pasted + (1 - share) * moved + change
        a = alpha[box][..., None]
        shot = rgb[box].astype(np.float32)
        edited = matched_at_edge(edited, shot, a[..., 0])
        opening = float(src[1]) < SHUT and float(dst[1]) > float(src[1]) + OPENING
        # The eyes' zone bounds both measures below: the mouth's is searched outside it.
        eyes_zone = edit_zone(face, width, height, "eyes")[box] if "mouth" in asked or opening else None
        if "mouth" in asked:
            zone = edit_zone(face, width, height, "mouth")[box] & ~eyes_zone
            beside = half_showing(edited, shot, a[..., 0], zone) / face.box[2]
            if report is not None:
                report["mouth_edge"] = round(beside, 3)
            if beside > EDGE_LENGTH:
                tried = {**(avoid or {}), chosen["lender"]: LINE_BESIDE}
                if sum(why == LINE_BESIDE for why in tried.values()) >= LENDERS_TRIED:
                    raise ModelError(
                        "each face that could lend this mouth left a line showing on the cheek beside it, so the "
                        "expression is left as shot"
                    )
                return self.generate_face(rgb, face, targets, recent, report, tried)
        if opening:
            showing = half_showing(shot, edited, a[..., 0], eyes_zone) / face.box[2]
            if report is not None:
                report["lids_showing"] = round(showing, 3)
            if showing > LIDS_LENGTH:
                if "mouth" in asked:
                    if report is not None:
                        report.setdefault("kept", []).append(EYES_KEPT)
                    return self.generate_face(rgb, face, {**targets, EYES: float(src[1])}, recent, report, avoid)
                raise ModelError(
                    "the shot's shut eyelids would show under the opened eyes (a second lash line), so the "
                    "eyes are left as shot"
                )
        out = rgb.copy()
        out[box] = np.clip(out[box] * (1 - a) + edited * a + 0.5, 0, 255).astype(np.uint8)
        return out

    def bank_face(self, rgb: np.ndarray, m: np.ndarray) -> np.ndarray:
        """The face aligned by ``m`` (to the network's crop) at the larger exemplar size."""
        size, big = self.config.crop, self.config.bank_crop
        return cv2.warpAffine(
            rgb, m * np.float32(big / size), (big, big), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT_101
        )

    def _gaps(
        self,
        degrees: np.ndarray,
        poses: np.ndarray,
        dst: np.ndarray,
        pose: np.ndarray,
        lights: np.ndarray | None = None,
        light: float = float("nan"),
    ) -> np.ndarray:
        gap = np.abs(degrees - dst).sum(1) + self.config.exemplar_pose_weight * np.abs(poses - pose).sum(1)
        if lights is not None and np.isfinite(light):
            gap = gap + self.config.exemplar_light_weight * np.nan_to_num(np.abs(lights - light) / 50.0, nan=1.0)
        return gap

    def rejected_faces(self, src: np.ndarray, dst: np.ndarray) -> set[str]:
        """Fingerprints of the faces that lent their pixels to edits the user rejected, where that
        edit was like this one (the same element moved the same way from about the same degree)."""
        out = set()
        for v in self.verdicts:
            if v.accepted or not v.exemplar:
                continue
            alike = max(likeness(v, n, float(src[k]), float(dst[k] - src[k])) for k, n in enumerate(ELEMENTS))
            if alike >= self.config.refuse_likeness:
                out.add(v.exemplar)
        return out

    @staticmethod
    def short_of(src: np.ndarray, dst: np.ndarray, other: np.ndarray) -> str | None:
        """Why a face cannot lend what is asked, or None: it must be nearer each asked target
        than the shot is, or within ``NEAR_ENOUGH`` of it (a face smiling 0.30 was lent
        for a smile asked at 0.65 from 0.35, because it was streamed just before the shutter, and
        the edit read less happy than the shot)."""
        for k, name in enumerate(ELEMENTS):
            move = float(dst[k]) - float(src[k])
            if abs(move) > ASKED and abs(float(dst[k]) - float(other[k])) > max(abs(move), NEAR_ENOUGH):
                return f"it does not show {PART_WORDS[name]} asked ({float(other[k]):.2f} for {float(dst[k]):.2f})"
        return None

    def misfit(
        self, src, dst, pose, other_pose, look: Appearance, shot_gaze=(float("nan"), float("nan")), eyes: float = 1.0
    ) -> str | None:
        """Why a face cannot lend its pixels to this shot's face without a ghost, or None: another
        head pose (the lent mouth or eyes come with another perspective, and a strip of the other
        frame shows through), or, for the eyes, another gaze (nobody asked the eyes to look
        elsewhere)."""
        d = np.abs(np.asarray(other_pose, np.float32) - np.asarray(pose, np.float32))
        if float(d.max()) > self.config.pose_tolerance:
            turn = "turned" if d[0] >= d[1] else "tilted"
            return f"its head is {turn} another way ({d[0] * 120:.0f}° yaw, {d[1] * 90:.0f}° pitch apart)"
        # Shut eyes have no gaze to keep (MediaPipe reads them as looking down).
        eyes_asked = abs(float(dst[1]) - float(src[1])) > ASKED and min(float(src[1]), eyes) >= OPEN_ENOUGH
        if eyes_asked and all(np.isfinite(shot_gaze)) and np.isfinite(look.gaze_x) and np.isfinite(look.gaze_y):
            apart = max(abs(look.gaze_x - shot_gaze[0]), abs(look.gaze_y - shot_gaze[1]))
            if apart > self.config.gaze_tolerance:
                return "its eyes look another way"
        return None

    def exemplar(
        self,
        src: np.ndarray,
        dst: np.ndarray,
        pose: np.ndarray,
        light: float = float("nan"),
        shot_gaze: tuple[float, float] = (float("nan"), float("nan")),
        avoid: Mapping[str, str] | None = None,
    ) -> tuple[int | None, float, list[str]]:
        """The stored face nearest the target degrees (and the source's head pose and light)
        among those that may lend their pixels (``Judge.refusal``, ``misfit``, not a face of
        an edit the user rejected, nor one in ``avoid``): its index, its gap, and why nearer ones
        were refused. A face the user accepted counts as nearer by ``accepted_preference``. With
        every face refused, the index is None: no edit is better than a ghost."""
        avoid = avoid or {}
        gap = self._gaps(self._bank_degrees, self._bank_poses, dst, pose, self._bank_looks[:, 3], light)
        if self._bank_accepted is not None and self._bank_accepted.any():
            gap = gap - self.config.accepted_preference * self._bank_accepted
        rejected = self.rejected_faces(src, dst)
        refused = []
        for i in np.argsort(gap):
            look = Appearance.from_array(self._bank_looks[i])
            why = (
                self.short_of(src, dst, self._bank_degrees[i])
                or self._judge.refusal(look, src, dst)
                or self.misfit(src, dst, pose, self._bank_poses[i], look, shot_gaze, float(self._bank_degrees[i][1]))
            )
            if why is None and self._bank_prints and self._bank_prints[i] in rejected:
                why = "you rejected a shot whose face came from it, for a similar change"
            if why is None and stored_lender(i) in avoid:
                why = avoid[stored_lender(i)]
            if why is None:
                return int(i), float(gap[i]), refused
            if len(refused) < 3:
                refused.append(f"stored face {int(i)}: {why}")
        return None, float("inf"), refused

    def exemplar_face(
        self,
        src,
        dst,
        pose,
        recent: Sequence[RecentFrame] = (),
        light: float = float("nan"),
        shot_gaze: tuple[float, float] = (float("nan"), float("nan")),
        avoid: Mapping[str, str] | None = None,
    ) -> tuple[np.ndarray, dict]:
        """The exemplar's aligned face at the bank's size, and where it came from. Frames streamed
        in the seconds before the shutter come first (same light, pose, make-up and glasses: the
        moments of FIG. 2) unless their degrees are clearly farther from the target than the
        stored faces'; the stored learning data is the fallback."""
        avoid = avoid or {}
        index, stored_gap, refused = self.exemplar(src, dst, pose, light, shot_gaze, avoid)
        candidates = [(f, f.face) for f in recent if f.face is not None and f.face.degrees.get(ELEMENTS[0]) is not None]
        if candidates:
            degrees = np.stack([face_degrees(face) for _, face in candidates])
            poses = np.array([face_pose(face) for _, face in candidates], np.float32)
            gaps = self._gaps(degrees, poses, dst, pose)
            for k in np.argsort(gaps)[:4]:
                if gaps[k] > stored_gap + self.config.recent_slack:
                    break
                frame, face = candidates[k]
                rgb = frame.rgb()
                look = appearance(rgb, face)
                why = (
                    self.short_of(src, dst, degrees[k])
                    or self._judge.refusal(look, src, dst)
                    or self.misfit(src, dst, pose, poses[k], look, shot_gaze, float(degrees[k][1]))
                    or avoid.get(recent_lender(frame))
                )
                if why is not None:
                    refused.append(f"frame from {frame.age():.1f} s before: {why}")
                    continue
                crop = self.bank_face(rgb, alignment(face, rgb.shape[1], rgb.shape[0], self.config.crop))
                return crop, {
                    "lender": recent_lender(frame),
                    "source": "recent",
                    "seconds_before": round(frame.age(), 2),
                    "gap": round(float(gaps[k]), 3),
                    "degrees": [round(float(v), 3) for v in degrees[k]],
                    "refused": refused,
                }
        if index is None:
            part = "these eyes" if abs(float(dst[1]) - float(src[1])) > ASKED else "this mouth"
            reason = refused[0].split(": ", 1)[-1] if refused else "none fits"
            raise ModelError(
                f"none of your faces can lend {part} cleanly ({reason}), so the expression is left as shot"
            )
        return self._bank[index], {
            "lender": stored_lender(index),
            "source": "learning data",
            "index": index,
            "gap": round(stored_gap, 3),
            "face": self._bank_prints[index] if self._bank_prints else "",
            "accepted": bool(self._bank_accepted is not None and self._bank_accepted[index]),
            "degrees": [round(float(v), 3) for v in self._bank_degrees[index]],
            "refused": refused,
        }

    def complete(self, src: np.ndarray, targets: dict[str, float]) -> np.ndarray:
        """Target degrees for all three elements: an element the rule did not ask for keeps the
        shot's own degree, so open eyes stay open and a closed mouth stays closed. (Filling them
        from the training frame nearest the asked smile closed a teary face's open eyes: the
        nearest frame was a crying one.)"""
        return np.array([targets.get(n, float(src[k])) for k, n in enumerate(ELEMENTS)], np.float32)

    # --- checkpoints --------------------------------------------------------------------------

    def state(self) -> dict:
        if self._generator is None:
            raise ModelError("the expression model has not been trained")
        import torch

        return {
            "generator": self._generator.state_dict(),
            "regressor": self._regressor.state_dict(),
            **self._bank_jpeg,
            "bank_degrees": torch.from_numpy(self._bank_degrees),
            "bank_poses": torch.from_numpy(self._bank_poses),
            "bank_looks": torch.from_numpy(self._bank_looks),
            "judge": torch.from_numpy(self._judge.to_array()),
            "bank_accepted": torch.from_numpy(self._bank_accepted),
            **({"owner": torch.from_numpy(np.asarray(self._owner, np.float32))} if self._owner is not None else {}),
        }

    def warm_start(self, previous: ExpressionModel) -> None:
        """Fine-tune from ``previous`` (same config) instead of training from scratch."""
        super().warm_start(previous)
        self._previous = None  # the network carries its weights itself, below
        if previous.config.crop != self.config.crop or previous.config.width != self.config.width:
            return  # a different network: start afresh
        self._warm = {"generator": previous._generator.state_dict(), "regressor": previous._regressor.state_dict()}

    def load_state(self, state: dict) -> None:
        from .networks import build

        generator, _, regressor = build(self.config)
        generator.load_state_dict(state["generator"])
        regressor.load_state_dict(state["regressor"])
        self._generator, self._regressor = generator.eval(), regressor.eval()
        self._bank_jpeg = {"bank_jpeg": state["bank_jpeg"], "bank_sizes": state["bank_sizes"]}
        self._bank, self._bank_degrees = decode_faces(state), state["bank_degrees"].numpy()
        self._bank_prints = fingerprints(state)
        self._bank_accepted = (
            state["bank_accepted"].numpy() if "bank_accepted" in state else np.zeros(len(self._bank), bool)
        )
        self._bank_poses = state["bank_poses"].numpy()
        self._bank_looks, self._judge = state["bank_looks"].numpy(), Judge.from_array(state["judge"].numpy())
        # A version trained before it kept its owner's face serves the main face as it did then.
        self._owner = state["owner"].numpy().astype(np.float64) if "owner" in state else None
