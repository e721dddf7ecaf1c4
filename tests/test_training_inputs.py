"""How the worker feeds a training: the validation images Keras would pick, float32 prepared once,
and a run trained with live progress switched off (CNNLENS_PROGRESS=0, used by benchmarks)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
keras = pytest.importorskip("keras")

from keras.src.trainers.data_adapters.array_slicing import (  # noqa: E402
    train_validation_split,
)

from shared.config import parse_config  # noqa: E402
from shared.settings import Settings  # noqa: E402
from shared.store import RunStore  # noqa: E402
from worker import inputs  # noqa: E402
from worker.training import train_run  # noqa: E402


@pytest.mark.parametrize("n, split", [(1000, 0.1), (999, 0.1), (10, 0.5), (37, 0.0)])
def test_validation_images_are_the_ones_keras_validation_split_picks(n, split):
    rng = np.random.default_rng(0)
    x_raw = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    y_raw = rng.integers(0, 10, size=n, dtype=np.uint8)
    data = inputs.prepare(x_raw, y_raw, split)
    assert data.x_train.dtype == np.float32 and data.y_train.dtype == np.int32
    assert data.x_train.shape[1:] == (28, 28, 1)
    if split:
        x = (x_raw.astype(np.float32) / np.float32(255.0))[..., None]
        (x_fit, y_fit, _), (x_val, y_val, _) = train_validation_split(
            (x, y_raw.astype(np.int32), None), validation_split=split
        )
        np.testing.assert_array_equal(data.x_train, x_fit)
        np.testing.assert_array_equal(data.x_val, x_val)
        np.testing.assert_array_equal(data.y_val, y_val)
    else:
        assert data.n_val == 0
        assert "validation_data" not in inputs.fit_arguments(data, 32, seed=0)


def _epoch(dataset) -> tuple[list[np.ndarray], list[np.ndarray]]:
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in dataset], strict=True)
    return list(xs), list(ys)


def test_training_batches_cover_every_image_once_per_epoch_in_a_fresh_seeded_order():
    n = 100
    x_raw = np.arange(n, dtype=np.uint8)[:, None, None] * np.ones((1, 28, 28), np.uint8)
    data = inputs.prepare(x_raw, np.arange(n, dtype=np.uint8) % 10, 0.2)
    train = inputs.fit_arguments(data, 32, seed=7)["x"]
    first_x, first_y = _epoch(train)
    second_x, _ = _epoch(train)
    assert [len(b) for b in first_x] == [32, 32, 16]  # 80 training images, batch 32
    assert first_x[0].shape[1:] == (28, 28, 1) and first_x[0].dtype == np.float32
    # Each image is its own index (pixel value i/255), and its label stays with it.
    order = np.concatenate([np.rint(b[:, 0, 0, 0] * 255).astype(int) for b in first_x])
    assert sorted(order) == list(range(80))
    np.testing.assert_array_equal(np.concatenate(first_y), order % 10)
    again = np.concatenate([np.rint(b[:, 0, 0, 0] * 255).astype(int) for b in second_x])
    assert sorted(again) == list(range(80)) and list(again) != list(order)  # reshuffled
    same_seed = _epoch(inputs.fit_arguments(data, 32, seed=7)["x"])[0]
    np.testing.assert_array_equal(np.concatenate(same_seed), np.concatenate(first_x))


def test_validation_is_scored_in_big_batches_without_touching_training_batches():
    data = inputs.prepare(np.zeros((3000, 28, 28), np.uint8), np.zeros(3000, np.uint8), 0.5)
    args = inputs.fit_arguments(data, 32, seed=0)
    val_x, _ = _epoch(args["validation_data"])
    assert [len(b) for b in val_x] == [inputs.VALIDATION_BATCH, 476]
    assert len(_epoch(args["x"])[0][0]) == 32
    big = inputs.fit_arguments(data, 2048, seed=0)["validation_data"]
    assert [len(b) for b in _epoch(big)[0]] == [1500]


def test_both_feeds_run_without_tf_data_autotuning():
    # With autotuning on, each epoch's iterator owns a model thread that sleeps ever longer
    # between optimisations, and Keras destroying the iterator at the epoch's end waited for it:
    # 1-3 s with the process idle, every epoch (worker/inputs.py, PREFETCH_BATCHES).
    data = inputs.prepare(np.zeros((100, 28, 28), np.uint8), np.zeros(100, np.uint8), 0.2)
    args = inputs.fit_arguments(data, 32, seed=0)
    for dataset in (args["x"], args["validation_data"]):
        assert dataset.options().autotune.enabled is False


def test_a_run_without_live_progress_still_records_epochs_and_fit_time(tmp_path):
    settings = Settings(
        CNNLENS_DATA_DIR=str(tmp_path),
        DATABASE_URL=f"sqlite:///{tmp_path / 'test.sqlite3'}",
        CNNLENS_PROGRESS="0",
    )
    store = RunStore(settings).init()
    config, infos = parse_config({"epochs": 2, "train_limit": 300})
    run_id = store.create_run(config, infos)["id"]
    writes: list[dict] = []
    heartbeat = store.heartbeat
    store.heartbeat = lambda run_id, owner, lease, **values: (  # type: ignore[method-assign]
        writes.append(values),
        heartbeat(run_id, owner, lease, **values),
    )
    assert train_run(store, run_id, "test-owner") == "succeeded"
    # Only epoch boundaries report: nothing in the middle of an epoch.
    assert all(w.get("step") in (None, 0, w.get("steps")) for w in writes), writes
    assert len(store.get_run(run_id)["history"]["loss"]) == 2
    metrics = json.loads((store.run_dir(run_id) / "metrics.json").read_text())
    assert metrics["fit_epochs"] == 2 and metrics["fit_seconds"] > 0
    assert metrics["fit_images_per_second"] == pytest.approx(
        metrics["train_images"] * 2 / metrics["fit_seconds"], rel=0.01
    )
