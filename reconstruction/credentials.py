"""Content Credentials (C2PA) of recorded photos, around ``reconstruction.core.credentials``: this
installation's signing authority, what a shot's manifest says, and whether a file's credentials
hold, in plain words for the pages.

The manifest says what the shot page says: the original as the parent, one ``c2pa.edited`` action
per model that changed the photo (its group, version and the degrees it moved), and Flux's record
(degrees before and after, the intention and where it came from, the rule's targets, what was
left out and why, the preview the user saw). Nothing of the user, no server path.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
from pathlib import Path

from django.conf import settings
from django.core.cache import cache

from reconstruction.core import credentials as c2pa_core
from reconstruction.core.elements import BY_NAME
from reconstruction.core.intention import LABELS

log = logging.getLogger(__name__)

CredentialsError = c2pa_core.CredentialsError
Credentials = c2pa_core.Credentials

_lock = threading.Lock()
_authority: c2pa_core.Authority | None = None


def authority() -> c2pa_core.Authority:
    """The signing authority: the deployment's own chain when settings name one, else this
    installation's CA (made on first use, reused ever after). Kept for the process's life."""
    global _authority
    with _lock:
        if _authority is None:
            if settings.FLUX_C2PA_CHAIN or settings.FLUX_C2PA_KEY:
                if not (settings.FLUX_C2PA_CHAIN and settings.FLUX_C2PA_KEY):
                    raise CredentialsError("FLUX_C2PA_CHAIN and FLUX_C2PA_KEY must be set together")
                _authority = c2pa_core.Authority.from_files(
                    Path(settings.FLUX_C2PA_CHAIN),
                    Path(settings.FLUX_C2PA_KEY),
                    Path(settings.FLUX_C2PA_TRUST) if settings.FLUX_C2PA_TRUST else None,
                    settings.FLUX_C2PA_ALG,
                )
            else:
                _authority = c2pa_core.authority(settings.FLUX_C2PA_DIR, settings.FLUX_C2PA_NAME)
        return _authority


def forget_authority() -> None:
    """Read the authority afresh on next use (tests that change the settings)."""
    global _authority
    with _lock:
        _authority = None


def _rounded(degrees: dict | None) -> dict:
    return {k: (None if v is None else round(float(v), 3)) for k, v in (degrees or {}).items()}


def describe(
    *,
    before: dict,
    after: dict | None,
    rule: dict,
    models: dict,
    intention: dict,
    stages: list[dict],
    mode: int | None,
    made: list[str],
    verdict: str | None = None,
) -> tuple[list[c2pa_core.Edit], dict]:
    """The ``c2pa.edited`` actions of the models in ``made`` (those that changed the recorded
    photo) and Flux's record: the degrees ``before`` and ``after``, the ``rule`` and the
    ``intention`` as planned (their JSON), the ``models``' versions, the ``stages`` shown in
    preview ``mode``, and the user's ``verdict`` where one changed the photo."""
    steps = {s["group"]: s for s in rule.get("steps", [])}
    before, after = before or {}, after or {}
    targets = {n: t for s in rule.get("steps", []) for n, t in s.get("targets", {}).items()}
    edits = []
    made_stage = next((s for s in stages if s.get("stage") == "reconstruction"), {})
    for group in made:
        moved = {}
        for name in steps.get(group, {}).get("targets", {}):
            was, now = before.get(name), after.get(name)
            if was is not None and now is not None:
                moved[name] = (round(float(was), 3), round(float(now), 3))
        words = ", ".join(f"{BY_NAME[n].label.lower()} {a:.2f} → {b:.2f}" for n, (a, b) in moved.items())
        version = int(models.get(group, 0) or 0)
        description = f"Flux's {group} model (version {version}) " + (f"moved {words}" if words else "edited")
        if group == "faces":
            taken = [f for f in made_stage.get("faces", []) if f.get("chosen")]
            description = "each person's best take (their own face from the seconds before the shutter): " + "; ".join(
                f"face {f['index'] + 1}'s {' and '.join(sorted(f['chosen']))}" for f in taken
            )
        edits.append(c2pa_core.Edit(group=group, version=version, degrees=moved, description=description))
    intention = intention or {}
    record = {
        "intention": {
            "name": intention.get("name"),
            "label": LABELS.get(intention.get("name", ""), intention.get("name")),
            "source": intention.get("source"),
        },
        "degrees": {"before": _rounded(before), "after": _rounded(after) if made else _rounded(before)},
        "models": {g: int(v) for g, v in (models or {}).items()},
        "targets": {n: round(float(t), 3) for n, t in targets.items()},
        # What the rule did not ask of a model, and what the self-check left out of the photo.
        "skipped": [{"group": s["group"], "why": s["reason"]} for s in rule.get("skipped", [])],
        "self_check": {
            "left_out": made_stage.get("left_out", []),
            "raised": made_stage.get("raised", []),
            "failed": made_stage.get("failed", []),
            "checked": made_stage.get("checked", {}),
            # Whose faces (the user's own frames) lent pixels, and which were passed over and why.
            "exemplars": made_stage.get("exemplars", {}),
        },
        # A group shot: what each face missed, what it took from its own takes, or why it was left.
        "faces": [
            {
                "face": f["index"] + 1,
                "misses": f.get("misses", []),
                "took": {part: f["takes"][k]["age"] for part, k in f.get("chosen", {}).items()},
                "left": f.get("left", []),
            }
            for f in made_stage.get("faces", [])
        ],
        "preview": {
            "mode": mode,
            "stages": [
                {
                    "stage": s.get("stage"),
                    "groups": s.get("groups", []),
                    "strength": s.get("strength"),
                    "divergence": (s.get("divergence") or {}).get("score"),
                }
                for s in stages
            ],
        },
        "kept_original": not made,
    }
    if verdict:
        record["verdict"] = verdict
    return edits, _finite(record)


