"""The Celery task that imports an uploaded dataset (worker/dataset_jobs.py), on the analysis queue.

Imports are rare and take seconds to minutes of numpy and Pillow work; the analysis worker (one
process, kept warm, no user waiting on it as on extraction) takes them between comparison jobs
rather than a queue and worker of their own. The job module is imported inside the task, like
every task here, so the worker's parent process stays light.

Each delivery counts an attempt (`worker.tasks.started`), so an upload that kills its worker every
time (out of memory) fails after CNNLENS_JOB_MAX_ATTEMPTS instead of looping; the dataset then
fails with the job's sentence, and its files go.
"""

from __future__ import annotations

from shared import tasks
from worker.celery_app import app

IMPORT_TIME_LIMIT = 1800  # seconds: 200,000 pictures decoded on one busy core fit well inside


@app.task(
    name=tasks.IMPORT_DATASET,
    time_limit=IMPORT_TIME_LIMIT,
    soft_time_limit=IMPORT_TIME_LIMIT - 60,
)
def import_dataset(job_id: str) -> str | None:
    from worker.dataset_jobs import import_job, settle_refused_start
    from worker.tasks import started, store

    if not started(str(job_id)):
        settle_refused_start(store(), str(job_id))
        return None
    return import_job(store(), str(job_id))
