"""ASGI entry point: HTTP through Django (static files included), WebSockets through Channels
behind the login session and an Origin check."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fluxsite.settings")
django_http = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs the apps loaded)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator, WebsocketDenier  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402
from django.core.exceptions import SuspiciousFileOperation  # noqa: E402
from django.http import Http404  # noqa: E402

from capture.routing import websocket_urlpatterns  # noqa: E402


class StaticFiles(ASGIStaticFilesHandler):
    """Static files; a path that climbs out of the static folders (``/static/../x``) is simply not
    found, rather than a server error."""

    def serve(self, request):
        try:
            return super().serve(request)
        except SuspiciousFileOperation:
            raise Http404("not found") from None


class SameOrigin:
    """A camera socket may only be opened by a page of this very server: where the browser says
    which host it connects to, the Origin must name that host *and port* (another site on the
    same machine, on another port, is another origin). ``AllowedHostsOriginValidator`` behind it
    checks the host against ALLOWED_HOSTS."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        headers = dict(scope.get("headers") or [])
        origin, host = headers.get(b"origin"), headers.get(b"host")
        if origin is not None and host is not None:
            netloc = origin.decode("latin-1").lower().split("://", 1)[-1].rstrip("/")
            if netloc != host.decode("latin-1").lower():
                return await WebsocketDenier()(scope, receive, send)
        return await self.app(scope, receive, send)


application = ProtocolTypeRouter(
    {
        "http": StaticFiles(django_http),
        "websocket": SameOrigin(AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))),
    }
)
