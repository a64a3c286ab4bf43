"""daphne with one protocol option changed: a WebSocket message over the size limit is answered
with the close code 1009 ("message too big") and a reason, instead of a dropped TCP connection
(autobahn's ``failByDrop``), so the page can tell the user why; and the shutter's models loaded
while the server starts. Run as ``python -m fluxsite.daphne_main`` with daphne's own arguments."""

import threading
import time

from daphne import server, ws_protocol
from daphne.cli import CommandLineInterface

import fluxsite.asgi  # noqa: F401  (Django set up first: the shutter's modules are Django's)

# isort: split
from capture import shutter


class WebSocketFactory(ws_protocol.WebSocketFactory):
    def setProtocolOptions(self, **options):
        options.setdefault("failByDrop", False)
        super().setProtocolOptions(**options)


def warm_up() -> None:
    """The shutter's models and judges loaded as the server starts (a few seconds on two cores),
    so that the first shot a person takes does not wait for them (it took 1.0-1.4 s instead of
    0.4 with four faces)."""
    started = time.monotonic()
    try:
        shutter.warmed()
    except Exception as exc:  # a missing model file: the first shot says which
        print(f"the shutter's models were not loaded in advance ({exc}); the first shot loads them", flush=True)
        return
    print(f"the shutter's models and judges are loaded ({time.monotonic() - started:.1f} s)", flush=True)


def main() -> None:
    server.WebSocketFactory = WebSocketFactory  # daphne builds its factory by this name
    threading.Thread(target=warm_up, name="flux-warm-up", daemon=True).start()
    CommandLineInterface.entrypoint()


if __name__ == "__main__":
    main()
