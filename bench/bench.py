#!/usr/bin/env python
"""Flux benchmark: `make bench` (runs `.venv/bin/python bench/bench.py` from the repo root).

1. Analysis cost on one core, measured in a child process pinned to a single CPU before MediaPipe
   is imported: ~300 frames of the real sample ``franck.mp4`` (every 4th frame) resized to
   640x480 RGB, analysed (a) in full (segmenter every frame), (b) in live mode as
   ``capture.live.LiveStream`` does it (segmenter every FLUX_SEGMENT_EVERY-th frame, the previous
   person mask reused otherwise), (c) JPEG decode of the 640x480 frame, and (d) frame in ->
   degrees out (decode + live analysis + JSON), the figure held against the 10 ms budget.
2. WebSocket round trips through the real server (`manage.py serve`, daphne) on a throw-away
   var dir and SQLite database: one stream for ~15 s, then 8 simultaneous streams for ~20 s,
   each at most 10 fps with one frame in flight; round trip = send -> ``degrees`` received.
   The server's memory (RSS of the process tree) is sampled throughout.
2b. Sixteen streams of four users at 10 fps for ~15 s against one web process (embedded), then
   against one web process per core with Redis between them (`serve --processes N`), where a
   Redis answers (REDIS_URL, or the local one): frames answered per second in all and per stream.

Prints readable lines, a summary table, and a final line holding every figure as JSON.
Options: --quick (shorter runs), --keep (keep the temporary server dir and log).
"""

from __future__ import annotations

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHILD_FLAG = "--analysis-child"
THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "TFLITE_NUM_THREADS": "1",
    "OPENCV_FOR_THREADS_NUM": "1",
}

if __name__ == "__main__" and CHILD_FLAG in sys.argv:
    # Pin before anything heavy is imported, so every thread MediaPipe/OpenCV start inherits it.
    _allowed = os.sched_getaffinity(0)
    _cpu = 0 if 0 in _allowed else min(_allowed)
    os.sched_setaffinity(0, {_cpu})
    for _k, _v in THREAD_ENV.items():
        os.environ.setdefault(_k, _v)

import asyncio  # noqa: E402
import atexit  # noqa: E402
import http.cookiejar  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import sqlite3  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import urllib.parse  # noqa: E402
import urllib.request  # noqa: E402

if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

PY = sys.executable
WIDTH, HEIGHT = 640, 480
N_FRAMES = 300
FRAME_STEP = 4
JPEG_QUALITY = 75
BUDGET_MS = 10.0
SEGMENT_EVERY = int(os.environ.get("FLUX_SEGMENT_EVERY", "3") or 3)  # the server's default
SEND_INTERVAL_S = 0.1  # 10 fps: the client's pacing
ANSWER_TIMEOUT_S = 1.0  # the real client resends after 1 s without an answer


# --- small helpers ------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float | None:
    """Percentile with linear interpolation (numpy's default), None for no values."""
    if not values:
        return None
    s = sorted(values)
    k = (len(s) - 1) * q / 100.0
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def summary(values: list[float]) -> dict:
    return {
        "n": len(values),
        "median": r2(pct(values, 50)),
        "p95": r2(pct(values, 95)),
        "mean": r2(statistics.fmean(values)) if values else None,
        "max": r2(max(values)) if values else None,
    }


def r2(x):
    return None if x is None else round(float(x), 2)


def fmt(x, unit="") -> str:
    return "n/a" if x is None else f"{x:.2f}{unit}"


def load_frames(n: int = N_FRAMES, step: int = FRAME_STEP):
    """``n`` frames of franck.mp4 (every ``step``-th), resized to 640x480 RGB."""
    import cv2

    from reconstruction.core import assets

    path = assets.samples_dir() / "franck.mp4"
    if not path.exists():
        raise SystemExit(f"{path} is missing: run `make samples` (python -m reconstruction.core.fetch samples) first")
    cap = cv2.VideoCapture(str(path))
    frames, i = [], 0
    try:
        while len(frames) < n:
            ok, bgr = cap.read()
            if not ok:
                break
            if i % step == 0:
                small = cv2.resize(bgr, (WIDTH, HEIGHT), interpolation=cv2.INTER_LINEAR)
                frames.append(cv2.cvtColor(small, cv2.COLOR_BGR2RGB))
            i += 1
    finally:
        cap.release()
    if not frames:
        raise SystemExit(f"could not read frames from {path}")
    return frames


