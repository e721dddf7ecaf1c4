"""The run store on its default SQLite: runs, history and atomic artifact files.

Claims, leases and cancelling are tested on SQLite and PostgreSQL alike in
test_store_backends.py (its `store` fixture runs every test on both).
"""

import os

import numpy as np
import pytest

from shared import artifacts
from shared.config import parse_config
from shared.settings import Settings
from shared.store import RunStore


@pytest.fixture
def store(tmp_path):
    return RunStore(Settings(_env_file=None, CNNLENS_DATA_DIR=str(tmp_path))).init()


def new_run(store, **cfg):
    return store.create_run(*parse_config(cfg))


def test_create_get_list(store):
    a = new_run(store, name="alpha", epochs=1)
    b = new_run(store, name="<script>alert(1)</script>")
    assert a["status"] == "queued" and a["config"]["epochs"] == 1
    assert (store.run_dir(a["id"]) / "config.json").exists()
    assert [r["id"] for r in store.list_runs()] == [b["id"], a["id"]]  # newest first
    assert [r["name"] for r in store.list_runs(name="ALPHA")] == ["alpha"]
    assert store.get_run(b["id"])["name"] == "<script>alert(1)</script>"
    assert store.get_run("../../etc/passwd") is None
    assert store.get_run("0" * 32) is None


def test_history_is_one_entry_per_epoch_even_after_resume(store):
    run = new_run(store, epochs=3)
    for epoch in (1, 2, 2, 3):  # epoch 2 recorded again by a resumed attempt
        store.record_epoch(
            run["id"],
            epoch,
            {"loss": 1.0 / epoch, "accuracy": 0.5, "val_loss": float("nan"), "val_accuracy": 0.4},
        )
    history = store.get_run(run["id"])["history"]
    assert history["loss"] == [1.0, 0.5, pytest.approx(1 / 3)]
    assert history["val_loss"] == [None, None, None]  # NaN is stored as missing, not as NaN
    lines = (store.run_dir(run["id"]) / "history.jsonl").read_text().splitlines()
    assert len(lines) == 3


def test_delete_removes_rows_and_files(store):
    run = new_run(store)
    store.files.save_array(run["id"], "filters/conv2d_1.npy", np.zeros((3, 3, 1, 16)))
    assert store.delete_run(run["id"])
    assert store.get_run(run["id"]) is None
    assert not store.run_dir(run["id"]).exists()
    assert not store.delete_run(run["id"])


def test_crash_between_temp_write_and_rename_keeps_old_file(store, monkeypatch):
    run = new_run(store)
    store.files.save_array(run["id"], "filters/conv2d_1.npy", np.ones(4))

    def crash(src, dst):
        raise OSError("simulated crash before rename")

    monkeypatch.setattr(artifacts.os, "replace", crash)
    with pytest.raises(OSError):
        store.files.save_array(run["id"], "filters/conv2d_1.npy", np.zeros(4))
    monkeypatch.undo()
    assert store.files.load_array(run["id"], "filters/conv2d_1.npy").tolist() == [1, 1, 1, 1]
    leftovers = [n for n in os.listdir(store.run_dir(run["id"]) / "filters") if n.endswith(".tmp")]
    assert leftovers == []


def test_artifact_names_cannot_escape_the_run_folder(store):
    run = new_run(store)
    for bad in ("../config.json", "/etc/passwd", "a/../../b", "", "x\\y"):
        with pytest.raises(ValueError):
            store.files.path(run["id"], bad)
    with pytest.raises(ValueError):
        store.files.run_dir("../" + "a" * 30)


def test_half_written_run_reads_as_missing(store):
    run = new_run(store)
    path = store.run_dir(run["id"]) / "metrics.json"
    path.write_text('{"test": {"loss"')  # truncated by a crash that bypassed the atomic writer
    assert store.files.read_json(run["id"], "metrics.json") is None
    assert store.files.load_array(run["id"], "activations/probe/conv2d_1.npy") is None
