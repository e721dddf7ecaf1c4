"""Thin Celery tasks, registered under the names in `shared.tasks`.

They take ids, re-read everything from the store and call plain functions. The TensorFlow-using
modules are imported inside the tasks: this module is loaded by the worker's parent process too,
which must never import TensorFlow (pool children have already imported it while warming up).
"""

from __future__ import annotations

import logging
import os
from functools import cache

from shared import tasks
from shared.settings import get_settings
from shared.store import RunStore
from worker.celery_app import app
from worker.lease import owner_for

log = logging.getLogger(__name__)


@cache
def store() -> RunStore:
    """One store (and connection pool) per process, made on first use, after the fork."""
    return RunStore(get_settings()).init()


@app.task(name=tasks.TRAIN, bind=True)
def train(self, run_id: str) -> str | None:
    from worker.training import train_run

    owner = owner_for(self.request.hostname or "worker", os.getpid(), self.request.id)
    return train_run(store(), str(run_id), owner)


@app.task(name=tasks.EXTRACT)
def extract(job_id: str) -> str | None:
    from worker.extraction import extract_job

    return extract_job(store(), str(job_id))


@app.task(name=tasks.RECOVER)
def recover(include_queued: bool = True) -> list[str]:
    """The recovery sweep (worker/recovery.py); returns the ids of the runs sent again.

    Celery beat, embedded in the extraction worker, sends it every CNNLENS_RECOVER_INTERVAL
    seconds with `include_queued=False`; a training worker sweeps fully when it starts. The flag
    only matters for brokers that cannot be inspected (see `recovery.sweep`).
    """
    import redis

    from worker.recovery import inspect_broker, sweep

    runs = store()
    try:
        view = inspect_broker(runs.settings)
    except redis.RedisError as exc:  # nothing can be sent either; the next sweep tries again
        log.warning("recovery sweep skipped: the broker does not answer (%s)", exc)
        return []
    return sweep(runs, send_training, view, full=include_queued)


def send_training(run_id: str) -> None:
    app.send_task(tasks.TRAIN, args=[run_id])


@app.task(name=tasks.CKA)
def cka(job_id: str) -> str | None:
    from worker.compare_jobs import cka_job

    return cka_job(store(), str(job_id))


@app.task(name=tasks.STATS)
def stats(job_id: str) -> str | None:
    from worker.compare_jobs import stats_job

    return stats_job(store(), str(job_id))


@app.task(name=tasks.ATTRIBUTE)
def attribute(job_id: str) -> str | None:
    """An attribution job (worker/attribution.py), in the extraction worker's warm process."""
    from worker.attribution import attribute_job

    return attribute_job(store(), str(job_id))
