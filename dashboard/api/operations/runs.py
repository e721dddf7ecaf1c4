"""The operations of runs themselves: the service's health and this document, listing, creating, reading,
changing, cancelling, retrying and deleting runs (see dashboard/api/operations/__init__.py)."""

from __future__ import annotations

from dashboard.api.common import JSON_MIMETYPE
from dashboard.api.models import (
    CancelAnswer,
    Health,
    OpenApiDocument,
    RunCreated,
    RunDetail,
    RunList,
    RunPatch,
    ValidationErrors,
)
from dashboard.api.operations.base import (
    BAD_BODY,
    INVALID,
    NO_RUN,
    QUEUE_FULL,
    REPLAYED,
    RUN_LINKS,
    RUN_LOCATION,
    TOO_LARGE,
    Operation,
    Reply,
)
from dashboard.api.params import (
    IdempotencyHeader,
    RunListQuery,
    RunPath,
)
from shared.config import RunConfig

OPERATIONS: dict[str, Operation] = {
    "health": Operation(
        "health",
        "Is the service able to work?",
        {
            200: Reply("Broker and store are both reachable.", Health),
            503: Reply("The broker or the store is not reachable.", Health),
        },
        health_check=True,
    ),
    "openapi": Operation(
        "getOpenapi", "This document.", {200: Reply("The OpenAPI document.", OpenApiDocument)}
    ),
    "list_runs": Operation(
        "listRuns",
        "Runs, newest first.",
        {200: Reply("The matching runs.", RunList), 422: INVALID},
        params=(RunListQuery,),
    ),
    "create_run": Operation(
        "createRun",
        "Validate a run config and queue its training.",
        {
            201: Reply(
                "The run is recorded and queued. When the task queue is down it stays queued, "
                "with a `warning`, and starts when the queue is back.",
                RunCreated,
                headers=RUN_LOCATION,
                links=RUN_LINKS,
            ),
            200: Reply(
                "The Idempotency-Key was used by an earlier request with the same config: its "
                "run, with `replayed: true`; nothing new is queued.",
                RunCreated,
                headers=RUN_LOCATION | REPLAYED,
                links=RUN_LINKS,
            ),
            400: BAD_BODY,
            413: TOO_LARGE,
            422: Reply(
                "The config is invalid, or the Idempotency-Key is malformed or was used with "
                "another config (field `Idempotency-Key`); nothing is queued.",
                ValidationErrors,
            ),
            429: QUEUE_FULL,
        },
        params=(IdempotencyHeader,),
        body={JSON_MIMETYPE: RunConfig},
        body_required=False,
        body_description="A run config; an empty body or {} means all defaults.",
    ),
    "get_run": Operation(
        "getRun",
        "A run with its history, layer table and downloads.",
        {200: Reply("The run.", RunDetail), 404: NO_RUN},
        params=(RunPath,),
    ),
    "delete_run": Operation(
        "deleteRun",
        "Delete a run and its files.",
        {
            204: Reply("Deleted (a running run was asked to stop first).", None, media=()),
            404: NO_RUN,
        },
        params=(RunPath,),
    ),
    "update_run": Operation(
        "updateRun",
        "Rename a run, or set its tags or notes (in any status).",
        {
            200: Reply("The run, changed.", RunDetail),
            400: BAD_BODY,
            404: NO_RUN,
            413: TOO_LARGE,
            422: INVALID,
        },
        params=(RunPath,),
        body={JSON_MIMETYPE: RunPatch},
    ),
    "cancel_run": Operation(
        "cancelRun",
        "Cancel a run.",
        {
            202: Reply(
                "A queued run is cancelled at once; a running one is asked to stop and ends "
                "`cancelled`. Cancelling again is fine.",
                CancelAnswer,
            ),
            404: NO_RUN,
            409: Reply("The run already finished (succeeded or failed)."),
        },
        params=(RunPath,),
    ),
    "retry_run": Operation(
        "retryRun",
        "Start a failed, cancelled or interrupted run again, as a new run.",
        {
            201: Reply(
                "The new run, queued, with the same config and name; its `parent_id` is the run "
                "retried. An interrupted run is cancelled (it would otherwise resume too).",
                RunCreated,
                headers=RUN_LOCATION,
            ),
            200: Reply(
                "The Idempotency-Key was used by an earlier retry of this run: its new run, with "
                "`replayed: true`; nothing new is queued.",
                RunCreated,
                headers=RUN_LOCATION | REPLAYED,
            ),
            404: NO_RUN,
            409: Reply("The run is queued, running or succeeded: nothing to retry."),
            422: Reply(
                "The run's config is no longer valid here (e.g. its dataset is missing), or the "
                "Idempotency-Key is malformed or was used for another request.",
                ValidationErrors,
            ),
            429: QUEUE_FULL,
        },
        params=(RunPath, IdempotencyHeader),
    ),
}