def _finite(value):
    """JSON data without NaN or infinities (a figure the self-check could not measure), which
    the manifest cannot hold."""
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def sign(photo: bytes, original: bytes, edits, record) -> bytes:
    """``photo`` carrying its signed manifest (an edit of ``original``)."""
    return c2pa_core.sign(photo, original, edits, record, authority(), settings.FLUX_C2PA_TSA_URL or None)


def check(jpeg: bytes) -> Credentials:
    """What ``jpeg``'s Content Credentials say, validated against this installation's trust
    anchors. The verdict is cached by the file's digest: the gallery asks for every photo."""
    key = "c2pa:" + hashlib.blake2b(jpeg, digest_size=16).hexdigest()
    found = cache.get(key)
    if found is None:
        try:
            anchors = authority().trust_anchors_pem
        except CredentialsError as exc:
            log.warning("cannot check Content Credentials: %s", exc)
            anchors = None
        found = c2pa_core.read(jpeg, anchors)
        cache.set(key, found, 3600)
    return found


def as_json(found: Credentials) -> dict:
    """What the manifest says (Flux's record as stored) and the library's whole report. The
    report alone will not do: it shows a JSON array of numbers as a base64 string."""
    return {
        "state": found.state,
        "signer": found.signer,
        "issuer": found.issuer,
        "kept_original": found.kept_original,
        "errors": found.errors,
        "actions": found.actions,
        "record": found.record,
        "manifest": json.loads(found.manifest_json) if found.manifest_json else None,
    }


def plain_words(found: Credentials) -> list[str]:
    """What a manifest says, one sentence a line, for the shot page."""
    if found.state == "none":
        return []
    lines = []
    if found.signer:
        lines.append(f"Signed by {found.signer}" + (f", certified by {found.issuer}." if found.issuer else "."))
    for action in found.actions:
        name = action.get("action")
        if name == "c2pa.opened":
            lines.append("Opened the original photo (kept as the parent ingredient).")
        elif name == c2pa_core.EDITED:
            lines.append(action.get("description") or "Edited by a trained model.")
        elif name == c2pa_core.ORIGINAL_KEPT:
            lines.append("Nothing was changed: this is the original, kept.")
    record = found.record or {}
    intention = record.get("intention") or {}
    if intention.get("label"):
        lines.append(
            f"Intention: {intention['label']}" + (f" ({intention['source']})." if intention.get("source") else ".")
        )
    for left in [*record.get("skipped", []), *(record.get("self_check") or {}).get("left_out", [])]:
        if left.get("why"):
            lines.append(f"Left out ({left.get('group')}): {left['why']}")
    if record.get("verdict"):
        lines.append(f"You {record['verdict']} the reconstruction.")
    return lines
