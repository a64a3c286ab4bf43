"""face-api.js's expression network, ported to torch, judges real faces as a person would, and
agrees with the original JavaScript to the fourth decimal.

The face boxes are fixed (x0, y0, x1, y1 pixels): the extent of Flux's MediaPipe landmarks on each
picture, rounded, and within a few pixels of face-api's own SSD detector box; fixed so that this
yardstick does not lean on Flux's extractor.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from reconstruction.core.imageio import read_image
from reconstruction.core.yardstick import expression
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

# face-api.js itself (@vladmandic/face-api 1.7.15 on tfjs 4.22.0, CPU backend, in node), given the
# same decoded pixels and box through faceapi.extractFaceTensors and predictExpressions. Loose or
# whole-picture boxes, so that no probability is saturated at 0 or 1.
REFERENCE = [
    (
        "single_face.jpg",
        (0, 0, 572, 562),
        [0.0322734, 0.0617602, 0.3409096, 0.0662327, 0.2575577, 0.0009161, 0.2403503],
    ),
    (
        "single_face.jpg",
        (27, 0, 318, 332),
        [0.3610930, 0.2818915, 0.0019991, 0.3516136, 0.0001015, 0.0008371, 0.0024642],
    ),
    ("portrait", (4, 0, 298, 274), [0.4834184, 0.1086555, 0.2160089, 0.1649433, 0.0002158, 0.0003532, 0.0264049]),
]


@pytest.fixture(scope="module")
def classifier():
    return expression.get()


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
    for p in classifier.probabilities_batch([c[0] for c in cases], [c[1] for c in cases]):
        assert list(p) == list(EXPRESSION_LABELS)
        assert all(0.0 <= v <= 1.0 for v in p.values())
        assert sum(p.values()) == pytest.approx(1.0, abs=1e-5)


def test_the_port_gives_face_api_js_own_probabilities(classifier, smiling_man, portrait):
    images = {"single_face.jpg": smiling_man, "portrait": portrait}
    for name, box, reference in REFERENCE:
        p = classifier.probabilities(images[name], box)
        # Measured gap 1e-6; the margin allows for another libjpeg decoding the photo a shade apart.
        assert np.abs(np.array([p[k] for k in EXPRESSION_LABELS]) - reference).max() < 2e-3, (name, box, p)


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


def test_a_box_running_off_the_picture_is_clipped_and_floored_as_face_api_does():
    assert expression.clip_box((-10.5, 5.7, 50.2, 300.0), 40, 100) == (0, 5, 40, 94)
    assert expression.clip_box((3.9, 2.2, 20.8, 30.1), 640, 480) == (3, 2, 16, 27)


def test_a_box_wholly_outside_the_picture_is_refused(classifier, smiling_man):
    with pytest.raises(ValueError):
        classifier.probabilities(smiling_man, (600, 600, 700, 700))


def test_a_face_is_padded_to_a_square_with_black_and_the_odd_pixel_after():
    crop = np.full((3, 6, 3), 200, np.float32)  # 3 rows short: 1 row before, round(1.5) = 2 after
    square = expression.pad_to_square(crop)
    assert square.shape == (6, 6, 3)
    assert square[:, :, 0].tolist() == [[0] * 6] + [[200] * 6] * 3 + [[0] * 6] * 2
    tall = expression.pad_to_square(np.ones((4, 2, 3), np.float32))  # 2 columns short: 1 each side
    assert tall[0, :, 0].tolist() == [0, 1, 1, 0]


def test_the_resize_is_tensorflows_legacy_bilinear_without_half_pixel_centres():
    img = np.arange(16, dtype=np.float32).reshape(4, 4, 1).repeat(3, axis=2)
    assert expression.resize_bilinear(img, 2)[:, :, 0].tolist() == [[0, 2], [8, 10]]  # samples i * 4 / 2
    up = expression.resize_bilinear(np.array([[[0.0] * 3, [8.0] * 3]], np.float32), 4)
    assert up[0, :, 0].tolist() == [0, 4, 8, 8]  # i * 2 / 4, the last edge pixel repeated


def test_quantised_weights_are_read_as_tfjs_reads_them(tmp_path):
    manifest = [
        {
            "paths": ["w.bin"],
            "weights": [
                {
                    "name": "q",
                    "shape": [2, 2],
                    "dtype": "float32",
                    "quantization": {"dtype": "uint8", "scale": 0.5, "min": -1.0},
                },
                {"name": "f", "shape": [3], "dtype": "float32"},
            ],
        }
    ]
    (tmp_path / "m.json").write_text(json.dumps(manifest))
    (tmp_path / "w.bin").write_bytes(bytes([0, 1, 2, 255]) + np.array([1.5, -2.0, 3.25], "<f4").tobytes())
    weights = expression.read_weights(tmp_path / "m.json")
    assert weights["q"].tolist() == [[-1.0, -0.5], [0.0, 126.5]]
    assert weights["f"].tolist() == [1.5, -2.0, 3.25]
    assert weights["q"].dtype == weights["f"].dtype == np.float32


def test_the_shipped_weights_fill_every_layer_of_the_network():
    paths = expression.ensure_assets()
    weights = expression.read_weights(paths["face_expression_model-weights_manifest.json"])
    assert set(weights) == set(expression._TF_NAMES)
    net = expression.build_network(weights)
    assert sum(p.numel() for p in net.parameters()) == sum(w.size for w in weights.values())


def test_importing_the_module_loads_neither_torch_nor_django():
    code = "import sys, reconstruction.core.yardstick.expression\nprint(sorted(m for m in ('torch', 'django') if m in sys.modules))"
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
