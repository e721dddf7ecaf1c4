"""The ablation curve of a conv layer (worker/ablation_curve.py), called directly in this process
on a hand-built model whose every number can be computed again with numpy alone.

The model: four fixed 3×3 filters (centre pixel, horizontal edge, vertical edge, blur) with ReLU,
flattened, then a dense softmax layer that matches the result against each class's mean (a
nearest-template classifier made from 2,000 training images). With the conv layer's output
zeroed, the dense layer sees zeros and answers its bias' largest class for every image.
"""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
keras = pytest.importorskip("keras")

from shared import comparison  # noqa: E402
from shared.artifacts import MODEL  # noqa: E402
from shared.config import parse_config  # noqa: E402
from shared.datasets import load_raw, to_model_input  # noqa: E402
from shared.store import FAILED, SUCCEEDED, RunStore  # noqa: E402
from tests.worker_support import sqlite_store  # noqa: E402
from worker import ablation_curve  # noqa: E402
from worker.model import build_model  # noqa: E402
from worker.results import save_model  # noqa: E402

CONFIG = {
    "name": "hand-built",
    "layers": [
        {"type": "conv2d", "filters": 4, "kernel_size": 3, "activation": "relu"},
        {"type": "flatten"},
        {"type": "dense", "units": 10, "activation": "softmax"},
    ],
}
KERNELS = np.stack(
    [
        [[0, 0, 0], [0, 1, 0], [0, 0, 0]],
        [[1, 1, 1], [0, 0, 0], [-1, -1, -1]],
        [[1, 0, -1], [1, 0, -1], [1, 0, -1]],
        np.full((3, 3), 1 / 9),
    ],
    axis=-1,
).astype(np.float32)[:, :, None, :]  # (3, 3, 1, 4)
BIASES = np.array([0.0, 0.0, 0.0, -0.1], dtype=np.float32)


def conv_relu(x: np.ndarray) -> np.ndarray:
    """The conv layer in numpy: (n, 28, 28) uint8 -> (n, 26, 26, 4), valid cross-correlation."""
    image = to_model_input(x)[..., 0].astype(np.float64)
    out = np.zeros((len(x), 26, 26, 4))
    for di in range(3):
        for dj in range(3):
            out += image[:, di : di + 26, dj : dj + 26, None] * KERNELS[di, dj, 0]
    return np.maximum(out + BIASES, 0.0)


def dense_probs(features: np.ndarray, weights: np.ndarray, bias: np.ndarray) -> np.ndarray:
    logits = features.reshape(len(features), -1) @ weights + bias
    logits -= logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)


@pytest.fixture(scope="module")
def data():
    x_train, y_train, x_test, y_test = load_raw("mnist-sample")
    return x_train[:2000], y_train[:2000], x_test, np.asarray(y_test, dtype=np.int64)


@pytest.fixture(scope="module")
def dense(data):
    """The template classifier's weights (2704, 10) and bias, scaled to logits of a few units."""
    x_train, y_train, _, _ = data
    feats = conv_relu(x_train).reshape(len(x_train), -1)
    means = np.stack([feats[y_train == c].mean(axis=0) for c in range(10)], axis=1)
    bias = -0.5 * (means**2).sum(axis=0)
    scale = 3.0 / (feats @ means + bias).std()
    return (scale * means).astype(np.float32), (scale * bias).astype(np.float32)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> RunStore:
    return sqlite_store(tmp_path_factory.mktemp("cnnlens-ablation"))


@pytest.fixture(scope="module")
def run_id(store, dense) -> str:
    config, infos = parse_config(CONFIG)
    run_id = store.create_run(config, infos)["id"]
    model = build_model(config, infos)
    model.get_layer("conv2d_1").set_weights([KERNELS, BIASES])
    model.get_layer("dense_1").set_weights(list(dense))
    save_model(model, store.files.run_dir(run_id))
    assert store.claim(run_id, "o", 60) and store.finish(run_id, SUCCEEDED, owner="o")
    return run_id


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def job(store, run_id, monkeypatch_module):
    """The job, run once for the module, with the model file's hash and mtime before it."""
    from worker import progress as job_progress

    monkeypatch_module.setattr(job_progress, "FIRST", 0.0)  # every report is written
    monkeypatch_module.setattr(job_progress, "EVERY", 0.0)
    path = store.files.path(run_id, MODEL)
    before = (sha256(path), path.stat().st_mtime_ns, path.stat().st_size)
    params = {"run_id": run_id, "layer": "conv2d_1"}
    job_id = store.create_job(comparison.ABLATION_KIND, run_id, params)
    seen: list[float] = []
    real = store.job_progress

    def progress(job, fraction):
        seen.append(fraction)
        return real(job, fraction)

    monkeypatch_module.setattr(store, "job_progress", progress)
    assert store.start_job(job_id, 3)["status"] == "running"  # what the task does first
    assert ablation_curve.ablation_job(store, job_id) == SUCCEEDED, store.get_job(job_id)["error"]
    return store.get_job(job_id), before, seen


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_the_curve_starts_at_the_models_accuracy_and_ends_at_the_zeroed_layers(
    store, run_id, job, data, dense
):
    row, _, _ = job
    result = row["result"]
    assert store.files.read_json(run_id, comparison.ablation_rel("conv2d_1")) == result
    _, _, x_test, y_test = data
    model = keras.saving.load_model(store.files.path(run_id, MODEL), compile=False)
    plain = model.predict(to_model_input(x_test), batch_size=500, verbose=0).argmax(axis=1)
    points = result["points"]
    assert [p["removed"] for p in points] == [0, 1, 2, 3, 4] and result["every_k"]
    assert points[0]["accuracy"] == pytest.approx(float((plain == y_test).mean()), abs=1e-6)
    # zeroed layer: the dense layer sees zeros, so every image gets the bias' largest class
    _, bias = dense
    assert points[-1]["accuracy"] == pytest.approx(
        float((y_test == bias.argmax()).mean()), abs=1e-6
    )
    assert points[0]["accuracy"] > 0.5 > points[-1]["accuracy"]
    assert [p["fraction"] for p in points] == [0, 0.25, 0.5, 0.75, 1]
    assert result["filters"] == 4 and result["test_images"] == len(y_test) == 2000
    assert result["classes"] == 10 and result["layer"] == "conv2d_1"


