"""GET /api/health: is the task queue reachable, does the store answer, which version runs."""

from __future__ import annotations

from flask import Response

from dashboard.api.common import json_response, store
from dashboard.api.models import Health
from shared.queue import broker_reachable


def version() -> str:
    try:
        from importlib.metadata import version as dist_version

        return dist_version("cnnlens")
    except Exception:  # not installed as a distribution (running from a checkout)
        return "0.1.0"


def health() -> Response:
    runs = store()
    broker = broker_reachable(runs.settings)
    ok_store = runs.ping()
    ok = broker and ok_store
    body = Health(
        status="ok" if ok else "degraded", broker=broker, store=ok_store, version=version()
    )
    return json_response(body.model_dump(), 200 if ok else 503)
