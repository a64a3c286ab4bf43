"""The only code that writes capture rows. Views and consumers call these."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from django.db import DatabaseError, transaction
from django.shortcuts import get_object_or_404

from reconstruction import credentials
from reconstruction import services as model_services
from reconstruction.core.generators import TRAINABLE_GROUPS
from reconstruction.core.imageio import decode_jpeg, encode_jpeg, fit_within
from reconstruction.models import Verdict
from reconstruction.storage import put_jpeg

from .models import Shot, ShotStage, ShotTake

log = logging.getLogger(__name__)


def shots_for(user):
    """Every query for shots goes through here, so a user only ever sees their own."""
    return Shot.objects.filter(user=user)


def get_shot(user, shot_id) -> Shot:
    """The user's shot, or 404 (also for someone else's)."""
    return get_object_or_404(shots_for(user), pk=shot_id)


# A shot whose web process died while developing it (capture.processes).
ORPHANED = "the server process developing this shot stopped before it finished; the original is kept: develop it again"


def save_shot(
    user, jpeg: bytes, analysis: dict, status: str = Shot.DONE, developer: str = "", asked: dict | None = None
) -> Shot:
    """Store the original exactly as captured, with every degree measured on it. ``developer``:
    the web process that will develop it; ``asked``: the shutter's intention and wish."""
    shot = Shot(
        user=user,
        status=status,
        developer=developer,
        asked=asked or {},
        width=analysis["width"],
        height=analysis["height"],
        elements=analysis["elements"],
        faces=analysis["faces"],
    )
    put_jpeg(shot.original, jpeg)
    shot.save()
    return shot


def attempts_at_scene(user, shot: Shot, window_s: float = 180.0) -> int:
    """This shot's number among the user's recent shots of the same scene ([0059]): same number of
    faces, the main subject in about the same place and size, within the last few minutes."""
    since = shot.created_at - timedelta(seconds=window_s)
    earlier = shots_for(user).filter(created_at__gte=since, created_at__lt=shot.created_at).only("elements", "faces")
    here = shot.elements

    def close(a, b, name, tolerance=0.15):
        x, y = a.get(name), b.get(name)
        return (x is None and y is None) or (x is not None and y is not None and abs(x - y) <= tolerance)

    same = [
        s
        for s in earlier
        if len(s.faces) == len(shot.faces)
        and all(close(here, s.elements, n) for n in ("composition.subject_x", "composition.subject_size"))
    ]
    return 1 + len(same)


def record_reconstruction(
    shot: Shot,
    jpeg: bytes | None,
    plan: dict,
    stages: list[dict],
    degrees: dict,
    message: str = "",
    previews: dict[int, bytes] | None = None,
    thumbnail: bytes | None = None,
    takes: list[dict] | None = None,
) -> Shot | None:
    """Record the shot's reconstruction (claim 8: the full one, never a softened preview) and what
    was shown. Without a reconstruction (no models, or every model failed) the original stays the
    recorded photo. The previews' images are kept apart, for the replay only. ``takes``: a group
    shot's best takes found at the shutter (``capture.shutter.kept_takes``), kept for its page (a
    shot developed again keeps those it has, marked anew by what the reconstruction's stage says
    was blended in). None when the user deleted the shot while it developed: a deleted shot stays
    deleted, and nothing is written."""
    written = []
    shot.intention = plan.get("intention", {})
    shot.intention_name = shot.intention.get("name", "")
    shot.rule = plan.get("rule", {})
    shot.models_used = plan.get("models", {})
    shot.preview_mode = plan.get("mode")
    if jpeg is not None:
        shot.reconstructed_elements = degrees
    made_stage = next((s for s in stages if s.get("stage") == "reconstruction"), {})
    made = made_stage.get("groups", [])
    # The recorded photo carries its Content Credentials: the reconstruction, or the original
    # signed as kept where no model changed it.
    signed, problem = _signed(shot, jpeg, made if jpeg is not None else [], stages=stages)
    if problem:
        message = f"{message} The photo was recorded without Content Credentials: {problem}".strip()
    try:
        with transaction.atomic():
            # Lock the row (where the database can) so a delete waits for the recording or wins it.
            if not Shot.objects.select_for_update().filter(pk=shot.pk).exists():
                return None
            if jpeg is not None:
                put_jpeg(shot.reconstruction, signed or jpeg)
                written.append(shot.reconstruction)
            elif signed is not None:
                put_jpeg(shot.kept, signed)
                written.append(shot.kept)
            if thumbnail is not None:
                put_jpeg(shot.thumbnail, thumbnail)
                written.append(shot.thumbnail)
            shot.message = message[:500]
            shot.status = Shot.DONE
            # An update only: a plain save() would insert the row again had it been deleted meanwhile.
            shot.save(force_update=True)
            for record in stages:
                row = ShotStage(shot=shot, index=record["index"], kind=record["stage"], record=record)
                image = (previews or {}).get(record["index"])
                if image is not None:
                    put_jpeg(row.image, image)
                    written.append(row.image)
                row.save()
            chosen = {(f["index"], k) for f in made_stage.get("faces", ()) for k in f["chosen"].values()}
            for take in takes or ():
                row = ShotTake(
                    shot=shot,
                    face=take["face"],
                    index=take["index"],
                    part=take["part"],
                    age=take["age"],
                    face_data=take["face_data"],
                    chosen=(take["face"], take["index"]) in chosen,
                )
                put_jpeg(row.image, take["jpeg"])
                written.append(row.image)
                row.save()
            if takes is None:
                shot.takes.update(chosen=False)
                for face, index in chosen:
                    shot.takes.filter(face=face, index=index).update(chosen=True)
    except DatabaseError:  # the forced update found no row, or a stage's row lost its shot
        if Shot.objects.filter(pk=shot.pk).exists():
            raise
        for field in written:
            field.storage.delete(field.name)
        return None
    return shot


