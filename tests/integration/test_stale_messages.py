"""A training message with nothing to train costs the queue milliseconds, not a TensorFlow start.

Real processes: a private redis-server, a real training worker (`--max-tasks-per-child 1`, so a
pool process that runs any task is replaced by a new one that spends 7-15 s starting
TensorFlow) and a real training. Messages for runs that are cancelled, deleted, failed, unknown
to this store or not runs at all wait in the queue in front of a real run; the worker's parent
must drop them, so the pool process that was warm before them trains the real run.
"""

from __future__ import annotations

import re
import time

import pytest

from shared import tasks
from shared.artifacts import new_id
from shared.config import parse_config
from shared.queue import send
from tests.integration import test_faults as faults

pytestmark = pytest.mark.integration

# The private Redis, data directory and workers of tests/integration/test_faults.py.
cluster, redis_server = faults.cluster, faults.redis_server
SHORT = faults.SHORT
TF_READY = re.compile(r"TensorFlow \S+ ready in")
DROPPED = re.compile(
    r"dropped a training message for run \S+ without starting a process: "
    r".*\(checked in ([\d.]+) ms\)"
)


def pool_ready(worker: faults.WorkerProcess) -> int:
    """The pool process of a one-process worker, once it has started TensorFlow."""
    faults.wait_until(
        lambda: TF_READY.search(worker.log_path.read_text()), 120, "no warm pool process"
    )
    (child,) = faults.children(worker.proc.pid)
    return child


def test_stale_messages_are_dropped_without_recycling_the_warm_pool_process(cluster):
    c = cluster(CNNLENS_HEARTBEAT_TIMEOUT="120")
    worker = c.worker()
    warm = pool_ready(worker)
    config, layers = parse_config(SHORT)

    def made(then) -> str:  # a run that exists only in the store, then `then(run_id)`
        run_id = c.store.create_run(config, layers)["id"]
        then(run_id)
        return run_id

    stale = [
        made(c.store.request_cancel),  # cancelled while its message waited
        made(c.store.request_cancel),
        made(c.store.delete_run),  # deleted while its message waited
        made(c.store.delete_run),
        made(lambda r: c.store.finish(r, "failed", error="gave up")),  # already finished
        *(new_id() for _ in range(3)),  # another data directory's runs: unknown here
        "not-a-run-id",
    ]
    sent = time.monotonic()
    for run_id in stale:
        send(tasks.TRAIN, run_id)
    real = c.submit(SHORT)
    c.wait_status(real, ("running", "succeeded", "failed"), timeout=300)
    waited = time.monotonic() - sent
    trained_by = c.lease_pid(real)
    c.wait_status(real, ("succeeded", "failed"))
    run = faults.assert_trained_once_through(c, real, SHORT["epochs"])

    log = worker.log_path.read_text()
    checks = [float(ms) for ms in DROPPED.findall(log)]
    assert trained_by == warm, (
        f"the real run was trained by pool process {trained_by}, not by {warm} that was warm "
        f"before the stale messages: they recycled it\n{c.logs()}"
    )
    assert len(checks) == len(stale), c.logs()
    assert len(TF_READY.findall(log)) <= 2  # the warm process, and its successor after the run
    assert run["attempts"] == 1
    for run_id in stale[:2]:
        assert c.store.run_status(run_id) == "cancelled"
    assert c.server.client().llen(tasks.TRAINING_QUEUE) == 0
    print(
        f"\n{len(stale)} stale messages dropped by the worker's parent, "
        f"{sum(checks):.1f} ms of store reads in all (slowest {max(checks):.1f} ms); the real "
        f"run was training {waited:.2f} s after the first stale message was sent"
    )
