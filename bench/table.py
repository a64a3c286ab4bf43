#!/usr/bin/env python
"""`make bench` ends here: one table of every figure the parts measured in this run, its goal, and
the floor or baseline it is measured against in the same run (the landmarker alone on the same
frames; one web process where several were tried; the training at full priority; the unchanged
image). Each part saves its figures with ``save`` (test-artifacts/bench/<part>.json); a part
not run since `make bench` started (test-artifacts/bench/.started) shows as "not measured".
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "test-artifacts" / "bench"
FIDELITY = ROOT / "test-artifacts" / "fidelity" / "figures.json"


def save(part: str, figures: dict) -> Path:
    """Keep a part's figures for the table (and for anyone reading the artifacts)."""
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{part}.json"
    path.write_text(json.dumps({"measured_at": time.time(), **figures}, default=str))
    return path


def _load(path: Path, since: float) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    stamp = data.get("measured_at", path.stat().st_mtime)
    return data if stamp >= since else None


def _get(data, *keys):
    for k in keys:
        if not isinstance(data, dict) or k not in data:
            return None
        data = data[k]
    return data


def _ms(x) -> str:
    return "—" if x is None else f"{x:.1f} ms"


def rows(live: dict | None, models: dict | None, shutter: dict | None, fidelity: dict | None) -> list[tuple]:
    """(figure, this run, goal, met, floor or baseline in the same run)."""
    out: list[tuple] = []

    def add(figure, value, goal, met, floor=""):
        out.append((figure, value, goal, met, floor))

    def bound(figure, value, limit, unit, floor="", at_least=False):
        """A figure with a one-sided goal: at most (or at least) ``limit`` ``unit``."""
        shown = "—" if value is None else _ms(value) if unit == "ms" else f"{value} {unit}".strip()
        met = value is not None and (value >= limit if at_least else value <= limit)
        add(figure, shown, f"{'>=' if at_least else '<='} {limit:g} {unit}".strip(), met, floor)

    if live:
        a = live.get("analysis", {})
        floor = _get(a, "landmarker_alone_ms", "median")
        bound(
            "frame in -> degrees out, 1 core, median",
            _get(a, "frame_to_degrees_ms", "median"),
            6,
            "ms",
            f"landmarker alone {_ms(floor)}",
        )
        one = _get(live, "server", "one_stream")
        if one:
            bound("1 stream at 10 fps: round trip p95", _get(one, "rtt_ms", "p95"), 60, "ms")
        procs = live.get("processes", {})
        single = procs.get("1")
        several = [k for k in procs if k.isdigit() and k != "1"]
        if single:
            streams = procs.get("streams")
            slowest = _get(single, "fps_per_stream", "min")
            bound(f"{streams} streams at 10 fps: slowest stream", slowest, 9.5, "fps", at_least=True)
            bound(f"{streams} streams: round trip p95", _get(single, "rtt_ms", "p95"), 100, "ms")
            add(
                f"{procs.get('streams')} streams: frames dropped by the server",
                str(single.get("server_dropped")),
                "0",
                single.get("server_dropped") == 0,
            )
        for k in several:
            r = procs[k]
            add(
                f"{procs.get('streams')} streams, {k} web processes on Redis: frames answered a second",
                str(r.get("answered_per_s")),
                "more than 1 process",
                single is not None and (r.get("answered_per_s") or 0) > (single.get("answered_per_s") or 0),
                f"1 process {single.get('answered_per_s') if single else '—'}",
            )
        beyond = live.get("beyond_capacity")
        if beyond:
            bound(
                f"{beyond.get('streams')} streams (beyond capacity): slowest over mean",
                beyond.get("fairness_min_over_mean"),
                0.5,
                "",
                f"mean {_get(beyond, 'fps_per_stream', 'mean')} fps",
                at_least=True,
            )
            add(
                f"{beyond.get('streams')} streams: errors, failed streams",
                f"{sum((beyond.get('errors') or {}).values())}, {len(beyond.get('failures') or [])}",
                "0, 0",
                not beyond.get("errors") and not beyond.get("failures"),
                f"round trip max {_ms(_get(beyond, 'rtt_ms', 'max'))}",
            )
    if shutter:
        s = shutter.get("shutter", shutter)
        for mode in (1, 2, 3):
            m = s.get(f"mode_{mode}")
            if not m:
                continue
            bound(f"shutter mode {mode}: first preview p95", _get(m, "first_preview_ms", "p95"), 250, "ms")
            bound(f"shutter mode {mode}: recorded p95", _get(m, "reconstruction_ms", "p95"), 500, "ms")
        signing = s.get("signing") or {}
        if signing:
            add(
                "Content Credentials: signing a recorded photo, median",
                _ms(_get(signing, "sign_ms", "median")),
                "a few ms",
                (_get(signing, "sign_ms", "median") or 1e9) <= 10,
                f"+{_get(signing, 'bytes_added', 'median')} bytes on {_get(signing, 'bytes_added', 'photo_bytes')}",
            )
        training = s.get("while_training") or {}
        quiet = training.get("default")
        loud = training.get("baseline")
        if quiet:
            bound(
                "shutter while a run trains: recorded p95",
                _get(quiet, "reconstruction_ms", "p95"),
                500,
                "ms",
                f"training at nice 0, no pauses: {_ms(_get(loud, 'reconstruction_ms', 'p95'))}" if loud else "",
            )
    if models:
        m = models.get("models", models)
        bound(
            "expression training, 300 frames, the worker's threads",
            _get(m, "expression_300_frames", "total_s"),
            60,
            "s",
        )
        bound(
            "expression fine-tune after a verdict",
            _get(m, "fine_tune_after_one_verdict", "expression", "seconds"),
            15,
            "s",
        )
    if fidelity:
        for intention in ("portrait", "fun"):
            flux = _get(fidelity, "overall", intention, "flux") or {}
            unchanged = _get(fidelity, "overall", intention, "unchanged") or {}
            for key, label in (
                ("improved", "improved where the person shows the feeling"),
                ("visible_artifacts", "visible artifacts"),
                ("new_unhappy_or_shocked", "new unhappy or shocked"),
                ("same_person", "same person"),
            ):
                fig = flux.get(key) or {}
                if "value" not in fig:
                    continue
                base = (unchanged.get(key) or {}).get("value")
                add(
                    f"fidelity, {intention}: {label}",
                    f"{fig['value']}",
                    fig.get("goal", ""),
                    fig.get("met"),
                    "" if base is None else f"unchanged image {base}",
                )
    return out