# --- 1. analysis on one core (child process) ----------------------------------------------------


def analysis_child() -> None:
    """Runs pinned to one CPU (see the top of the file); prints one JSON line."""
    from reconstruction.core.extraction import Analyzer
    from reconstruction.core.imageio import decode_jpeg, encode_jpeg
    from reconstruction.core.smallfaces import FaceScan, seen

    def stream_scan():
        """A stream's scan for small faces (``capture.live.LiveStream``): its tiles cost the live
        figures what they cost a real stream."""
        scan = FaceScan()

        def look(width, height, before):
            return scan.look(width, height, seen(before.faces, width, height) if before else ())

        return look

    frames = load_frames()
    jpegs = [encode_jpeg(f, quality=JPEG_QUALITY) for f in frames]
    analyzer = Analyzer()
    try:
        for f in frames[:10]:  # warm-up: first inferences set up XNNPACK
            analyzer.analyze(f)

        full, faces_found = [], 0
        for f in frames:
            t = time.perf_counter()
            a = analyzer.analyze(f)
            full.append((time.perf_counter() - t) * 1000)
            faces_found += bool(a.faces)

        live, live_seg, live_reuse, prev, look, a = [], [], [], None, stream_scan(), None
        for i, f in enumerate(frames):
            reuse = prev if i % SEGMENT_EVERY else None
            t = time.perf_counter()
            a = analyzer.analyze(f, person_mask=reuse, look=look(f.shape[1], f.shape[0], a))
            ms = (time.perf_counter() - t) * 1000
            prev = a.person_mask
            live.append(ms)
            (live_reuse if reuse is not None else live_seg).append(ms)

        # The floor: MediaPipe's face landmarker alone (IMAGE mode, as the analyzer runs it) on the
        # same frames; whatever else a frame costs is Flux's own.
        landmarker = []
        for f in frames:
            image = analyzer._mp.Image(image_format=analyzer._mp.ImageFormat.SRGB, data=f)
            t = time.perf_counter()
            analyzer._landmarker.detect(image)
            landmarker.append((time.perf_counter() - t) * 1000)

        decode = []
        for j in jpegs:
            t = time.perf_counter()
            decode_jpeg(j)
            decode.append((time.perf_counter() - t) * 1000)

        e2e, prev, look, a = [], None, stream_scan(), None
        for i, j in enumerate(jpegs):
            t = time.perf_counter()
            rgb = decode_jpeg(j)
            reuse = prev if i % SEGMENT_EVERY else None
            a = analyzer.analyze(rgb, person_mask=reuse, look=look(rgb.shape[1], rgb.shape[0], a))
            json.dumps(a.to_json())
            e2e.append((time.perf_counter() - t) * 1000)
            prev = a.person_mask
    finally:
        analyzer.close()

    # Every thread of this process (MediaPipe's included) must be on the one CPU.
    cpus = set()
    for tid in os.listdir("/proc/self/task"):
        try:
            cpus |= os.sched_getaffinity(int(tid))
        except OSError:
            pass
    print(
        json.dumps(
            {
                "pinned_cpus": sorted(cpus),
                "threads": len(os.listdir("/proc/self/task")),
                "frames": len(frames),
                "frame_size": f"{WIDTH}x{HEIGHT}",
                "jpeg_kb_mean": round(sum(map(len, jpegs)) / len(jpegs) / 1024, 1),
                "faces_found_fraction": round(faces_found / len(frames), 3),
                "segment_every": SEGMENT_EVERY,
                "full_ms": summary(full),
                "live_ms": summary(live),
                "live_segmented_frames_ms": summary(live_seg),
                "live_reused_mask_frames_ms": summary(live_reuse),
                "decode_ms": summary(decode),
                "landmarker_alone_ms": summary(landmarker),
                "frame_to_degrees_ms": summary(e2e),
            }
        ),
        flush=True,
    )