def _signed(shot: Shot, jpeg: bytes | None, made: list[str], verdict=None, stages=None) -> tuple[bytes | None, str]:
    """The recorded photo with its signed manifest (``jpeg``, or the original kept when None),
    or None and why it could not be signed: the photo is recorded either way."""
    try:
        original = _read(shot.original)
        edits, record = credentials.describe(
            before=shot.elements,
            after=shot.reconstructed_elements,
            rule=shot.rule,
            models=shot.models_used,
            intention=shot.intention,
            stages=shot.stages if stages is None else stages,
            mode=shot.preview_mode,
            made=made,
            verdict=verdict,
        )
        return credentials.sign(jpeg if jpeg is not None else original, original, edits, record), ""
    except Exception as exc:  # a broken authority or SDK must not lose the shot
        log.exception("shot %s: could not sign its Content Credentials", shot.pk)
        return None, str(exc)[:200]


def mark_shot_failed(shot: Shot, message: str) -> None:
    Shot.objects.filter(pk=shot.pk).update(status=Shot.FAILED, message=message[:500])


def fail_orphaned_shots(gone: Callable[[str], bool]) -> list[tuple[int, str]]:
    """Mark failed every shot still developing on a web process that is ``gone`` (by its
    developer's name), so its page offers to develop it again. The (user id, shot id) of each."""
    developers = Shot.objects.filter(status=Shot.PROCESSING).values_list("developer", flat=True).distinct()
    failed = []
    for developer in [d for d in developers if gone(d)]:
        with transaction.atomic():
            rows = Shot.objects.select_for_update().filter(status=Shot.PROCESSING, developer=developer)
            failed += [(user_id, str(pk)) for user_id, pk in rows.values_list("user_id", "pk")]
            rows.update(status=Shot.FAILED, message=ORPHANED)
    return failed


def develop_again(user, shot_id, developer: str) -> Shot:
    """Take back a shot whose development failed, to develop it again from its original: what the
    earlier attempt left (a reconstruction, the stages shown) goes, the original stays."""
    with transaction.atomic():
        shot = get_object_or_404(shots_for(user).select_for_update(), pk=shot_id)
        if shot.status != Shot.FAILED:
            raise ValueError(
                "this shot is developing already" if shot.status == Shot.PROCESSING else "this shot is developed"
            )
        shot.takes.all().delete()  # found again by the new development (none without the stream)
        _take_back(shot, developer)
    return shot


def takes_of(shot: Shot):
    """The best takes a group shot kept, by face and place."""
    return list(shot.takes.all())


def choose_take(user, shot_id, face: int, index: int, developer: str) -> tuple[Shot, ShotTake]:
    """Take back a developed group shot to develop it again with the take the user picked for one
    face (its other faces as before, through the same checks). Another user's shot, or a take the
    shot does not have, answers 404."""
    with transaction.atomic():
        shot = get_object_or_404(shots_for(user).select_for_update(), pk=shot_id)
        take = get_object_or_404(ShotTake, shot=shot, face=face, index=index)
        if shot.status != Shot.DONE:
            raise ValueError("this shot is still developing" if shot.status == Shot.PROCESSING else "this shot failed")
        _take_back(shot, developer)
    return shot, take


