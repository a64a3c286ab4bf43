"""Several web processes on one port (FLUX_WEB_PROCESSES), with Redis between them: `manage.py
serve --processes 2` really started, real sockets, and what crosses processes checked across them."""

from __future__ import annotations

import asyncio
import http.cookiejar
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import PASSWORD
from tests.servers import REPO_ROOT, free_port, server_env, start_serve, stop, user_command, wait_until_answering

pytestmark = pytest.mark.channels


def redis_url() -> str:
    """The suite's Redis (REDIS_URL), or the local one on its own database; a test that needs it
    and finds none fails to start with a clear skip reason rather than passing."""
    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/15"
    parsed = urllib.parse.urlparse(url)
    try:
        socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 6379), timeout=2).close()
    except OSError:
        pytest.skip(f"several web processes need a Redis server; none answers at {url} (set REDIS_URL)")
    return url


class Site:
    def __init__(self, url: str, env: dict, log: Path):
        self.url, self.env, self.log = url, env, log
        self.proc: subprocess.Popen | None = None

    def manage(self, *args: str) -> None:
        subprocess.run([sys.executable, "manage.py", *args], cwd=REPO_ROOT, env=self.env, check=True, timeout=120)

    def shell(self, code: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", code],
            cwd=REPO_ROOT,
            env=self.env,
            check=True,
            timeout=120,
            capture_output=True,
            text=True,
        )
        return done.stdout.strip().splitlines()[-1]  # after Django's note on what it imported

    def left_developing(self, like: str, pid: int) -> str:
        """A copy of shot ``like`` saved as still developing on the process ``pid`` of this
        machine, as that process leaves a shot it saved a moment before it died: its id."""
        return self.shell(
            "from capture import services\n"
            f"shot = services.Shot.objects.get(pk='{like}')\n"
            "again = services.save_shot(shot.user, shot.original.read(), "
            "{'width': shot.width, 'height': shot.height, 'elements': {}, 'faces': []}, "
            f"status='processing', developer='{socket.gethostname()}:{pid}')\n"
            "print(again.pk)"
        )

    def shot_status(self, opener, shot_id: str, within: float) -> str:
        """The shot's status once it is no longer "processing", or "processing" after ``within``
        seconds."""
        deadline = time.monotonic() + within
        while True:
            answer = json.loads(opener.open(f"{self.url}/shots/{shot_id}/status/", timeout=10).read())
            if answer["status"] != "processing" or time.monotonic() > deadline:
                return answer["status"]
            time.sleep(0.2)

    def opener(self):
        jar = http.cookiejar.CookieJar()
        return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar)), jar

    def sign_in(self, username: str, password: str):
        """A fresh connection each time (so the kernel may hand it to either process): the status
        and the session cookie, if any."""
        opener, jar = self.opener()
        url = self.url + "/accounts/login/"
        opener.open(url, timeout=10).read()
        csrf = next(c.value for c in jar if c.name == "csrftoken")
        body = urllib.parse.urlencode({"username": username, "password": password, "csrfmiddlewaretoken": csrf})
        try:
            status = opener.open(
                urllib.request.Request(url, data=body.encode(), headers={"Referer": url}), timeout=10
            ).status
        except urllib.error.HTTPError as exc:
            status = exc.code
        return status, opener, jar


@pytest.fixture
def two_processes(tmp_path):
    env = server_env(
        tmp_path,
        REDIS_URL=redis_url(),
        FLUX_CHANNEL_PREFIX=f"flux-test-{uuid.uuid4().hex[:8]}",  # nothing shared with another run
        # Three presses a user may make in a row, then one every hundred seconds (the first shot
        # on each process waits for its analyzers: ten seconds may pass during the test).
        FLUX_SHUTTER_RATE="0.01",
        FLUX_SHUTTER_BURST="3",
    )
    port = free_port()
    site = Site(f"http://127.0.0.1:{port}", env, tmp_path / "server.log")
    site.manage("migrate", "--noinput", "-v", "0")
    site.manage(*user_command("alice", PASSWORD))
    site.proc = start_serve(env, port, site.log, "--processes", "2")
    try:
        wait_until_answering(site.url, site.proc, site.log.read_text, seconds=60)
        yield site
    finally:
        stop(site.proc)


async def next_of(ws, kind: str, timeout: float = 30.0) -> dict:
    async def wait():
        while True:
            raw = await ws.recv()
            if isinstance(raw, str) and (msg := json.loads(raw))["type"] == kind:
                return msg

    return await asyncio.wait_for(wait(), timeout)


async def one_socket_per_process(site: Site, session: str, count: int = 2):
    """Sockets of one login until ``count`` different processes hold one each (the kernel hands
    each new connection to whichever process accepts it first)."""
    from websockets.asyncio.client import connect

    held, spare = {}, []
    for _ in range(40):
        ws = await connect(
            site.url.replace("http", "ws") + "/ws/shoot/",
            additional_headers={"Cookie": f"sessionid={session}", "Origin": site.url},
            max_size=None,
        )
        hello = await next_of(ws, "hello")
        if hello["process"] in held:
            spare.append(ws)
        else:
            held[hello["process"]] = ws
        if len(held) == count:
            break
        if len(spare) >= 2:
            await spare.pop(0).close()
    for ws in spare:
        await ws.close()
    assert len(held) == count, f"40 sockets all went to {list(held)}"
    return held


