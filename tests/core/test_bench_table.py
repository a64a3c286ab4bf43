"""`make bench` ends with one table: each figure the parts measured in this run beside its goal
and the floor or baseline measured with it; a part not run since the bench started is named."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import table  # noqa: E402


def test_each_figure_stands_beside_its_goal_and_its_floor_from_the_same_run():
    live = {
        "analysis": {"frame_to_degrees_ms": {"median": 14.2}, "landmarker_alone_ms": {"median": 10.1}},
        "processes": {
            "streams": 16,
            "1": {"fps_per_stream": {"min": 5.7}, "rtt_ms": {"p95": 247}, "server_dropped": 0},
        },
        "beyond_capacity": {
            "streams": 32,
            "fairness_min_over_mean": 0.8,
            "fps_per_stream": {"mean": 2.9},
            "errors": {},
        },
    }
    shutter = {
        "shutter": {
            "signing": {"sign_ms": {"median": 2.9}, "bytes_added": {"median": 4000, "photo_bytes": 34044}},
            "while_training": {
                "default": {"nice": 10, "reconstruction_ms": {"p95": 420}},
                "baseline": {"reconstruction_ms": {"p95": 900}},
            },
        }
    }
    got = {r[0]: r for r in table.rows(live, None, shutter, None)}
    e2e = got["frame in -> degrees out, 1 core, median"]
    assert e2e[1:4] == ("14.2 ms", "<= 6 ms", False) and e2e[4] == "landmarker alone 10.1 ms"
    assert got["16 streams at 10 fps: slowest stream"][3] is False
    assert got["16 streams: frames dropped by the server"][3] is True
    assert got["32 streams (beyond capacity): slowest over mean"][3] is True
    training = got["shutter while a run trains: recorded p95"]
    assert training[3] is True and training[4] == "training at nice 0, no pauses: 900.0 ms"
    signing = got["Content Credentials: signing a recorded photo, median"]
    assert signing[1] == "2.9 ms" and signing[3] is True and signing[4] == "+4000 bytes on 34044"


def test_a_part_not_run_since_the_bench_started_is_not_shown_as_measured(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(table, "OUT", tmp_path)
    monkeypatch.setattr(table, "FIDELITY", tmp_path / "none.json")
    table.save("live", {"analysis": {"frame_to_degrees_ms": {"median": 9.0}}})
    old = tmp_path / "models.json"
    old.write_text('{"models": {"expression_300_frames": {"total_s": 50}}}')
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    (tmp_path / ".started").touch()
    os.utime(tmp_path / ".started", (time.time() - 60, time.time() - 60))
    table.main()
    printed = capsys.readouterr().out
    assert "frame in -> degrees out" in printed and "expression training" not in printed
    assert "not measured in this run: models, shutter, fidelity" in printed


def test_the_group_part_says_swaps_artifacts_help_and_time_against_their_goals():
    group = {
        "identity_swapped": 0,
        "artifacts": 1,
        "faces_that_took_something": 10,
        "faces_missing_something": 25,
        "eyes_open_before_pct": 71.9,
        "eyes_open_after_pct": 75.0,
        "recorded_ms_four_faces": {"median": 958.0, "p95": 1713.0},
    }
    got = {r[0]: r for r in table.group_rows(group)}
    assert got["group: faces swapped with another person"][3] is True
    assert got["group: visible artifacts (the check)"][3] is False
    assert got["group: shutter -> recorded, four faces, p95"][1:4] == ("1713.0 ms", "<= 500 ms", False)
    assert table.group_rows(None) == []
