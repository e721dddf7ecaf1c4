"""API views for runs: submit, list, show, cancel, retry, rename/tag (PATCH) and delete.

Every verb on `/runs` and `/runs/<id>` lives here; they call `dashboard.service.run_actions`,
which the pages' buttons call too.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Response, request, url_for
from pydantic import ValidationError

from dashboard.api.artifacts import available_artifacts
from dashboard.api.common import (
    CONTROL_CHARS,
    CONTROL_MESSAGE,
    idempotency_key,
    json_response,
    load_run,
    query_int,
    read_json_body,
    shown,
    store,
)
from dashboard.api.errors import ApiError, invalid
from dashboard.service import run_actions
from shared.config import ConfigError, LayerInfo, RunConfig, field_path, infer_layers
from shared.datasets import DATASETS, is_dataset_id
from shared.housekeeping import QueueFull
from shared.idempotency import HEADER, IdempotencyConflict
from shared.store import FINISHED, STATUSES

log = logging.getLogger(__name__)

MAX_LIST = 1000
DEFAULT_LIST = 100
MAX_NAME_FILTER = 120


def run_layers(run: dict[str, Any]) -> list[LayerInfo]:
    """The layer table of a stored run's config (validated when the run was created)."""
    try:
        config = RunConfig.model_validate(run["config"])
    except ValidationError:
        log.warning("run %s has a config this version cannot read", run["id"])
        return []
    infos, _ = infer_layers(config)
    return infos


def detailed(run: dict[str, Any]) -> dict[str, Any]:
    return run | {
        "layers": [info.as_dict() for info in run_layers(run)],
        "artifacts": available_artifacts(run),
    }


def _check_json_types(data: dict[str, Any]) -> None:
    """Hold a JSON body to the JSON types the schema documents: "3" is not an integer here.

    The shared validator is lenient (the pages may hand it strings); the API is not, so that
    /api/openapi.json describes exactly what it accepts. Range and structure messages still come
    from the shared validator; only type mismatches that it would let through are reported here.
    """
    type_errors = []
    name = data.get("name")
    if isinstance(name, str) and CONTROL_CHARS.search(name):
        type_errors.append({"field": "name", "message": CONTROL_MESSAGE})
    try:
        RunConfig.model_validate(data, strict=True)
        if not type_errors:
            return
    except ValidationError as exc:
        type_errors += [
            {"field": field_path(e["loc"]), "message": _TYPE_ERRORS[e["type"]]}
            for e in exc.errors(include_url=False)
            if e["type"] in _TYPE_ERRORS
        ]
    try:
        run_actions.validate(data, store())
    except ConfigError as exc:  # its messages win for the fields it rejects itself
        fields = {e["field"] for e in exc.errors}
        raise ConfigError(
            exc.errors + [e for e in type_errors if e["field"] not in fields]
        ) from None
    if type_errors:
        raise ConfigError(type_errors)


_TYPE_ERRORS = {
    "int_type": "must be a whole number (a JSON number, not text)",
    "float_type": "must be a number (a JSON number, not text)",
    "bool_type": "must be true or false",
    "string_type": "must be text (a JSON string)",
}


def create_run() -> Response:
    key = idempotency_key()
    data = read_json_body(empty={})
    if not isinstance(data, dict):
        raise invalid(
            "config",
            'the run config must be a JSON object, such as {} for the defaults or {"epochs": 1}',
        )
    try:
        _check_json_types(data)
        run = run_actions.submit_run(store(), data, idempotency_key=key)
    except ConfigError as exc:
        raise ApiError(422, errors=exc.errors) from None
    except IdempotencyConflict as exc:
        raise invalid(HEADER, str(exc)) from None
    except QueueFull as exc:
        raise queue_full(exc) from None
    return created(run)


def queue_full(exc: QueueFull) -> ApiError:
    """429: too many runs wait to train; Retry-After says when to ask again."""
    return ApiError(429, str(exc), headers={"Retry-After": str(exc.retry_after)})


def created(run: dict[str, Any]) -> Response:
    """201 with the new run; 200 with `"replayed": true` when an Idempotency-Key named a run that
    an earlier request created (nothing new was made: 201 would claim otherwise)."""
    replayed = bool(run.pop("replayed", False))
    headers = {"Location": url_for(".get_run", run_id=run["id"])}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    body = detailed(run) | {"replayed": replayed}
    return json_response(body, 200 if replayed else 201, headers=headers)


def list_runs() -> Response:
    status = request.args.get("status")
    if status is not None and status not in STATUSES:
        raise invalid(
            "status", f"unknown status {shown(status)}; use one of: {', '.join(STATUSES)}"
        )
    dataset = request.args.get("dataset")
    if dataset is not None and dataset not in DATASETS and not is_dataset_id(dataset):
        raise invalid(
            "dataset",
            f"unknown dataset {shown(dataset)}; use one of: {', '.join(DATASETS)}, or an "
            "imported dataset's id",
        )
    name = request.args.get("name")
    if name is not None and len(name) > MAX_NAME_FILTER:
        raise invalid("name", f"must be at most {MAX_NAME_FILTER} characters")
    if name is not None and CONTROL_CHARS.search(name):
        raise invalid("name", CONTROL_MESSAGE)
    limit = query_int("limit", 1, MAX_LIST)
    runs = store().list_runs(
        status=status, dataset=dataset, name=name or None, limit=limit or DEFAULT_LIST
    )
    return json_response({"runs": runs})


def get_run(run_id: str) -> Response:
    return json_response(detailed(load_run(run_id)))


def cancel_run(run_id: str) -> Response:
    run = load_run(run_id, with_history=False)
    if run["status"] in FINISHED and run["status"] != "cancelled":
        raise ApiError(
            409, f"run {run_id} already finished ({run['status']}); there is nothing to cancel"
        )
    status = run_actions.cancel_run(store(), run_id)
    if status is None:  # deleted in the meantime
        raise ApiError(404, f"no run with id {shown(run_id)}")
    if status in FINISHED and status != "cancelled":
        raise ApiError(409, f"run {run_id} finished ({status}) before it could be cancelled")
    return json_response({"id": run_id, "status": status, "cancel_requested": True}, 202)


def delete_run(run_id: str) -> Response:
    load_run(run_id, with_history=False)
    if not run_actions.delete_run(store(), run_id):
        raise ApiError(404, f"no run with id {shown(run_id)}")
    return Response(status=204)


def retry_run(run_id: str) -> Response:
    key = idempotency_key()
    load_run(run_id, with_history=False)
    try:
        run = run_actions.retry_run(store(), run_id, idempotency_key=key)
    except IdempotencyConflict as exc:
        raise invalid(HEADER, str(exc)) from None
    except run_actions.RunStateError as exc:
        raise ApiError(409, str(exc)) from None
    except ConfigError as exc:  # the config no longer validates on this machine
        raise ApiError(422, errors=exc.errors) from None
    except QueueFull as exc:
        raise queue_full(exc) from None
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
        run = run_actions.annotate_run(store(), run_id, data)
    except ConfigError as exc:
        raise ApiError(422, errors=exc.errors) from None
    if run is None:
        raise ApiError(404, f"no run with id {shown(run_id)}")
    return json_response(detailed(run))
