"""The RunStore's jobs: extraction and analysis requests the dashboard queues and workers finish.

A job's id may be deterministic (the same request twice is one job), so creating it again is
not an error. `RunStore` mixes these calls in.
"""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from shared import db
from shared.artifacts import is_run_id, new_id
from shared.run_states import FAILED, QUEUED, SUCCEEDED


class JobRecords:
    """Create, read and finish jobs (a mixin of `RunStore`)."""

    engine: Engine

    def create_job(
        self, kind: str, run_id: str | None, params: dict[str, Any], job_id: str | None = None
    ) -> str:
        job_id = job_id or new_id()
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(db.jobs).values(
                        id=job_id,
                        kind=kind,
                        run_id=run_id,
                        status=QUEUED,
                        params=json.dumps(params),
                        created_at=time.time(),
                    )
                )
        except IntegrityError:
            pass  # the same deterministic job id was already queued
        return job_id

    def get_job(self, job_id: str) -> dict[str, Any] | None:
        if not is_run_id(job_id):
            return None
        with self.engine.connect() as conn:
            row = conn.execute(select(db.jobs).where(db.jobs.c.id == job_id)).mappings().first()
        if not row:
            return None
        job = dict(row)
        job["params"] = json.loads(job["params"] or "{}")
        job["result"] = json.loads(job["result"]) if job["result"] else None
        return job

    def set_job(
        self, job_id: str, status: str, result: Any = None, error: str | None = None
    ) -> None:
        values: dict[str, Any] = {"status": status, "error": error}
        if result is not None:
            values["result"] = json.dumps(result)
        if status in (SUCCEEDED, FAILED):
            values["finished_at"] = time.time()
        with self.engine.begin() as conn:
            conn.execute(update(db.jobs).where(db.jobs.c.id == job_id).values(**values))