def run_analysis_bench() -> dict:
    env = os.environ | THREAD_ENV
    t = time.monotonic()
    proc = subprocess.run(
        [PY, os.path.abspath(__file__), CHILD_FLAG], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise RuntimeError(f"analysis child failed with exit code {proc.returncode}")
    result = json.loads(lines[-1])
    result["wall_s"] = round(time.monotonic() - t, 1)
    return result


# --- 2. the real server -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children") as fh:
                    todo.extend(int(c) for c in fh.read().split())
        except OSError:
            pass
    return out


def proc_status(pid: int) -> dict:
    info = {}
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key in ("Name", "VmRSS", "Threads"):
                    info[key] = value.strip()
    except OSError:
        pass
    return info


def tree_rss_mb(pid: int) -> tuple[float, dict]:
    """RSS of ``pid`` and all its descendants in MB, plus the per-process breakdown."""
    total, parts = 0.0, {}
    for p in descendants(pid):
        st = proc_status(p)
        if "VmRSS" in st:
            mb = int(st["VmRSS"].split()[0]) / 1024
            total += mb
            parts[f"{p}:{st.get('Name', '?')}"] = {"rss_mb": round(mb, 1), "threads": int(st.get("Threads", 0))}
    return round(total, 1), parts


def cpu_ticks(pid: int) -> dict[tuple[int, int], int]:
    """CPU time (user + system, in clock ticks) of every thread of ``pid`` and its descendants."""
    ticks = {}
    for p in descendants(pid):
        try:
            tids = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{p}/task/{tid}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
                ticks[(p, int(tid))] = int(fields[11]) + int(fields[12])  # utime, stime
            except (OSError, IndexError, ValueError):
                pass
    return ticks


def machine_busy_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs since boot, from /proc/stat."""
    with open("/proc/stat") as fh:
        values = [int(v) for v in fh.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return sum(values) - idle, sum(values)


def _die_with_parent() -> None:
    """In the server's child before exec: get SIGTERM when the bench dies, however it dies
    (serve then stops daphne itself)."""
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


class Server:
    """`manage.py serve` on a temporary var dir and database; always stopped by ``stop``."""

    def __init__(self, keep: bool = False, processes: int = 1, redis_url: str | None = None):
        self.keep = keep
        self.processes = processes
        self.tmp = tempfile.mkdtemp(prefix="flux-bench-")
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.stopped = False
        self.log_path = os.path.join(self.tmp, "server.log")
        self.db_path = os.path.join(self.tmp, "bench.sqlite3")
        self.env = {
            k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "FLUX_MEDIA_DIR", "FLUX_PORT", "FLUX_HOST")
        }
        self.env.update(
            {
                "FLUX_VAR_DIR": self.tmp,
                "FLUX_MEDIA_DIR": os.path.join(self.tmp, "media"),
                "FLUX_WEIGHTS_DIR": os.path.join(self.tmp, "weights"),
                "DATABASE_URL": f"sqlite:///{self.db_path}",  # an absolute path: four slashes
                "DJANGO_SETTINGS_MODULE": "fluxsite.settings",
                "PYTHONUNBUFFERED": "1",
            }
        )
        if redis_url:
            self.env["REDIS_URL"] = redis_url
            self.env["FLUX_CHANNEL_PREFIX"] = f"flux-bench-{os.urandom(4).hex()}"
        self.username, self.password = "bench", "bench-Secret-" + os.urandom(6).hex()
        self.base = f"http://127.0.0.1:{self.port}"

    def manage(self, *args: str) -> None:
        proc = subprocess.run(
            [PY, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=120
        )
        if proc.returncode != 0:
            raise RuntimeError(f"manage.py {args[0]} failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")

    def prepare(self) -> None:
        self.manage("migrate", "--noinput", "-v", "0")
        self.manage(
            "shell",
            "-c",
            "from django.contrib.auth import get_user_model; "
            f"get_user_model().objects.create_user({self.username!r}, password={self.password!r})",
        )

    def start(self, ready_timeout: float = 60.0) -> None:
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [
                PY,
                "manage.py",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--https-port",
                "0",
                "--no-worker",
                "--processes",
                str(self.processes),
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        log.close()
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.base + "/accounts/login/", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the server did not answer within {ready_timeout:.0f} s:\n{self.log_tail()}")

    def login(self, username: str | None = None, password: str | None = None) -> str:
        username, password = username or self.username, password or self.password
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        url = self.base + "/accounts/login/"
        opener.open(url, timeout=10).read()
        csrf = next((c.value for c in jar if c.name == "csrftoken"), None)
        if not csrf:
            raise RuntimeError("GET /accounts/login/ set no csrftoken cookie")
        body = urllib.parse.urlencode(
            {"username": username, "password": password, "csrfmiddlewaretoken": csrf}
        ).encode()
        req = urllib.request.Request(url, data=body, headers={"Referer": url})
        opener.open(req, timeout=10).read()
        session = next((c.value for c in jar if c.name == "sessionid"), None)
        if not session:
            raise RuntimeError("logging in gave no sessionid cookie")
        return session

    def rss(self) -> tuple[float, dict]:
        return tree_rss_mb(self.proc.pid) if self.proc and self.proc.poll() is None else (0.0, {})

    def wait_until_warm(self, timeout: float = 120.0) -> float:
        """Wait for the server to say the shutter's models are loaded (it loads them as it starts,
        fluxsite.daphne_main); the seconds waited. A server that has been up a while, as a person
        meets it, has them loaded: a shot in its first seconds would time the loading."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            try:
                with open(self.log_path, errors="replace") as fh:
                    text = fh.read()
            except OSError:
                text = ""
            if "the shutter's models and judges are loaded" in text or "were not loaded in advance" in text:
                return time.monotonic() - started
            time.sleep(0.2)
        raise RuntimeError(f"the server did not load the shutter's models within {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, n: int = 40) -> str:
        try:
            with open(self.log_path, errors="replace") as fh:
                return "".join(fh.readlines()[-n:])
        except OSError:
            return ""

    def log_problems(self) -> list[str]:
        try:
            with open(self.log_path, errors="replace") as fh:
                lines = fh.read().splitlines()
        except OSError:
            return []
        keys = ("Traceback", "Error", "ERROR", "Exception", "exited with", "CRITICAL")
        return [ln for ln in lines if any(k in ln for k in keys)]

    def learning_samples(self) -> int | None:
        try:
            with sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=5) as db:
                return db.execute("SELECT COUNT(*) FROM reconstruction_learningsample").fetchone()[0]
        except sqlite3.Error:
            return None

    def stop(self) -> int | None:
        if self.proc is None or self.stopped:
            return None if self.proc is None else self.proc.returncode
        self.stopped = True
        tree = descendants(self.proc.pid)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # serve stops daphne itself
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        for pid in tree[1:]:  # anything of ours still alive (it should not be)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return self.proc.returncode

    def cleanup(self) -> None:
        if not self.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)


