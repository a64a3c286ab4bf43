"""Pages and files of the user's own shots. Thin: reads go through the access helpers in
``capture.services`` (everything scoped by user, others' shots answer 404); writes go through its
services; every state change is a POST with CSRF."""

from __future__ import annotations

import datetime
import io
import json
import zipfile

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import prefetch_related_objects
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from reconstruction import credentials
from reconstruction import services as model_services
from reconstruction.core.elements import ELEMENTS, by_group
from reconstruction.core.intention import INTENTIONS, LABELS
from reconstruction.models import Verdict

from . import processes, services, shutter
from .models import Shot

GALLERY_PAGE = 24


@login_required
def shoot(request):
    recent = services.shots_for(request.user)[:6]
    return render(request, "capture/shoot.html", {"groups": by_group(), "recent": recent})


def _jpeg(field) -> FileResponse:
    if not field:
        raise Http404("no such image")
    try:
        return FileResponse(field.open("rb"), content_type="image/jpeg")
    except FileNotFoundError:
        raise Http404("the file is missing") from None


@login_required
def shot_original(request, shot_id):
    return _jpeg(services.get_shot(request.user, shot_id).original)


@login_required
def shot_recorded(request, shot_id):
    """The recorded photo: the full reconstruction, or the original when none was made or it was
    rejected."""
    return _jpeg(services.get_shot(request.user, shot_id).recorded)


@login_required
def shot_reconstruction(request, shot_id):
    return _jpeg(services.get_shot(request.user, shot_id).reconstruction)


@login_required
def shot_thumbnail(request, shot_id):
    shot = services.get_shot(request.user, shot_id)
    return _jpeg(shot.thumbnail or shot.original)


@login_required
def shot_stage(request, shot_id, index):
    """A softened preview as it was shown, for the replay."""
    shot = services.get_shot(request.user, shot_id)
    return _jpeg(get_object_or_404(shot.shown, index=index).image)


@login_required
def shot_take_image(request, shot_id, face, index):
    """One of a group shot's kept takes: a person's own face from the seconds before the shutter."""
    shot = services.get_shot(request.user, shot_id)
    return _jpeg(get_object_or_404(shot.takes, face=face, index=index).image)


@login_required
@require_POST
def shot_take(request, shot_id):
    """Develop a group shot again with another of one person's takes (the shot page's thumbnails):
    the same checks run, and the pick counts as the user's verdict."""
    try:
        face, index = int(request.POST.get("face", "")), int(request.POST.get("index", ""))
    except ValueError:
        raise Http404("no such take") from None
    try:
        shot, take = services.choose_take(request.user, shot_id, face, index, processes.me())
    except ValueError as exc:
        messages.error(request, f"{str(exc).capitalize()}.")
        return redirect("capture:shot", shot_id=shot_id)
    user = request.user
    job = lambda: shutter.develop_again(user, shot.pk, (take.face, take.part, take.index))  # noqa: E731
    if shutter.fair_shots().submit(user.pk, job) is None:
        services.mark_shot_failed(shot, "your other shots are still developing; develop this one again in a moment")
        messages.error(request, "Your other shots are still developing: try again in a moment.")
    else:
        messages.success(request, f"Developing again with face {face + 1}'s {take.part} from {take.age:.1f} s before.")
    return redirect("capture:shot", shot_id=shot_id)


@login_required
def gallery(request):
    day = None
    if request.GET.get("date"):
        try:
            day = datetime.date.fromisoformat(request.GET["date"])
        except ValueError:
            messages.error(request, "Dates look like 2026-11-24.")
    intention = request.GET.get("intention", "")
    feedback = request.GET.get("feedback", "")
    if intention not in ("", *INTENTIONS) or feedback not in ("", Shot.NO_FEEDBACK, *Verdict.values):
        raise Http404("unknown filter")
    page = Paginator(services.gallery(request.user, day, intention, feedback), GALLERY_PAGE).get_page(
        request.GET.get("page")
    )
    for shot in page:
        # Each photo's Content Credentials badge (the verdict is cached by the file's digest).
        found = _credentials(shot) if shot.status == Shot.DONE else None
        shot.credentials_state = found.state if found else ""
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "capture/gallery.html",
        {
            "page": page,
            "date": request.GET.get("date", ""),
            "intention": intention,
            "feedback": feedback,
            "intentions": [(i, LABELS[i]) for i in INTENTIONS],
            "query": query.urlencode(),
            "feedback_states": [(Shot.NO_FEEDBACK, "no feedback"), *Verdict.choices],
        },
    )


def replay_json(shot) -> list[dict]:
    """The stages as they were shown, with the URL of each image (the replay plays these)."""
    out = []
    for row in shot.shown.all():
        item = {
            k: row.record.get(k)
            for k in ("index", "stage", "groups", "strength", "regions", "note", "placeholder", "divergence")
        }
        if row.kind == "original":
            item["image"] = reverse("capture:shot-original", args=[shot.id])
        elif row.kind == "preview" and row.image:
            item["image"] = reverse("capture:shot-stage", args=[shot.id, row.index])
        elif row.kind == "reconstruction":
            item["image"] = reverse(
                "capture:shot-reconstruction" if shot.reconstruction else "capture:shot-original", args=[shot.id]
            )
        out.append(item)
    return out


