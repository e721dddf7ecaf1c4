"""The OpenAPI 3.1 document of the JSON API, served at /api/openapi.json.

It mirrors the route table in `dashboard/api/routes.py` (a test checks that every route is here) and is
exercised by schemathesis: every status a view can answer with is listed, errors included.
"""

from __future__ import annotations

from typing import Any

from dashboard.api.common import NAME_PATTERN
from dashboard.api.schemas import components, ref
from shared import idempotency

RUN_ID = {
    "name": "run_id",
    "in": "path",
    "required": True,
    "description": "A run id: 32 lowercase hex digits.",
    "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
}
JOB_ID = RUN_ID | {"name": "job_id", "description": "A job id: 32 lowercase hex digits."}

ARTIFACT_TYPES = (
    "application/octet-stream",
    "application/json",
    "application/x-ndjson",
    "text/csv",
)


def json_body(schema_name: str, description: str, **extra: Any) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": ref(schema_name)}},
        **extra,
    }


def error(description: str) -> dict[str, Any]:
    return json_body("Error", description)


INVALID = json_body("ValidationErrors", "Invalid input: one message per field.")
BAD_BODY = error("The body is not JSON, not sent as application/json, or not valid UTF-8.")
TOO_LARGE = error("The body is over the size limit (CNNLENS_MAX_REQUEST_BYTES).")
INTERNAL = error("An unexpected error; the server log has the traceback.")
NO_RUN = error("No run with this id (or the id is not 32 hex digits).")
IDEMPOTENCY_KEY = {
    "name": idempotency.HEADER,
    "in": "header",
    "required": False,
    "description": "Any unique text (a UUID, say) that makes a retried request safe: a second "
    "request with the same key within 24 hours creates nothing and answers the run the first "
    "one created (200, `replayed: true`). The same key with another config is a 422.",
    "schema": {
        "type": "string",
        "minLength": 1,
        "maxLength": idempotency.MAX_LENGTH,
        "pattern": idempotency.KEY_PATTERN,
    },
}
REPLAYED = {
    "Idempotent-Replayed": {
        "schema": {"type": "string", "enum": ["true"]},
        "description": "Present when the answer is the run of an earlier request with this key.",
    }
}
LOCATION = {"Location": {"schema": {"type": "string"}, "description": "The run's URL."}}


def operation(
    op_id: str,
    summary: str,
    responses: dict[str, Any],
    *,
    parameters: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
    description: str = "",
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": op_id,
        "summary": summary,
        "responses": responses | {"500": INTERNAL},
    }
    if description:
        op["description"] = description
    if parameters:
        op["parameters"] = parameters
    if body is not None:
        op["requestBody"] = body
    return op


def query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def _run_links() -> dict[str, Any]:
    run_id = {"run_id": "$response.body#/id"}
    return {
        name: {"operationId": op, "parameters": run_id}
        for name, op in (
            ("GetRun", "getRun"),
            ("CancelRun", "cancelRun"),
            ("DeleteRun", "deleteRun"),
            ("ListFilters", "listFilters"),
        )
    }


