import queue
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from cryptography import x509

from capture.management.commands.serve import ensure_certificate

ROOT = Path(__file__).resolve().parents[2]


def test_the_self_signed_certificate_names_this_machine_and_is_made_once(tmp_path):
    key, cert = ensure_certificate(tmp_path, ["localhost", "127.0.0.1", "192.168.1.20"])
    parsed = x509.load_pem_x509_certificate(cert.read_bytes())
    names = parsed.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert {str(ip) for ip in names.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "192.168.1.20"}
    first = cert.read_bytes()
    ensure_certificate(tmp_path, ["localhost", "127.0.0.1", "192.168.1.20"])
    assert cert.read_bytes() == first  # kept, so phones keep trusting it
    ensure_certificate(tmp_path, ["localhost", "127.0.0.1", "192.168.1.21"])
    assert cert.read_bytes() != first  # a new address gets a new certificate


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_answers_on_http_and_https(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "FLUX_VAR_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
    }
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=120)
    http_port, https_port = _free_port(), _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "serve",
            "--port",
            str(http_port),
            "--https-port",
            str(https_port),
            "--no-worker",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    try:
        context = ssl._create_unverified_context()
        deadline = time.monotonic() + 45
        while True:
            try:
                plain = urllib.request.urlopen(f"http://127.0.0.1:{http_port}/accounts/login/", timeout=5)
                secure = urllib.request.urlopen(
                    f"https://127.0.0.1:{https_port}/accounts/login/", timeout=5, context=context
                )
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.3)
        assert plain.status == 200 and secure.status == 200
        pinned = ssl.create_default_context(cafile=str(tmp_path / "tls" / "cert.pem"))
        assert (
            urllib.request.urlopen(f"https://127.0.0.1:{https_port}/accounts/login/", timeout=5, context=pinned).status
            == 200
        )
        # The shutter's models and judges load as the server starts, not at the first shot.
        seen, deadline = [], time.monotonic() + 120
        while not any("the shutter's models and judges are loaded" in line for line in seen):
            assert time.monotonic() < deadline and proc.poll() is None, "".join(seen)
            try:
                seen.append(lines.get(timeout=1))
            except queue.Empty:
                pass
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    time.sleep(0.5)  # the reader's last lines
    while not lines.empty():
        seen.append(lines.get())
    out = "".join(seen)
    assert f"http://127.0.0.1:{http_port}/" in out
    # The first run made this installation's Content Credentials authority, keys readable by it alone.
    assert "recorded photos are signed with Content Credentials" in out
    authority = tmp_path / "credentials"
    assert (authority / "root.pem").exists() and (authority / "signer.key").stat().st_mode & 0o777 == 0o600


def test_the_production_setting_passes_check_deploy_without_a_warning(tmp_path):
    import os

    env = {**os.environ, "FLUX_VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "fluxsite.settings"}
    plain = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "W016" in plain.stderr + plain.stdout  # the embedded default serves http on the LAN too
    production = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={**env, "FLUX_PRODUCTION": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert production.returncode == 0, production.stderr
    assert "no issues" in production.stdout
