"""The shooting socket's protocol, in one place.

Endpoint: ``/ws/shoot/`` (same origin as the page; a login session is required, otherwise the
socket is accepted and closed at once with code 4401; a foreign ``Origin`` is refused at the
handshake).

Client → server
  binary  a JPEG frame of the live stream (≤ FLUX_MAX_FRAME_BYTES, ≤ 1920×1080). The client
          sends the next one when the previous answer arrived (one in flight), and at most every
          100 ms; it resends after 1 s without an answer. The server keeps only the newest
          frame waiting (latest-frame-wins): frames that arrive while one is analysed replace
          each other and are counted as dropped.
  text    a JSON command, ``{"type": ...}``:
          ``{"type": "shutter", "intention": NAME or null, "wish": TEXT or null}``
                                    the next binary message is the shot: the frame the user
                                    froze, to be stored as the original. ``intention`` is one
                                    the user chose (fun, souvenir, portrait, travel, landscape;
                                    null: infer it), ``wish`` what they typed or said (≤ 300
                                    characters), e.g. "I wish it was sunny".
          ``{"type": "ping"}``      answered with ``{"type": "pong"}``.

Server → client (always text JSON)
  ``{"type": "hello", "user": NAME, "elements": [{name, group, label, low, high}, ...], "limits": {...},
     "intentions": [{name, label}, ...], "process": PID}`` (which web process holds this socket)
  ``{"type": "degrees", "seq": N, "width": W, "height": H, "faces": [{"box": [x, y, w, h] (0–1),
     "main": bool, "degrees": {...}}], "elements": {name: degree or null}, "ms": T, "dropped": D,
     "waited_ms": W, "busy": bool}`` (W: how long the frame waited for a free analysis thread; busy
     when that is over FLUX_BUSY_WAIT_MS: the server has more streams than cores, every stream
     still gets its turn, and the page says the meters slowed down)
     (with ``"unchanged": true`` where nothing in the frame moved beyond noise since the frame
     last analysed, under a second before: its degrees are repeated, not measured again)
  ``{"type": "shot_saved", "shot": {"id", "created_at", "width", "height", "elements", "faces", "url"}}``
     (also sent to the user's other open shooting pages, with ``"elsewhere": true``)
  After ``shot_saved``, for that shot and in this order:
  ``{"type": "plan", "shot": ID, "intention": {"name", "label", "source", "confidence", "reasons",
     "wished"}, "rule": {"steps": [{"group", "targets", "current", "ideal", "gap"}], "skipped":
     [{"group", "reason"}]}, "mode": 1|2|3, "models": {group: version}}``
  ``{"type": "stage", "shot": ID, "index": N, "stage": S, "groups": [...], "strength": F,
     "regions": [...], "degrees": {...}, "divergence": {"gaps", "score", "exceeded", "changed",
     "diverged"} (from the original), "to_reconstruction": {...} or null, "note": TEXT,
     "placeholder": {"kind": "card"|"colour", "colour", "text"} or null, "failed": [{"group",
     "reason"}], "left_out": [{"group", "why"}] and "checked" (the self-check's), "ms": T,
     "timings": {step: ms},
     "image": "data:image/jpeg;base64,..." (previews and the reconstruction)}``
     with S the stage's kind (``preview.Stage.kind``, ``ShotStage.kind``), in display order:
     ``original`` (index 0: the page already shows its own frozen frame), then any
     ``placeholder``, any ``preview`` (softened, shown only), and last ``reconstruction``, which
     also carries ``"recorded": "reconstruction"|"original"``, the recorded photo's ``"url"``,
     the shot's ``"page"``, a ``"message"`` (no models yet, a model failed, ...) and
     ``"exemplars"`` ({group: the face that lent its pixels}).
  ``{"type": "recorded", "shot": ID, "recorded": "reconstruction"|"original", "url": URL}`` once
     the photo and the replay record are stored (the reconstruction stage is sent before, to be
     seen sooner); also sent to the user's other open pages, with ``"elsewhere": true``.
     Stages of a second shot follow those of the first: shots are developed one after another.
  ``{"type": "error", "code": CODE, "message": TEXT}`` — the socket stays open. Codes (``ERROR_CODES``):
     ``login_required`` (then closed with 4401), ``frame_too_large``, ``corrupt_frame``, ``bad_json``, ``unknown_command``,
     ``expected_binary``, ``message_too_large``, ``flood``, ``analysis_failed``, ``shot_failed``,
     ``bad_intention``, ``reconstruction_failed`` (the original stays recorded; carries ``shot``),
     ``shot_deleted`` (the user deleted the shot while it developed: nothing was recorded; carries ``shot``),
     ``session_ended`` (the user logged out or changed their password; the socket then closes with 4401),
     ``shutter_too_fast`` and ``busy`` (the user's shutter pace or queue of developing shots is at
     its bound: the shot was not saved), ``too_many_sockets`` (then closed with 4429).
  ``{"type": "pong"}``

Close codes: 4401 not logged in (or the login ended); 4429 too many camera sockets for this user;
1009 a message over 8 MB (daphne's limit; up to it, an oversized frame gets ``frame_too_large``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from reconstruction.core.elements import ELEMENTS
from reconstruction.core.intention import INTENTIONS, LABELS

CLOSE_UNAUTHENTICATED = 4401
CLOSE_TOO_MANY = 4429
MAX_TEXT_BYTES = 64 * 1024
MAX_WISH_CHARS = 300
COMMANDS = ("shutter", "ping")


@dataclass(frozen=True)
class Command:
    type: str
    payload: dict


class ProtocolError(ValueError):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def parse_command(text: str) -> Command:
    if len(text.encode("utf-8", "surrogatepass")) > MAX_TEXT_BYTES:
        raise ProtocolError("message_too_large", f"text messages are limited to {MAX_TEXT_BYTES} bytes")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):  # a deeply nested array exhausts the parser's stack
        raise ProtocolError(
            "bad_json",
            'text messages must be JSON commands like {"type": "shutter"}; frames go as binary JPEG messages',
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise ProtocolError("bad_json", 'a command is a JSON object with a "type" field')
    if data["type"] not in COMMANDS:
        raise ProtocolError("unknown_command", f"unknown command {data['type'][:40]!r}; known: {', '.join(COMMANDS)}")
    if data["type"] == "shutter":
        intention, wish = data.get("intention"), data.get("wish")
        if intention in ("", "auto"):
            intention = None
        if intention is not None and intention not in INTENTIONS:
            raise ProtocolError(
                "bad_intention", f"unknown intention {str(intention)[:40]!r}; known: {', '.join(INTENTIONS)}"
            )
        if wish is not None and not isinstance(wish, str):
            raise ProtocolError("bad_intention", "the wish is text")
        data = {"type": "shutter", "intention": intention, "wish": (wish or "")[:MAX_WISH_CHARS] or None}
    return Command(type=data["type"], payload=data)


# --- server → client: every message the socket sends is built here ------------------------------

# Every error code the server sends, as described above.
ERROR_CODES = (
    "login_required",
    "frame_too_large",
    "corrupt_frame",
    "bad_json",
    "unknown_command",
    "expected_binary",
    "message_too_large",
    "flood",
    "analysis_failed",
    "shot_failed",
    "bad_intention",
    "reconstruction_failed",
    "shot_deleted",
    "session_ended",
    "shutter_too_fast",
    "busy",
    "too_many_sockets",
)


def encode(message: dict) -> str:
    return json.dumps(message)


def error(code: str, message: str, shot: str | None = None) -> dict:
    """An error; ``shot`` for one about a shot that was already saved."""
    return {"type": "error", "code": code, "message": message, **({"shot": shot} if shot else {})}


def hello(username: str, limits: dict) -> dict:
    return {
        "type": "hello",
        "user": username,
        "elements": [
            {"name": e.name, "group": e.group, "label": e.label, "low": e.low, "high": e.high} for e in ELEMENTS
        ],
        "limits": limits,
        "intentions": [{"name": n, "label": LABELS[n]} for n in INTENTIONS],
        # With several web processes (FLUX_WEB_PROCESSES), which one holds the socket.
        "process": os.getpid(),
    }


def pong() -> dict:
    return {"type": "pong"}


def degrees(seq: int, analysis: dict, dropped: int, waited_ms: float = 0.0, busy: bool = False) -> dict:
    return {
        "type": "degrees",
        "seq": seq,
        **analysis,
        "dropped": dropped,
        "waited_ms": round(waited_ms, 1),
        "busy": busy,
    }


def shot_saved(shot: dict, elsewhere: bool = False) -> dict:
    return {"type": "shot_saved", "shot": shot, "elsewhere": elsewhere}


def plan(shot: str, summary: dict) -> dict:
    """What the shutter will do: ``summary`` is ``plans.Plan.to_json()``."""
    return {"type": "plan", "shot": shot, **summary}


def stage(shot: str, record: dict) -> dict:
    """One stage to show; ``record`` is what the replay record keeps of it (index, stage, ...)."""
    return {"type": "stage", "shot": shot, **record}


def recorded(shot: str, kind: str, url: str, elsewhere: bool = False) -> dict:
    return {
        "type": "recorded",
        "shot": shot,
        "recorded": kind,
        "url": url,
        **({"elsewhere": True} if elsewhere else {}),
    }


SERVER_MESSAGES = ("hello", "degrees", "shot_saved", "plan", "stage", "recorded", "error", "pong")
