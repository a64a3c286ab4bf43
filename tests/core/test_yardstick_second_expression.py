"""The second expression judge: oarriaga's FER2013 network as Human ships it, ported to torch. It
judges real faces as a person would, reads FER2013's classes under face-api's label names, and
agrees with the original TensorFlow.js graph to the fourth decimal.

The face boxes are fixed (x0, y0, x1, y1 pixels): the extent of Flux's MediaPipe landmarks on each
picture, rounded, the same boxes face-api's judge is tested with; fixed so that this yardstick does
not lean on Flux's extractor.
"""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from reconstruction.core.imageio import read_image
from reconstruction.core.yardstick import expression_fer, judge_assets
from reconstruction.core.yardstick.expression import EXPRESSION_LABELS
from tests.conftest import sample_path, video_frames

SMILING_MAN = (191, 177, 373, 399)  # single_face.jpg
GRACE_HOPPER = (171, 133, 355, 335)  # the portrait fixture
CLIP_BOXES = {  # single_face.mp4: neutral at 0, 12 and 71, smiling from 24 to 60
    0: (222, 108, 372, 301),
    12: (217, 104, 367, 294),
    24: (218, 102, 368, 291),
    36: (217, 99, 369, 290),
    48: (217, 96, 369, 287),
    60: (217, 96, 369, 287),
    71: (223, 104, 373, 291),
}
NEUTRAL_FRAMES, SMILING_FRAMES = (0, 12, 71), (24, 36, 48, 60)

# The graph itself (@vladmandic/human 3.3.6's models/emotion.json on tfjs 4.22.0, CPU backend, in
# node), its logits (the softmax's input, in FER2013's order), for inputs any machine makes alike.
RAMP_LOGITS = [-8.80122, 4.48671, 1.77645, -1.67226, 3.85204, 9.70444, 3.16261]
RIPPLE_LOGITS = [-3.97888, -11.05321, 2.15492, -0.20548, 5.10539, -2.90518, -1.59738]
# Human's whole path (tf.image.cropAndResize to 192, /255, resizeBilinear to 64, grey, (g - 0.5) * 2,
# the graph) on the synthetic picture of ``synthetic()``: a crop as it is, and the face box
# (100, 60, 160, 120) whose 1.4-times square (88, 48, 172, 132) runs off the picture's corner.
SYNTHETIC_CROP = (20.5, 10.25, 130.75, 110.5)
SYNTHETIC_CROP_LOGITS = [3.46609, 1.37082, -0.62157, -0.23764, 2.56437, 1.12793, -0.44566]
SYNTHETIC_FACE = (100, 60, 160, 120)
SYNTHETIC_FACE_LOGITS = [2.94445, -2.39324, -0.96113, -1.09141, 2.0281, -1.98335, 0.88342]
# The same path on the photos, given the same decoded pixels: (picture, face box or None for the
# crop as it is, crop, logits).
PHOTO_REFERENCE = [
    ("single_face.jpg", SMILING_MAN, None, [-2.56918, -6.37526, -3.63213, 13.20688, -3.47147, -2.6196, 0.2528]),
    ("single_face.jpg", None, (0, 0, 572, 562), [2.21156, -6.29479, -0.85316, -0.58849, 1.02039, -0.20142, -2.28712]),
    ("portrait", GRACE_HOPPER, None, [1.42446, -12.26059, -0.50738, -1.83657, -0.5407, -1.58435, 2.54188]),
    ("portrait", None, (4, 0, 298, 274), [-0.89502, -9.78787, 3.52409, -8.11976, 6.04547, 5.27368, -2.39222]),
]


def synthetic() -> np.ndarray:
    y, x = np.mgrid[0:120, 0:160]
    return np.stack([(x * 7 + y * 3) % 256, (x * y) % 256, (255 - x - y) % 256], axis=2).astype(np.uint8)


@pytest.fixture(scope="module")
def classifier():
    return expression_fer.get()


@pytest.fixture(scope="module")
def smiling_man():
    return read_image(sample_path("single_face.jpg"))


