"""Expression: an exemplar-guided conditional image-to-image GAN on aligned face crops ([0053]).

The face is aligned to a canonical crop by a similarity transform on the two eye centres. The
model keeps the user's own aligned training faces with their degrees ([0054]: the data used in
training is held with the model). To change a face it takes the stored face nearest the target
degrees (and the source's head pose) as an exemplar. A U-Net generator takes the source crop, the
exemplar crop and the source and target degrees (smile, eye openness, mouth openness) and
predicts two dense backward flows (one moving the source, one moving the exemplar onto the
source's geometry), a per-pixel share of the exemplar, and a residual. Teeth, a closed eyelid or
cheek folds come from the user's real face rather than being painted at the network's
resolution; the flows put them where this face is.

A PatchGAN discriminator judges (crop, target degrees). Losses: L1 to a real frame of the user
with the target degrees (pairs of the user's own frames; the exemplar is never that frame),
identity L1 when source = target, adversarial, degree consistency through a small degree
regressor trained first on the same crops with the extractor's labels, and both flows at the
target frame's landmarks pointing at the source's and the exemplar's same landmarks.
Generation asks only for degree combinations the user has shown (``complete``). Everything is
applied at the frame's resolution inside the face (the source's own pixels moved, the exemplar
sampled from its stored larger crop) and blended with a soft face mask, so nothing outside the
face changes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import time
from collections.abc import Sequence

import cv2
import numpy as np

from ..exemplars import BROWS, LEFT_EYE_RING, RIGHT_EYE_RING, Appearance, Judge, appearance
from ..extraction import Analysis, Face, face_hull_mask
from ..ranges import Progress, Sample
from ..recent import RecentFrame
from ..verdicts import likeness
from .base import FluctuationModel, ModelError, alpha_box, feather

ELEMENTS = ("expression.smile", "expression.eye_openness", "expression.mouth_openness")
LEFT_EYE = [33, 133, 159, 145]
RIGHT_EYE = [362, 263, 386, 374]
# The eyelid contours of both eyes (MediaPipe face mesh), corners left out: they hardly move.
EYELIDS = [
    7,
    163,
    144,
    145,
    153,
    154,
    155,
    157,
    158,
    159,
    160,
    161,
    173,
    246,
    249,
    390,
    373,
    374,
    380,
    381,
    382,
    384,
    385,
    386,
    387,
    388,
    398,
    466,
]


@dataclasses.dataclass
class ExpressionConfig:
    seed: int = 0  # random seed for initialisation and batches
    crop: int = 96  # side of the aligned face crop, pixels
    width: int = 16  # channels of the U-Net's first level (doubles per level)
    pose_neighbours: int = 12  # targets are drawn from this many frames nearest in head pose
    feature_weight: float = 3.0  # extra L1 weight on the mouth and eyes
    steps: int = 300  # generator/discriminator updates: 300 of 16 pairs train 300 frames within the two-minute budget on one CPU thread (1200 of 8 took about 230 s); measured by the fidelity bench, see the README
    regressor_steps: int = 60  # updates of the degree regressor before the GAN
    identity_fraction: float = 0.25  # share of each batch whose target is its own source
    batch: int = 16  # pairs per update (16 cost 21 ms a pair on one CPU thread, 8 cost 28 ms)
    lr: float = 3e-3  # Adam learning rate (generator and regressor)
    lr_d: float = 1e-3  # Adam learning rate of the discriminator
    l1_weight: float = 10.0  # pull toward the real frame that has the target degrees
    degree_weight: float = 0.1  # the (low-pass) regressor must read the target degrees; kept small: a larger weight lets the generator satisfy it without a visible change (measured: progress 0.26 at 0, 0.08 at 1.0)
    adversarial_weight: float = 0.5  # realism, judged by the PatchGAN
    max_flow: float = 0.2  # largest displacement of the predicted flow, in half crop sides (0.2: about 10 px of 96)
    landmark_weight: float = 10.0  # the flow at the target's landmarks must point at the source's same landmarks: direct geometry supervision, steadier across seeds than L1 + GAN alone
    eyelid_weight: float = 10.0  # extra landmark-flow weight on the eyelids, times the pair's eye-openness gap / 0.3: 28 of 478 landmarks are lost in the mean, and the eyes hardly moved (measured: eye-openness progress 0.10/0.03 → 0.26/0.24 for seeds 0/1, mean 0.68/0.61 → 0.71/0.75)
    smooth_weight: float = 0.5  # total variation of the flow: no tearing between the supervised landmarks
    single_fraction: float = 0.5  # share of pairs conditioned on one element's change only (the others' targets = source): generation asks one element at a time (measured: mean progress 0.18/0.35 → 0.56/0.56 for seeds 0/1)
    cross_fraction: float = 0.5  # share of each batch whose target differs clearly in degrees: pose neighbours alone pair a smile with a smile, and the way back is never learnt
    finetune_steps: int = 36  # updates when fine-tuning from the previous version (feedback): it already knows the face, and a fine-tune after one verdict must end within 30 s
    finetune_regressor_steps: int = 10  # the same for the degree regressor
    bank_crop: int = (
        160  # side of the stored exemplar crops, pixels: the exemplar is pasted at this resolution, not the network's
    )
    bank_limit: int = 160  # most exemplars kept with the model (evenly over the data beyond that): bounds the checkpoint (160 faces as JPEG: about 2 MB)
    exemplar_choices: int = 1  # training draws the exemplar among this many nearest by degree (never the target itself), as generation takes the nearest (measured with exemplar_prior 0: 3 choices gave franck / single_face mean progress 0.72 / 0.65, 1 choice 0.46 / 1.09)
    exemplar_prior: float = 2.0  # initial logit of the exemplar's share: 2.0 starts at 88 % exemplar (measured: from 0, franck mean progress 0.46 with eyes 0.15; from 2, 0.80 / 0.76 for seeds 0 / 1)
    share_weight: float = (
        2.0  # pull the exemplar's share toward 1 in the region of each element asked to change, by how much it changes
    )
    exemplar_pose_weight: float = (
        0.5  # exemplar choice: weight of the head-pose gap to the source against the degree gap
    )
    exemplar_light_weight: float = 1.0  # exemplar choice: weight of the skin-lightness gap (per 50 L* units): a face lit otherwise pastes as a blotch (seen with exposure-varied learning frames)
    accepted_preference: float = 0.15  # an accepted reconstruction's own face is preferred as exemplar over a stored face this much nearer in degrees: the user said that face is right
    refuse_likeness: float = 0.3  # a face that lent its pixels to a rejected edit is refused for asks at least this alike (reconstruction.verdicts.likeness)
    recent_slack: float = 0.15  # a face from the seconds before the shutter is preferred over a stored one unless its degree gap is larger by more than this (same light, pose and glasses: FIG. 2)
    lr_decay: bool = True  # cosine decay of both learning rates to zero over the GAN's updates: the weights settle instead of stopping wherever the last noisy update left them (measured, single_face.mp4 seeds 0-3, face SSIM to the real target: 0.6821/0.6825/0.6848/0.6795 → 0.6826/0.6808/0.6824/0.6818, pasted baseline 0.6804)
    device: str = "auto"  # "auto": CUDA when present, else CPU


def canonical_points(size: int) -> np.ndarray:
    """Where the two eye centres sit on the canonical crop (the mouth lands near 0.74 of its height)."""
    return np.array([[0.33 * size, 0.38 * size], [0.67 * size, 0.38 * size]], np.float32)


def alignment(face: Face, width: int, height: int, size: int) -> np.ndarray:
    """2×3 similarity transform from the image to the canonical crop, fixed by the two eye
    centres: they do not move with the expression (the mouth does: aligning on it shifts the
    whole face when a smile opens it), and two points fix a similarity exactly, the same at any
    crop size."""
    pts = face.landmarks[:, :2] * np.array([width, height], np.float32)
    left, right = pts[LEFT_EYE].mean(0), pts[RIGHT_EYE].mean(0)
    canon = canonical_points(size)
    src, dst = complex(*(right - left)), complex(*(canon[1] - canon[0]))
    if abs(src) < 1e-3:
        raise ModelError("could not align the face")
    z = dst / src  # rotation and scale as one complex number
    a, b = z.real, z.imag
    t = complex(*canon[0]) - z * complex(*left)
    return np.array([[a, -b, t.real], [b, a, t.imag]], np.float32)


# The elements a covered part of the face holds, and how the page names them.
HIDES = {"mouth": ("expression.smile", "expression.mouth_openness"), "eyes": ("expression.eye_openness",)}
PART_WORDS = {
    "expression.smile": "the smile",
    "expression.mouth_openness": "the mouth",
    "expression.eye_openness": "the eyes' openness",
}


def eye_band(face: Face, width: int, height: int) -> np.ndarray:
    """The eyes and brows of a face, with a margin: what an edit of the eyes alone may touch."""
    pts = face.landmarks[LEFT_EYE_RING + RIGHT_EYE_RING + BROWS, :2] * np.array([width, height], np.float32)
    mask = np.zeros((height, width), np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(pts.round().astype(np.int32)), 1)
    r = max(2, int(face.box[2] * 0.06))
    return cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))) > 0


def face_degrees(face: Face) -> np.ndarray:
    return np.array([face.degrees.get(n) or 0.0 for n in ELEMENTS], np.float32)


def face_pose(face: Face) -> list[float]:
    return [face.degrees.get("posture.face_yaw") or 0.5, face.degrees.get("posture.face_pitch") or 0.5]


def encode_faces(faces: np.ndarray) -> dict:
    """The exemplar faces as JPEG (quality 95) in two tensors: a tenth of the raw size, and
    checkpoints stay loadable with ``weights_only=True`` (tensors only)."""
    import torch

    blobs = [
        cv2.imencode(".jpg", cv2.cvtColor(f, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])[1].ravel()
        for f in faces
    ]
    return {"bank_jpeg": torch.from_numpy(np.concatenate(blobs)), "bank_sizes": torch.tensor([len(b) for b in blobs])}


def fingerprints(state: dict) -> list[str]:
    """A short fingerprint of each stored face's JPEG: the same learning frame gives the same
    bytes in every version, so a verdict can name the face that lent its pixels."""
    data, sizes = state["bank_jpeg"].numpy(), state["bank_sizes"].tolist()
    ends = np.cumsum(sizes)
    return [hashlib.sha1(data[end - size : end].tobytes()).hexdigest()[:12] for size, end in zip(sizes, ends)]


def decode_faces(state: dict) -> np.ndarray:
    data, sizes = state["bank_jpeg"].numpy(), state["bank_sizes"].tolist()
    ends = np.cumsum(sizes)
    faces = [cv2.imdecode(data[end - size : end], cv2.IMREAD_COLOR) for size, end in zip(sizes, ends)]
    if any(f is None for f in faces):
        raise ValueError("an exemplar face does not decode")
    return np.stack([cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in faces])


def _build_networks(cfg: ExpressionConfig):
    import torch
    import torch.nn.functional as F
    from torch import nn

    def warp(x, flow):
        n, _, h, w_ = x.shape
        ys = (torch.arange(h, dtype=x.dtype, device=x.device) * 2 + 1) / h - 1
        xs = (torch.arange(w_, dtype=x.dtype, device=x.device) * 2 + 1) / w_ - 1
        base = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), -1)[None]
        return F.grid_sample(
            x, base + flow.permute(0, 2, 3, 1), mode="bilinear", padding_mode="border", align_corners=False
        )

    def block(cin, cout, stride):
        return nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride, 1), nn.GroupNorm(math.gcd(8, cout), cout), nn.LeakyReLU(0.2, inplace=True)
        )

    class Film(nn.Module):
        """Per-channel scale and shift from the degrees: the condition reaches every level
        after its normalisation, which would otherwise wash constant input planes out."""

        def __init__(self, channels):
            super().__init__()
            self.proj = nn.Linear(9, 2 * channels)
            nn.init.zeros_(self.proj.weight)
            nn.init.zeros_(self.proj.bias)

        def forward(self, h, cond):
            scale, shift = self.proj(cond).chunk(2, dim=1)
            return h * (1 + scale[:, :, None, None]) + shift[:, :, None, None]

    class Generator(nn.Module):
        def __init__(self):
            super().__init__()
            w = cfg.width
            self.e1 = block(6, w, 1)
            self.e2 = block(w, 2 * w, 2)
            self.e3 = block(2 * w, 4 * w, 2)
            self.e4 = block(4 * w, 4 * w, 2)
            self.mid = block(4 * w, 4 * w, 1)
            self.d4 = block(8 * w, 4 * w, 1)
            self.d3 = block(8 * w, 2 * w, 1)
            self.d2 = block(4 * w, w, 1)
            self.d1 = block(w, w, 1)
            self.films = nn.ModuleList([Film(c) for c in (4 * w, 4 * w, 2 * w, w, w)])
            self.out = nn.Conv2d(w, 3, 3, 1, 1)
            self.flow = nn.Conv2d(w, 5, 3, 1, 1)
            self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
            # The share of the exemplar starts high (sigmoid(exemplar_prior)): the network starts
            # from the user's real face at the target degrees and learns where the source's is better.
            nn.init.constant_(self.flow.bias[4], cfg.exemplar_prior)

        def forward(self, x, ex, src, dst):
            flow, flow_ex, mix, residual = self.edit(x, ex, src, dst)
            out = mix * warp(ex, flow_ex) + (1 - mix) * warp(x, flow) + residual
            return torch.clamp(out, -1, 1), flow, flow_ex, mix

        def edit(self, x, ex, src, dst):
            """From the source crop and an exemplar crop (the user's own face nearest the target
            degrees): backward flows for each (B, 2, H, W, grid_sample's units), the share of the
            exemplar per pixel (B, 1, H, W) and an additive residual."""
            cond = torch.cat([src, dst, dst - src], 1)
            f = self.films
            e1 = self.e1(torch.cat([x, ex], 1))
            e2 = self.e2(e1)
            e3 = self.e3(e2)
            e4 = self.e4(e3)
            m = f[0](self.mid(e4), cond)
            d4 = f[1](self.d4(torch.cat([m, e4], 1)), cond)
            d3 = f[2](self.d3(torch.cat([self.up(d4), e3], 1)), cond)
            d2 = f[3](self.d2(torch.cat([self.up(d3), e2], 1)), cond)
            # No full-resolution skip: the input's detail comes back through the residual, and the
            # network cannot satisfy the loss by copying its input at the top level.
            # The flow comes from the half-resolution level: geometry changes are smooth.
            heads = self.up(self.flow(d2))
            flow, flow_ex = torch.tanh(heads[:, :4]).mul(cfg.max_flow).split(2, dim=1)
            d1 = f[4](self.d1(self.up(d2)), cond)
            return flow, flow_ex, torch.sigmoid(heads[:, 4:]), torch.tanh(self.out(d1))

    class Discriminator(nn.Module):
        def __init__(self):
            super().__init__()
            w = cfg.width
            self.net = nn.Sequential(
                nn.Conv2d(3 + 3, w, 4, 2, 1),
                nn.LeakyReLU(0.2, inplace=True),
                block(w, 2 * w, 2),
                block(2 * w, 4 * w, 2),
                nn.Conv2d(4 * w, 1, 3, 1, 1),
            )

        def forward(self, x, dst):
            n, _, h, w_ = x.shape
            return self.net(torch.cat([x, dst[:, :, None, None].expand(n, 3, h, w_)], 1))

    class Regressor(nn.Module):
        def __init__(self):
            super().__init__()
            w = cfg.width // 2
            self.net = nn.Sequential(
                block(3, w, 2),
                block(w, 2 * w, 2),
                block(2 * w, 4 * w, 2),
                block(4 * w, 4 * w, 2),
                nn.AdaptiveAvgPool2d(1),
                nn.Flatten(),
                nn.Linear(4 * w, 3),
                nn.Sigmoid(),
            )

        def forward(self, x):
            # It reads a low-passed face: the generator can satisfy it only by changing the
            # mouth and eyes themselves, not with fine patterns that fool a small network.
            low = F.interpolate(F.avg_pool2d(x, 4), scale_factor=4, mode="bilinear", align_corners=False)
            return self.net(low)

    return Generator(), Discriminator(), Regressor()


def _device(cfg: ExpressionConfig):
    import torch

    if cfg.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(cfg.device)


class ExpressionModel(FluctuationModel):
    group = "expression"
    elements = ELEMENTS
    version = 4  # 4: exemplars chosen by what the face shows, smile read as a happy smile; 3: exemplar-guided; 2: flow + residual
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
            raise ModelError("no face in the learning data: shoot a few seconds with your face in view")
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
        import torch
        import torch.nn.functional as F

        cfg = self.config
        torch.manual_seed(cfg.seed)
        rng = np.random.default_rng(cfg.seed)
        device = _device(cfg)
        images, degrees, poses, marks, bank, looks, accepted, verdicts = self.crops(samples)
        # Accepted edits as (original, reconstruction) pairs: one rides in every batch, so the
        # network learns the edit the user said was right.
        positive = [
            (i, j)
            for j in np.flatnonzero(accepted)
            for i in range(len(verdicts))
            if verdicts[j] is not None and verdicts[i] == verdicts[j] and not accepted[i]
        ]
        judge = Judge.from_faces([Appearance.from_array(v) for v in looks])
        # An occluded face (a hand, hair or a sleeve over the mouth or eyes) is never an exemplar:
        # its pixels would be pasted onto the face.
        occluded = np.array([judge.occluded(Appearance.from_array(v)) is not None for v in looks])
        # Landmarks in grid_sample's units (pixel centres at (2i + 1) / size - 1).
        lm = torch.from_numpy((2 * marks + 1) / cfg.crop - 1).to(device)
        x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div(127.5).sub(1).to(device)
        d = torch.from_numpy(degrees).to(device)
        n = len(x)
        # Pairs of similar head pose: the L1 pull then mostly teaches the expression change.
        pose_gap = np.abs(poses[:, None, :] - poses[None, :, :]).sum(-1)
        k = max(2, min(n, cfg.pose_neighbours))
        neighbours = np.argsort(pose_gap, axis=1)[:, :k]
        # Pairs whose degrees differ clearly, nearest in pose among those: without them a smiling
        # source is almost always paired with another smile, and the way back is never learnt.
        degree_gap = np.abs(degrees[:, None, :] - degrees[None, :, :]).max(-1)
        far = np.argsort(np.where(degree_gap > 0.3, pose_gap, np.inf), axis=1)[:, :k]
        far_ok = np.take_along_axis(degree_gap, far, 1) > 0.3
        far = np.where(far_ok, far, neighbours)
        # Exemplars: the user's own face nearest the conditioned degrees (and the source's pose),
        # drawn among the few nearest and never the target frame itself, as generation will draw
        # it from the stored faces.
        pose_t = torch.from_numpy(poses).to(device)

        def exemplars(c_dst, src_i, dst_i):
            gap = (d[None] - c_dst[:, None]).abs().sum(-1) + cfg.exemplar_pose_weight * (
                pose_t[None] - pose_t[src_i][:, None]
            ).abs().sum(-1)
            gap[torch.arange(len(dst_i), device=device), dst_i] = float("inf")
            if occluded.any() and not occluded.all():
                gap[:, torch.from_numpy(occluded).to(device)] = float("inf")
            near = gap.topk(min(cfg.exemplar_choices, n - 1), dim=1, largest=False).indices
            pick = torch.from_numpy(rng.integers(0, near.shape[1], len(dst_i))).to(device)
            return near[torch.arange(len(dst_i), device=device), pick]

        lids = torch.zeros(marks.shape[1], device=device)
        lids[EYELIDS] = 1.0
        size = cfg.crop
        eyes_y, mouth_y = int(0.38 * size), int(0.74 * size)
        # Where each element lives on the canonical crop (smile: the mouth with its corners and cheeks).
        regions = torch.zeros(1, 3, size, size, device=device)
        regions[:, 0, mouth_y - size // 5 : mouth_y + size // 8, size // 8 : size - size // 8] = 1
        regions[:, 1, eyes_y - size // 10 : eyes_y + size // 10, size // 6 : size - size // 6] = 1
        regions[:, 2, mouth_y - size // 8 : mouth_y + size // 8, size // 4 : size - size // 4] = 1
        weight = 1 + cfg.feature_weight / 2 * regions[:, 1:2] + cfg.feature_weight * regions[:, 2:3]
        weight = weight / weight.mean()
        generator, discriminator, regressor = (net.to(device) for net in _build_networks(cfg))
        regressor_steps, steps = cfg.regressor_steps, cfg.steps
        if self._warm is not None:
            # Fine-tuning: start from the previous version's generator and regressor.
            generator.load_state_dict(self._warm["generator"])
            regressor.load_state_dict(self._warm["regressor"])
            regressor_steps, steps = cfg.finetune_regressor_steps, cfg.finetune_steps
        total = regressor_steps + steps
        started = time.perf_counter()

        def augment(batch):
            # Small shifts and brightness changes: the user's frames never align perfectly.
            if rng.random() < 0.5:
                batch = torch.roll(batch, shifts=(int(rng.integers(-2, 3)), int(rng.integers(-2, 3))), dims=(2, 3))
            return (batch * float(rng.uniform(0.9, 1.1))).clamp(-1, 1)

        opt_r = torch.optim.Adam(regressor.parameters(), lr=cfg.lr)
        for step in range(regressor_steps):
            idx = torch.from_numpy(rng.integers(0, n, cfg.batch)).to(device)
            loss = F.l1_loss(regressor(augment(x[idx])), d[idx])
            opt_r.zero_grad()
            loss.backward()
            opt_r.step()
            if step % 20 == 0:
                progress(step, total, loss.item())
        regressor.eval()
        for p in regressor.parameters():
            p.requires_grad_(False)

        opt_g = torch.optim.Adam(generator.parameters(), lr=cfg.lr, betas=(0.5, 0.999))
        opt_d = torch.optim.Adam(discriminator.parameters(), lr=cfg.lr_d, betas=(0.5, 0.999))
        last = {}
        schedules = (
            [torch.optim.lr_scheduler.CosineAnnealingLR(o, max(1, steps)) for o in (opt_g, opt_d)]
            if cfg.lr_decay
            else []
        )
        for step in range(steps):
            src_np = rng.integers(0, n, cfg.batch)
            dst_np = neighbours[src_np, rng.integers(0, neighbours.shape[1], cfg.batch)]
            cross = rng.random(cfg.batch) < cfg.cross_fraction
            dst_np[cross] = far[src_np[cross], rng.integers(0, k, int(cross.sum()))]
            same = rng.random(cfg.batch) < cfg.identity_fraction
            dst_np[same] = src_np[same]  # these must come back unchanged
            if positive:
                src_np[0], dst_np[0] = positive[step % len(positive)]
            src_i, dst_i = torch.from_numpy(src_np).to(device), torch.from_numpy(dst_np).to(device)
            source, target = x[src_i], x[dst_i]
            d_src, d_dst = d[src_i], d[dst_i]
            # Generation asks for one element at a time, the others kept: condition some pairs
            # that way (the real target still carries what co-varies with that element).
            single_np = rng.random(cfg.batch) < cfg.single_fraction
            single_np[0] &= not positive  # an accepted edit is learnt at all its degrees
            single = torch.from_numpy(single_np).to(device)
            keep = torch.from_numpy(np.eye(3, dtype=bool)[rng.integers(0, 3, cfg.batch)]).to(device)
            c_dst = torch.where(single[:, None] & ~keep, d_src, d_dst)
            ex_i = exemplars(c_dst, src_i, dst_i)
            fake, flow, flow_ex, mix = generator(source, x[ex_i], d_src, c_dst)

            real_logits = discriminator(target, d_dst)
            fake_logits = discriminator(fake.detach(), d_dst)
            loss_d = F.binary_cross_entropy_with_logits(
                real_logits, torch.ones_like(real_logits)
            ) + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()

            adv_logits = discriminator(fake, d_dst)
            loss_adv = F.binary_cross_entropy_with_logits(adv_logits, torch.ones_like(adv_logits))
            loss_l1 = ((fake - target).abs() * weight).mean()
            loss_deg = F.l1_loss(regressor(fake), d_dst)
            # The eyelids weigh more in pairs whose eye openness differs: a blink is a few pixels.
            eye_gap = (d_dst[:, 1] - d_src[:, 1]).abs() / 0.3
            lm_weight = 1 + cfg.eyelid_weight * eye_gap[:, None] * lids[None, :]

            def landmark_loss(f, origin, dst_i=dst_i, lm_weight=lm_weight):  # this update's pairs
                # Each flow, read at the target's landmarks, must point at its image's same landmarks.
                at_target = F.grid_sample(f, lm[dst_i][:, :, None, :], align_corners=False)[..., 0].permute(0, 2, 1)
                return ((at_target - (lm[origin] - lm[dst_i])).abs() * lm_weight[:, :, None]).mean()

            loss_lm = landmark_loss(flow, src_i) + landmark_loss(flow_ex, ex_i)
            loss_tv = sum(
                (f[..., 1:, :] - f[..., :-1, :]).abs().mean() + (f[..., 1:] - f[..., :-1]).abs().mean()
                for f in (flow, flow_ex)
            )
            # An element asked to change takes its region from the exemplar, which has it: left to
            # L1 alone the share settled either way from run to run (measured: franck.mp4 mouth
            # progress 0.71 or 0.10 with the same data, single_face.mp4 eyes 1.01 or 0.06).
            change = ((c_dst - d_src).abs() / 0.3).clamp(max=1)[:, :, None, None]
            wanted = (change * regions).amax(1, keepdim=True)
            loss_share = ((1 - mix) * wanted).sum() / wanted.sum().clamp(min=1)
            loss_g = (
                cfg.share_weight * loss_share
                + cfg.l1_weight * loss_l1
                + cfg.degree_weight * loss_deg
                + cfg.adversarial_weight * loss_adv
                + cfg.landmark_weight * loss_lm
                + cfg.smooth_weight * loss_tv
            )
            opt_g.zero_grad()
            loss_g.backward()
            opt_g.step()
            for schedule in schedules:
                schedule.step()
            last = {
                "share": loss_share.item(),
                "landmarks": loss_lm.item(),
                "l1": loss_l1.item(),
                "degree": loss_deg.item(),
                "adversarial": loss_adv.item(),
                "discriminator": loss_d.item(),
            }
            if step % 10 == 0 or step == steps - 1:
                progress(regressor_steps + step + 1, total, loss_g.item())
        generator.eval()
        self._generator = generator.cpu()
        self._regressor = regressor.cpu()
        # Evenly over the data, and every accepted reconstruction (the newest, up to a quarter).
        keep = np.arange(n)
        if n > cfg.bank_limit:
            chosen = np.flatnonzero(accepted)[-max(1, cfg.bank_limit // 4) :]
            spread = np.linspace(0, n - 1, cfg.bank_limit - len(chosen)).round().astype(int)
            keep = np.union1d(spread, chosen)
        # Kept as they will be stored (JPEG), so a reloaded model generates exactly the same.
        self._bank_jpeg = encode_faces(bank[keep])
        self._bank, self._bank_prints = decode_faces(self._bank_jpeg), fingerprints(self._bank_jpeg)
        self._bank_degrees, self._bank_poses = degrees[keep].astype(np.float32), poses[keep]
        self._bank_looks, self._judge = looks[keep].astype(np.float32), judge
        self._bank_accepted = accepted[keep]
        return {
            "crops": n,
            "occluded": int(occluded.sum()),
            "accepted_pairs": len(positive),
            "device": device.type,
            "seconds": round(time.perf_counter() - started, 1),
            **{f"final_{k}": round(v, 4) for k, v in last.items()},
        }

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

    def achievable(self, analysis, targets=None, rgb=None):
        """A covered mouth keeps its smile and its openness (a smile painted over fingers is an
        invented mouth); covered eyes keep their openness. The part in view can still change."""
        hidden = self._hidden(analysis, rgb)
        return {n: None for part, names in HIDES.items() if part in hidden for n in names}

    def why_limited(self, analysis, targets, rgb=None):
        hidden = self._hidden(analysis, rgb)
        return {
            n: f"{hidden[part]}, so {PART_WORDS[n]} is left as shot"
            for part, names in HIDES.items()
            if part in hidden
            for n in names
            if n in targets
        }

    # --- generation ---------------------------------------------------------------------------

    def _generate(
        self,
        rgb: np.ndarray,
        analysis: Analysis,
        targets: dict[str, float],
        recent: Sequence[RecentFrame] = (),
        report: dict | None = None,
    ) -> np.ndarray:
        face = analysis.main_face
        if face is None:
            return rgb.copy()
        return self.generate_face(rgb, face, targets, recent, report)

    def generate_face(
        self,
        rgb: np.ndarray,
        face: Face,
        targets: dict[str, float],
        recent: Sequence[RecentFrame] = (),
        report: dict | None = None,
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
            part for part, ks in (("mouth", (0, 2)), ("eyes", (1,))) if any(abs(dst[k] - src[k]) > 0.02 for k in ks)
        }
        if asked & set(hidden):
            # Editing under a hand would erase it and paste a mouth where the fingers were.
            raise ModelError(f"{hidden.get('mouth') or hidden['eyes']}, so the expression is left as shot")
        if hidden:
            # Only the part in view is edited; the hand over the rest stays exactly as shot.
            keep = eye_band(face, width, height) if "mouth" in hidden else ~eye_band(face, width, height)
            alpha = alpha * feather(keep, max(3.0, face.box[2] / 14))
            box = alpha_box(alpha)
            if box is None:
                return rgb.copy()
        big, chosen = self.exemplar_face(src, dst, np.array(face_pose(face), np.float32), recent, look.skin_light)
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
        change = to_box(residual[0].permute(1, 2, 0).numpy() * 127.5)
        edited = share * pasted + (1 - share) * moved + change
        a = alpha[box][..., None]
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

    def exemplar(
        self, src: np.ndarray, dst: np.ndarray, pose: np.ndarray, light: float = float("nan")
    ) -> tuple[int, float, list[str]]:
        """The stored face nearest the target degrees (and the source's head pose and light)
        among those that may lend their pixels (``Judge.refusal``, and not a face of an edit the
        user rejected): its index, its gap, and why nearer ones were refused. A face the user
        accepted counts as nearer by ``accepted_preference``. With every face refused, the nearest
        is used (the self-check has the last word)."""
        gap = self._gaps(self._bank_degrees, self._bank_poses, dst, pose, self._bank_looks[:, 3], light)
        if self._bank_accepted is not None and self._bank_accepted.any():
            gap = gap - self.config.accepted_preference * self._bank_accepted
        rejected = self.rejected_faces(src, dst)
        refused = []
        for i in np.argsort(gap):
            why = self._judge.refusal(Appearance.from_array(self._bank_looks[i]), src, dst)
            if why is None and self._bank_prints and self._bank_prints[i] in rejected:
                why = "you rejected a shot whose face came from it, for a similar change"
            if why is None:
                return int(i), float(gap[i]), refused
            if len(refused) < 3:
                refused.append(f"stored face {int(i)}: {why}")
        return int(np.argmin(gap)), float(gap.min()), refused

    def exemplar_face(
        self, src, dst, pose, recent: Sequence[RecentFrame] = (), light: float = float("nan")
    ) -> tuple[np.ndarray, dict]:
        """The exemplar's aligned face at the bank's size, and where it came from. Frames streamed
        in the seconds before the shutter come first (same light, pose, make-up and glasses: the
        moments of FIG. 2) unless their degrees are clearly farther from the target than the
        stored faces'; the stored learning data is the fallback."""
        index, stored_gap, refused = self.exemplar(src, dst, pose, light)
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
                why = self._judge.refusal(appearance(rgb, face), src, dst)
                if why is not None:
                    refused.append(f"frame from {frame.age():.1f} s before: {why}")
                    continue
                crop = self.bank_face(rgb, alignment(face, rgb.shape[1], rgb.shape[0], self.config.crop))
                return crop, {
                    "source": "recent",
                    "seconds_before": round(frame.age(), 2),
                    "gap": round(float(gaps[k]), 3),
                    "degrees": [round(float(v), 3) for v in degrees[k]],
                    "refused": refused,
                }
        return self._bank[index], {
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
        }

    def warm_start(self, previous: ExpressionModel) -> None:
        """Fine-tune from ``previous`` (same config) instead of training from scratch."""
        super().warm_start(previous)
        self._previous = None  # the network carries its weights itself, below
        if previous.config.crop != self.config.crop or previous.config.width != self.config.width:
            return  # a different network: start afresh
        self._warm = {"generator": previous._generator.state_dict(), "regressor": previous._regressor.state_dict()}

    def load_state(self, state: dict) -> None:
        generator, _, regressor = _build_networks(self.config)
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