class StreamStats:
    def __init__(self, name: str):
        self.name = name
        self.sent = 0
        self.answered = 0
        self.timeouts = 0
        self.rtt_ms: list[float] = []
        self.server_ms: list[float] = []
        self.errors: list[str] = []
        self.server_dropped = 0
        self.faces = 0
        self.busy = 0  # answers that said the server is busy (the frame waited for a thread)
        self.first_rtt_ms: float | None = None
        self.elapsed_s = 0.0


async def run_stream(
    url: str, headers: dict, jpegs: list[bytes], offset: int, duration: float, stats: StreamStats
) -> None:
    from websockets.asyncio.client import connect

    async with connect(
        url, additional_headers=headers, max_size=16 * 1024 * 1024, open_timeout=15, compression=None
    ) as ws:
        hello = json.loads(await asyncio.wait_for(ws.recv(), 15))
        if hello.get("type") != "hello":
            raise RuntimeError(f"{stats.name}: expected hello, got {hello}")
        start = time.perf_counter()
        end = start + duration
        next_send = start
        i = offset
        while True:
            now = time.perf_counter()
            if now >= end:
                break
            if now < next_send:
                await asyncio.sleep(next_send - now)
            sent_at = time.perf_counter()
            await ws.send(jpegs[i % len(jpegs)])
            i += 1
            stats.sent += 1
            next_send = sent_at + SEND_INTERVAL_S
            deadline = sent_at + ANSWER_TIMEOUT_S
            while True:
                left = deadline - time.perf_counter()
                if left <= 0:
                    stats.timeouts += 1  # like the real client: give up on it and send the next frame
                    break
                try:
                    msg = await asyncio.wait_for(ws.recv(), left)
                except TimeoutError:
                    stats.timeouts += 1
                    break
                if isinstance(msg, bytes):
                    continue
                data = json.loads(msg)
                if data.get("type") == "degrees":
                    rtt = (time.perf_counter() - sent_at) * 1000
                    stats.rtt_ms.append(rtt)
                    if stats.first_rtt_ms is None:
                        stats.first_rtt_ms = rtt
                    stats.answered += 1
                    stats.server_ms.append(float(data.get("ms", 0.0)))
                    stats.server_dropped = int(data.get("dropped", 0))
                    stats.faces += bool(data.get("faces"))
                    stats.busy += bool(data.get("busy"))
                    break
                if data.get("type") == "error":
                    stats.errors.append(data.get("code", "?"))
        stats.elapsed_s = time.perf_counter() - start


