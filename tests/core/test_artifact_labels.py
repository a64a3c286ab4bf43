"""The labels of bench/artifact_labels.json outlive the machine that made their photos: each
session makes the photos again, and training on another CPU rounds otherwise, so a label is matched
to a photo by the face's look, not only its bytes. Rounding must keep the label; another face, a
patch or a seam must not."""

import importlib.util
from pathlib import Path

import cv2
import numpy as np

from reconstruction.core.imageio import read_image
from tests.conftest import sample_path

ROOT = Path(__file__).resolve().parents[2]


def bench():
    spec = importlib.util.spec_from_file_location("artifact_bench", ROOT / "bench" / "artifact_bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def face_photo():
    rgb = read_image(sample_path("obama.jpg"))
    h, w = rgb.shape[:2]
    return rgb, (w * 0.3, h * 0.2, w * 0.4, h * 0.45)


def test_a_photo_made_again_with_other_rounding_keeps_its_label():
    b = bench()
    rgb, box = face_photo()
    noise = np.random.default_rng(0).integers(-2, 3, rgb.shape)
    rounded = np.clip(rgb.astype(int) + noise, 0, 255).astype(np.uint8)
    assert b.same_look(b.look(rgb, box), b.look(rounded, box))


def test_a_photo_with_a_patch_or_a_seam_is_not_the_labelled_one():
    b = bench()
    rgb, box = face_photo()
    x, y, w, h = (int(v) for v in box)
    patched = rgb.copy()
    cv2.circle(patched, (x + w // 3, y + h // 2), w // 6, (120, 120, 120), -1)
    seam = rgb.copy()
    seam[y + h // 4 :, x : x + w] = np.clip(seam[y + h // 4 :, x : x + w].astype(int) - 12, 0, 255).astype(np.uint8)
    labelled = b.look(rgb, box)
    assert not b.same_look(labelled, b.look(patched, box))
    assert not b.same_look(labelled, b.look(seam, box))
