"""Start Flux: the daphne server (http on loopback, https on the local network for phones) and
the background task worker, together; Ctrl-C stops both."""

from __future__ import annotations

import datetime
import ipaddress
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from capture import processes as processes_
from reconstruction import credentials
from reconstruction import services as model_services

# How often shots left developing by a process on another machine are looked for.
SWEEP_SECONDS = 5.0


def ensure_certificate(folder: Path, hosts: list[str]) -> tuple[Path, Path]:
    """A self-signed certificate for this machine's names and addresses, made once."""
    key_path, cert_path = folder / "key.pem", folder / "cert.pem"
    stamp = folder / "hosts.txt"
    wanted = ",".join(sorted(set(hosts)))
    if key_path.exists() and cert_path.exists() and stamp.exists() and stamp.read_text() == wanted:
        return key_path, cert_path
    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in sorted(set(hosts)):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host.strip("[]"))))
        except ValueError:
            names.append(x509.DNSName(host))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Flux (self-signed)")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=825))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_path.chmod(0o600)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    stamp.write_text(wanted)
    return key_path, cert_path


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return False


class Command(BaseCommand):
    help = "Run the Flux web server (daphne) and the background task worker."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("FLUX_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("FLUX_PORT", "8000")))
        parser.add_argument(
            "--https-port",
            type=int,
            default=int(os.environ.get("FLUX_HTTPS_PORT", "8443")),
            help="https on all interfaces, for phones on the local network (0 turns it off)",
        )
        parser.add_argument("--no-worker", action="store_true", help="do not start the task worker")
        parser.add_argument(
            "--processes",
            type=int,
            default=None,
            help="web processes sharing the port (default FLUX_WEB_PROCESSES: one per core with REDIS_URL, else 1)",
        )

    def sweep(self) -> None:
        """What a process that died left behind: shots developing (marked failed, to develop again)
        and training runs whose worker stopped beating (taken over by another worker)."""
        try:
            failed = processes_.sweep()
            runs = model_services.take_over_stale_runs()
        except Exception as exc:  # the database away for a moment: the next sweep tries again
            self.stderr.write(f"could not look for work left by a stopped process: {exc}")
            return
        if failed:
            self.stderr.write(f"{failed} shot(s) left developing by a stopped web process were marked failed")
        if runs:
            self.stderr.write(f"{runs} training run(s) whose worker stopped were queued again or failed")

    def handle(self, *args, host, port, https_port, no_worker, processes, **options):
        processes = settings.FLUX_WEB_PROCESSES if processes is None else processes
        if processes < 1:
            raise CommandError(f"--processes must be at least 1, not {processes}")
        if processes > 1 and not settings.REDIS_URL:
            raise CommandError(
                f"{processes} web processes need REDIS_URL: without it the channel layer and the caches live in "
                "one process's memory, and a shot taken on one process would never reach a page on another"
            )
        env = os.environ.copy()
        # daphne accepts up to 8 MB so that larger frames reach Flux and get a clear error; a
        # bigger message closes the socket with 1009 (fluxsite.daphne_main) rather than dropping it.
        base = [
            sys.executable,
            "-m",
            "fluxsite.daphne_main",
            "--websocket-max-message-size",
            str(8 * 1024 * 1024),
            "--websocket-max-frame-size",
            str(8 * 1024 * 1024),
        ]
        listener = None
        if processes > 1:
            # The port is opened once, here, and handed down (Channels' deployment documentation:
            # daphne --fd): the kernel spreads the connections over the processes.
            listener = socket.create_server((host, port), backlog=1024)
            listener.set_inheritable(True)
            bind = ["--fd", str(listener.fileno())]
        else:
            bind = ["-b", host, "-p", str(port)]
        lan = [a for a in settings.ALLOWED_HOSTS if a not in ("localhost", "127.0.0.1", "[::1]")]
        tls = []
        if https_port:
            key, cert = ensure_certificate(settings.VAR_DIR / "tls", ["localhost", "127.0.0.1", *lan])
            tls = ["-e", f"ssl:{https_port}:privateKey={key}:certKey={cert}:interface=0.0.0.0"]

        def web(i: int) -> subprocess.Popen:
            # The phones' https port is one process's (a TLS endpoint cannot adopt a shared socket).
            cmd = base + bind + (tls if i == 0 else []) + ["fluxsite.asgi:application"]
            return subprocess.Popen(cmd, env=env, pass_fds=(listener.fileno(),) if listener else ())

        # This installation's Content Credentials authority, made on the first run (before the web
        # processes start, so that they do not race to make it) and reused ever after.
        try:
            signing = credentials.authority()
            where = settings.FLUX_C2PA_CHAIN or settings.FLUX_C2PA_DIR
            signer = signing.signer_certificate.subject.rfc4514_string()
            signed = f"  recorded photos are signed with Content Credentials ({signer}; {where})."
        except Exception as exc:  # photos are still recorded, unsigned, and their pages say why
            signed = f"  Content Credentials are OFF: {exc}"
        # The shots this machine's processes left developing when they last stopped.
        self.sweep()
        # Kept open here too (serve never accepts on it): a web process that dies is started again
        # on the same socket while the others go on serving.
        procs = [web(i) for i in range(processes)]
        if not no_worker:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "manage.py", "db_worker", "--interval", "0.5"], env=env, cwd=settings.BASE_DIR
                )
            )
        self.stdout.write(self.style.SUCCESS(f"Flux is running at http://{host}:{port}/"))
        if processes > 1:
            self.stdout.write(f"  {processes} web processes on one port, Redis between them ({settings.REDIS_URL}).")
        elif not settings.REDIS_URL:
            self.stdout.write(
                "  one web process (embedded: in-memory channel layer). To use every core, run Redis and set "
                f"REDIS_URL: then one web process per core starts ({os.cpu_count() or 1} here; FLUX_WEB_PROCESSES)."
            )
        if https_port:
            addresses = [a for a in lan if _is_ip(a)] or lan or [socket.gethostname()]
            for address in addresses:
                self.stdout.write(
                    f"  phones on your network: https://{address}:{https_port}/  (self-signed certificate: accept it once)"
                )
        self.stdout.write(signed)
        self.stdout.write("  background worker: " + ("off" if no_worker else "running") + ".  Ctrl-C stops everything.")
        self.stdout.flush()

        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        swept = time.monotonic()
        try:
            while not stopping:
                exited = False
                for i, proc in enumerate(procs):
                    if proc.poll() is None or stopping:
                        continue
                    exited = True
                    if i < processes and processes > 1:
                        # The others serve on; the pages it held reconnect to them.
                        self.stderr.write(f"web process {proc.pid} exited with {proc.returncode}; starting another")
                        procs[i] = web(i)
                        continue
                    self.stderr.write(
                        f"{proc.args[2] if len(proc.args) > 2 else proc.args} exited with {proc.returncode}; stopping"
                    )
                    stopping = True
                if exited or time.monotonic() - swept > SWEEP_SECONDS:
                    # A process that died while shots developed on it: they are marked failed, with a
                    # "develop again" button (the exited one at once, other machines' when they stop
                    # beating).
                    self.sweep()
                    swept = time.monotonic()
                time.sleep(0.5)
        finally:
            if listener is not None:
                listener.close()
            for proc in procs:
                if proc.poll() is None:
                    proc.terminate()
            for proc in procs:
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