@pytest.fixture(scope="module")
def clip():
    return video_frames("single_face.mp4", CLIP_BOXES)


def test_the_smiling_photo_is_judged_happy(classifier, smiling_man):
    p = classifier.probabilities(smiling_man, SMILING_MAN)
    assert p["happy"] > 0.5
    assert max(p, key=p.get) == "happy"


def test_grace_hoppers_portrait_is_judged_neutral(classifier, portrait):
    p = classifier.probabilities(portrait, GRACE_HOPPER)
    assert p["neutral"] > 0.5
    assert p["happy"] < 0.2


def test_the_neutral_frames_of_the_clip_are_less_happy_than_its_smiling_frames(classifier, clip):
    happy = {i: classifier.probabilities(clip[i], CLIP_BOXES[i])["happy"] for i in CLIP_BOXES}
    assert max(happy[i] for i in NEUTRAL_FRAMES) < min(happy[i] for i in SMILING_FRAMES)
    assert max(happy[i] for i in NEUTRAL_FRAMES) < 0.2
    assert min(happy[i] for i in SMILING_FRAMES) > 0.8


def test_the_probabilities_of_every_face_sum_to_one(classifier, smiling_man, portrait, clip):
    cases = [(smiling_man, SMILING_MAN), (portrait, GRACE_HOPPER)] + [(clip[i], b) for i, b in CLIP_BOXES.items()]
    cases.append((smiling_man, (0, 0, smiling_man.shape[1], smiling_man.shape[0])))
    cases.append((synthetic(), SYNTHETIC_FACE))
    for p in classifier.probabilities_batch([c[0] for c in cases], [c[1] for c in cases]):
        assert list(p) == list(EXPRESSION_LABELS)
        assert all(0.0 <= v <= 1.0 for v in p.values())
        assert sum(p.values()) == pytest.approx(1.0, abs=1e-5)


def test_fer2013s_classes_are_given_out_under_face_apis_names(classifier):
    i, j = np.mgrid[0:64, 0:64]
    ramp = (((i * 7 + j * 13) % 64) / 32 - 1).astype(np.float32)
    logits = classifier.logits_of_inputs(ramp[None])[0].astype(np.float64)
    softmax = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    probs = dict(zip(EXPRESSION_LABELS, classifier.probabilities_of_inputs(ramp[None])[0]))
    fer = dict(zip(expression_fer.FER_LABELS, softmax))
    assert expression_fer.FER_LABELS == ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    pairs = {"angry": "angry", "disgust": "disgusted", "fear": "fearful", "happy": "happy"}
    pairs.update({"sad": "sad", "surprise": "surprised", "neutral": "neutral"})
    for fer_name, name in pairs.items():
        assert probs[name] == pytest.approx(fer[fer_name], abs=1e-6), name


def test_the_port_gives_the_graphs_own_logits(classifier):
    i, j = np.mgrid[0:64, 0:64]
    ramp = (((i * 7 + j * 13) % 64) / 32 - 1).astype(np.float32)
    radius = (np.hypot(i - 30, j - 34) / 4).astype(np.float32).astype(np.float64)
    ripple = np.cos(radius).astype(np.float32)
    logits = classifier.logits_of_inputs(np.stack([ramp, ripple]))
    # Measured gap 5e-6 (float32 sums in another order).
    assert np.abs(logits[0] - RAMP_LOGITS).max() < 1e-4
    assert np.abs(logits[1] - RIPPLE_LOGITS).max() < 1e-4


def test_the_port_prepares_a_picture_as_human_does(classifier):
    image = synthetic()
    inputs = np.stack(
        [
            expression_fer.crop_input(image, SYNTHETIC_CROP),
            expression_fer.face_input(image, SYNTHETIC_FACE),
        ]
    )
    logits = classifier.logits_of_inputs(inputs)
    assert np.abs(logits[0] - SYNTHETIC_CROP_LOGITS).max() < 1e-4
    assert np.abs(logits[1] - SYNTHETIC_FACE_LOGITS).max() < 1e-4


