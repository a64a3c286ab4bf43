from django.conf import settings
from django.http import FileResponse
from django.urls import include, path
from django.views.decorators.cache import cache_control
from django.views.generic import RedirectView


@cache_control(max_age=86400, public=True)
def favicon(request):
    # Browsers ask for /favicon.ico on every page whatever the page's <link> says.
    return FileResponse(open(settings.BASE_DIR / "static" / "flux" / "favicon.ico", "rb"), content_type="image/x-icon")


urlpatterns = [
    path("favicon.ico", favicon),
    path("", RedirectView.as_view(pattern_name="capture:shoot", permanent=False)),
    path("accounts/", include("accounts.urls")),
    path("", include("capture.urls")),
    path("", include("reconstruction.urls")),
]
