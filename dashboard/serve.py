"""Serve the dashboard: waitress on settings.host/port (Dash's dev server only with CNNLENS_DEBUG).

`python -m dashboard` runs this. The Flask dev server is for development only; waitress is a
production WSGI server that needs no compiler and runs everywhere Python does.
"""

from __future__ import annotations

import logging

from dashboard.app import create_app
from shared.settings import get_settings


def main() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = get_settings()
    app = create_app()
    shown_host = "localhost" if settings.host in ("0.0.0.0", "::") else settings.host
    print(f"CNN Lens dashboard on http://{shown_host}:{settings.port}/", flush=True)
    if settings.debug:
        app.run(host=settings.host, port=settings.port, debug=True)
        return
    from waitress import serve

    serve(app.server, host=settings.host, port=settings.port, threads=8, ident="cnnlens")


if __name__ == "__main__":
    main()
