"""OpenAPI descriptions of the run-management calls (dashboard/api/manage.py): retry, and
rename / tags / notes. Merged into the document by `dashboard/openapi.build_openapi`."""

from __future__ import annotations

from typing import Any

from dashboard.api.common import NAME_PATTERN
from dashboard.api.openapi import (
    BAD_BODY,
    IDEMPOTENCY_KEY,
    INVALID,
    NO_RUN,
    REPLAYED,
    RUN_ID,
    TOO_LARGE,
    error,
    json_body,
)
from dashboard.api.openapi import operation as _operation
from dashboard.api.schemas import array, ref
from dashboard.service.run_actions import MAX_NAME, MAX_NOTES, MAX_TAGS

TAG_PATTERN = "^[A-Za-z0-9][A-Za-z0-9_.:+-]{0,31}$"
NOTES_PATTERN = "^[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f]*$"


def manage_schemas() -> dict[str, Any]:
    return {
        "RunPatch": {
            "type": "object",
            "properties": {
                "name": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": MAX_NAME,
                    "pattern": NAME_PATTERN,
                    "description": "The display name (surrounding spaces are dropped).",
                },
                "tags": array(
                    {"type": "string", "pattern": TAG_PATTERN},
                    maxItems=MAX_TAGS,
                    description="Replaces the tags; duplicates are dropped.",
                ),
                "notes": {
                    "type": "string",
                    "maxLength": MAX_NOTES,
                    "pattern": NOTES_PATTERN,
                    "description": "Free text; newlines and tabs are kept.",
                },
            },
            "additionalProperties": False,
            "description": "Any of name, tags and notes; the others are left as they are.",
        }
    }


def manage_paths() -> dict[str, Any]:
    runs = "/api/runs/{run_id}"
    return {
        runs: {
            "patch": _operation(
                "updateRun",
                "Rename a run, or set its tags or notes (in any status).",
                {
                    "200": json_body("RunDetail", "The run, changed."),
                    "400": BAD_BODY,
                    "404": NO_RUN,
                    "413": TOO_LARGE,
                    "422": INVALID,
                },
                parameters=[RUN_ID],
                body={
                    "required": True,
                    "content": {"application/json": {"schema": ref("RunPatch")}},
                },
            )
        },
        f"{runs}/retry": {
            "post": _operation(
                "retryRun",
                "Start a failed, cancelled or interrupted run again, as a new run.",
                {
                    "201": json_body(
                        "RunCreated",
                        "The new run, queued, with the same config and name; its `parent_id` is "
                        "the run retried. An interrupted run is cancelled (it would otherwise "
                        "resume too).",
                    ),
                    "200": json_body(
                        "RunCreated",
                        "The Idempotency-Key was used by an earlier retry of this run: its new "
                        "run, with `replayed: true`; nothing new is queued.",
                        headers=REPLAYED,
                    ),
                    "404": NO_RUN,
                    "409": error("The run is queued, running or succeeded: nothing to retry."),
                    "422": json_body(
                        "ValidationErrors",
                        "The run's config is no longer valid here (e.g. its dataset is missing), "
                        "or the Idempotency-Key is malformed or was used for another request.",
                    ),
                },
                parameters=[RUN_ID, IDEMPOTENCY_KEY],
            )
        },
    }


def with_operations(paths: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """`paths` with the operations of `extra` added, path by path (methods merged)."""
    merged = {path: dict(ops) for path, ops in paths.items()}
    for path, ops in extra.items():
        merged.setdefault(path, {}).update(ops)
    return merged
