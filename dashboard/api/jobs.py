"""GET /api/jobs/{id}: the state of an extraction, statistics or CKA job, and its result."""

from __future__ import annotations

from flask import Response

from dashboard.api.common import json_response, shown, store
from dashboard.api.errors import ApiError
from dashboard.api.models import Job


def get_job(job_id: str) -> Response:
    job = store().get_job(job_id)
    if job is None:
        raise ApiError(404, f"no job with id {shown(job_id)}")
    return json_response({k: job.get(k) for k in Job.model_fields})  # what the document shows
