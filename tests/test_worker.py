"""The worker's training and extraction, called directly in this process (no Celery, no Redis).

The only test module that imports TensorFlow; every run is tiny (300 images, 1 epoch).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
keras = pytest.importorskip("keras")

from dashboard.service import run_actions  # noqa: E402  (no TensorFlow there)
from shared.artifacts import CACHE_DIR, CHECKPOINT_DIR, MODEL  # noqa: E402
from shared.config import parse_config  # noqa: E402
from shared.datasets import load_raw, to_model_input  # noqa: E402
from shared.store import RunStore  # noqa: E402
from tests.worker_support import sqlite_store  # noqa: E402
from worker.extraction import extract_job  # noqa: E402
from worker.model import build_model  # noqa: E402
from worker.training import train_run  # noqa: E402

TINY = {"epochs": 1, "train_limit": 300, "batch_size": 32}
ROOT = Path(__file__).resolve().parent.parent


class SimulatedCrash(BaseException):
    """Stands for the worker process dying: not an Exception, so nothing marks the run failed."""


class CrashAfterFirstEpoch(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        raise SimulatedCrash()


class CrashAtTrainEnd(keras.callbacks.Callback):
    def on_train_end(self, logs=None):
        raise SimulatedCrash()


class EpochRecorder(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs: list[int] = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> RunStore:
    return sqlite_store(tmp_path_factory.mktemp("cnnlens-data"))


def new_run(store: RunStore, **overrides) -> tuple[str, list]:
    config, infos = parse_config({**TINY, **overrides})
    return store.create_run(config, infos)["id"], infos


@pytest.fixture(scope="module")
def trained(store):
    """One tiny run trained for several tests, with every progress write it made."""
    run_id, infos = new_run(store)
    progress: list[dict] = []
    heartbeat = store.heartbeat
    store.heartbeat = lambda run_id, owner, lease, **values: (
        progress.append(values),
        heartbeat(run_id, owner, lease, **values),
    )
    try:
        assert train_run(store, run_id, "test-owner") == "succeeded"
    finally:
        del store.heartbeat  # back to the class's method
    return run_id, infos, progress


def wait_for(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def test_parent_process_does_not_import_tensorflow():
    code = (
        "import sys, worker.celery_app, worker.tasks\n"
        "from shared import tasks\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
        "names = set(worker.celery_app.app.tasks)\n"
        "assert {tasks.TRAIN, tasks.EXTRACT, tasks.RECOVER} <= names, names\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)


def test_model_layers_carry_schema_names_and_shapes():
    config, infos = parse_config(
        {
            "layers": [
                {"type": "conv2d", "filters": 8, "kernel_size": 5, "padding": "same", "strides": 2},
                {"type": "avgpool2d", "pool_size": 2},
                {"type": "conv2d", "filters": 4, "kernel_size": 3, "activation": "tanh"},
                {"type": "dropout", "rate": 0.5},
                {"type": "flatten"},
                {"type": "dense", "units": 10, "activation": "softmax"},
            ]
        }
    )
    model = build_model(config, infos)
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    assert [layer.name for layer in layers] == [info.name for info in infos]
    for layer, info in zip(layers, infos, strict=True):
        assert tuple(layer.output.shape[1:]) == info.output_shape
        if info.kernel_shape:
            assert tuple(layer.kernel.shape) == info.kernel_shape


def test_training_writes_every_artifact(store, trained):
    run_id, infos, _ = trained
    run = store.get_run(run_id)
    assert run["status"] == "succeeded" and run["error"] is None
    assert 0.0 <= run["test"]["accuracy"] <= 1.0 and run["test"]["loss"] > 0
    assert len(run["history"]["loss"]) == TINY["epochs"]
    assert run["history"]["val_accuracy"][0] is not None

    files = store.files
    for info in infos:
        probe = files.load_array(run_id, f"activations/probe/{info.name}.npy")
        assert probe.dtype == np.float16 and probe.shape == (10, *info.output_shape)
        if info.kernel_shape:
            kernel = files.load_array(run_id, f"filters/{info.name}.npy")
            assert kernel.dtype == np.float32 and kernel.shape == info.kernel_shape
            stack = files.load_array(run_id, f"filters/epochs/{info.name}.npy")
            assert stack.dtype == np.float16
            assert stack.shape == (TINY["epochs"] + 1, *info.kernel_shape)
            assert np.allclose(stack[-1], kernel, atol=1e-2)  # last entry = final weights
            assert not np.allclose(stack[0], stack[-1])  # index 0 = the initial weights
    assert files.load_array(run_id, "filters/epochs/conv2d_1.npy").shape == (2, 3, 3, 1, 16)

    _, _, x_test, y_test = load_raw("mnist-sample")
    inputs = files.load_array(run_id, "activations/probe/inputs.npy")
    labels = files.load_array(run_id, "activations/probe/labels.npy")
    indices = files.load_array(run_id, "activations/probe/indices.npy")
    predictions = files.load_array(run_id, "activations/probe/predictions.npy")
    assert inputs.dtype == np.uint8 and inputs.shape == (10, 28, 28)
    assert labels.tolist() == list(range(10)) and labels.dtype == np.int32
    assert np.array_equal(x_test[indices], inputs) and np.array_equal(y_test[indices], labels)
    assert predictions.dtype == np.float32 and predictions.shape == (10, 10)
    assert np.allclose(predictions.sum(axis=1), 1.0, atol=1e-4)

    metrics = files.read_json(run_id, "metrics.json")
    assert np.array(metrics["confusion"]).sum() == len(y_test)
    assert np.trace(np.array(metrics["confusion"])) / len(y_test) == pytest.approx(
        metrics["test"]["accuracy"]
    )
    assert (metrics["train_images"], metrics["val_images"]) == (270, 30)
    assert metrics["classes"] == [str(d) for d in range(10)]
    assert metrics["images_per_second"] > 0

    run_dir = store.run_dir(run_id)
    assert not (run_dir / CHECKPOINT_DIR).exists()
    assert not [p for p in run_dir.rglob(".*")], "temporary files left behind"


def test_progress_stays_within_the_epoch(trained):
    _, _, progress = trained
    steps = [p for p in progress if "step" in p]
    assert steps and all(0 <= p["step"] <= p["steps"] == 9 for p in steps)  # 270 images / 32
    assert {p["epoch"] for p in steps} == {1} and all(p["epochs"] == 1 for p in steps)


def test_saved_model_loads_in_safe_mode_and_matches_probe(store, trained):
    run_id, infos, _ = trained
    model = keras.saving.load_model(store.run_dir(run_id) / MODEL, safe_mode=True)
    names = [layer.name for layer in model.layers if layer.name != "image"]
    assert names == [info.name for info in infos]
    inputs = store.files.load_array(run_id, "activations/probe/inputs.npy")
    expected = store.files.load_array(run_id, "activations/probe/predictions.npy")
    got = np.asarray(model(to_model_input(inputs), training=False))
    assert np.allclose(got, expected, atol=1e-5)


def test_test_set_scored_eagerly_agrees_with_keras_predict(store, trained):
    """The run's test accuracy and confusion matrix come from eager calls (predict_eagerly), which
    must give model.predict's numbers, and the stored accuracy must be the matrix's diagonal."""
    from worker.model import predict_eagerly

    run_id, _, _ = trained
    model = keras.saving.load_model(store.run_dir(run_id) / MODEL, safe_mode=True)
    x = to_model_input(load_raw("mnist-sample")[2][:700])  # not a multiple of the batch
    expected = model.predict(x, batch_size=256, verbose=0)
    got = predict_eagerly(model, x, 256)
    assert got.shape == expected.shape == (700, 10)
    assert np.allclose(got, expected, atol=1e-6)
    assert predict_eagerly(model, x[:0], 256).shape == (0, 10)
    run = store.get_run(run_id, with_history=False)
    metrics = json.loads((store.run_dir(run_id) / "metrics.json").read_text())
    confusion = np.asarray(metrics["confusion"])
    assert confusion.sum() == len(load_raw("mnist-sample")[3])
    assert metrics["test"]["accuracy"] == pytest.approx(np.trace(confusion) / confusion.sum())
    assert run["test"]["accuracy"] == pytest.approx(metrics["test"]["accuracy"])


def test_second_delivery_after_success_does_nothing(store, trained):
    run_id, _, _ = trained
    model_file = store.run_dir(run_id) / MODEL
    before = (store.get_run(run_id)["attempts"], model_file.stat().st_mtime_ns)
    assert train_run(store, run_id, "late-duplicate") is None
    assert (store.get_run(run_id)["attempts"], model_file.stat().st_mtime_ns) == before
    assert store.get_run(run_id)["status"] == "succeeded"


def test_duplicate_claim_does_not_train(store):
    run_id, _ = new_run(store)
    assert store.claim(run_id, "first-worker", 60)
    assert train_run(store, run_id, "second-worker") is None
    run = store.get_run(run_id)
    assert run["status"] == "running" and run["attempts"] == 1
    assert not (store.run_dir(run_id) / MODEL).exists()


def test_cancel_flag_set_before_start(store):
    run_id, _ = new_run(store)
    store.update_fields(run_id, cancel_requested=True)  # flagged while the message was in flight
    assert train_run(store, run_id, "owner") == "cancelled"
    assert store.get_run(run_id)["history"]["loss"] == []


def test_cancel_while_training(store):
    run_id, _ = new_run(store, epochs=200)

    def cancel_once_training():
        wait_for(lambda: (store.get_run(run_id, with_history=False)["progress"]["epoch"] or 0) >= 2)
        store.request_cancel(run_id)

    canceller = threading.Thread(target=cancel_once_training)
    canceller.start()
    status = train_run(store, run_id, "owner")
    canceller.join()
    run = store.get_run(run_id)
    assert status == "cancelled" and run["status"] == "cancelled"
    assert 1 <= len(run["history"]["loss"]) < 200
    assert not (store.run_dir(run_id) / CHECKPOINT_DIR).exists()
    assert not (store.run_dir(run_id) / MODEL).exists()


def test_deleted_while_training_stops_quietly(store):
    run_id, _ = new_run(store, epochs=200)

    def delete_once_training():
        wait_for(lambda: (store.get_run(run_id, with_history=False)["progress"]["epoch"] or 0) >= 2)
        store.delete_run(run_id)

    deleter = threading.Thread(target=delete_once_training)
    deleter.start()
    assert train_run(store, run_id, "owner") is None
    deleter.join()
    assert store.get_run(run_id) is None
    assert not store.run_dir(run_id).exists()


def test_crashed_run_resumes_from_last_completed_epoch(store):
    run_id, infos = new_run(store, epochs=2)
    with pytest.raises(SimulatedCrash):
        train_run(store, run_id, "doomed-worker", callbacks=(CrashAfterFirstEpoch(),))
    assert store.get_run(run_id)["status"] == "running"
    assert (store.run_dir(run_id) / CHECKPOINT_DIR).is_dir()
    stack_rel = "filters/epochs/conv2d_1.npy"
    stack = store.files.load_array(run_id, stack_rel)
    assert stack.shape == (2, 3, 3, 1, 16)
    # As if the worker had also written a snapshot for an epoch whose backup was never saved.
    store.files.save_array(run_id, stack_rel, np.concatenate([stack, stack[-1:] + 1]))

    assert run_id in store.mark_stale_interrupted(0.0)
    recorder = EpochRecorder()
    assert train_run(store, run_id, "second-worker", callbacks=(recorder,)) == "succeeded"
    assert recorder.epochs == [1]  # epoch index 0 came from the backup, not trained again
    run = store.get_run(run_id)
    assert run["attempts"] == 2 and len(run["history"]["loss"]) == 2
    assert [e for e, _ in store.history_rows(run_id)] == [1, 2]
    resumed = store.files.load_array(run_id, stack_rel)
    assert resumed.shape == (3, 3, 3, 1, 16)
    assert np.array_equal(resumed[:2], stack)  # the stray entry was dropped, not kept


def test_crash_after_the_last_epoch_resumes_straight_to_the_results(store):
    run_id, infos = new_run(store)
    with pytest.raises(SimulatedCrash):
        train_run(store, run_id, "worker/1/task-a", callbacks=(CrashAtTrainEnd(),))
    recorder = EpochRecorder()
    assert train_run(store, run_id, "worker/2/task-a", callbacks=(recorder,)) == "succeeded"
    assert recorder.epochs == []  # nothing left to train
    assert len(store.get_run(run_id)["history"]["loss"]) == 1
    stack = store.files.load_array(run_id, "filters/epochs/conv2d_1.npy")
    final = store.files.load_array(run_id, "filters/conv2d_1.npy")
    assert stack.shape == (2, 3, 3, 1, 16) and np.allclose(stack[-1], final, atol=1e-2)


def test_kill_while_the_checkpoint_is_written_resumes_from_the_previous_one(store, monkeypatch):
    import worker.checkpoint as checkpoint

    run_id, _ = new_run(store, epochs=2)
    replace = checkpoint._replace_durably

    def dies_before_the_second_state(tmp, final):
        if final.name == checkpoint.STATE and '"epoch": 2' in tmp.read_text():
            raise SimulatedCrash()  # epoch 2's weights are in place, its state.json is not
        replace(tmp, final)

    monkeypatch.setattr(checkpoint, "_replace_durably", dies_before_the_second_state)
    with pytest.raises(SimulatedCrash):
        train_run(store, run_id, "w/1/task-a")
    monkeypatch.undo()
    recorder = EpochRecorder()
    assert train_run(store, run_id, "w/2/task-a", callbacks=(recorder,)) == "succeeded"
    assert recorder.epochs == [1]  # back to the last complete state: after epoch 1
    assert [e for e, _ in store.history_rows(run_id)] == [1, 2]


def test_unreadable_checkpoint_starts_the_run_over_instead_of_failing(store):
    run_id, _ = new_run(store, epochs=2)
    with pytest.raises(SimulatedCrash):
        train_run(store, run_id, "w/1/task-b", callbacks=(CrashAfterFirstEpoch(),))
    (store.run_dir(run_id) / CHECKPOINT_DIR / "state.json").write_text('{"epo')  # torn
    recorder = EpochRecorder()
    assert train_run(store, run_id, "w/2/task-b", callbacks=(recorder,)) == "succeeded"
    assert recorder.epochs == [0, 1]
    assert len(store.get_run(run_id)["history"]["loss"]) == 2


def test_redelivered_task_takes_over_from_its_dead_delivery(store):
    run_id, _ = new_run(store, epochs=2)
    with pytest.raises(SimulatedCrash):
        train_run(store, run_id, "train@a/101/task-1", callbacks=(CrashAfterFirstEpoch(),))
    # The lease is fresh: another task's delivery must keep off...
    assert train_run(store, run_id, "train@b/202/task-2") is None
    # ...but the same message, handed out again because its process died, resumes at once.
    recorder = EpochRecorder()
    assert train_run(store, run_id, "train@a/303/task-1", callbacks=(recorder,)) == "succeeded"
    assert recorder.epochs == [1]
    assert store.get_run(run_id)["attempts"] == 2


def test_run_that_keeps_crashing_is_not_retried_forever(store):
    run_id, _ = new_run(store)
    attempts = store.settings.max_attempts
    store.update_fields(run_id, status="interrupted", attempts=attempts)
    assert train_run(store, run_id, "owner") == "failed"
    run = store.get_run(run_id)
    assert run["status"] == "failed" and "will not be retried" in run["error"]


def request_extraction(store: RunStore, run_id: str, image: np.ndarray) -> tuple[str, str]:
    """What dashboard.service.run_actions.request_activations does, minus sending the task."""
    digest = run_actions.input_hash(image)
    store.files.save_array(run_id, f"{CACHE_DIR}/{digest}.input.npy", image)
    job_id = store.create_job("extract", run_id, {"run_id": run_id, "input_hash": digest})
    return job_id, digest


def test_extraction_agrees_with_the_model(store, trained):
    run_id, infos, _ = trained
    _, _, x_test, _ = load_raw("mnist-sample")
    model = keras.saving.load_model(store.run_dir(run_id) / MODEL, safe_mode=True)
    for index in (0, 7):
        image = x_test[index]
        job_id, digest = request_extraction(store, run_id, image)
        started = time.perf_counter()
        assert extract_job(store, job_id) == "succeeded"
        seconds = time.perf_counter() - started
        job = store.get_job(job_id)
        arrays = store.files.load_arrays(run_id, run_actions.cache_rel(digest))
        assert job["result"] == run_actions.summarize_cached(run_id, digest, arrays)
        assert [k for k in arrays if k.startswith("layer:")] == [f"layer:{i.name}" for i in infos]
        for info in infos:
            assert arrays[f"layer:{info.name}"].dtype == np.float16
            assert arrays[f"layer:{info.name}"].shape == info.output_shape
        assert arrays["probabilities"].dtype == np.float32
        assert np.array_equal(arrays["input"], image)
        expected = np.asarray(model(to_model_input(image[None]), training=False))[0]
        assert job["result"]["predicted"] == int(np.argmax(expected))
        assert np.allclose(arrays["probabilities"], expected, atol=1e-5)
        if index == 7:
            assert seconds < 1.0, f"a warm extraction took {seconds:.3f} s"
    # A duplicate delivery of a finished job leaves it alone.
    assert extract_job(store, job_id) == "succeeded"


def test_extraction_without_a_model_fails_clearly(store):
    run_id, _ = new_run(store)
    job_id, _ = request_extraction(store, run_id, np.zeros((28, 28), np.uint8))
    assert extract_job(store, job_id) == "failed"
    assert "no trained model yet" in store.get_job(job_id)["error"]


def test_recover_resends_queued_and_stale_runs(tmp_path, monkeypatch):
    import worker.recovery as recovery
    import worker.tasks as worker_tasks
    from shared import tasks

    store = sqlite_store(tmp_path)
    queued_id, _ = new_run(store)
    waiting_id, _ = new_run(store)
    stale_id, _ = new_run(store)
    live_id, _ = new_run(store)
    store.update_fields(queued_id, created_at=time.time() - 60)
    assert store.claim(stale_id, "dead-worker", 60) and store.claim(live_id, "live-worker", 60)
    store.update_fields(stale_id, heartbeat_at=time.time() - 3600)
    sent: list[tuple[str, list]] = []
    monkeypatch.setattr(worker_tasks, "store", lambda: store)
    monkeypatch.setattr(
        recovery, "inspect_broker", lambda settings: recovery.BrokerView(waiting={waiting_id})
    )
    monkeypatch.setattr(
        worker_tasks.app,
        "send_task",
        lambda name, args=(), kwargs=None, **_: sent.append((name, list(args))),
    )
    # The queued run lost its message; the waiting one still has it; the stale one's worker died.
    assert worker_tasks.recover(include_queued=False) == [queued_id, stale_id]
    assert store.get_run(stale_id)["status"] == "interrupted"
    assert store.get_run(live_id)["status"] == "running"
    assert sent == [(tasks.TRAIN, [queued_id]), (tasks.TRAIN, [stale_id])]  # no follow-up sweeps