def paths() -> dict[str, Any]:
    from dashboard.api.openapi_compare import compare_paths
    from shared.datasets import DATASETS
    from shared.store import STATUSES

    runs = "/api/runs/{run_id}"
    return {
        "/api/health": {
            "get": operation(
                "health",
                "Is the service able to work?",
                {
                    "200": json_body("Health", "Broker and store are both reachable."),
                    "503": json_body("Health", "The broker or the store is not reachable."),
                },
            )
        },
        "/api/openapi.json": {
            "get": operation(
                "getOpenapi",
                "This document.",
                {
                    "200": {
                        "description": "The OpenAPI document.",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                },
            )
        },
        "/api/runs": {
            "get": operation(
                "listRuns",
                "Runs, newest first.",
                {
                    "200": json_body("RunList", "The matching runs."),
                    "422": INVALID,
                },
                parameters=[
                    query(
                        "status", {"type": "string", "enum": list(STATUSES)}, "Only this status."
                    ),
                    query(
                        "dataset",
                        {"type": "string", "enum": list(DATASETS)},
                        "Only runs on this dataset.",
                    ),
                    query(
                        "name",
                        {"type": "string", "maxLength": 120, "pattern": NAME_PATTERN},
                        "Only runs whose name contains this text (any case).",
                    ),
                    query(
                        "limit",
                        {"type": "integer", "minimum": 1, "maximum": 1000},
                        "At most this many runs (default 100).",
                    ),
                ],
            ),
            "post": operation(
                "createRun",
                "Validate a run config and queue its training.",
                {
                    "201": json_body(
                        "RunCreated",
                        "The run is recorded and queued. When the task "
                        "queue is down it stays queued, with a `warning`, and starts "
                        "when the queue is back.",
                        headers=LOCATION,
                        links=_run_links(),
                    ),
                    "200": json_body(
                        "RunCreated",
                        "The Idempotency-Key was used by an earlier request with the same "
                        "config: its run, with `replayed: true`; nothing new is queued.",
                        headers=LOCATION | REPLAYED,
                        links=_run_links(),
                    ),
                    "400": BAD_BODY,
                    "413": TOO_LARGE,
                    "422": json_body(
                        "ValidationErrors",
                        "The config is invalid, or the Idempotency-Key is malformed or was used "
                        "with another config (field `Idempotency-Key`); nothing is queued.",
                    ),
                },
                parameters=[IDEMPOTENCY_KEY],
                body={
                    "required": False,
                    "description": "A run config; an empty body or {} means all defaults.",
                    "content": {"application/json": {"schema": ref("RunConfig")}},
                },
            ),
        },
        runs: {
            "get": operation(
                "getRun",
                "A run with its history, layer table and downloads.",
                {
                    "200": json_body("RunDetail", "The run."),
                    "404": NO_RUN,
                },
                parameters=[RUN_ID],
            ),
            "delete": operation(
                "deleteRun",
                "Delete a run and its files.",
                {
                    "204": {"description": "Deleted (a running run was asked to stop first)."},
                    "404": NO_RUN,
                },
                parameters=[RUN_ID],
            ),
        },
        f"{runs}/cancel": {
            "post": operation(
                "cancelRun",
                "Cancel a run.",
                {
                    "202": json_body(
                        "CancelAnswer",
                        "A queued run is cancelled at once; a running one "
                        "is asked to stop and ends `cancelled`. Cancelling again is fine.",
                    ),
                    "404": NO_RUN,
                    "409": error("The run already finished (succeeded or failed)."),
                },
                parameters=[RUN_ID],
            )
        },
        f"{runs}/filters": {
            "get": operation(
                "listFilters",
                "The run's conv layers.",
                {
                    "200": json_body(
                        "FilterList",
                        "Conv layers with kernel shapes and whether their "
                        "learned filters are stored yet.",
                    ),
                    "404": NO_RUN,
                },
                parameters=[RUN_ID],
            )
        },
        f"{runs}/filters/{{layer}}": {
            "get": operation(
                "getFilter",
                "One conv layer's kernel.",
                {
                    "200": json_body(
                        "FilterValues",
                        "The kernel, shape (kh, kw, cin, cout), values rounded to 6 digits.",
                    ),
                    "404": error(
                        "No such run, or no conv layer of that name (the message lists them)."
                    ),
                    "409": error(
                        "The filters are not stored yet: the run has not finished training."
                    ),
                    "422": INVALID,
                },
                parameters=[
                    RUN_ID,
                    {
                        "name": "layer",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                        "description": "e.g. conv2d_1",
                    },
                    query(
                        "epoch",
                        {"type": "integer", "minimum": 0, "maximum": 200},
                        "The kernel after this epoch (0: initial weights) instead of the "
                        "final one.",
                    ),
                ],
            )
        },
        f"{runs}/activations/probe/{{k}}": {
            "get": operation(
                "getProbeActivations",
                "Every layer's activations for probe image k.",
                {
                    "200": json_body(
                        "ProbeActivations",
                        "Input, label, class probabilities and "
                        "each layer's activations (rounded to 4 digits).",
                    ),
                    "404": error("No such run, or k is out of range (the message gives it)."),
                    "409": error("The run has no probe activations yet."),
                },
                parameters=[
                    RUN_ID,
                    {
                        "name": "k",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer", "minimum": 0},
                        "description": "Probe image index: the first test image of class k.",
                    },
                ],
            )
        },
        f"{runs}/activations": {
            "post": operation(
                "requestActivations",
                "Every layer's activations for a chosen input.",
                {
                    "200": json_body("ActivationsCached", "Already extracted: the result."),
                    "202": json_body(
                        "ActivationsQueued",
                        "An extraction job is queued; poll /api/jobs/{job_id}.",
                        links={
                            "GetJob": {
                                "operationId": "getJob",
                                "parameters": {"job_id": "$response.body#/job_id"},
                            }
                        },
                        headers={
                            "Location": {
                                "schema": {"type": "string"},
                                "description": "The job's URL.",
                            }
                        },
                    ),
                    "400": BAD_BODY,
                    "404": NO_RUN,
                    "409": error(
                        "The run has no trained model yet, or its test images are not on "
                        "this machine."
                    ),
                    "413": TOO_LARGE,
                    "422": INVALID,
                    "503": error("The task queue is not reachable; try again."),
                },
                parameters=[RUN_ID],
                body={
                    "required": True,
                    "content": {
                        "application/json": {"schema": ref("ActivationRequest")},
                        "multipart/form-data": {"schema": ref("ActivationUpload")},
                    },
                },
                description="A picture (a file upload or a data URL) is converted to a 28×28 "
                "white-on-black input like MNIST's; the answer's `input_png` shows it. Pictures "
                "over 2 MB are refused with a 413, unreadable ones with a 422 saying why.",
            )
        },
        f"{runs}/artifacts/{{name}}": {
            "get": operation(
                "downloadArtifact",
                "Download a run's file.",
                {
                    "200": {
                        "description": "The file, as an attachment.",
                        "headers": {"Content-Disposition": {"schema": {"type": "string"}}},
                        "content": {t: {"schema": {}} for t in ARTIFACT_TYPES},
                    },
                    "404": error("No such run, no such artifact name, or not written yet."),
                },
                parameters=[
                    RUN_ID,
                    {
                        "name": "name",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                        "description": "model.keras, config.json, history.jsonl, metrics.json, "
                        "metrics.csv, filters.npz, activations.npz, or "
                        "activations/cache/<hash>.npz",
                    },
                ],
                description="Anything else — '..', absolute paths, other files — is a 404.",
            )
        },
        "/api/jobs/{job_id}": {
            "get": operation(
                "getJob",
                "A job's status: an extraction, a CKA matrix or filter statistics.",
                {
                    "200": json_body("Job", "The job; `result` is set when it succeeded."),
                    "404": error("No job with this id."),
                },
                parameters=[JOB_ID],
            )
        },
        **compare_paths(),
    }


def build_openapi(version: str = "0.1.0") -> dict[str, Any]:
    from dashboard.api.openapi_manage import manage_paths, manage_schemas, with_operations

    return {
        "openapi": "3.1.0",
        "info": {
            "title": "CNN Lens API",
            "version": version,
            "description": "Train small CNNs through a task queue and look inside them. Every "
            'answer is JSON; errors are {"error": sentence}, invalid input '
            '{"errors": [{"field", "message"}]}. Unknown ids are 404. A '
            "wrong method is a 405 with an Allow header.",
        },
        "paths": with_operations(paths(), manage_paths()),
        "components": {"schemas": components() | manage_schemas()},
    }
