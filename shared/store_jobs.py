"""The RunStore's jobs: extraction and analysis requests the dashboard queues and workers finish.

A job's id may be deterministic (the same request twice is one job), so creating it again is
not an error. `RunStore` mixes these calls in.

Every task delivery that starts a job counts an attempt (`start_job`), so a job whose process
is killed each time (out of memory, say) fails after a few instead of being delivered again
without end; asking for the job again (`set_job(..., QUEUED)`) starts the count afresh. A job
left `running` by a process that died is found by its start time (`lost_jobs`) and put back
or failed by the recovery sweep (`settle_lost_job`). A job that takes a while writes how far it
has got (`job_progress`, `jobs.progress`), which a new start or a new request clears.
"""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from shared import db
from shared.artifacts import is_run_id, new_id
from shared.run_states import FAILED, QUEUED, RUNNING, SUCCEEDED


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
        if status == QUEUED:  # asked for again: a fresh count of attempts
            values |= {"attempts": 0, "started_at": None, "finished_at": None, "progress": None}
        with self.engine.begin() as conn:
            conn.execute(update(db.jobs).where(db.jobs.c.id == job_id).values(**values))

    def job_progress(self, job_id: str, fraction: float) -> bool:
        """Record how far a running job has got (clipped to [0, 1]); False when the job is not
        running any more (finished, asked for again, deleted with its run)."""
        value = min(1.0, max(0.0, float(fraction)))
        jobs = db.jobs.c
        with self.engine.begin() as conn:
            res = conn.execute(
                update(db.jobs)
                .where(jobs.id == job_id, jobs.status == RUNNING)
                .values(progress=value)
            )
        return res.rowcount == 1

    def start_job(self, job_id: str, max_attempts: int) -> dict[str, Any] | None:
        """One more delivery starts the job: a queued (or still `running`: its earlier delivery
        died) job becomes `running` with one more attempt. Past `max_attempts` it fails instead,
        with a sentence saying why. Returns the job as it is now; a job already finished
        (succeeded or failed) is left as it is, and None means there is no such job."""
        jobs = db.jobs.c
        now = time.time()
        with self.engine.begin() as conn:
            conn.execute(
                update(db.jobs)
                .where(jobs.id == job_id, jobs.status.in_((QUEUED, RUNNING)))
                .values(
                    status=RUNNING,
                    attempts=jobs.attempts + 1,
                    started_at=now,
                    error=None,
                    progress=None,
                )
            )
            attempts = conn.execute(
                select(jobs.attempts).where(
                    jobs.id == job_id, jobs.status == RUNNING, jobs.started_at == now
                )
            ).scalar()
            if attempts is not None and attempts > max_attempts:
                conn.execute(
                    update(db.jobs)
                    .where(jobs.id == job_id, jobs.started_at == now)
                    .values(status=FAILED, error=gave_up(attempts - 1), finished_at=now)
                )
        return self.get_job(job_id)

    def lost_jobs(self, time_limits: dict[str, float], now: float | None = None) -> list[dict]:
        """`running` jobs that started longer ago than their kind's time limit (seconds): the
        process that ran them is gone, since it would have been stopped by then. A job of a kind
        not in `time_limits` is never counted lost."""
        now = time.time() if now is None else now
        jobs = db.jobs.c
        started = func.coalesce(jobs.started_at, jobs.created_at)
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(jobs.id, jobs.kind, jobs.attempts, jobs.started_at, started.label("since"))
                .where(jobs.status == RUNNING)
                .order_by(started)
            ).mappings()
            return [
                dict(row)
                for row in rows
                if row["kind"] in time_limits and now - row["since"] > time_limits[row["kind"]]
            ]

    def settle_lost_job(self, job: dict[str, Any], status: str, error: str | None = None) -> bool:
        """Put a job from `lost_jobs` back to `queued` (its attempts kept) or end it `failed`;
        False when it changed meanwhile (a delivery started it again, or it finished)."""
        jobs = db.jobs.c
        same_start = (
            jobs.started_at.is_(None)
            if job["started_at"] is None
            else jobs.started_at == job["started_at"]
        )
        values: dict[str, Any] = {"status": status, "error": error}
        if status == FAILED:
            values["finished_at"] = time.time()
        with self.engine.begin() as conn:
            res = conn.execute(
                update(db.jobs)
                .where(jobs.id == job["id"], jobs.status == RUNNING, same_start)
                .values(**values)
            )
        return res.rowcount == 1


def gave_up(started: int) -> str:
    """The error of a job whose deliveries all died before it finished."""
    times = "once" if started == 1 else f"{started} times"
    return (
        f"the job was started {times} and its worker stopped each time before it finished "
        "(it may need more memory or time than the worker has); it will not be tried again "
        "unless you ask for it again"
    )
