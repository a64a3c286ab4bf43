"""Flux behind the proxy its documentation describes (docs/several-machines.md): Debian's nginx
running docs/nginx/flux.conf itself, its names, ports and certificate replaced, in front of two
web processes on Redis in production mode (https only, TLS ended at the proxy)."""

from __future__ import annotations

import asyncio
import http.cookiejar
import json
import shutil
import ssl
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

from capture.management.commands.serve import ensure_certificate
from tests.capture.test_web_processes import next_of, redis_url
from tests.conftest import PASSWORD
from tests.servers import REPO_ROOT, free_port, server_env, start_serve, stop, user_command

pytestmark = pytest.mark.channels

CONF = REPO_ROOT / "docs" / "nginx" / "flux.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def proxy_config(folder: Path, upstream: int, http_port: int, https_port: int) -> Path:
    """The documented configuration with this test's names, ports and certificate, wrapped in a
    main configuration that keeps nginx's files in ``folder``."""
    text = CONF.read_text()
    key, cert = ensure_certificate(folder / "tls", ["localhost"])
    for old, new in (
        ("    server flux-1.internal:8000;\n    server flux-2.internal:8000;\n", f"    server 127.0.0.1:{upstream};\n"),
        ("listen 80;", f"listen 127.0.0.1:{http_port};"),
        ("listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;"),
        ("server_name flux.example.org;", "server_name localhost;"),
        ("/etc/letsencrypt/live/flux.example.org/fullchain.pem", str(cert)),
        ("/etc/letsencrypt/live/flux.example.org/privkey.pem", str(key)),
    ):
        assert old in text, f"docs/nginx/flux.conf no longer has {old!r}: update this test with it"
        text = text.replace(old, new)
    (folder / "flux.conf").write_text(text)
    main = folder / "nginx.conf"
    temp = " ".join(
        f"{kind}_temp_path {folder / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    main.write_text(
        f"daemon off; pid {folder / 'nginx.pid'}; error_log {folder / 'error.log'} info; worker_processes 1;\n"
        "events { worker_connections 256; }\n"
        f"http {{ access_log {folder / 'access.log'}; {temp} include {folder / 'flux.conf'}; }}\n"
    )
    return main


@pytest.fixture
def behind_nginx(tmp_path):
    if not Path(NGINX).exists():
        pytest.fail("the proxy test needs Debian's nginx: run `apt-get install -y nginx` (.ci/run installs it)")
    port, http_port, https_port = free_port(), free_port(), free_port()
    env = server_env(
        tmp_path,
        REDIS_URL=redis_url(),
        FLUX_CHANNEL_PREFIX=f"flux-test-{uuid.uuid4().hex[:8]}",
        FLUX_PRODUCTION="1",
        FLUX_BEHIND_PROXY="1",
        ALLOWED_HOSTS="localhost",
    )
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=REPO_ROOT,
        env=env,
        check=True,
        timeout=120,
    )
    subprocess.run(
        [sys.executable, "manage.py", *user_command("alice", PASSWORD)], cwd=REPO_ROOT, env=env, check=True, timeout=120
    )
    log = tmp_path / "server.log"
    server = start_serve(env, port, log, "--processes", "2")
    main = proxy_config(tmp_path, port, http_port, https_port)
    proxy = subprocess.Popen([NGINX, "-c", str(main), "-p", str(tmp_path)], stderr=subprocess.PIPE)
    context = ssl.create_default_context(cafile=str(tmp_path / "tls" / "cert.pem"))
    url = f"https://localhost:{https_port}"
    try:
        deadline = time.monotonic() + 60
        while True:  # until the sign-in page answers through the proxy
            try:
                if urllib.request.urlopen(url + "/accounts/login/", context=context, timeout=2).status == 200:
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if proxy.poll() is not None or server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"nothing answered through nginx at {url}:\n{log.read_text()[-3000:]}\n"
                    f"{(tmp_path / 'error.log').read_text()[-2000:] if (tmp_path / 'error.log').exists() else ''}"
                )
            time.sleep(0.3)
        yield url, f"http://localhost:{http_port}", context, log
    finally:
        proxy.terminate()
        proxy.wait(timeout=10)
        stop(server)


def test_flux_works_through_the_documented_nginx_configuration(behind_nginx, portrait_jpeg):
    url, plain, context, log = behind_nginx
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=context), urllib.request.HTTPCookieProcessor(jar), NoRedirect()
    )
    # Plain http at the proxy is sent on to https.
    with pytest.raises(urllib.error.HTTPError) as moved:
        opener.open(plain + "/shoot/", timeout=10)
    assert moved.value.code == 301 and moved.value.headers["Location"].startswith("https://localhost")

    # Signing in over https through the proxy: secure cookies, the CSRF check on the forwarded host.
    login = url + "/accounts/login/"
    opener.open(login, timeout=10).read()
    csrf = next(c.value for c in jar if c.name == "csrftoken")
    body = urllib.parse.urlencode({"username": "alice", "password": PASSWORD, "csrfmiddlewaretoken": csrf})
    with pytest.raises(urllib.error.HTTPError) as signed_in:  # 302 to the shooting page
        opener.open(urllib.request.Request(login, data=body.encode(), headers={"Referer": login}), timeout=10)
    assert signed_in.value.code == 302, signed_in.value.read()[:500]
    session = next(c for c in jar if c.name == "sessionid")
    assert session.secure
    page = opener.open(url + "/shoot/", timeout=10)
    assert page.status == 200 and "max-age" in page.headers["Strict-Transport-Security"]

    # The shooting socket over wss, upgraded by the proxy: a frame analysed, a shot saved.
    async def shoot():
        from websockets.asyncio.client import connect

        async with connect(
            url.replace("https", "wss") + "/ws/shoot/",
            additional_headers={"Cookie": f"sessionid={session.value}", "Origin": url},
            ssl=context,
            max_size=None,
        ) as ws:
            assert (await next_of(ws, "hello"))["user"] == "alice"
            await ws.send(portrait_jpeg)
            degrees = await next_of(ws, "degrees")
            await ws.send(json.dumps({"type": "shutter", "intention": "portrait"}))
            await ws.send(portrait_jpeg)
            saved = await next_of(ws, "shot_saved")
            recorded = await next_of(ws, "recorded")
            return degrees, saved, recorded

    try:
        with ThreadPoolExecutor(1) as thread:  # Playwright may hold this thread's event loop
            degrees, saved, recorded = thread.submit(asyncio.run, shoot()).result()
    except Exception as exc:
        raise AssertionError(f"{exc!r}; the server said:\n{log.read_text()[-4000:]}") from exc
    assert degrees["elements"]["expression.smile"] is not None
    assert recorded["shot"] == saved["shot"]["id"]
    photo = opener.open(url + recorded["url"], timeout=10)
    assert photo.headers["Content-Type"] == "image/jpeg" and photo.read(3) == b"\xff\xd8\xff"
    # A page left open and idle keeps its socket: the proxy waits an hour, not its default minute.
    ws_block = CONF.read_text().split("location /ws/", 1)[1].split("}", 1)[0]
    assert "proxy_read_timeout 1h;" in ws_block
