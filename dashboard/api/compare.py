"""API views that compare runs: matched filters, layer similarity (CKA), per-filter statistics.

Filter matching is cheap and answered at once. CKA and the statistics need the models, so they
are worker jobs: 200 with the cached result, or 202 with the job to poll at /api/jobs/{id}, in the
same shape as activation requests ({"status": "cached", "result": ...} / {"status": "queued"}).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response, request, url_for

from dashboard.api.common import json_response, load_run, query_int, shown, store
from dashboard.api.errors import ApiError, invalid
from dashboard.service import comparisons
from shared.config import CONTROL_CHARS, MAX_EPOCHS
from shared.queue import BrokerUnavailable

MAX_LAYER_NAME = 64
BOOLEAN = {"true": True, "1": True, "false": False, "0": False}


def _run_param(name: str) -> dict[str, Any]:
    value = request.args.get(name)
    if not value:
        raise invalid(name, "give a run id (32 hex digits)")
    return load_run(value, with_history=False)


def _layer_param(name: str, required: bool) -> str | None:
    value = request.args.get(name)
    if value is None or value == "":
        if required:
            raise invalid(name, "give a conv layer name, such as conv2d_1")
        return None
    if len(value) > MAX_LAYER_NAME or CONTROL_CHARS.search(value):
        raise invalid(name, f"is not a layer name: {shown(value)}")
    return value


def _bool_param(name: str) -> bool:
    raw = request.args.get(name, "false").lower()
    if raw not in BOOLEAN:
        raise invalid(name, "must be true or false")
    return BOOLEAN[raw]


def _answer(answer: dict[str, Any]) -> Response:
    """200 with a cached result, or 202 pointing at the job."""
    if answer["status"] == "cached":
        return json_response(answer, 200)
    job_url = url_for(".get_job", job_id=answer["job_id"])
    return json_response(answer | {"job_url": job_url}, 202, headers={"Location": job_url})


def _call(make: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """The service's answer, with its refusals turned into API errors."""
    try:
        return make()
    except comparisons.NotComparable as exc:
        raise invalid(exc.field, str(exc)) from None
    except comparisons.NotReady as exc:
        raise ApiError(409, str(exc)) from None
    except BrokerUnavailable:
        raise ApiError(503, "the task queue is not reachable now; try again in a moment") from None


def compare_filters() -> Response:
    run_a, run_b = _run_param("a"), _run_param("b")
    layer = _layer_param("layer", required=True)
    layer_b = _layer_param("layer_b", required=False)
    epoch = query_int("epoch", 0, MAX_EPOCHS)
    absolute = _bool_param("absolute")
    assert layer is not None
    return json_response(
        _call(lambda: comparisons.align(store(), run_a, run_b, layer, layer_b, epoch, absolute))
    )


def compare_cka() -> Response:
    run_a, run_b = _run_param("a"), _run_param("b")
    return _answer(_call(lambda: comparisons.request_cka(store(), run_a, run_b)))


def filter_stats(run_id: str) -> Response:
    run = load_run(run_id, with_history=False)
    return _answer(_call(lambda: comparisons.request_stats(store(), run)))
