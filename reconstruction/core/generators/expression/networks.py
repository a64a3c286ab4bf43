"""The expression model's networks: a U-Net generator conditioned on degrees (FiLM), a PatchGAN
discriminator and a small degree regressor. Imported only when a model is trained or loaded (it
imports torch); a checkpoint holds their ``state_dict``s."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .config import ExpressionConfig


def warp(x, flow):
    """``x`` sampled along a backward ``flow`` (B, 2, H, W, in grid_sample's units)."""
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
    def __init__(self, cfg: ExpressionConfig):
        super().__init__()
        w = cfg.width
        self.max_flow = cfg.max_flow
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
        flow, flow_ex = torch.tanh(heads[:, :4]).mul(self.max_flow).split(2, dim=1)
        d1 = f[4](self.d1(self.up(d2)), cond)
        return flow, flow_ex, torch.sigmoid(heads[:, 4:]), torch.tanh(self.out(d1))


class Discriminator(nn.Module):
    def __init__(self, cfg: ExpressionConfig):
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
    def __init__(self, cfg: ExpressionConfig):
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


def build(cfg: ExpressionConfig) -> tuple[Generator, Discriminator, Regressor]:
    """The three networks, in this order (their initialisation draws on torch's seed in turn)."""
    return Generator(cfg), Discriminator(cfg), Regressor(cfg)


def device_for(cfg: ExpressionConfig) -> torch.device:
    if cfg.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(cfg.device)
