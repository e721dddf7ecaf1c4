"""The recovery sweep: give back a training message to every run that lost its own.

A run can lose its message three ways: its worker died with it (the message stays with the dead
worker, unacknowledged, until the broker's visibility timeout, hours away), the broker was flushed
or restarted without persistence, or the broker was down when the run was submitted. The store
knows every run, so a sweep compares the store with the broker and re-sends what is missing:

- a `running` run without a heartbeat for `heartbeat_timeout` seconds becomes `interrupted`;
- an interrupted run is re-sent unless a training message for it is waiting in the broker's
  queue (the message it had is with the worker that died);
- a queued run is re-sent unless its message is waiting, or was taken by a worker less than
  `requeue_after` seconds ago (that worker is about to claim it); a run submitted in the last few
  seconds is left alone (its message may be on its way).

Sending a message too many is harmless (only one claim wins) but a queue full of duplicates is
not, so the sweep looks before it sends. With Redis it reads kombu's own keys: the queue is a list
named after it, and messages taken but not yet acknowledged sit in the `unacked` hash, with the
time they were taken in the `unacked_index` sorted set. Other brokers cannot be inspected: there
the periodic sweep re-sends only the runs it marks interrupted, and a full sweep (when a training
worker starts) re-sends every queued and interrupted run.

Jobs (extraction, layer similarity, filter statistics) are swept too (`sweep_jobs`): a job
still `running` `LOST_JOB_MARGIN` seconds past its kind's hard time limit has lost its process
(killed with its whole worker, or by the time limit itself, which acknowledges the message), so
it is sent again, or failed with the reason once it has been started `CNNLENS_JOB_MAX_ATTEMPTS`
times. Until then its deterministic id would keep that input, or that pair of runs, from ever
being asked for again.

Runs in the Celery worker's parent or a pool child alike: nothing here imports TensorFlow.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from shared import tasks
from shared.settings import Settings
from shared.store import FAILED, INTERRUPTED, QUEUED, RunStore
from shared.store_jobs import gave_up

log = logging.getLogger(__name__)

# kombu's Redis transport keeps unacknowledged messages under these keys (its defaults).
UNACKED_KEY = "unacked"
UNACKED_INDEX_KEY = "unacked_index"
# A run this young may still have its first message on the way from the dashboard.
SEND_GRACE_SECONDS = 5.0
# Seconds past its hard time limit after which a `running` job counts as lost: the limit is
# measured by the pool from when the process took the task, a moment after the job's start time.
LOST_JOB_MARGIN = 60.0


@dataclass
class BrokerView:
    """Which runs have a training message in the broker right now."""

    waiting: set[str] = field(default_factory=set)  # in the training queue
    taken: dict[str, float] = field(default_factory=dict)  # run id -> when a worker took it


def train_run_id(raw: bytes | str) -> str | None:
    """The run id of a serialized kombu message if it is a training task, else None.

    The message is JSON; its body is the JSON `[args, kwargs, embed]`, base64-encoded by the
    Redis transport. Anything unexpected is skipped, never trusted further.
    """
    try:
        message = json.loads(raw)
        if isinstance(message, list):  # an unacked entry: [message, exchange, routing_key]
            message = message[0]
        if (message.get("headers") or {}).get("task") != tasks.TRAIN:
            return None
        body = message["body"]
        if (message.get("properties") or {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        args = json.loads(body)[0]
        return str(args[0]) if args else None
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        return None


def inspect_broker(settings: Settings) -> BrokerView | None:
    """What the Redis broker holds for training; None when the broker is not Redis.

    Raises redis.RedisError when Redis does not answer (then nothing can be sent anyway).
    """
    if not settings.broker_is_redis:
        return None
    import redis

    client = redis.Redis.from_url(settings.broker_url, socket_timeout=5, socket_connect_timeout=3)
    try:
        with client.pipeline(transaction=True) as pipe:  # one consistent snapshot
            pipe.lrange(tasks.TRAINING_QUEUE, 0, -1)
            pipe.hgetall(UNACKED_KEY)
            pipe.zrange(UNACKED_INDEX_KEY, 0, -1, withscores=True)
            waiting, unacked, index = pipe.execute()
    finally:
        client.close()
    taken_at = {_text(tag): score for tag, score in index}
    view = BrokerView(waiting={i for i in map(train_run_id, waiting) if i})
    for tag, raw in unacked.items():
        run_id = train_run_id(raw)
        if run_id:
            when = taken_at.get(_text(tag), 0.0)
            view.taken[run_id] = max(when, view.taken.get(run_id, 0.0))
    return view


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def needs_message(
    run: dict[str, Any],
    stale: set[str],
    broker: BrokerView | None,
    full: bool,
    settings: Settings,
    now: float,
) -> bool:
    """Whether the sweep should send `run` (queued or interrupted) a training message."""
    run_id = run["id"]
    if broker is None:
        return run_id in stale or full
    if run_id in broker.waiting:
        return False  # a worker will take it in turn
    if run_id in stale or run["status"] == INTERRUPTED:
        return True  # its message is with the worker that died (the dashboard may have noticed)
    taken = broker.taken.get(run_id)
    if taken is not None:
        return now - taken > settings.requeue_after
    # Neither waiting nor taken: lost, unless so young that its first message may be on its way.
    return not (run["status"] == QUEUED and now - run["created_at"] < SEND_GRACE_SECONDS)


def sweep(
    store: RunStore,
    send: Callable[[str], Any],
    broker: BrokerView | None,
    full: bool = False,
    now: float | None = None,
) -> list[str]:
    """Mark runs whose worker died `interrupted`, then send a training message to every queued or
    interrupted run that has none. Returns the ids sent, oldest first."""
    settings = store.settings
    stale = set(store.mark_stale_interrupted(settings.heartbeat_timeout))
    if stale:
        log.warning(
            "runs without a heartbeat for %g s, now interrupted: %s",
            settings.heartbeat_timeout,
            ", ".join(sorted(stale)),
        )
    now = time.time() if now is None else now
    candidates: Iterable[dict[str, Any]] = (
        run for status in (INTERRUPTED, QUEUED) for run in store.list_runs(status=status)
    )
    to_send = [
        run["id"]
        for run in sorted(candidates, key=lambda r: r["created_at"])
        if needs_message(run, stale, broker, full, settings, now)
    ]
    for run_id in to_send:
        send(run_id)
    if to_send:
        log.info("sent a training message again to %d run(s): %s", len(to_send), ", ".join(to_send))
    return to_send


def sweep_jobs(
    store: RunStore,
    send: Callable[[str, str], Any],
    time_limits: dict[str, float],
    now: float | None = None,
) -> list[str]:
    """Send again (`send(task name, job id)`) every job left `running` past its time limit and
    `LOST_JOB_MARGIN`, or fail it when it has been started `job_max_attempts` times. Returns the
    ids sent again."""
    limits = {kind: limit + LOST_JOB_MARGIN for kind, limit in time_limits.items()}
    most = store.settings.job_max_attempts
    sent, failed = [], []
    for job in store.lost_jobs(limits, now):
        task = tasks.JOB_TASKS.get(job["kind"])
        if job["attempts"] >= most or task is None:
            if store.settle_lost_job(job, FAILED, error=gave_up(max(1, job["attempts"]))):
                failed.append(job["id"])
        elif store.settle_lost_job(job, QUEUED):
            send(task, job["id"])
            sent.append(job["id"])
    if sent:
        log.warning("jobs left running by a lost process, sent again: %s", ", ".join(sent))
    if failed:
        log.warning("jobs left running by a lost process, failed: %s", ", ".join(failed))
    return sent
