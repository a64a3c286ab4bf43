"""Limits of the camera socket through the real daphne server (``manage.py serve``): a frame over
Flux's limit gets an error and the socket stays; a message over daphne's 8 MB limit closes it with
1009 ("message too big"), never a silently dropped connection."""

import asyncio
import http.cookiejar
import json
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def _session(server, username="alice") -> str:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    url = server.url + "/accounts/login/"
    opener.open(url, timeout=10).read()
    csrf = next(c.value for c in jar if c.name == "csrftoken")
    body = urllib.parse.urlencode({"username": username, "password": PASSWORD, "csrfmiddlewaretoken": csrf}).encode()
    opener.open(urllib.request.Request(url, data=body, headers={"Referer": url}), timeout=10).read()
    return next(c.value for c in jar if c.name == "sessionid")


def test_an_oversized_message_gets_an_error_or_close_code_1009(flux_server):
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    session = _session(flux_server)
    url = flux_server.url.replace("http://", "ws://") + "/ws/shoot/"

    async def probe():
        async with connect(
            url,
            additional_headers={"Cookie": f"sessionid={session}", "Origin": flux_server.url},
            max_size=None,
            compression=None,
        ) as ws:
            assert json.loads(await ws.recv())["type"] == "hello"
            await ws.send(b"\xff\xd8" + b"\x00" * (3 * 1024 * 1024))  # over Flux's 2 MiB, under daphne's 8 MB
            error = json.loads(await asyncio.wait_for(ws.recv(), 30))
            assert error["type"] == "error" and error["code"] == "frame_too_large"
            await ws.send(json.dumps({"type": "ping"}))
            assert json.loads(await asyncio.wait_for(ws.recv(), 30))["type"] == "pong"
            await ws.send(b"\xff\xd8" + b"\x00" * (9 * 1024 * 1024))
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 30)
            return closed.value.rcvd

    # A thread of its own: the browser tests' Playwright keeps an event loop running in this one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        received = pool.submit(lambda: asyncio.run(probe())).result(timeout=120)
    assert received is not None and received.code == 1009
