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
from shared.store import FAILED, RUNNING, RunStore
from worker.celery_app import JOB_TIME_LIMITS, app
from worker.lease import owner_for

log = logging.getLogger(__name__)


@cache
def store() -> RunStore:
    """One store (and connection pool) per process, made on first use, after the fork."""
    return RunStore(get_settings()).init()


# The strategy drops a message for a finished, deleted or unknown run in the worker's parent,
# so it never costs a pool process (and its TensorFlow start): worker/stale_messages.py.
@app.task(name=tasks.TRAIN, bind=True, Strategy="worker.stale_messages:training_strategy")
def train(self, run_id: str) -> str | None:
    from worker.training import train_run

    owner = owner_for(self.request.hostname or "worker", os.getpid(), self.request.id)
    try:
        return train_run(store(), str(run_id), owner)
    finally:
        forget_models()


def forget_models() -> None:
    """Let the next run in this process start from a clean Keras (CNNLENS_TRAIN_RUNS_PER_PROCESS
    above 1): the models, layer names and traced functions of this run go."""
    import gc

    import keras

    keras.backend.clear_session()
    gc.collect()


def started(job_id: str) -> bool:
    """Count this delivery as one more attempt at the job; False when there is nothing to do
    (no such job, already finished, or just failed for having been started too often)."""
    runs = store()
    job = runs.start_job(str(job_id), runs.settings.job_max_attempts)
    if job is None:
        log.info("job %s does not exist (deleted with its run?)", job_id)
        return False
    if job["status"] != RUNNING:
        log.log(
            logging.WARNING if job["status"] == FAILED else logging.INFO,
            "job %s not run: it is %s%s",
            job_id,
            job["status"],
            f" ({job['error']})" if job["error"] else "",
        )
        return False
    return True


@app.task(name=tasks.EXTRACT)
def extract(job_id: str) -> str | None:
    from worker.extraction import extract_job

    if not started(job_id):
        return None
    return extract_job(store(), str(job_id))


@app.task(name=tasks.RECOVER)
def recover(include_queued: bool = True) -> list[str]:
    """The recovery sweep (worker/recovery.py); returns the ids of the runs sent again.

    Celery beat, embedded in the extraction worker, sends it every CNNLENS_RECOVER_INTERVAL
    seconds with `include_queued=False`; a training worker sweeps fully when it starts. The flag
    only matters for brokers that cannot be inspected (see `recovery.sweep`).
    """
    import redis

    from worker.recovery import inspect_broker, sweep, sweep_jobs

    runs = store()
    try:
        view = inspect_broker(runs.settings)
    except redis.RedisError as exc:  # nothing can be sent either; the next sweep tries again
        log.warning("recovery sweep skipped: the broker does not answer (%s)", exc)
        return []
    sent = sweep(runs, send_training, view, full=include_queued)
    sweep_jobs(runs, send_job, JOB_TIME_LIMITS)
    return sent


def send_training(run_id: str) -> None:
    app.send_task(tasks.TRAIN, args=[run_id])


def send_job(task_name: str, job_id: str) -> None:
    app.send_task(task_name, args=[job_id])


@app.task(name=tasks.CKA)
def cka(job_id: str) -> str | None:
    from worker.compare_jobs import cka_job

    if not started(job_id):
        return None
    return cka_job(store(), str(job_id))


@app.task(name=tasks.STATS)
def stats(job_id: str) -> str | None:
    from worker.compare_jobs import stats_job

    if not started(job_id):
        return None
    return stats_job(store(), str(job_id))


@app.task(name=tasks.ATTRIBUTE)
def attribute(job_id: str) -> str | None:
    """An attribution job (worker/attribution.py), in the extraction worker's warm process."""
    from worker.attribution import attribute_job

    if not started(job_id):
        return None
    return attribute_job(store(), str(job_id))


@app.task(name=tasks.CKA_EPOCHS)
def cka_epochs(job_id: str) -> str | None:
    from worker.epoch_similarity import epoch_cka_job

    if not started(job_id):
        return None
    return epoch_cka_job(store(), str(job_id))


@app.task(name=tasks.FILTER)
def filter_analysis(job_id: str) -> str | None:
    from worker.filter_analysis import filter_job

    if not started(job_id):
        return None
    return filter_job(store(), str(job_id))


@app.task(name=tasks.ABLATION)
def ablation_curve(job_id: str) -> str | None:
    from worker.ablation_curve import ablation_job

    if not started(job_id):
        return None
    return ablation_job(store(), str(job_id))