def group_rows(group: dict | None) -> list[tuple]:
    """Part 5 (bench/group_bench.py): each person's best take on four real clips side by side."""
    if group is None:
        return []
    four = group["recorded_ms_four_faces"]
    return [
        (
            "group: faces swapped with another person",
            str(group["identity_swapped"]),
            "0",
            group["identity_swapped"] == 0,
            "",
        ),
        ("group: visible artifacts (the check)", str(group["artifacts"]), "0", group["artifacts"] == 0, ""),
        (
            "group: faces that took a part of their own",
            f"{group['faces_that_took_something']} of {group['faces_missing_something']}",
            "(how often it helped)",
            None,
            f"eyes open {group['eyes_open_before_pct']} -> {group['eyes_open_after_pct']} % (dlib)",
        ),
        (
            "group: shutter -> recorded, four faces, p95",
            f"{four['p95']} ms",
            "<= 500 ms",
            four["p95"] is not None and four["p95"] <= 500,
            f"median {four['median']} ms",
        ),
    ]


def main() -> int:
    started_file = OUT / ".started"
    since = started_file.stat().st_mtime if started_file.exists() else 0.0
    parts = {name: _load(OUT / f"{name}.json", since) for name in ("live", "models", "shutter")}
    fidelity = _load(FIDELITY, since) if FIDELITY.exists() else None
    table = rows(parts["live"], parts["models"], parts["shutter"], fidelity)
    group = _load(OUT / "group.json", since)
    table += group_rows(group)
    missing = [n for n, d in {**parts, "fidelity": fidelity, "group": group}.items() if d is None]
    print(f"\nOne table ({time.strftime('%Y-%m-%d %H:%M')}, this machine, this run)")
    width = max([len(r[0]) for r in table] + [20])
    print(f"  {'figure':<{width}}  {'this run':>14}  {'goal':>20}  {'':6}  floor or baseline (same run)")
    for figure, value, goal, met, floor in table:
        mark = "met" if met else "NOT met" if met is not None else ""
        print(f"  {figure:<{width}}  {value:>14}  {goal:>20}  {mark:6}  {floor}")
    if missing:
        print(f"  not measured in this run: {', '.join(missing)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