@login_required
def shot_page(request, shot_id):
    shot = services.get_shot(request.user, shot_id)
    # The replay rows are read once: the stages below and the replay both use them.
    prefetch_related_objects([shot], "shown")
    after = shot.reconstructed_elements or {}
    rows = [
        {"element": e, "before": shot.elements.get(e.name), "after": after.get(e.name)}
        for e in ELEMENTS
        if shot.elements.get(e.name) is not None or after.get(e.name) is not None
    ]
    final = next((s for s in reversed(shot.stages) if s.get("stage") == "reconstruction"), None)
    found = _credentials(shot) if shot.status == Shot.DONE else None
    return render(
        request,
        "capture/shot.html",
        {
            "shot": shot,
            "rows": rows,
            "final": final,
            "credentials": found,
            "credentials_words": credentials.plain_words(found) if found else [],
            "replay": replay_json(shot),
            "feedback_history": model_services.feedback_on(request.user, shot.pk),
            "takes": _takes_by_face(shot),
        },
    )


def _takes_by_face(shot) -> dict[int, list]:
    by_face: dict[int, list] = {}
    for take in shot.takes.all():
        by_face.setdefault(take.face, []).append(take)
    return by_face


@login_required
@require_POST
def shot_feedback(request, shot_id):
    verdict = request.POST.get("verdict", "")
    wants_json = request.headers.get("Accept", "").startswith("application/json")  # the shooting page's fetch
    try:
        fb = services.give_feedback(request.user, shot_id, verdict)
    except ValueError as exc:
        if wants_json:
            return JsonResponse({"error": str(exc)}, status=400)
        messages.error(request, str(exc))
        return redirect("capture:shot", shot_id=shot_id)
    text = (
        "Accepted: the reconstruction is your photo, and your models learn from it."
        if fb.verdict == Verdict.ACCEPTED
        else "Rejected: the original is your photo; your models learn from it and this intention will aim closer to what you shot."
    )
    if wants_json:
        return JsonResponse(
            {"verdict": fb.verdict, "message": text, "table_shift": fb.table_shift, "training": fb.groups}
        )
    messages.success(request, text)
    return redirect("capture:shot", shot_id=shot_id)


@login_required
@require_POST
def shot_develop(request, shot_id):
    """Develop again a shot whose development failed (its web process died, or a model crashed),
    from its stored original, on this process's reconstruction threads."""
    try:
        shot = services.develop_again(request.user, shot_id, processes.me())
    except ValueError as exc:
        messages.error(request, f"{str(exc).capitalize()}.")
        return redirect("capture:shot", shot_id=shot_id)
    user = request.user
    if shutter.fair_shots().submit(user.pk, lambda: shutter.develop_again(user, shot.pk)) is None:
        services.mark_shot_failed(shot, "your other shots are still developing; develop this one again in a moment")
        messages.error(request, "Your other shots are still developing: try again in a moment.")
    else:
        messages.success(request, "Developing again from the original.")
    return redirect("capture:shot", shot_id=shot_id)


def _credentials(shot) -> credentials.Credentials | None:
    """The recorded photo's Content Credentials, checked; None when its file is missing."""
    try:
        with shot.recorded.open("rb") as fh:
            return credentials.check(fh.read())
    except (FileNotFoundError, ValueError):
        return None


@login_required
def shot_credentials(request, shot_id):
    """The recorded photo's manifest as the C2PA library reports it, and Flux's verdict on it."""
    shot = services.get_shot(request.user, shot_id)
    found = _credentials(shot)
    if found is None or found.state == "none":
        raise Http404("this photo carries no Content Credentials")
    return JsonResponse(credentials.as_json(found))


@login_required
def shot_status(request, shot_id):
    """Whether the shot is still developing (its page asks until it is not)."""
    shot = services.get_shot(request.user, shot_id)
    return JsonResponse({"status": shot.status, "message": shot.message})


@login_required
@require_POST
def shot_delete(request, shot_id):
    services.delete_shot(request.user, shot_id)
    messages.success(request, "Shot deleted, with its files.")
    return redirect("capture:gallery")


@login_required
def shot_download(request, shot_id):
    shot = services.get_shot(request.user, shot_id)
    what = request.GET.get("what", "both")
    stamp = shot.created_at.strftime("%Y%m%d-%H%M%S")
    if what == "original":
        response = _jpeg(shot.original)
        response["Content-Disposition"] = f'attachment; filename="flux-{stamp}-original.jpg"'
        return response
    if what == "reconstruction":
        response = _jpeg(shot.reconstruction)
        response["Content-Disposition"] = f'attachment; filename="flux-{stamp}-reconstruction.jpg"'
        return response
    if what == "recorded":  # the photo as recorded, with its Content Credentials
        response = _jpeg(shot.recorded)
        response["Content-Disposition"] = f'attachment; filename="flux-{stamp}-{shot.recorded_kind}.jpg"'
        return response
    if what != "both":
        raise Http404("download original, reconstruction, recorded or both")
    files = {"original": shot.original, "reconstruction": shot.reconstruction, "kept": shot.kept}
    read = {}
    try:
        for kind, field in files.items():
            if field:
                with field.open("rb") as fh:
                    read[field.name] = (kind, fh.read())
    except FileNotFoundError:
        raise Http404("the shot's files are missing") from None
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for kind, data in read.values():
            archive.writestr(f"flux-{stamp}-{kind}.jpg", data)
        # The recorded photo's C2PA manifest, as the library reads it, beside the files.
        found = credentials.check(read[shot.recorded.name][1])
        if found.state != "none":
            archive.writestr(f"flux-{stamp}-manifest.json", json.dumps(credentials.as_json(found), indent=2))
    response = HttpResponse(buffer.getvalue(), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="flux-{stamp}.zip"'
    return response


@login_required
def history(request):
    return render(request, "capture/history.html", {"events": services.history(request.user)})
