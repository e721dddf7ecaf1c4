"""Drop a training message whose run has nothing left to train, in the worker's main process.

A training process is recycled after CNNLENS_TRAIN_RUNS_PER_PROCESS tasks (`--max-tasks-per-child`;
with 1, after every task) and the next one spends 7-15 s importing and warming up TensorFlow. Handing a message to the pool for a run that
is finished, cancelled, deleted or unknown to this store would pay that whole start only for the
task to find nothing to do: 23 such messages (left in Redis by another data directory's runs)
once held a new run queued for over 4 minutes. So the training task's execution strategy
looks at the run's status first, in the parent, with one SQL read and no TensorFlow, and
acknowledges such a message there; the pool process stays warm for the next real run.

Why a strategy and not a custom `Task.Request`: Celery builds each task's request class with
`celery.worker.request.create_request_cls(base, ...)`, which subclasses the given `Request` and
defines its own `execute_using_pool`, so a base class's override of that method is never called
(Celery 5.7). The strategy (`Task.Strategy`) is the step before: it turns a message into a
request; ours wraps Celery's default and only ever adds an early acknowledgement.

Everything else is as before for a run that may still train (queued, running, interrupted), and
when the store cannot be read: the message goes to the pool, late acknowledgement, rejection on
a lost worker, leases and resuming included. A message dropped here is one a pool process would
have acknowledged without doing anything (`train_run` finds the run unclaimable). A finished run
never trains again under the same message: a retried run gets a message of its own.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from celery.worker.strategy import default as default_strategy

from shared import db
from shared.artifacts import is_run_id
from shared.run_states import FINISHED
from shared.settings import get_settings
from shared.store import RunStore

log = logging.getLogger(__name__)

# Seconds the parent may wait for the store before it gives up and hands the message on.
STORE_TIMEOUT = 2.0


def stale_reason(status: str | None, run_id: object) -> str | None:
    """Why a training message for a run with this status trains nothing; None if it may."""
    if not isinstance(run_id, str) or not is_run_id(run_id):
        return "the message names no run"
    if status is None:
        return "no such run in this store (deleted, or sent for another data directory)"
    if status in FINISHED:
        return f"the run is already {status}"
    return None


def message_run_id(message: Any) -> object:
    """The run id a `cnnlens.train` message carries (its first argument), or None."""
    try:
        payload = message.payload  # JSON only (accept_content); decoded once and cached
        if isinstance(payload, dict):  # task protocol 1
            args, kwargs = payload.get("args") or (), payload.get("kwargs") or {}
        else:  # protocol 2: [args, kwargs, embed]
            args, kwargs = payload[0], payload[1]
        return args[0] if args else kwargs.get("run_id")
    except Exception:  # anything odd is for the pool (and Celery's own error paths) to judge
        return None


class StatusReader:
    """Reads run statuses for the parent, holding no connection between reads: the parent forks
    a new pool process after every training and must not hand it an open one."""

    def __init__(self) -> None:
        self._store: RunStore | None = None

    def __call__(self, run_id: str) -> str | None:
        if self._store is None:
            settings = get_settings()
            engine = db.make_engine(settings.sqlalchemy_url, pooled=False, timeout=STORE_TIMEOUT)
            self._store = RunStore(settings, engine=engine)
        return self._store.run_status(run_id)


def training_strategy(task: Any, app: Any, consumer: Any, **options: Any) -> Callable[..., Any]:
    """Celery's default strategy for the training task, which first drops stale messages."""
    handle = default_strategy(task, app, consumer, **options)
    read_status = StatusReader()
    connection_errors = consumer.connection_errors

    def on_message(message: Any, body: Any, ack: Any, reject: Any, callbacks: Any, **kw: Any):
        run_id = message_run_id(message)
        started = time.perf_counter()
        try:
            status = read_status(run_id) if isinstance(run_id, str) else None
        except Exception as exc:  # the store is down or slow: let the pool process decide
            log.warning("could not check the run of a training message (%s); passing it on", exc)
            return handle(message, body, ack, reject, callbacks, **kw)
        reason = stale_reason(status, run_id)
        if reason is None:
            return handle(message, body, ack, reject, callbacks, **kw)
        ack(log, connection_errors)
        log.info(
            "dropped a training message for run %s without starting a process: %s "
            "(checked in %.1f ms)",
            run_id,
            reason,
            (time.perf_counter() - started) * 1000,
        )
        return None

    return on_message
