"""The socket's protocol is described in one place, and every message the server sends is built
there: a new message type or error code that is not described fails here."""

from __future__ import annotations

import re
from pathlib import Path

from capture import protocol

ROOT = Path(__file__).resolve().parents[2]
SENDERS = [ROOT / "capture" / name for name in ("consumers.py", "shutter.py", "live.py", "signals.py", "views.py")]


def test_every_message_the_server_sends_is_described():
    described = protocol.__doc__
    for kind in protocol.SERVER_MESSAGES:
        assert f'"type": "{kind}"' in described, kind
    built = [
        protocol.error("busy", "x"),
        protocol.hello("alice", {}),
        protocol.pong(),
        protocol.degrees(1, {}, 0),
        protocol.shot_saved({}),
        protocol.plan("s", {}),
        protocol.stage("s", {}),
        protocol.recorded("s", "original", "/u"),
    ]
    assert sorted(m["type"] for m in built) == sorted(protocol.SERVER_MESSAGES)


def test_no_message_is_built_outside_the_protocol_module():
    for path in SENDERS:
        for kind in re.findall(r'"type":\s*"([^"]+)"', path.read_text()):
            # Channel-layer events (dotted names) travel between server processes, not to pages.
            assert "." in kind, f"{path.name} builds a {kind!r} message itself; build it in capture/protocol.py"


def test_every_error_code_sent_is_listed_and_described():
    sources = "".join(
        p.read_text()
        for p in [*SENDERS, ROOT / "capture" / "protocol.py", ROOT / "reconstruction" / "core" / "imageio.py"]
    )
    sent = set(re.findall(r'(?:_error|protocol\.error|ProtocolError)\(\s*"(\w+)"', sources))
    sent |= set(re.findall(r'FrameError\([^\n]*,\s*"(\w+)"\)', sources)) | {"corrupt_frame"}  # FrameError's default
    assert {"login_required", "busy", "frame_too_large", "bad_json"} <= sent  # the patterns find them
    assert sent <= set(protocol.ERROR_CODES), sent - set(protocol.ERROR_CODES)
    for code in protocol.ERROR_CODES:
        assert f"``{code}``" in protocol.__doc__, code