def _take_back(shot: Shot, developer: str) -> None:
    """What a development left (a reconstruction, the stages shown) goes; the original stays."""
    for row in shot.shown.all():
        if row.image:
            row.image.delete(save=False)
    shot.shown.all().delete()
    for field in (shot.reconstruction, shot.thumbnail, shot.kept):
        if field:
            field.delete(save=False)
    shot.status, shot.developer, shot.message = Shot.PROCESSING, developer, ""
    shot.rule, shot.models_used, shot.reconstructed_elements = {}, {}, {}
    shot.save()


def delete_shot(user, shot_id) -> None:
    """The shot, its files, its replay record and its verdicts go; learning data it gave stays."""
    with transaction.atomic():
        shot = get_shot(user, shot_id)
        model_services.forget_shot(user, shot.pk)
        shot.delete()


def gallery(user, day=None, intention: str = "", feedback: str = ""):
    shots = shots_for(user).filter(status__in=[Shot.DONE, Shot.FAILED])
    if day is not None:
        shots = shots.filter(created_at__date=day)
    if intention:
        shots = shots.filter(intention_name=intention)
    if feedback:
        shots = shots.filter(feedback=feedback)
    return shots.only(
        "id",
        "created_at",
        "thumbnail",
        "original",
        "reconstruction",
        "kept",
        "intention_name",
        "feedback",
        "status",
        "user_id",
    )


def give_feedback(user, shot_id, verdict: str):
    """Accept or reject a shot's reconstruction ([0092]).

    Accepting keeps the reconstruction as the photo, rejecting makes the original the photo. The
    verdict, and what the models learn from it, is kept by ``reconstruction.services.record_verdict``
    (learning data, the intention table's shift away from a rejected edit); the models that made
    the edit are then fine-tuned with it in the background. The same verdict twice changes
    nothing the second time."""
    shot = get_shot(user, shot_id)
    if not shot.reconstruction:
        raise ValueError("this shot has no reconstruction to judge: the original is its photo")
    made = next((st for st in shot.stages if st.get("stage") == "reconstruction"), {})
    with transaction.atomic():
        Shot.objects.select_for_update().filter(pk=shot.pk).exists()  # one verdict at a time per shot
        edit = model_services.JudgedEdit(
            shot_id=shot.pk,
            intention=shot.intention_name,
            targets=shot.targets,
            # The models a verdict can fine-tune (each person's best take is no trained model).
            groups=sorted(g for g in shot.models_used if g in TRAINABLE_GROUPS),
            source=shot.elements,
            reached=shot.reconstructed_elements,
            exemplars={
                g: e["face"] for g, e in (made.get("exemplars") or {}).items() if isinstance(e, dict) and e.get("face")
            },
            read_original=lambda: _read(shot.original),
            read_reconstruction=lambda: _read(shot.reconstruction),
            width=shot.width,
            height=shot.height,
            faces=shot.faces,
        )
        fb, changed = model_services.record_verdict(user, verdict, edit)
        if not changed:
            return fb
        shot.feedback = verdict
        update = ["feedback"]
        if verdict == Verdict.REJECTED and not shot.kept:
            # The original is the photo now: it carries Content Credentials saying so.
            signed, _ = _signed(shot, None, [], verdict="rejected")
            if signed is not None:
                put_jpeg(shot.kept, signed)
                update.append("kept")
        shot.save(update_fields=update)
        _refresh_thumbnail(shot)
    model_services.learn_from_verdict(user, fb)
    return fb


def _read(field) -> bytes:
    with field.open("rb") as fh:
        return fh.read()


def thumbnail_jpeg(rgb) -> bytes:
    """The gallery's small copy of a recorded photo."""
    return encode_jpeg(fit_within(rgb, 360, 360), quality=80)


def _refresh_thumbnail(shot: Shot) -> None:

    rgb = decode_jpeg(_read(shot.recorded))
    if shot.thumbnail:
        shot.thumbnail.storage.delete(shot.thumbnail.name)
    put_jpeg(shot.thumbnail, thumbnail_jpeg(rgb))
    shot.save(update_fields=["thumbnail"])


def history(user, limit: int = 200) -> list[dict]:
    """Shots, trainings and feedback, newest first."""
    events = [
        {"at": s.created_at, "kind": "shot", "shot": s}
        for s in shots_for(user).only(
            "id", "created_at", "intention_name", "feedback", "thumbnail", "original", "user_id"
        )[:limit]
    ]
    events += [
        {"at": f.created_at, "kind": "feedback", "feedback": f} for f in model_services.feedback_for(user)[:limit]
    ]
    events += [
        {"at": r.created_at, "kind": "training", "run": r}
        for r in model_services.runs_for(user).select_related("result")[:limit]
    ]
    events.sort(key=lambda e: e["at"], reverse=True)
    return events[:limit]
