"""The recovery sweep's decisions and the store's lease calls, without Celery, Redis or TensorFlow.

The same code against real processes, a real Redis flushed and restarted, and workers killed by
their pid is in tests/integration/test_faults.py.
"""

from __future__ import annotations

import base64
import json
import time

import pytest

from shared import tasks
from shared.config import parse_config
from shared.settings import Settings
from shared.store import RunStore, delivery_of, lease_owner
from worker.recovery import BrokerView, needs_message, sweep, train_run_id


@pytest.fixture
def store(tmp_path):
    settings = Settings(
        _env_file=None,
        CNNLENS_DATA_DIR=str(tmp_path),
        CNNLENS_HEARTBEAT_TIMEOUT=5,
        CNNLENS_REQUEUE_AFTER=60,
    )
    return RunStore(settings).init()


def new_run(store: RunStore, age: float = 60.0) -> str:
    run_id = store.create_run(*parse_config({"epochs": 2}))["id"]
    store.update_fields(run_id, created_at=time.time() - age)
    return run_id


def kombu_message(task: str, run_id: str) -> dict:
    """A task message as kombu's Redis transport stores it (JSON; the body base64 JSON)."""
    body = json.dumps([[run_id], {}, {"callbacks": None}]).encode()
    return {
        "body": base64.b64encode(body).decode(),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": {"lang": "py", "task": task, "id": "t-1", "argsrepr": repr([run_id])},
        "properties": {"body_encoding": "base64", "delivery_tag": "d-1"},
    }


def test_training_messages_are_read_and_everything_else_skipped():
    run_id = "ab" * 16
    assert train_run_id(json.dumps(kombu_message(tasks.TRAIN, run_id))) == run_id
    unacked = json.dumps([kombu_message(tasks.TRAIN, run_id), "training", "training"])
    assert train_run_id(unacked.encode()) == run_id
    assert train_run_id(json.dumps(kombu_message(tasks.EXTRACT, run_id))) is None
    for junk in (b"", b"not json", b"[]", b"{}", b'{"headers": {"task": "cnnlens.train"}}', b"7"):
        assert train_run_id(junk) is None


def test_a_run_is_sent_again_only_when_its_message_is_missing(store):
    settings, now = store.settings, time.time()
    run = store.get_run(new_run(store), with_history=False)
    rid = run["id"]
    fresh = store.get_run(new_run(store, age=1), with_history=False)
    # Redis: waiting in the queue, taken lately by a worker → leave it; lost → send.
    assert not needs_message(run, set(), BrokerView(waiting={rid}), False, settings, now)
    assert not needs_message(run, set(), BrokerView(taken={rid: now - 10}), False, settings, now)
    assert needs_message(run, set(), BrokerView(taken={rid: now - 600}), False, settings, now)
    assert needs_message(run, set(), BrokerView(), False, settings, now)
    assert not needs_message(fresh, set(), BrokerView(), False, settings, now)  # on its way
    # Its worker died: its message is with that worker, so send, unless one already waits.
    assert needs_message(run, {rid}, BrokerView(taken={rid: now}), False, settings, now)
    assert not needs_message(run, {rid}, BrokerView(waiting={rid}), False, settings, now)
    interrupted = run | {"status": "interrupted"}  # marked by the dashboard, say
    assert needs_message(interrupted, set(), BrokerView(taken={rid: now}), False, settings, now)
    assert not needs_message(interrupted, set(), BrokerView(waiting={rid}), False, settings, now)
    # A broker that cannot be looked into: the stale ones always, the rest on a full sweep only.
    assert needs_message(run, {rid}, None, False, settings, now)
    assert not needs_message(run, set(), None, False, settings, now)
    assert needs_message(run, set(), None, True, settings, now)


def test_sweep_marks_dead_runs_interrupted_and_sends_each_missing_run_once(store):
    lost, waiting, dead, live = (new_run(store, age) for age in (40, 30, 20, 10))
    assert store.claim(dead, lease_owner("train@a", 11, "t-dead"), 5)
    assert store.claim(live, lease_owner("train@b", 12, "t-live"), 5)
    store.update_fields(dead, heartbeat_at=time.time() - 30)
    sent: list[str] = []
    view = BrokerView(waiting={waiting}, taken={dead: time.time() - 30})
    assert sweep(store, sent.append, view) == [lost, dead]
    assert sent == [lost, dead]
    assert store.get_run(dead)["status"] == "interrupted"
    assert store.get_run(live)["status"] == "running"
    # Next sweep: both messages now wait in the queue, so nothing is sent twice.
    view = BrokerView(waiting={waiting, lost, dead})
    assert sweep(store, sent.append, view) == []


def test_a_redelivered_message_takes_the_run_back_from_its_dead_delivery(store):
    run_id = new_run(store)
    first = lease_owner("train@a", 101, "task-1")
    assert delivery_of(first) == "task-1"
    assert store.claim(run_id, first, 60)
    assert store.heartbeat(run_id, first, 60, epoch=1)
    # Another message for the run keeps off while the lease is fresh…
    assert not store.claim(run_id, lease_owner("train@b", 202, "task-2"), 60)
    assert store.take_over(run_id, lease_owner("train@b", 202, "task-2"), 60) is None
    # …but the same message, handed out again after its process died, takes the run at once.
    again = lease_owner("train@a", 303, "task-1")
    assert store.take_over(run_id, again, 60) == first
    run = store.get_run(run_id)
    assert run["attempts"] == 2 and run["status"] == "running"
    # The dead delivery's heartbeat now says the lease is gone; the new one's is kept.
    assert not store.heartbeat(run_id, first, 60, epoch=2)
    assert store.heartbeat(run_id, again, 60, epoch=2)


def test_heartbeat_is_refused_once_a_sweep_gave_up_on_the_run(store):
    run_id = new_run(store)
    owner = lease_owner("train@a", 1, "t")
    assert store.claim(run_id, owner, 5)
    store.update_fields(run_id, heartbeat_at=time.time() - 60)
    assert store.mark_stale_interrupted(5) == [run_id]
    assert not store.heartbeat(run_id, owner, 5)
    assert store.get_run(run_id)["status"] == "interrupted"


def test_long_node_names_keep_the_task_id_in_the_owner():
    owner = lease_owner("x" * 500, 7, "the-task-id")
    assert len(owner) == 200 and delivery_of(owner) == "the-task-id"