async def open_one(site: Site, session: str):
    from websockets.asyncio.client import connect

    ws = await connect(
        site.url.replace("http", "ws") + "/ws/shoot/",
        additional_headers={"Cookie": f"sessionid={session}", "Origin": site.url},
        max_size=None,
    )
    return ws, await next_of(ws, "hello")


def test_two_web_processes_share_one_port_and_everything_that_crosses_sockets(two_processes, portrait_jpeg):
    site = two_processes
    status, opener, jar = site.sign_in("alice", PASSWORD)
    assert status == 200
    session = next(c.value for c in jar if c.name == "sessionid")

    async def scenario():
        held = await one_socket_per_process(site, session)
        (phone_process, phone), (_, laptop) = held.items()
        # A shot taken on one process reaches the same user's page on the other.
        await phone.send(json.dumps({"type": "shutter"}))
        await phone.send(portrait_jpeg)
        mine = await next_of(phone, "shot_saved")
        elsewhere = await next_of(laptop, "shot_saved")
        assert not mine["elsewhere"] and elsewhere["elsewhere"] and elsewhere["shot"]["id"] == mine["shot"]["id"]
        await laptop.send(json.dumps({"type": "shutter"}))
        await laptop.send(portrait_jpeg)
        await next_of(laptop, "shot_saved")
        # A web process killed outright while a shot develops on it (saved a moment ago).
        await phone.send(json.dumps({"type": "shutter"}))
        await phone.send(portrait_jpeg)
        while (saved := await next_of(phone, "shot_saved"))["elsewhere"]:
            pass  # the laptop's shot, heard of on the phone
        lost = saved["shot"]["id"]
        os.kill(phone_process, signal.SIGKILL)
        # The shutter's pace is the user's, not one process's: after a burst of three, the fourth
        # press, on the other process, is refused.
        await laptop.send(json.dumps({"type": "shutter"}))
        await laptop.send(portrait_jpeg)
        refused = await next_of(laptop, "error")
        assert refused["code"] == "shutter_too_fast"
        # Its pages reconnect to another within 2 s (the page retries after 0.5 s), the others
        # went on serving, and serve starts a new one.
        await asyncio.wait_for(phone.wait_closed(), 5)
        started = time.monotonic()
        phone, hello = await open_one(site, session)
        assert time.monotonic() - started < 2.0 and hello["process"] != phone_process
        # Signing out closes the login's sockets on every process.
        csrf = next(c.value for c in jar if c.name == "csrftoken")
        await asyncio.to_thread(
            opener.open,
            urllib.request.Request(
                site.url + "/accounts/logout/",
                data=urllib.parse.urlencode({"csrfmiddlewaretoken": csrf}).encode(),
                headers={"Referer": site.url + "/"},
            ),
            timeout=10,
        )
        for ws in (phone, laptop):
            ended = await next_of(ws, "error")
            assert ended["code"] == "session_ended"
            await asyncio.wait_for(ws.wait_closed(), 10)
        return phone_process, lost

    try:
        # In a thread of its own: the browser tests' Playwright keeps an event loop running in
        # this one for the whole session.
        with ThreadPoolExecutor(1) as thread:
            killed, lost = thread.submit(asyncio.run, scenario()).result()
    except Exception as exc:
        raise AssertionError(f"{exc!r}; the server said:\n{site.log.read_text()[-6000:]}") from exc

    # The shot that was developing when its process died: developed before it died, or marked
    # failed at once by serve, never left developing; a failed one develops again from its page.
    status, opener, jar = site.sign_in("alice", PASSWORD)
    assert status == 200
    assert site.shot_status(opener, lost, within=3.0) in ("done", "failed")
    # Whichever it was, a shot that names the dead process and still reads "developing" (as one
    # would that it had saved a moment before it died) is marked failed by serve's next sweep.
    orphan = site.left_developing(lost, killed)
    assert site.shot_status(opener, orphan, within=12.0) == "failed"
    csrf = next(c.value for c in jar if c.name == "csrftoken")
    opener.open(
        urllib.request.Request(
            f"{site.url}/shots/{orphan}/develop/",
            data=urllib.parse.urlencode({"csrfmiddlewaretoken": csrf}).encode(),
            headers={"Referer": site.url + "/"},
        ),
        timeout=10,
    )
    assert site.shot_status(opener, orphan, within=30.0) == "done"

    # Failed sign-ins count on every process: after five, the sixth waits, wherever it lands.
    statuses = [site.sign_in("alice", "not the password")[0] for _ in range(6)]
    assert statuses[:5] == [200] * 5 and statuses[5] == 429
    log = site.log.read_text()
    assert "Traceback" not in log
    assert f"web process {killed} exited with -9; starting another" in log
    assert "left developing by a stopped web process were marked failed" in log


def test_several_web_processes_without_redis_are_refused_with_why(tmp_path):
    done = subprocess.run(
        [sys.executable, "manage.py", "serve", "--processes", "2", "--port", str(free_port()), "--https-port", "0"],
        cwd=REPO_ROOT,
        env=server_env(tmp_path),  # no REDIS_URL
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "2 web processes need REDIS_URL" in done.stderr