def test_importances_and_the_curve_match_numpy(job, data, dense):
    result = job[0]["result"]
    _, _, x_test, y_test = data
    weights, bias = dense
    maps = conv_relu(x_test)

    def scores(mask):
        probs = dense_probs(maps * mask, weights, bias)
        return (probs.argmax(1) == y_test).mean(), probs[np.arange(len(y_test)), y_test].mean()

    base_acc, base_prob = scores(np.ones(4))
    drops, prob_drops = [], []
    for f in range(4):
        mask = np.ones(4)
        mask[f] = 0
        acc, prob = scores(mask)
        drops.append(base_acc - acc)
        prob_drops.append(base_prob - prob)
    importance = result["importance"]
    assert importance["method"] == "accuracy_drop"
    one_image = 1 / len(y_test)  # float32 in TensorFlow against float64 here: a near tie may flip
    assert importance["values"] == pytest.approx(drops, abs=1.01 * one_image)
    assert importance["probability_drop"] == pytest.approx(prob_drops, abs=1e-4)
    # the order follows the importances: accuracy lost, then probability lost, largest first
    order = result["order"]
    assert sorted(order) == [0, 1, 2, 3]
    keys = [(importance["values"][f], importance["probability_drop"][f]) for f in order]
    assert keys == sorted(keys, reverse=True)
    for k, point in enumerate(result["points"]):
        mask = np.ones(4)
        mask[order[:k]] = 0
        assert point["accuracy"] == pytest.approx(scores(mask)[0], abs=1.01 * one_image), k


def test_ablation_leaves_the_stored_model_untouched(store, run_id, job):
    _, before, _ = job
    path = store.files.path(run_id, MODEL)
    assert (sha256(path), path.stat().st_mtime_ns, path.stat().st_size) == before
    # and the curve's model is a copy: the file still answers as the hand-built model
    model = keras.saving.load_model(path, compile=False)
    kernel, b = model.get_layer("conv2d_1").get_weights()
    assert np.array_equal(kernel, KERNELS) and np.array_equal(b, BIASES)


def test_the_job_reports_its_progress(job):
    row, _, seen = job
    # one report per mask and batch of 500 test images: 4 × (the plain model and 4 single
    # filters, then k = 2, 3, 4 filters removed together)
    assert len(set(seen)) == 4 * (5 + 3) and seen == sorted(seen) and seen[-1] == 1.0
    assert all(0 < f <= 1 for f in seen)
    assert row["progress"] == 1.0


def test_a_duplicate_delivery_computes_nothing(store, run_id, job, monkeypatch):
    row, _, _ = job
    monkeypatch.setattr(ablation_curve, "compute_curve", lambda *a, **k: pytest.fail("ran"))
    assert ablation_curve.ablation_job(store, row["id"]) == SUCCEEDED


def test_wide_layers_use_the_proxy_and_a_subsample_of_k(store, run_id, data):
    model = keras.saving.load_model(store.files.path(run_id, MODEL), compile=False)
    _, _, x_test, y_test = data
    result = ablation_curve.curve(model, 0, x_test[:300], y_test[:300], max_ranked=3)
    importance = result["importance"]
    assert importance["method"] == "mean_abs_activation"
    assert importance["probability_drop"] is None
    mean_abs = np.abs(conv_relu(x_test[:300])).mean(axis=(0, 1, 2))
    assert importance["values"] == pytest.approx(mean_abs.tolist(), rel=1e-4)
    assert result["order"] == np.argsort(-mean_abs, kind="stable").tolist()
    assert ablation_curve.steps(4) == [0, 1, 2, 3, 4]
    wide = ablation_curve.steps(200)
    assert wide[0] == 0 and wide[-1] == 200 and len(wide) == 65 and wide == sorted(set(wide))


def test_bad_requests_fail_with_a_sentence(store, run_id):
    queued = store.create_run(*parse_config({"name": "waiting"}))["id"]
    for params, words in (
        ({"run_id": run_id, "layer": "conv2d_9"}, "no conv layer 'conv2d_9'"),
        ({"run_id": run_id, "layer": "dense_1"}, "its conv layers are: conv2d_1"),
        ({"run_id": run_id, "layer": "../model"}, "does not name a run and a conv layer"),
        ({"run_id": queued, "layer": "conv2d_1"}, "has no trained model (it is queued)"),
        ({"run_id": "0" * 32, "layer": "conv2d_1"}, "the run no longer exists"),
    ):
        job_id = store.create_job(comparison.ABLATION_KIND, params["run_id"], params)
        assert ablation_curve.ablation_job(store, job_id) == FAILED
        assert words in store.get_job(job_id)["error"], params
