"""The end of a training is guarded by its lease, and commits before it cleans up.

Trainings run in this process (real TensorFlow, a real SQLite store): a worker whose lease was
taken by another delivery must not mark the run failed or succeeded, nor remove the checkpoint
the new owner resumes from; and a run's final status is in the store before its checkpoint
is removed, so a crash between the two never retrains a finished run from epoch 0.
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
keras = pytest.importorskip("keras")

from shared.artifacts import CHECKPOINT_DIR  # noqa: E402
from shared.config import parse_config  # noqa: E402
from shared.store import RunStore  # noqa: E402
from tests.worker_support import sqlite_store  # noqa: E402
from worker import training  # noqa: E402
from worker.training import train_run  # noqa: E402

TINY = {"epochs": 2, "train_limit": 300, "batch_size": 32}


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> RunStore:
    return sqlite_store(tmp_path_factory.mktemp("cnnlens-data"))


def new_run(store: RunStore) -> str:
    return store.create_run(*parse_config(TINY))["id"]


def take_over(store: RunStore, run_id: str, owner: str) -> None:
    """Another delivery claims the run, as after this worker's lease ran out."""
    store.update_fields(run_id, lease_expires=0.0)
    assert store.claim(run_id, owner, 60)


class TakenOverThenFails(keras.callbacks.Callback):
    """After epoch 1 (its checkpoint written), another worker claims the run, then this one
    stops on an error: its `except` path is what would mark the run failed."""

    def __init__(self, store: RunStore, run_id: str, new_owner: str):
        super().__init__()
        self.store, self.run_id, self.new_owner = store, run_id, new_owner

    def on_epoch_end(self, epoch, logs=None):
        take_over(self.store, self.run_id, self.new_owner)
        raise RuntimeError("the old worker stumbles after losing its lease")


class EpochRecorder(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seen: list[int] = []

    def on_epoch_begin(self, epoch, logs=None):
        self.seen.append(epoch)


def test_a_worker_whose_lease_was_taken_cannot_fail_the_run_nor_remove_its_checkpoint(store):
    run_id = new_run(store)
    callback = TakenOverThenFails(store, run_id, "w/2/task-b")
    assert train_run(store, run_id, "w/1/task-a", callbacks=(callback,)) is None
    row = store._row(run_id)
    assert (row["status"], row["error"], row["lease_owner"]) == ("running", None, "w/2/task-b")
    assert (store.run_dir(run_id) / CHECKPOINT_DIR / "state.json").exists()
    # Whoever holds the run next resumes from that checkpoint: epoch 2 only.
    store.update_fields(run_id, status="interrupted", lease_owner=None)
    epochs = EpochRecorder()
    assert train_run(store, run_id, "w/3/task-c", callbacks=(epochs,)) == "succeeded"
    assert epochs.seen == [1]
    assert [e for e, _ in store.history_rows(run_id)] == [1, 2]


@pytest.mark.parametrize("status", ["succeeded", "failed", "cancelled"])
def test_an_ending_under_a_lost_lease_writes_nothing(store, status):
    run_id = new_run(store)
    assert store.claim(run_id, "w/1/task-a", 60)
    checkpoint = store.run_dir(run_id) / CHECKPOINT_DIR
    checkpoint.mkdir(parents=True)
    (checkpoint / "state.json").write_text('{"epoch": 1, "weights": "epoch-1.weights.h5"}')
    take_over(store, run_id, "w/2/task-b")
    assert training._finish(store, run_id, "w/1/task-a", status, error=None) is None
    row = store._row(run_id)
    assert (row["status"], row["lease_owner"]) == ("running", "w/2/task-b")
    assert (checkpoint / "state.json").exists()
    # Its holder can end it, and then the checkpoint goes.
    assert training._finish(store, run_id, "w/2/task-b", status) == status
    assert store.get_run(run_id)["status"] == status and not checkpoint.exists()


def test_the_status_is_committed_before_the_checkpoint_is_removed(store, monkeypatch):
    run_id = new_run(store)
    seen: list[tuple[str, str | None]] = []
    remove = store.files.remove

    def remove_and_look(rid: str, rel: str) -> None:
        if rel == CHECKPOINT_DIR:  # what a crash at this instant would leave in the store
            seen.append((rel, (store._row(rid) or {}).get("status")))
        remove(rid, rel)

    monkeypatch.setattr(store.files, "remove", remove_and_look)
    assert train_run(store, run_id, "w/1/task-a") == "succeeded"
    assert seen == [(CHECKPOINT_DIR, "succeeded")]
    assert not (store.run_dir(run_id) / CHECKPOINT_DIR).exists()
