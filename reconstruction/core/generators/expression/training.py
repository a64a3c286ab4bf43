"""Training the expression model: pairs of the user's own frames, the losses, the loop. Imported
only when a model is trained (it imports torch)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from ...exemplars import Appearance, Judge
from ...ranges import Progress, Sample
from .faces import EYE_LINE, EYELIDS, MOUTH_LINE, decode_faces, encode_faces, fingerprints
from .networks import build, device_for

if TYPE_CHECKING:
    from .model import ExpressionModel


def fit(model: ExpressionModel, samples: Sequence[Sample], progress: Progress) -> dict:
    """Train ``model`` on the user's ``samples`` (from its previous version's weights when it was
    warm-started) and keep its exemplar bank; returns the run's figures."""
    cfg = model.config
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    device = device_for(cfg)
    images, degrees, poses, marks, bank, looks, accepted, verdicts = model.crops(samples)
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
    eyes_y, mouth_y = int(EYE_LINE * size), int(MOUTH_LINE * size)
    # Where each element lives on the canonical crop (smile: the mouth with its corners and cheeks).
    regions = torch.zeros(1, 3, size, size, device=device)
    regions[:, 0, mouth_y - size // 5 : mouth_y + size // 8, size // 8 : size - size // 8] = 1
    regions[:, 1, eyes_y - size // 10 : eyes_y + size // 10, size // 6 : size - size // 6] = 1
    regions[:, 2, mouth_y - size // 8 : mouth_y + size // 8, size // 4 : size - size // 4] = 1
    weight = 1 + cfg.feature_weight / 2 * regions[:, 1:2] + cfg.feature_weight * regions[:, 2:3]
    weight = weight / weight.mean()
    generator, discriminator, regressor = (net.to(device) for net in build(cfg))
    regressor_steps, steps = cfg.regressor_steps, cfg.steps
    if model._warm is not None:
        # Fine-tuning: start from the previous version's generator and regressor.
        generator.load_state_dict(model._warm["generator"])
        regressor.load_state_dict(model._warm["regressor"])
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
        # Every step: the caller throttles what it writes, and gives way to a shot between steps.
        progress(step, total, loss.item())
    regressor.eval()
    for p in regressor.parameters():
        p.requires_grad_(False)

    opt_g = torch.optim.Adam(generator.parameters(), lr=cfg.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=cfg.lr_d, betas=(0.5, 0.999))
    last = {}
    schedules = (
        [torch.optim.lr_scheduler.CosineAnnealingLR(o, max(1, steps)) for o in (opt_g, opt_d)] if cfg.lr_decay else []
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
        progress(regressor_steps + step + 1, total, loss_g.item())
    generator.eval()
    model._generator = generator.cpu()
    model._regressor = regressor.cpu()
    # Evenly over the data, and every accepted reconstruction (the newest, up to a quarter).
    keep = np.arange(n)
    if n > cfg.bank_limit:
        chosen = np.flatnonzero(accepted)[-max(1, cfg.bank_limit // 4) :]
        spread = np.linspace(0, n - 1, cfg.bank_limit - len(chosen)).round().astype(int)
        keep = np.union1d(spread, chosen)
    # Kept as they will be stored (JPEG), so a reloaded model generates exactly the same.
    model._bank_jpeg = encode_faces(bank[keep])
    model._bank, model._bank_prints = decode_faces(model._bank_jpeg), fingerprints(model._bank_jpeg)
    model._bank_degrees, model._bank_poses = degrees[keep].astype(np.float32), poses[keep]
    model._bank_looks, model._judge = looks[keep].astype(np.float32), judge
    model._bank_accepted = accepted[keep]
    return {
        "crops": n,
        "occluded": int(occluded.sum()),
        "accepted_pairs": len(positive),
        "device": device.type,
        "seconds": round(time.perf_counter() - started, 1),
        **{f"final_{k}": round(v, 4) for k, v in last.items()},
    }
