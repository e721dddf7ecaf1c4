"""API views that manage a run: retry it, and rename it or set its tags and notes.

Both call `dashboard.service`, which the run page's buttons call too.
"""

from __future__ import annotations

from flask import Response

from dashboard import service
from dashboard.api_common import (
    ApiError,
    idempotency_key,
    invalid,
    json_response,
    load_run,
    read_json_body,
    shown,
    store,
)
from dashboard.api_runs import created, detailed
from shared.config import ConfigError
from shared.idempotency import HEADER, IdempotencyConflict


def retry_run(run_id: str) -> Response:
    key = idempotency_key()
    load_run(run_id, with_history=False)
    try:
        run = service.retry_run(store(), run_id, idempotency_key=key)
    except IdempotencyConflict as exc:
        raise invalid(HEADER, str(exc)) from None
    except service.RunStateError as exc:
        raise ApiError(409, str(exc)) from None
    except ConfigError as exc:  # the config no longer validates on this machine
        raise ApiError(422, errors=exc.errors) from None
    if run is None:  # deleted in the meantime
        raise ApiError(404, f"no run with id {shown(run_id)}")
    return created(run)


def update_run(run_id: str) -> Response:
    load_run(run_id, with_history=False)
    data = read_json_body(empty=None)
    if data is None:
        raise ApiError(
            422,
            errors=[{"field": "body", "message": "send a JSON object with name, tags or notes"}],
        )
    try:
        run = service.annotate_run(store(), run_id, data)
    except ConfigError as exc:
        raise ApiError(422, errors=exc.errors) from None
    if run is None:
        raise ApiError(404, f"no run with id {shown(run_id)}")
    return json_response(detailed(run))
