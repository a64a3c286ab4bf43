"""A server with more streams than it can analyse at full rate, in a real Chromium: the page says
the meters slowed down because the server is busy, and says "live" again when the load is gone."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from reconstruction.core.imageio import decode_jpeg, encode_jpeg
from tests.browser.test_shoot_page import TIMEOUT_MS, log_in, wait_for_live
from tests.browser.test_socket_limits import _session

pytestmark = pytest.mark.browser

LOAD_USERS, SOCKETS_EACH = 4, 6  # 24 streams sending as fast as they are answered


def test_the_page_says_the_meters_slowed_while_the_server_is_busy(flux_server, browser, artifacts, portrait_jpeg):
    from websockets.asyncio.client import connect

    sessions = []
    for i in range(LOAD_USERS):
        flux_server.make_user(f"load{i}")
        sessions.append(_session(flux_server, f"load{i}"))
    stop = threading.Event()
    answered = []
    # The same frame again within a second is "still" and not analysed again (capture.live): the
    # load alternates the portrait with its mirror image, so that every frame costs an analysis
    # (with one frame repeated, whether 24 streams kept the server busy depended on the machine).
    frames = (portrait_jpeg, encode_jpeg(decode_jpeg(portrait_jpeg)[:, ::-1].copy(), quality=85))

    async def stream(session):
        async with connect(
            flux_server.url.replace("http://", "ws://") + "/ws/shoot/",
            additional_headers={"Cookie": f"sessionid={session}", "Origin": flux_server.url},
        ) as ws:
            await ws.recv()  # hello
            sent = 0
            while not stop.is_set():
                await ws.send(frames[sent % 2])
                sent += 1
                while True:  # one frame in flight, like the page
                    msg = await asyncio.wait_for(ws.recv(), 30)
                    if '"degrees"' in msg[:20]:
                        answered.append(msg)
                        break

    async def load():
        await asyncio.gather(*(stream(s) for s in sessions for _ in range(SOCKETS_EACH)))

    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    with ThreadPoolExecutor(1) as thread:  # Playwright holds this thread's event loop
        running = None
        try:
            log_in(page, flux_server)
            wait_for_live(page, min_frames=3)
            assert page.get_attribute("#status", "data-state") == "live"
            running = thread.submit(asyncio.run, load())
            page.wait_for_selector('#status[data-state="busy"]', timeout=TIMEOUT_MS)
            assert "server busy" in page.inner_text("#status")
            page.screenshot(path=str(artifacts / "shoot-server-busy.png"))
            stop.set()
            running.result(timeout=60)
            page.wait_for_selector('#status[data-state="live"]', timeout=TIMEOUT_MS)
            assert page.inner_text("#status") == "live"
        finally:
            stop.set()
            if running is not None:
                running.exception(timeout=60)
            context.close()
    assert answered and '"busy": true' in "".join(answered)
