"""The Celery app of the workers and its configuration.

Start one process per queue (the launcher does):

    celery -A worker.celery_app worker -Q training --concurrency 2 --max-tasks-per-child 16 -n train@%h
    celery -A worker.celery_app worker -Q extraction --concurrency 1 -n extract@%h
    celery -A worker.celery_app worker -Q analysis --concurrency 1 -n analysis@%h

Training recycles its child after every task (repeated model building in one process leaks
memory); extraction and analysis (CKA, filter statistics) keep their child, and the models it
loaded, for as long as it lives, so `worker_max_tasks_per_child` is a command-line choice per
worker, never set here. Analysis has its own worker so that a user's extraction (tens of ms) never
waits behind a comparison job (seconds). A second pool child in the extraction worker would save
the ~100 MiB Celery parent, but the compare page asks for up to five analysis jobs at once, and two
of them would occupy both children: only a process of its own guarantees the extraction a free one.

TensorFlow is not fork-safe: it is imported in each pool child (`worker_process_init`), never
in the parent that forks them, and never at import time of this module or of `worker.tasks`.
"""

from __future__ import annotations

import logging
import os
import time

from celery import Celery, signals

from shared import tasks
from shared.queue import celery_config
from shared.settings import get_settings

log = logging.getLogger(__name__)

# A pool child must report "up" within this many seconds, or the parent kills it. Celery's default
# (4 s) is shorter than importing TensorFlow and warming it up on two busy cores.
CHILD_START_SECONDS = 180
EXTRACT_TIME_LIMIT = 120  # seconds: loading a model and one forward pass take well under one
COMPARE_TIME_LIMIT = 300  # seconds: two models, a few hundred images, CKA of every layer pair
# Hard time limit of each kind of job (`jobs.kind`): a job `running` for longer lost its process.
JOB_TIME_LIMITS: dict[str, float] = {
    "extract": EXTRACT_TIME_LIMIT,
    "attribute": EXTRACT_TIME_LIMIT,
    "stats": COMPARE_TIME_LIMIT,
    "cka": COMPARE_TIME_LIMIT,
    "cka_epochs": COMPARE_TIME_LIMIT,
    "filter": COMPARE_TIME_LIMIT,
    "ablation": COMPARE_TIME_LIMIT,
    "import_dataset": 1800,  # worker/dataset_tasks.py's IMPORT_TIME_LIMIT
}


