"""Serve the dashboard: waitress on settings.host/port (Dash's dev server only with CNNLENS_DEBUG).

`python -m dashboard` runs this. The Flask dev server is for development only; waitress is a
production WSGI server that needs no compiler and runs everywhere Python does.

Waitress reads a whole request body (to memory, then to a temporary file) before the app sees
it, so Flask's MAX_CONTENT_LENGTH and the login come too late for a large body: waitress gets the
same limit, and refuses a body whose Content-Length is over it from the header alone.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

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
        # waitress refuses a body of this size or more; Flask allows max_request_bytes itself,
        # except on POST /api/datasets, whose uploads may reach CNNLENS_DATASET_MAX_BYTES (waitress
        # spools a large body to a temporary file, not memory; lower that setting to lower this).
        "max_request_body_size": max(settings.max_request_bytes, settings.dataset_max_bytes) + 1,
        "connection_limit": CONNECTIONS,
        "channel_timeout": CHANNEL_TIMEOUT,
        "expose_tracebacks": False,
    }


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
    from waitress import serve

    serve(app.server, host=settings.host, port=settings.port, **waitress_options(settings))


if __name__ == "__main__":
    main()
