"""GET /api/jobs/{id}: the state of an extraction, statistics or CKA job, and its result."""

from __future__ import annotations

from flask import Response

from dashboard.api.common import json_response, shown, store
from dashboard.api.errors import ApiError


def get_job(job_id: str) -> Response:
    job = store().get_job(job_id)
    if job is None:
        raise ApiError(404, f"no job with id {shown(job_id)}")
    keys = ("id", "kind", "status", "run_id", "result", "error", "created_at", "finished_at")
    return json_response({k: job.get(k) for k in keys})
