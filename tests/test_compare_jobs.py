"""The comparison jobs (CKA, per-filter statistics), called directly in this process (no Celery).

Two tiny runs of the notebook's model are trained once for the module (300 images, 1 epoch).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
pytest.importorskip("keras")

from shared import comparison  # noqa: E402
from shared.config import parse_config  # noqa: E402
from shared.store import RunStore  # noqa: E402
from tests import worker_support  # noqa: E402
from tests.worker_support import sqlite_store  # noqa: E402
from worker.compare_jobs import cka_job, layer_outputs, probe_images, stats_job  # noqa: E402
from worker.extraction import ModelCache  # noqa: E402

TINY = {"epochs": 1, "train_limit": 300, "batch_size": 32}
LAYERS = ["conv2d_1", "maxpool2d_1", "conv2d_2", "flatten_1", "dense_1"]


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> RunStore:
    return sqlite_store(tmp_path_factory.mktemp("cnnlens-compare"))


def train(store: RunStore, **overrides) -> str:
    return worker_support.train(store, {**TINY, **overrides})


@pytest.fixture(scope="module")
def runs(store) -> tuple[str, str]:
    return train(store, name="relu"), train(store, name="other seed", seed=7)


def test_probe_batch_is_the_first_test_images():
    images = probe_images("mnist-sample")
    assert images.shape == (comparison.PROBE_BATCH, 28, 28) and images.dtype == np.uint8


def test_batched_forward_pass_matches_one_call(store, runs):
    images = probe_images("mnist-sample", 230)  # three batches, the last one short
    outputs = layer_outputs(store, runs[0], images, ModelCache())
    assert list(outputs) == LAYERS
    assert outputs["conv2d_1"].shape == (230, 26, 26, 16) and outputs["dense_1"].shape == (230, 10)
    one = layer_outputs(store, runs[0], images[:1], ModelCache())
    assert np.allclose(one["dense_1"][0], outputs["dense_1"][0], atol=1e-6)


def test_cka_of_a_run_with_itself_has_ones_on_the_diagonal(store, runs):
    run_id = runs[0]
    job_id = store.create_job(comparison.CKA_KIND, run_id, {"a": run_id, "b": run_id})
    assert cka_job(store, job_id) == "succeeded"
    result = store.get_job(job_id)["result"]
    assert result["layers_a"] == result["layers_b"] == LAYERS
    assert result["probe_images"] == comparison.PROBE_BATCH
    matrix = np.asarray(result["matrix"])
    assert np.allclose(np.diag(matrix), 1.0, atol=1e-5)
    assert np.allclose(matrix, matrix.T, atol=1e-5) and (matrix >= 0).all() and (matrix <= 1).all()
    # flatten_1 only reshapes conv2d_2's maps: the same representation
    assert matrix[2, 3] == pytest.approx(1.0, abs=1e-5)
    assert store.files.read_json(run_id, comparison.cka_rel(run_id)) == result
    assert cka_job(store, job_id) == "succeeded"  # a second delivery finds the file


def test_cka_of_two_runs_and_their_filter_stats(store, runs):
    a, b = runs
    job_id = store.create_job(comparison.CKA_KIND, a, {"a": a, "b": b})
    assert cka_job(store, job_id) == "succeeded"
    matrix = np.asarray(store.get_job(job_id)["result"]["matrix"])
    assert matrix.shape == (5, 5)
    # Two seeds of one architecture: each layer is most like its own counterpart, far above 0.
    assert matrix[0, 0] > 0.5 and matrix[4, 4] > 0.5
    stats = store.files.read_json(b, comparison.FILTER_STATS)  # written on the way
    assert stats["probe_images"] == comparison.PROBE_BATCH
    assert [layer["name"] for layer in stats["layers"]] == ["conv2d_1", "conv2d_2"]
    assert len(stats["layers"][1]["filters"]) == 32


def test_cka_over_the_whole_test_set_with_intervals(store, runs, monkeypatch):
    """The job writes the probe-batch answer first, then the minibatch CKA of every test image
    with its bootstrap interval, which an independent recomputation of the same minibatches
    (plain numpy HSIC from its definition in matrix form) reproduces."""
    import worker.compare_jobs as jobs

    a, b = runs
    seen = []
    real = jobs.full_test_set_cka

    def spy(*args, **kwargs):
        seen.append(store.files.read_json(a, comparison.cka_rel(b)))
        return real(*args, **kwargs)

    monkeypatch.setattr(jobs, "full_test_set_cka", spy)
    store.files.remove(a, comparison.cka_rel(b))
    job_id = store.create_job(comparison.CKA_KIND, a, {"a": a, "b": b}, "c" * 32)
    assert cka_job(store, job_id) == "succeeded"
    first = seen[0]  # what a reader saw while the whole test set was measured
    assert first["estimator"] == "probe" and first["lower"] is None and first["upper"] is None
    assert not comparison.cka_complete(first)
    result = store.get_job(job_id)["result"]
    assert comparison.cka_complete(result) and result["estimator"] == "minibatch-unbiased"
    assert result["test_images"] == 2000 and result["batches"] == 20 and result["level"] == 0.95
    assert result["probe_matrix"] == first["matrix"]
    matrix, lower, upper = (np.asarray(result[k]) for k in ("matrix", "lower", "upper"))
    assert matrix.shape == lower.shape == upper.shape == (5, 5)
    assert (lower <= matrix + 1e-9).all() and (matrix <= upper + 1e-9).all()
    assert (upper - lower).max() < 0.2 and (upper - lower).max() > 0

    # Cell (conv2d_2 of a, dense_1 of b), recomputed from scratch.
    images = probe_images("mnist-sample", 2000)
    cache = ModelCache()
    hsic = {"ab": [], "aa": [], "bb": []}
    for start in range(0, 2000, 100):
        x = layer_outputs(store, a, images[start : start + 100], cache)["conv2d_2"]
        y = layer_outputs(store, b, images[start : start + 100], cache)["dense_1"]
        grams = {}
        for key, v in (("a", x), ("b", y)):
            f = v.reshape(len(v), -1).astype(np.float64)
            k = f @ f.T
            np.fill_diagonal(k, 0)
            grams[key] = k
        n, one = 100, np.ones(100)
        for pair in hsic:
            k, l_ = grams[pair[0]], grams[pair[1]]
            value = (
                np.trace(k @ l_)
                + (one @ k @ one) * (one @ l_ @ one) / ((n - 1) * (n - 2))
                - 2 / (n - 2) * (one @ k @ l_ @ one)
            ) / (n * (n - 3))
            hsic[pair].append(value)
    expected = np.mean(hsic["ab"]) / np.sqrt(np.mean(hsic["aa"]) * np.mean(hsic["bb"]))
    assert matrix[2, 4] == pytest.approx(expected, abs=1e-5)


def test_stats_job_writes_every_conv_layer(store, runs):
    run_id = runs[0]
    job_id = store.create_job(comparison.STATS_KIND, run_id, {"run_id": run_id})
    assert stats_job(store, job_id) == "succeeded"
    result = store.get_job(job_id)["result"]
    first = result["layers"][0]
    assert first["name"] == "conv2d_1" and first["relu_like"] and len(first["filters"]) == 16
    row = first["filters"][0]
    assert set(row) == {"channel", "mean", "std", "max", "silent_fraction", "sparsity", "dead"}
    assert 0 <= row["sparsity"] <= 1 and 0 <= row["silent_fraction"] <= 1
    assert store.files.read_json(run_id, comparison.FILTER_STATS) == result


def test_refusals_are_sentences(store, runs):
    config, infos = parse_config({**TINY, "name": "untrained"})
    untrained = store.create_run(config, infos)["id"]
    job_id = store.create_job(comparison.CKA_KIND, runs[0], {"a": runs[0], "b": untrained})
    assert cka_job(store, job_id) == "failed"
    assert "has no trained model (it is queued)" in store.get_job(job_id)["error"]
    job_id = store.create_job(comparison.STATS_KIND, untrained, {"run_id": "0" * 32})
    assert stats_job(store, job_id) == "failed"
    assert store.get_job(job_id)["error"] == "the run no longer exists"