async def run_streams(
    server: Server,
    session: str | list[str],
    jpegs: list[bytes],
    n: int,
    duration: float,
    label: str,
    rss_every: float = 1.0,
) -> dict:
    url = f"ws://127.0.0.1:{server.port}/ws/shoot/"
    # One login, or one per user (a user may keep FLUX_MAX_SOCKETS_PER_USER sockets open).
    sessions = [session] if isinstance(session, str) else list(session)
    headers = [{"Cookie": f"sessionid={one}", "Origin": server.base} for one in sessions]
    stats = [StreamStats(f"{label}-{k}") for k in range(n)]
    rss_samples: list[float] = []
    done = asyncio.Event()

    async def sample_rss():
        while not done.is_set():
            rss_samples.append(server.rss()[0])
            try:
                await asyncio.wait_for(done.wait(), rss_every)
            except TimeoutError:
                pass

    sampler = asyncio.create_task(sample_rss())
    step = max(1, len(jpegs) // n)
    ticks0, client0, wall0 = cpu_ticks(server.proc.pid), os.times(), time.perf_counter()
    machine0 = machine_busy_ticks()
    try:
        results = await asyncio.gather(
            *(run_stream(url, headers[k % len(headers)], jpegs, k * step, duration, s) for k, s in enumerate(stats)),
            return_exceptions=True,
        )
    finally:
        done.set()
        await sampler
    ticks1, client1, wall = cpu_ticks(server.proc.pid), os.times(), time.perf_counter() - wall0
    machine1 = machine_busy_ticks()
    hz = os.sysconf("SC_CLK_TCK")
    delta = {k: v - ticks0.get(k, 0) for k, v in ticks1.items()}
    busiest = sorted(delta.values(), reverse=True)
    # The daphne process is the serve command's child; its main thread runs the event loop.
    loop_ticks = sum(v for (p, tid), v in delta.items() if p == tid and p != server.proc.pid)
    cpu = {
        "server_cores": round(sum(delta.values()) / hz / wall, 2),
        "server_event_loop_cores": round(loop_ticks / hz / wall, 2),
        "server_busiest_threads_cores": [round(v / hz / wall, 2) for v in busiest[:4]],
        "client_cores": round((client1.user + client1.system - client0.user - client0.system) / wall, 2),
        # Everything busy on the machine, this bench included: other load makes the figures noisy.
        "machine_busy_cores": round((machine1[0] - machine0[0]) / hz / wall, 2),
    }
    cpu["other_processes_cores"] = round(
        max(0.0, cpu["machine_busy_cores"] - cpu["server_cores"] - cpu["client_cores"]), 2
    )
    failures = [repr(r) for r in results if isinstance(r, BaseException)]
    rtt = [x for s in stats for x in s.rtt_ms]
    server_ms = [x for s in stats for x in s.server_ms]
    fps = [s.answered / s.elapsed_s for s in stats if s.elapsed_s > 0]
    errors: dict[str, int] = {}
    for s in stats:
        for code in s.errors:
            errors[code] = errors.get(code, 0) + 1
    return {
        "streams": n,
        "duration_s": duration,
        "sent": sum(s.sent for s in stats),
        "answered": sum(s.answered for s in stats),
        "timeouts": sum(s.timeouts for s in stats),
        "server_dropped": sum(s.server_dropped for s in stats),
        "errors": errors,
        "failures": failures,
        "rtt_ms": summary(rtt),
        "first_frame_rtt_ms": [r2(s.first_rtt_ms) for s in stats],
        "server_analysis_ms": summary(server_ms),
        "fps_per_stream": {
            "mean": r2(statistics.fmean(fps)) if fps else None,
            "min": r2(min(fps)) if fps else None,
            "max": r2(max(fps)) if fps else None,
        },
        "faces_fraction": round(sum(s.faces for s in stats) / max(1, sum(s.answered for s in stats)), 3),
        "busy_fraction": round(sum(s.busy for s in stats) / max(1, sum(s.answered for s in stats)), 3),
        "cpu": cpu,
        "rss_mb": {
            "min": r2(min(rss_samples)) if rss_samples else None,
            "max": r2(max(rss_samples)) if rss_samples else None,
            "last": r2(rss_samples[-1]) if rss_samples else None,
        },
    }


def print_stream_result(title: str, r: dict) -> None:
    rt, an = r["rtt_ms"], r["server_analysis_ms"]
    print(f"  {title}: {r['streams']} stream(s) x {r['duration_s']:.0f} s")
    print(
        f"    round trip send->degrees: median {fmt(rt['median'], ' ms')}, p95 {fmt(rt['p95'], ' ms')}, "
        f"max {fmt(rt['max'], ' ms')} (n={rt['n']})"
    )
    print(f"    server analysis time (reported 'ms'): median {fmt(an['median'], ' ms')}, p95 {fmt(an['p95'], ' ms')}")
    f = r["fps_per_stream"]
    print(f"    achieved fps per stream: mean {fmt(f['mean'])}, min {fmt(f['min'])}, max {fmt(f['max'])} (target 10)")
    print(
        f"    frames sent {r['sent']}, answered {r['answered']}, unanswered after 1 s {r['timeouts']}, "
        f"server-reported dropped {r['server_dropped']}, errors {r['errors'] or 'none'}"
    )
    print(
        f"    face found in {r['faces_fraction'] * 100:.1f}% of answers; server RSS during run "
        f"{fmt(r['rss_mb']['min'], ' MB')} .. {fmt(r['rss_mb']['max'], ' MB')}"
    )
    c = r["cpu"]
    print(
        f"    CPU: server {c['server_cores']} cores (event-loop thread {c['server_event_loop_cores']}, busiest threads "
        f"{c['server_busiest_threads_cores']}), bench clients {c['client_cores']}, "
        f"machine busy {c['machine_busy_cores']} of {os.cpu_count()} (other processes {c['other_processes_cores']})"
    )
    if c["other_processes_cores"] >= 0.2:
        print(
            f"    WARNING: other processes kept {c['other_processes_cores']} cores busy during this run; "
            "the round trips above are pessimistic (rerun on a quiet machine)"
        )
    if r["failures"]:
        print(f"    FAILED streams: {r['failures']}")


def run_server_bench(quick: bool, keep: bool) -> dict:
    from reconstruction.core.imageio import encode_jpeg

    frames = load_frames()
    jpegs = [encode_jpeg(f, quality=JPEG_QUALITY) for f in frames]
    del frames
    d1, d8 = (5.0, 6.0) if quick else (15.0, 20.0)

    server = Server(keep=keep)
    atexit.register(server.stop)  # a last resort; the finally below normally does it
    out: dict = {"port": server.port}
    try:
        t = time.monotonic()
        server.prepare()
        out["prepare_s"] = round(time.monotonic() - t, 1)
        t = time.monotonic()
        server.start()
        out["startup_s"] = round(time.monotonic() - t, 1)
        session = server.login()
        rss0, parts0 = server.rss()
        out["rss_start_mb"] = rss0
        out["processes_start"] = parts0
        print(
            f"  server up on {server.base} in {out['startup_s']} s (migrate + user {out['prepare_s']} s); "
            f"logged in; RSS {rss0} MB {parts0}",
            flush=True,
        )

        # Warm-up: two streams at once so both analysis threads create their analyzer (cold start).
        warm = asyncio.run(run_streams(server, session, jpegs, 2, 2.0, "warm"))
        out["warmup"] = warm
        print(
            f"  warm-up (2 streams x 2 s): first-frame round trips {warm['first_frame_rtt_ms']} ms (cold analyzers), "
            f"answered {warm['answered']}/{warm['sent']}",
            flush=True,
        )
        out["rss_after_warmup_mb"] = server.rss()[0]

        one = asyncio.run(run_streams(server, session, jpegs, 1, d1, "one"))
        out["one_stream"] = one
        print_stream_result("single stream", one)
        out["rss_after_one_mb"] = server.rss()[0]

        eight = asyncio.run(run_streams(server, session, jpegs, 8, d8, "eight"))
        out["eight_streams"] = eight
        print_stream_result("8 simultaneous streams", eight)
        time.sleep(1.0)  # let the sockets close and the pool go idle
        rss1, parts1 = server.rss()
        out["rss_end_mb"] = rss1
        out["processes_end"] = parts1
        out["learning_samples"] = server.learning_samples()
        out["learning_samples_expected_approx"] = int(2 * 2.0 + d1 + 8 * d8)
        print(
            f"  server RSS: start {rss0} MB, after warm-up {out['rss_after_warmup_mb']} MB, after 1 stream "
            f"{out['rss_after_one_mb']} MB, peak under 8 streams {eight['rss_mb']['max']} MB, end {rss1} MB {parts1}"
        )
        print(
            f"  learning samples kept: {out['learning_samples']} (about one per second per stream: "
            f"~{out['learning_samples_expected_approx']} expected)"
        )
    finally:
        out["server_exit_code"] = server.stop()
        problems = server.log_problems()
        out["server_log_problem_lines"] = len(problems)
        if problems:
            print(f"  server log has {len(problems)} error-looking line(s) ({server.log_path}):")
            for line in problems[:15]:
                print(f"    | {line[:200]}")
            server.keep = True
        if server.keep:
            print(f"  kept {server.tmp} (server.log, bench.sqlite3)")
        server.cleanup()
    return out


def local_redis() -> str | None:
    """REDIS_URL, or the local Redis on a database of its own, if one answers."""
    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/14"
    parsed = urllib.parse.urlparse(url)
    try:
        socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 6379), timeout=2).close()
    except OSError:
        return None
    return url


