from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="capture:shoot", permanent=False)),
    path("accounts/", include("accounts.urls")),
    path("", include("capture.urls")),
    path("", include("reconstruction.urls")),
]
