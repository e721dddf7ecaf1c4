"""Serve the dashboard: waitress on settings.host/port (Dash's dev server only with CNNLENS_DEBUG).

`python -m dashboard` runs this. The Flask dev server is for development only; waitress is a
production WSGI server that needs no compiler and runs everywhere Python does.

Waitress reads a whole request body (to memory, then to a temporary file) before the app sees
it, so Flask's MAX_CONTENT_LENGTH and the login come too late for a large body. Waitress has one
body limit for every route, and dataset uploads need a far larger one than anything else, so the
server's request parser is given two (`route_limited_channel`): POST /api/datasets may send up to
CNNLENS_DATASET_MAX_BYTES, every other request CNNLENS_MAX_REQUEST_BYTES. A Content-Length over
its route's limit is refused from the header alone, and a chunked body as soon as it passes it,
before the app or the login sees the request.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.utilities import RequestEntityTooLarge

from dashboard.app import create_app
from shared.settings import Settings, get_settings

THREADS = 8
# Open connections at once; each may hold up to a request body in waitress' buffers.
CONNECTIONS = 48
# Seconds an idle (or trickling) connection is kept open.
CHANNEL_TIMEOUT = 60


def waitress_options(settings: Settings) -> dict[str, Any]:
    """What `waitress.serve` is given besides the app, host and port."""
    return {
        "threads": THREADS,
        "ident": "cnnlens",
        # waitress refuses a body of this size or more on any route; route_limited_channel holds
        # every route but the dataset upload to max_request_bytes.
        "max_request_body_size": max(settings.max_request_bytes, settings.dataset_max_bytes) + 1,
        "connection_limit": CONNECTIONS,
        "channel_timeout": CHANNEL_TIMEOUT,
        "expose_tracebacks": False,
    }


UPLOAD_ROUTES = frozenset({("POST", "/api/datasets")})  # the routes that may send a dataset


def route_limited_channel(settings: Settings) -> type[HTTPChannel]:
    """A waitress channel whose request parser holds each route to its own body limit: the
    dataset upload to waitress' own (the larger) limit, every other request to
    CNNLENS_MAX_REQUEST_BYTES, refused with a 413 from the header, or mid-body when chunked."""
    limit = settings.max_request_bytes

    class RouteLimitedParser(HTTPRequestParser):
        def received(self, data: bytes) -> int:
            consumed = super().received(data)
            error: Any = getattr(self, "error", None)
            if (
                error is None
                and self.headers_finished
                and not self._may_upload()
                and max(self.content_length, self.body_bytes_received) > limit
            ):
                self.error = RequestEntityTooLarge(f"exceeds max_body of {limit}")
                self.completed = True
            return int(consumed)

        def _may_upload(self) -> bool:
            return (self.command, (self.path or "").rstrip("/")) in UPLOAD_ROUTES

    class RouteLimitedChannel(HTTPChannel):
        parser_class = RouteLimitedParser

    return RouteLimitedChannel


def make_server(wsgi_app: Any, settings: Settings, **options: Any) -> Any:
    """The waitress server `python -m dashboard` runs (tests give it host and port options)."""
    from waitress import create_server

    given = {"host": settings.host, "port": settings.port, **waitress_options(settings), **options}
    server = create_server(wsgi_app, **given)
    server.channel_class = route_limited_channel(settings)
    return server


def main() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = get_settings()
    problem = settings.auth_problem()
    if problem:
        sys.exit(f"CNN Lens will not start: {problem}")
    app = create_app()
    shown_host = "localhost" if settings.host in ("0.0.0.0", "::") else settings.host
    print(f"CNN Lens dashboard on http://{shown_host}:{settings.port}/", flush=True)
    if settings.debug:
        app.run(host=settings.host, port=settings.port, debug=True)
        return
    server = make_server(app.server, settings)
    server.run()


if __name__ == "__main__":
    main()
