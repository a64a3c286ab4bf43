from django.contrib.auth.decorators import login_required
from django.http import FileResponse
from django.shortcuts import render

from reconstruction.elements import by_group

from . import services


@login_required
def shoot(request):
    recent = services.shots_for(request.user)[:6]
    return render(request, "capture/shoot.html", {"groups": by_group(), "recent": recent})


@login_required
def shot_original(request, shot_id):
    shot = services.get_shot(request.user, shot_id)
    return FileResponse(shot.original.open("rb"), content_type="image/jpeg")


@login_required
def shot_recorded(request, shot_id):
    """The recorded photo: the full reconstruction, or the original when none was made."""
    shot = services.get_shot(request.user, shot_id)
    return FileResponse(shot.recorded.open("rb"), content_type="image/jpeg")