def test_the_port_gives_humans_own_logits_on_real_photos(classifier, smiling_man, portrait):
    images = {"single_face.jpg": smiling_man, "portrait": portrait}
    for name, box, crop, reference in PHOTO_REFERENCE:
        image = images[name]
        x = expression_fer.face_input(image, box) if box else expression_fer.crop_input(image, crop)
        logits = classifier.logits_of_inputs(x[None])[0]
        # Measured gap 1e-5; the margin allows for another libjpeg decoding the photo a shade apart
        # (every pixel moved by up to 1 moves these logits by up to 0.15).
        assert np.abs(logits - reference).max() < 0.05, (name, box, crop, logits)


def test_a_batch_gives_the_same_probabilities_as_one_face_at_a_time(classifier, clip):
    frames = [clip[i] for i in CLIP_BOXES]
    boxes = list(CLIP_BOXES.values())
    batch = classifier.probabilities_batch(frames, boxes)
    for frame, box, p in zip(frames, boxes, batch):
        single = classifier.probabilities(frame, box)
        assert [p[k] for k in EXPRESSION_LABELS] == pytest.approx([single[k] for k in EXPRESSION_LABELS], abs=1e-6)


def test_several_boxes_in_one_picture_need_the_picture_only_once(classifier, smiling_man):
    boxes = [SMILING_MAN, (0, 0, 572, 562)]
    assert classifier.probabilities_batch(smiling_man, boxes) == classifier.probabilities_batch(
        [smiling_man] * 2, boxes
    )
    assert classifier.probabilities_batch(smiling_man, []) == []


def test_a_box_wholly_outside_the_picture_is_refused(classifier, smiling_man):
    with pytest.raises(ValueError):
        classifier.probabilities(smiling_man, (600, 600, 700, 700))
    with pytest.raises(ValueError):
        classifier.probabilities(smiling_man, (300, 300, 300, 350))  # empty


def test_the_crop_is_humans_square_one_and_four_tenths_the_faces_longer_side():
    assert expression_fer.crop_box(SMILING_MAN) == pytest.approx((126.6, 132.6, 437.4, 443.4))
    assert expression_fer.crop_box(SYNTHETIC_FACE) == pytest.approx((88, 48, 172, 132))


def test_the_crop_is_resampled_as_tensorflows_crop_and_resize_with_black_outside():
    image = np.zeros((5, 5, 3), np.uint8)
    image[:, :, 0] = np.arange(5) * 10  # red grows with x
    image[:, :, 1] = (np.arange(5) * 20)[:, None]  # green grows with y
    # Normalised box [0, 0, 1, 1.5] * (n - 1): samples x at 0, 2, 4 (inside), 6 (outside, black).
    out = expression_fer.crop_and_resize(image, (0, 0, 7.5, 5), size=4)
    assert out[0, :, 0].tolist() == [0, 20, 40, 0]
    assert out[:, 0, 1].tolist() == [0, pytest.approx(80 / 3, abs=1e-4), pytest.approx(160 / 3, abs=1e-4), 80]


def test_the_shipped_weights_fill_every_layer_of_the_network():
    paths = expression_fer.ensure_assets()
    weights = expression_fer.read_weights(paths["emotion.json"])
    net = expression_fer.build_network(weights)
    reduction = weights.pop(expression_fer._REDUCTION)  # the global average's axes, not a weight
    assert reduction.tolist() == [1, 2]
    assert sum(p.numel() for p in net.parameters()) == sum(w.size for w in weights.values())


def test_make_models_fetches_the_second_judge():
    names = {a.name for a in judge_assets()}
    assert {a.name for a in expression_fer.FER_ASSETS} <= names
    assert all(a.registry == "npm" and a.package == "@vladmandic/human@3.3.6" for a in expression_fer.FER_ASSETS)


def test_importing_the_module_loads_neither_torch_nor_django():
    code = "import sys, reconstruction.core.yardstick.expression_fer\nprint(sorted(m for m in ('torch', 'django') if m in sys.modules))"
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