def _soft_limit(hard: int) -> int:
    """A little before the hard limit: the task gets SoftTimeLimitExceeded and records a clear
    failure, instead of being killed mid-write."""
    return max(1, hard - min(60, hard // 10))


def _worker_config() -> dict:
    settings = get_settings()
    train_limit = settings.train_time_limit
    return {
        "worker_proc_alive_timeout": CHILD_START_SECONDS,
        "task_annotations": {
            tasks.TRAIN: {"time_limit": train_limit, "soft_time_limit": _soft_limit(train_limit)},
            tasks.EXTRACT: {
                "time_limit": EXTRACT_TIME_LIMIT,
                "soft_time_limit": _soft_limit(EXTRACT_TIME_LIMIT),
            },
            tasks.ATTRIBUTE: {
                "time_limit": EXTRACT_TIME_LIMIT,
                "soft_time_limit": _soft_limit(EXTRACT_TIME_LIMIT),
            },
            tasks.RECOVER: {"time_limit": 120, "soft_time_limit": 100},
            **{
                name: {
                    "time_limit": COMPARE_TIME_LIMIT,
                    "soft_time_limit": _soft_limit(COMPARE_TIME_LIMIT),
                }
                for name in (tasks.CKA, tasks.STATS, tasks.CKA_EPOCHS, tasks.FILTER, tasks.ABLATION)
            },
        },
        # The recovery sweep, sent by Celery beat embedded in the extraction worker (`-B`). The
        # in-memory scheduler, not the default shelve file: that file is a pickle, and a
        # sweep every few seconds needs no memory across restarts (one runs at start anyway).
        "beat_scheduler": "celery.beat:Scheduler",
        "beat_schedule": {
            "recover": {
                "task": tasks.RECOVER,
                "schedule": settings.recover_interval,
                "kwargs": {"include_queued": False},
                # A sweep that waited past the next one is dropped, never run late in a pile.
                "options": {"expires": settings.recover_interval},
            }
        },
    }


app = Celery("cnnlens", include=["worker.tasks", "worker.dataset_tasks"])
app.conf.update(celery_config(get_settings()))
app.conf.update(_worker_config())


@signals.worker_init.connect
def yield_cpu_to_the_dashboard(sender: object = None, **_: object) -> None:
    """A training worker lowers its CPU priority (CNNLENS_TRAIN_NICE) before its pool forks, so
    every training child and TensorFlow thread inherits it: on a machine shared with the
    dashboard, a page poll then waits for a core milliseconds, not a share of the trainings'
    time slices (benchmarks/bench_dashboard_load.py). Training only runs when the CPU is not
    wanted by anything interactive; alone, it runs as fast as before. An analysis worker (CKA,
    filter statistics: seconds of numpy and TensorFlow) does the same, so an extraction that
    runs meanwhile gets the cores first. Extraction serves a waiting user and keeps the normal
    priority."""
    try:
        queues = set(sender.app.amqp.queues.consume_from)  # type: ignore[attr-defined]
    except AttributeError:  # not started by `celery worker`
        return
    nice = get_settings().train_nice
    background = queues & {tasks.TRAINING_QUEUE, tasks.ANALYSIS_QUEUE}
    if nice > 0 and background and tasks.EXTRACTION_QUEUE not in queues:
        os.nice(nice)
        log.info(
            "%s worker at nice %d: the dashboard comes first for the CPU",
            "/".join(sorted(background)),
            nice,
        )


@signals.worker_process_init.connect
def prepare_tensorflow(**_: object) -> None:
    """In each new pool child: import TensorFlow, size its thread pools, and warm it up, so a task
    that arrives later starts training at once instead of paying seconds of start-up."""
    started = time.perf_counter()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    settings = get_settings()
    # TensorFlow sizes its pools from the host's cores, not the container's quota.
    tf.config.threading.set_intra_op_parallelism_threads(settings.tf_intra_threads)
    tf.config.threading.set_inter_op_parallelism_threads(settings.tf_inter_threads)

    from shared.datasets import load_raw
    from worker import attribution, extraction, training  # noqa: F401  (here, not on first task)
    from worker.model import warm_up

    warm_up()
    load_raw("mnist-sample")  # the default dataset, cached for the process
    log.info(
        "TensorFlow %s ready in %.1f s (intra-op %d, inter-op %d threads)",
        tf.__version__,
        time.perf_counter() - started,
        settings.tf_intra_threads,
        settings.tf_inter_threads,
    )


@signals.worker_ready.connect
def sweep_on_start(sender: object = None, **_: object) -> None:
    """When a training worker (re)starts, sweep at once: runs left queued or interrupted by a
    crash or a flushed broker are sent again and this worker can take them straight away, even
    when no extraction worker (which sweeps periodically) is up.

    It runs in the parent, which must not import TensorFlow (nothing here does), with a store of
    its own that is closed afterwards, so no database connection is inherited by pool children.
    """
    consumer = getattr(sender, "task_consumer", None)
    queues = {queue.name for queue in getattr(consumer, "queues", [])}
    if tasks.TRAINING_QUEUE not in queues:
        return
    from shared.store import RunStore
    from worker.recovery import inspect_broker, sweep, sweep_jobs

    store = None
    try:
        store = RunStore(get_settings()).init()
        view = inspect_broker(store.settings)
        sweep(store, lambda run_id: app.send_task(tasks.TRAIN, args=[run_id]), view, full=True)
        sweep_jobs(store, lambda name, job_id: app.send_task(name, args=[job_id]), JOB_TIME_LIMITS)
    except Exception:  # the broker or the store may be down; the periodic sweep tries again
        log.warning("the start-up recovery sweep failed", exc_info=True)
    finally:
        if store is not None:
            store.engine.dispose()
