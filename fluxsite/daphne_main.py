"""daphne with one protocol option changed: a WebSocket message over the size limit is answered
with the close code 1009 ("message too big") and a reason, instead of a dropped TCP connection
(autobahn's ``failByDrop``), so the page can tell the user why. Run as ``python -m
fluxsite.daphne_main`` with daphne's own arguments."""

from daphne import server, ws_protocol
from daphne.cli import CommandLineInterface


class WebSocketFactory(ws_protocol.WebSocketFactory):
    def setProtocolOptions(self, **options):
        options.setdefault("failByDrop", False)
        super().setProtocolOptions(**options)


def main() -> None:
    server.WebSocketFactory = WebSocketFactory  # daphne builds its factory by this name
    CommandLineInterface.entrypoint()


if __name__ == "__main__":
    main()
