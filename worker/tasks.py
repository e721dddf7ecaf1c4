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
from shared.store import INTERRUPTED, QUEUED, RUNNING, RunStore
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
    """Re-send the training task of runs that lost theirs; returns the ids re-sent.

    Runs that stopped heart-beating become `interrupted` and are re-sent. The full sweep (the
    default, sent when a training worker starts) also re-sends every queued and interrupted run,
    in case the broker lost their messages; a run whose message is still there gets a second
    one, which is harmless because only one claim wins.

    While any run is running, the sweep looks again once a heartbeat could have gone stale: a
    worker that died with its run (container restart, host down) is noticed within about two
    heartbeat timeouts, not after the broker's hours-long visibility timeout. Those follow-ups
    re-send only the runs they themselves mark interrupted, never the whole queue again.
    """
    runs = store()
    timeout = runs.settings.heartbeat_timeout
    stale = runs.mark_stale_interrupted(timeout)
    if stale:
        log.warning("runs without a heartbeat for %g s, now interrupted: %s", timeout, stale)
    to_send = list(stale)
    if include_queued:
        to_send = [
            run["id"] for status in (QUEUED, INTERRUPTED) for run in runs.list_runs(status=status)
        ]
    for run_id in to_send:
        app.send_task(tasks.TRAIN, args=[run_id])
    if to_send:
        log.info("re-queued %d run(s): %s", len(to_send), ", ".join(to_send))
    if runs.list_runs(status=RUNNING, limit=1):
        app.send_task(tasks.RECOVER, kwargs={"include_queued": False}, countdown=timeout + 1)
    return to_send


@app.task(name=tasks.CKA)
def cka(job_id: str) -> str | None:
    from worker.compare_jobs import cka_job

    return cka_job(store(), str(job_id))


@app.task(name=tasks.STATS)
def stats(job_id: str) -> str | None:
    from worker.compare_jobs import stats_job

    return stats_job(store(), str(job_id))
