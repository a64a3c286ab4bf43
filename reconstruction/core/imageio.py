"""Decoding frames and reading photos and videos into RGB arrays (no Django)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import simplejpeg

# What the commands take as photos and videos (OpenCV reads every one of them).
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}
VIDEO_SUFFIXES = {".mp4", ".mov", ".webm", ".m4v", ".avi", ".mkv", ".y4m"}


class FrameError(ValueError):
    """A frame that cannot be used; the message is meant for the user, the code for programs."""

    def __init__(self, message: str, code: str = "corrupt_frame"):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class FrameLimits:
    max_bytes: int = 2 * 1024 * 1024  # a JPEG above this is refused before decoding
    max_width: int = 1920  # decoded frames above 1920×1080 (either orientation) are refused
    max_height: int = 1080


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a JPEG's SOF header, without decoding the pixels."""
    if len(data) < 4 or data[0] != 0xFF or data[1] != 0xD8:
        return None
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        seg_len = int.from_bytes(data[i + 2 : i + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            h = int.from_bytes(data[i + 5 : i + 7], "big")
            w = int.from_bytes(data[i + 7 : i + 9], "big")
            return w, h
        i += 2 + seg_len
    return None


def decode_jpeg(data: bytes, limits: FrameLimits = FrameLimits()) -> np.ndarray:
    """RGB array from JPEG bytes, or ``FrameError`` saying what is wrong with them."""
    if len(data) > limits.max_bytes:
        raise FrameError(f"frame is {len(data)} bytes; the limit is {limits.max_bytes} bytes", "frame_too_large")
    size = jpeg_size(data)
    if size is None:
        raise FrameError("frame is not a JPEG image")
    w, h = size
    if max(w, h) > max(limits.max_width, limits.max_height) or min(w, h) > min(limits.max_width, limits.max_height):
        raise FrameError(f"frame is {w}×{h}; the limit is {limits.max_width}×{limits.max_height}", "frame_too_large")
    # Strict: libjpeg's warnings (scrambled scan data, data that ends before the size the header
    # claims) are errors, so a damaged frame is refused instead of analysed as grey blocks.
    try:
        rgb = simplejpeg.decode_jpeg(data, colorspace="RGB", strict=True)
    except ValueError as exc:
        raise FrameError(f"frame is a corrupt JPEG ({str(exc)[:80]})") from None
    if rgb.shape[0] != h or rgb.shape[1] != w:
        raise FrameError("frame is a corrupt JPEG and could not be decoded")
    return rgb


GLANCE = (80, 60)  # a frame seen at this size (grey, area-averaged) to tell whether anything moved
# A still scene's sensor noise (σ 3 levels) after JPEG moved no cell of the glance by more than 2
# grey levels; frames of talking-head footage 100 ms apart moved some by more than 8 (franck,
# zzhang_vlog, carphone: 0 of 260 pairs within 8).
STILL_LEVELS = 4


def glance(rgb: np.ndarray) -> np.ndarray:
    """The frame in GLANCE grey cells (uint8): what ``still`` compares."""
    return cv2.resize(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), GLANCE, interpolation=cv2.INTER_AREA)


def still(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    """Whether two glances show the same scene: no cell moved beyond noise."""
    if a is None or b is None or a.shape != b.shape:
        return False
    return int(np.abs(a.astype(np.int16) - b).max()) <= STILL_LEVELS


def encode_jpeg(rgb: np.ndarray, quality: int = 90) -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise FrameError("could not encode the image as JPEG")
    return buf.tobytes()


def read_image(path: str | Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FrameError(f"{path}: not a readable image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def iter_video(path: str | Path, every: int = 1) -> Iterator[tuple[int, int, np.ndarray]]:
    """(frame index, timestamp in ms, RGB frame) for every ``every``-th frame of a video."""
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise FrameError(f"{path}: not a readable video")
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    index = 0
    try:
        while True:
            if index % every:
                if not cap.grab():
                    break
            else:
                ok, bgr = cap.read()
                if not ok:
                    break
                yield index, int(index * 1000 / fps), cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            index += 1
    finally:
        cap.release()


def fit_within(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """Downscale (never upscale) to fit inside width×height, keeping the aspect ratio."""
    h, w = rgb.shape[:2]
    scale = min(width / w, height / h, 1.0)
    if scale >= 1.0:
        return rgb
    return cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def side_by_side(images: list[np.ndarray | None], columns: int, tile: tuple[int, int] = (320, 240)) -> np.ndarray:
    """Several frames in one, ``columns`` to a row, each cut to ``tile`` (width, height) around
    its centre after scaling to the tile's height; None leaves its tile an even grey (a person
    out of the frame). How the project makes a group stream from real one-person clips: no
    registry package ships a video of a group (stated wherever it is used)."""
    tw, th = tile
    tiles = []
    for image in images:
        if image is None:
            tiles.append(np.full((th, tw, 3), 118, np.uint8))
            continue
        h, w = image.shape[:2]
        scaled = cv2.resize(image, (max(1, round(w * th / h)), th), interpolation=cv2.INTER_AREA)
        x = (scaled.shape[1] - tw) // 2
        if x >= 0:
            tiles.append(np.ascontiguousarray(scaled[:, x : x + tw]))
        else:
            pad = np.full((th, tw, 3), 118, np.uint8)
            pad[:, -x : -x + scaled.shape[1]] = scaled
            tiles.append(pad)
    while len(tiles) % columns:
        tiles.append(np.full((th, tw, 3), 118, np.uint8))
    rows = [np.hstack(tiles[i : i + columns]) for i in range(0, len(tiles), columns)]
    return np.vstack(rows)
