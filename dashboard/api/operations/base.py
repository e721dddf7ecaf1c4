"""The pieces every operation table shares: `Reply`, `Operation`, the replies many routes give,
and `replies`, which adds what every request can get (the guard's refusals and a 500)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import BaseModel

from dashboard.api import artifacts, guard
from dashboard.api.common import JSON_MIMETYPE
from dashboard.api.models import (
    Error,
    JobQueued,
    NotAllowed,
    ValidationErrors,
)
from dashboard.api.params import (
    Params,
)


@dataclass(frozen=True)
class Reply:
    """One status of an operation: what it means, and its body (None: no body)."""

    description: str
    model: type[BaseModel] | None = Error
    headers: Mapping[str, Any] = field(default_factory=dict)
    links: Mapping[str, Any] = field(default_factory=dict)
    media: tuple[str, ...] = (JSON_MIMETYPE,)  # without a model: files of these types


@dataclass(frozen=True)
class Operation:
    op_id: str
    summary: str
    replies: Mapping[int, Reply]
    params: tuple[type[Params], ...] = ()
    body: Mapping[str, type[BaseModel]] = field(default_factory=dict)  # media type -> model
    body_required: bool = True
    body_description: str = ""
    description: str = ""
    # GET /api/health: answered for any host name and without the login (health checks).
    health_check: bool = False


def _links(parameter: str, pointer: str, *operations: str) -> dict[str, Any]:
    """OpenAPI links from an answer's body to the operations that take `parameter` from it."""
    return {
        op[0].upper() + op[1:]: {"operationId": op, "parameters": {parameter: pointer}}
        for op in operations
    }


RUN_LINKS = _links(
    "run_id", "$response.body#/id", "getRun", "cancelRun", "deleteRun", "listFilters"
)
JOB_LINKS = _links("job_id", "$response.body#/job_id", "getJob")
RUN_LOCATION = {"Location": {"schema": {"type": "string"}, "description": "The run's URL."}}
JOB_LOCATION = {"Location": {"schema": {"type": "string"}, "description": "The job's URL."}}
REPLAYED = {
    "Idempotent-Replayed": {
        "schema": {"type": "string", "enum": ["true"]},
        "description": "Present when the answer is the run of an earlier request with this key.",
    }
}

RETRY_AFTER = {
    "Retry-After": {
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
        "description": "Seconds to wait before asking again.",
    }
}

INTERNAL = Reply("An unexpected error; the server log has the traceback.")
LOGIN = Reply(
    "The login is on (CNNLENS_AUTH_USER, CNNLENS_AUTH_PASSWORD) and the request has none, or "
    "another: plain text, with WWW-Authenticate.",
    None,
    headers={"WWW-Authenticate": {"schema": {"type": "string"}}},
    media=("text/plain",),
)
# What dashboard/api/guard.py refuses before any view runs (it guards the whole server).
WRONG_HOST = (
    "The Host header names a host this dashboard does not answer for (CNNLENS_ALLOWED_HOSTS)."
)
FOREIGN = Reply("A write from another site or origin (Sec-Fetch-Site, Origin): refused.")
NOT_JSON = Reply(
    "A write sent neither as application/json (even with an empty body) nor with an "
    f"{guard.CUSTOM_HEADER} header."
)
QUEUE_FULL = Reply(
    "Too many runs already wait to train (CNNLENS_MAX_QUEUED_RUNS); nothing is queued.",
    headers=RETRY_AFTER,
)
INVALID = Reply("Invalid input: one message per field.", ValidationErrors)
BAD_BODY = Reply("The body is not JSON, not sent as application/json, or not valid UTF-8.")
TOO_LARGE = Reply("The body is over the size limit (CNNLENS_MAX_REQUEST_BYTES).")
NO_RUN = Reply("No run with this id (or the id is not 32 hex digits).")
NO_RUNS = Reply("No run with one of these ids.")
BUSY = Reply("The task queue is not reachable; try again.")
UNTRAINED = Reply("A run has no trained model yet, or its test images are not on this machine.")
QUEUED = Reply(
    "A worker job computes it; poll /api/jobs/{job_id}, whose `result` is this answer's "
    "`result` once it succeeded.",
    JobQueued,
    headers=JOB_LOCATION,
    links=JOB_LINKS,
)
# Answers of no one operation: a method a path does not take (405, any path).
COMPONENTS: tuple[type[BaseModel], ...] = (NotAllowed,)
ARTIFACT_TYPES = tuple(
    dict.fromkeys([*artifacts.STORED.values(), *artifacts.GENERATED.values(), "image/png"])
)


def replies(operation: Operation, method: str) -> dict[int, Reply]:
    """Every status `method` on `operation` can answer with: its own, the guard's, and 500."""
    out = dict(operation.replies)
    own = out.get(400)
    if operation.health_check:
        out[500] = INTERNAL
        return dict(sorted(out.items()))
    out[400] = (
        Reply(WRONG_HOST)
        if own is None
        else replace(
            own, description=f"{own.description} Or: {WRONG_HOST[0].lower()}{WRONG_HOST[1:]}"
        )
    )
    out.setdefault(401, LOGIN)
    if method.upper() in guard.WRITES:
        out.setdefault(403, FOREIGN)
        out.setdefault(415, NOT_JSON)
    out[500] = INTERNAL
    return dict(sorted(out.items()))