def run_processes_bench(streams: int, duration: float, several: bool = True) -> dict:
    """The same ``streams`` at 10 fps against one web process (embedded) and, with ``several``,
    against one per core (Redis between them): frames answered per second in all, and per stream."""
    from reconstruction.core.imageio import encode_jpeg

    jpegs = [encode_jpeg(f, quality=JPEG_QUALITY) for f in load_frames()]
    redis_url = local_redis()
    out: dict = {"streams": streams, "redis": redis_url}
    runs = [(1, None)]
    if several and redis_url and (os.cpu_count() or 1) > 1:
        runs.append((os.cpu_count() or 1, redis_url))
    for processes, url in runs:
        server = Server(processes=processes, redis_url=url)
        try:
            server.prepare()
            # Four people with four cameras each: a user may keep 8 sockets open.
            people = [f"person{i}" for i in range(max(1, streams // 4))]
            server.manage(
                "shell",
                "-c",
                "from django.contrib.auth import get_user_model as g; "
                f"[g().objects.create_user(u, password={server.password!r}) for u in {people!r}]",
            )
            server.start()
            sessions = [server.login(u) for u in people]
            asyncio.run(run_streams(server, sessions, jpegs, 2, 2.0, "warm"))
            r = asyncio.run(run_streams(server, sessions, jpegs, streams, duration, f"p{processes}"))
        finally:
            server.stop()
            server.cleanup()
        r["answered_per_s"] = round(r["answered"] / duration, 1)
        out[str(processes)] = r
        print(
            f"  {processes} web process(es){' on Redis' if url else ''}: {r['answered_per_s']} frames answered a "
            f"second in all, {r['fps_per_stream']['mean']} fps per stream (min {r['fps_per_stream']['min']}), "
            f"round trip p95 {fmt(r['rtt_ms']['p95'], ' ms')}, server {r['cpu']['server_cores']} cores, "
            f"{r['server_dropped']} dropped, errors {r['errors'] or 'none'}, {len(r['failures'])} streams failed, "
            f"{r['busy_fraction'] * 100:.0f} % of answers said busy",
            flush=True,
        )
    if not redis_url:
        print("  several web processes not measured: no Redis answers (set REDIS_URL)")
    return out


# --- main ---------------------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    quick, keep = "--quick" in argv, "--keep" in argv
    started = time.monotonic()

    def on_signal(signum, _frame):
        # Stop once: a second Ctrl-C must not interrupt the server's shutdown in the finally blocks.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    print(f"Flux bench: {os.cpu_count()} CPU(s), python {sys.version.split()[0]}", flush=True)
    print(
        f"\n1. Analysis of {N_FRAMES} frames of franck.mp4 (every {FRAME_STEP}th) at {WIDTH}x{HEIGHT}, "
        "child process pinned to one core",
        flush=True,
    )
    a = run_analysis_bench()
    print(
        f"  pinned to CPU(s) {a['pinned_cpus']} ({a['threads']} threads, all pinned); face found in "
        f"{a['faces_found_fraction'] * 100:.1f}% of frames; JPEG q{JPEG_QUALITY} ~{a['jpeg_kb_mean']} KB"
    )
    rows = [
        ("(a) full analysis (segmenter every frame)", a["full_ms"]),
        (f"(b) live mode (segmenter every {a['segment_every']}rd frame)", a["live_ms"]),
        ("    live: frames with the segmenter", a["live_segmented_frames_ms"]),
        ("    live: frames reusing the mask", a["live_reused_mask_frames_ms"]),
        ("(c) JPEG decode 640x480", a["decode_ms"]),
        ("(d) frame in -> degrees out (decode + live + JSON)", a["frame_to_degrees_ms"]),
    ]
    for name, s in rows:
        print(f"  {name:<52} median {fmt(s['median'], ' ms'):>10}   p95 {fmt(s['p95'], ' ms'):>10}")
    e2e = a["frame_to_degrees_ms"]["median"]
    met = e2e is not None and e2e <= BUDGET_MS
    print(
        f"  budget: median <= {BUDGET_MS:g} ms frame in -> degrees out on one core: "
        f"{'MET' if met else 'NOT MET'} ({fmt(e2e, ' ms')} median)",
        flush=True,
    )

    print("\n2. WebSocket round trips through the real server (manage.py serve, daphne)", flush=True)
    s = run_server_bench(quick, keep)

    many = 16
    print(f"\n2b. {many} streams at 10 fps: one web process, then one per core on Redis", flush=True)
    p = run_processes_bench(many, 6.0 if quick else 15.0)

    beyond = 32
    print(f"\n2c. {beyond} streams at 10 fps, beyond capacity: one web process", flush=True)
    b = run_processes_bench(beyond, 6.0 if quick else 15.0, several=False)["1"]
    fair = (b["fps_per_stream"]["min"] or 0) / max(1e-9, b["fps_per_stream"]["mean"] or 0)
    b["fairness_min_over_mean"] = round(fair, 2)
    print(
        f"  share: the slowest stream got {fair:.2f} of the mean (goal >= 0.5: {'met' if fair >= 0.5 else 'NOT met'}); "
        f"round trip max {fmt(b['rtt_ms']['max'], ' ms')}",
        flush=True,
    )

    total = round(time.monotonic() - started, 1)
    one, eight = s["one_stream"], s["eight_streams"]
    print("\nSummary")
    print(f"  {'figure':<48} {'median':>10} {'p95':>10}  note")
    for name, st, note in [
        ("analysis full, 1 core", a["full_ms"], ""),
        ("analysis live mode, 1 core", a["live_ms"], f"segmenter every {a['segment_every']}"),
        ("JPEG decode 640x480", a["decode_ms"], ""),
        (
            "frame in -> degrees out, 1 core",
            a["frame_to_degrees_ms"],
            f"budget {BUDGET_MS:g} ms: {'met' if met else 'NOT met'}",
        ),
        (
            "WS round trip, 1 stream",
            one["rtt_ms"],
            f"{one['fps_per_stream']['mean']} fps, {one['answered']}/{one['sent']} answered, "
            f"other load {one['cpu']['other_processes_cores']} cores",
        ),
        (
            "WS round trip, 8 streams",
            eight["rtt_ms"],
            f"{eight['fps_per_stream']['mean']} fps/stream (min {eight['fps_per_stream']['min']}), "
            f"{eight['answered']}/{eight['sent']} answered, other load {eight['cpu']['other_processes_cores']} cores",
        ),
    ]:
        print(f"  {name:<48} {fmt(st['median'], ' ms'):>10} {fmt(st['p95'], ' ms'):>10}  {note}")
    print(
        f"  {'server RSS start / peak / end':<48} {s['rss_start_mb']} / {eight['rss_mb']['max']} / {s['rss_end_mb']} MB"
    )
    print(f"  {'server log error lines':<48} {s['server_log_problem_lines']}")
    for n in dict.fromkeys(("1", str(os.cpu_count() or 1))):
        if n in p:
            r = p[n]
            print(
                f"  {f'{many} streams, {n} web process(es)':<48} {fmt(r['rtt_ms']['median'], ' ms'):>10} "
                f"{fmt(r['rtt_ms']['p95'], ' ms'):>10}  {r['answered_per_s']} frames/s answered in all, "
                f"{r['fps_per_stream']['mean']} fps/stream (min {r['fps_per_stream']['min']})"
            )
    print(f"  total bench time {total} s")

    figures = {
        "cpus": os.cpu_count(),
        "budget_ms": BUDGET_MS,
        "budget_met": met,
        "analysis": a,
        "server": s,
        "processes": p,
        "beyond_capacity": b,
        "total_s": total,
    }
    print(json.dumps(figures, separators=(",", ":")), flush=True)
    from table import save  # bench/table.py: the one table at the end of `make bench`

    save("live", figures)
    return 0


if __name__ == "__main__":
    if CHILD_FLAG in sys.argv:
        analysis_child()
    else:
        sys.exit(main(sys.argv[1:]))
