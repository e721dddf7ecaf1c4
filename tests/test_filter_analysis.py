"""One filter's analysis (worker/filter_analysis.py) and the layers-across-epochs CKA
(worker/epoch_similarity.py), called directly in this process, checked against independent
computations with plain Keras predictions and numpy.

Two tiny runs of the notebook's model are trained once for the module (300 images, 2 epochs).
"""

from __future__ import annotations

import hashlib
import os
import shutil

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
keras = pytest.importorskip("keras")

from shared import comparison  # noqa: E402
from shared.artifacts import MODEL  # noqa: E402
from shared.config import parse_config  # noqa: E402
from shared.datasets import load_raw, to_model_input  # noqa: E402
from shared.store import SUCCEEDED, RunStore  # noqa: E402
from tests import worker_support  # noqa: E402
from tests.worker_support import sqlite_store  # noqa: E402
from worker import epoch_weights  # noqa: E402
from worker.epoch_similarity import epoch_cka_job, settled_epoch  # noqa: E402
from worker.extraction import ModelCache  # noqa: E402
from worker.filter_analysis import filter_job  # noqa: E402

TINY = {"epochs": 2, "train_limit": 300, "batch_size": 32}


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> RunStore:
    return sqlite_store(tmp_path_factory.mktemp("cnnlens-filters"))


def train(store: RunStore, **overrides) -> str:
    return worker_support.train(store, {**TINY, **overrides})


@pytest.fixture(scope="module")
def runs(store) -> tuple[str, str]:
    return train(store, name="first"), train(store, name="second", seed=5)


@pytest.fixture(scope="module")
def test_set():
    _, _, x, y = load_raw("mnist-sample")
    return x, y


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def analysis(store, run_id, layer, k):
    job_id = store.create_job(
        comparison.FILTER_KIND, run_id, {"run_id": run_id, "layer": layer, "k": k}
    )
    assert filter_job(store, job_id, ModelCache()) == SUCCEEDED, store.get_job(job_id)["error"]
    result = store.get_job(job_id)["result"]
    assert store.files.read_json(run_id, comparison.filter_rel(layer, k)) == result
    return result


@pytest.fixture(scope="module")
def conv2(store, runs):
    model_path = store.files.path(runs[0], MODEL)
    before = (sha256(model_path), model_path.stat().st_mtime_ns)
    result = analysis(store, runs[0], "conv2d_2", 5)
    return result, before


def feature_maps(store, run_id, layer, x):
    model = keras.saving.load_model(store.files.path(run_id, MODEL), compile=False)
    sub = keras.Model(model.input, model.get_layer(layer).output)
    return sub.predict(to_model_input(x), batch_size=500, verbose=0), model


def test_top_images_are_the_argmax_over_the_test_set(store, runs, conv2, test_set):
    result, _ = conv2
    x, _ = test_set
    maps, _ = feature_maps(store, runs[0], "conv2d_2", x)
    peaks = maps[..., 5].reshape(len(x), -1).max(axis=1)
    expected = np.argsort(-peaks, kind="stable")[:9]
    top = result["top_images"]
    assert [t["test_index"] for t in top] == expected.tolist()
    assert [t["value"] for t in top] == pytest.approx(peaks[expected].tolist(), rel=1e-4, abs=1e-5)
    assert all(a["value"] >= b["value"] for a, b in zip(top, top[1:], strict=False))
    # conv2d_2 after conv 3×3 and pool 2: each unit sees an 8×8 patch starting at (2r, 2c)
    for t in top:
        row, col = np.unravel_index(np.argmax(maps[t["test_index"], :, :, 5]), (11, 11))
        assert t["box"] == [2 * row, 2 * col, 2 * row + 8, 2 * col + 8]
    assert result["receptive_field"] == 8 and result["test_images"] == 2000


def test_selectivity_is_the_mean_activation_per_class(store, runs, conv2, test_set):
    result, _ = conv2
    x, y = test_set
    maps, _ = feature_maps(store, runs[0], "conv2d_2", x)
    per_image = maps[..., 5].astype(np.float64).mean(axis=(1, 2))
    for row in result["selectivity"]:
        chosen = y == int(row["class"])
        assert row["mean"] == pytest.approx(per_image[chosen].mean(), rel=1e-4, abs=1e-6)
        assert row["images"] == int(chosen.sum())
    means = np.asarray([row["mean"] for row in result["selectivity"]])
    top, rest = means.max(), np.delete(means, means.argmax()).mean()
    assert result["selectivity_index"] == pytest.approx((top - rest) / (top + rest), abs=1e-5)


def test_ablation_matches_a_model_with_the_filter_zeroed_and_leaves_the_file_alone(
    store, runs, conv2, test_set
):
    result, before = conv2
    model_path = store.files.path(runs[0], MODEL)
    assert (sha256(model_path), model_path.stat().st_mtime_ns) == before
    x, y = test_set
    _, model = feature_maps(store, runs[0], "conv2d_2", x[:1])
    probs = model.predict(to_model_input(x), batch_size=500, verbose=0)
    ablation = result["ablation"]
    assert ablation["accuracy"] == pytest.approx(float((probs.argmax(1) == y).mean()), abs=1e-6)
    metrics = store.files.read_json(runs[0], "metrics.json")
    assert ablation["accuracy"] == pytest.approx(metrics["test"]["accuracy"], abs=1e-6)
    # independently: a copy whose filter 5 has zero weights and bias outputs relu(0) = 0 there
    kernel, bias = model.get_layer("conv2d_2").get_weights()
    kernel[..., 5], bias[5] = 0.0, 0.0
    model.get_layer("conv2d_2").set_weights([kernel, bias])
    without = model.predict(to_model_input(x), batch_size=500, verbose=0).argmax(1)
    assert ablation["accuracy_without"] == pytest.approx(float((without == y).mean()), abs=1e-6)
    for row in ablation["per_class"]:
        chosen = y == int(row["class"])
        assert row["accuracy_without"] == pytest.approx(
            float((without[chosen] == y[chosen]).mean()), abs=1e-6
        )
    assert len(ablation["per_class"]) == 10


def test_flags_twins_and_picture(store, runs, conv2):
    result, _ = conv2
    assert result["dead"] is False and isinstance(result["near_duplicate"], bool)
    assert all(d["correlation"] >= 0.9 and d["filter"] != 5 for d in result["duplicates"])
    [twin] = result["matches"]
    assert twin["run_id"] == runs[1] and twin["layer"] in ("conv2d_1", "conv2d_2")
    assert -1 <= twin["correlation"] <= 1
    name = result["activation_max"].rsplit("/artifacts/", 1)[1]
    assert name == comparison.filter_rel("conv2d_2", 5, "png")
    from PIL import Image

    with Image.open(store.files.path(runs[0], name)) as picture:
        pixels = np.asarray(picture)
    assert pixels.shape == (28, 28) and pixels.dtype == np.uint8 and pixels.std() > 5
    # made for the centre unit (5, 5) of conv2d_2's 11×11 map: it lies in that unit's field
    r0, c0, r1, c1 = result["activation_max_box"]
    assert [r0, c0, r1, c1] == [10, 10, 18, 18]
    # (give or take the jitter of 2 pixels and the blur: the margin the page shows around it)
    inside = pixels[r0 - 3 : r1 + 3, c0 - 3 : c1 + 3].astype(float).sum()
    assert inside > 0.8 * pixels.astype(float).sum()


def test_a_run_whose_twin_is_itself(store, runs):
    """A copy of a run's model in another run: each filter's twin is itself, r = 1."""
    config, infos = parse_config({**TINY, "name": "copy"})
    copy = store.create_run(config, infos)["id"]
    shutil.copy(store.files.path(runs[1], MODEL), store.files.path(copy, MODEL))
    store.files.write_json(copy, "metrics.json", store.files.read_json(runs[1], "metrics.json"))
    assert store.claim(copy, "o", 60) and store.finish(copy, SUCCEEDED, owner="o")
    result = analysis(store, runs[1], "conv2d_1", 3)
    by_run = {m["run_id"]: m for m in result["matches"]}
    assert by_run[copy]["layer"] == "conv2d_1" and by_run[copy]["filter"] == 3
    assert by_run[copy]["correlation"] == pytest.approx(1.0, abs=1e-5)
    assert result["matches"][0]["run_id"] == copy  # the best first
    store.delete_run(copy)


def test_bad_filters_are_refused_with_a_sentence(store, runs):
    for layer, k, words in (
        ("conv2d_9", 0, "no conv layer"),
        ("dense_1", 0, "no conv layer"),
        ("conv2d_1", 16, "filters 0 to 15"),
    ):
        job_id = store.create_job(
            comparison.FILTER_KIND, runs[0], {"run_id": runs[0], "layer": layer, "k": k}
        )
        assert filter_job(store, job_id, ModelCache()) == "failed"
        assert words in store.get_job(job_id)["error"]


def test_every_epoch_keeps_its_weights_and_layers_settle(store, runs):
    run_id = runs[0]
    assert epoch_weights.stored_epochs(store, run_id) == [0, 1, 2]
    model = keras.saving.load_model(store.files.path(run_id, MODEL), compile=False)
    final = epoch_weights.load(store, run_id, 2)
    assert all(np.array_equal(a, b) for a, b in zip(final, model.get_weights(), strict=True))
    first = epoch_weights.load(store, run_id, 1)
    kernel_stack = store.files.load_array(run_id, "filters/epochs/conv2d_1.npy")
    assert np.allclose(first[0].astype(np.float16), kernel_stack[1])
    job_id = store.create_job(comparison.EPOCH_CKA_KIND, run_id, {"run_id": run_id})
    assert epoch_cka_job(store, job_id) == SUCCEEDED, store.get_job(job_id)["error"]
    result = store.get_job(job_id)["result"]
    assert result["epochs"] == [0, 1, 2] and result["layers"][0] == "conv2d_1"
    matrix, lower, upper = (np.asarray(result[k]) for k in ("matrix", "lower", "upper"))
    assert matrix.shape == lower.shape == upper.shape == (5, 3)
    assert np.allclose(matrix[:, -1], 1.0)  # every layer is itself at the end
    assert (lower <= matrix + 1e-9).all() and (matrix <= upper + 1e-9).all()
    assert store.files.read_json(run_id, comparison.EPOCH_CKA) == result


def test_settled_epoch():
    assert settled_epoch([0.2, 0.95, 0.5, 0.92, 1.0]) == 3
    assert settled_epoch([0.95, 0.97, 1.0]) == 0
    assert settled_epoch([0.1, 0.2]) is None


def test_the_job_writes_its_progress_on_its_row_rising_to_the_end(store, runs, monkeypatch):
    """Every write of the job's progress (worker/progress.py, throttle off here) is recorded as
    the store gets it: it never goes back, passes through each stage and ends at 1."""
    from worker import filter_analysis, progress

    monkeypatch.setattr(progress, "FIRST", 0.0)
    monkeypatch.setattr(progress, "EVERY", 0.0)
    written: list[tuple[str, float, str]] = []
    record = store.job_progress

    def spy(job_id: str, fraction: float) -> bool:
        ok = record(job_id, fraction)
        written.append((job_id, fraction, store.get_job(job_id)["status"]))
        return ok

    monkeypatch.setattr(store, "job_progress", spy)
    job_id = store.create_job(
        comparison.FILTER_KIND, runs[0], {"run_id": runs[0], "layer": "conv2d_1", "k": 2}
    )
    assert store.start_job(job_id, 3)["status"] == "running"  # what the task does first
    assert filter_job(store, job_id, ModelCache()) == SUCCEEDED, store.get_job(job_id)["error"]
    fractions = [f for j, f, _ in written]
    assert {j for j, _, _ in written} == {job_id}
    assert all(status == "running" for _, _, status in written)  # written while it ran
    assert fractions == sorted(fractions) and len(set(fractions)) > 10
    assert fractions[-1] == 1.0 and 0 < fractions[0] < filter_analysis.STAGES["test_set"]
    for end in filter_analysis.STAGES.values():  # each stage is reached
        assert any(abs(f - end) < 1e-9 for f in fractions), (end, fractions)
    job = store.get_job(job_id)
    assert job["status"] == SUCCEEDED and job["progress"] == 1.0


def test_the_stages_report_progress_in_order_without_a_store(store, runs):
    from worker.filter_analysis import analyse

    seen: list[float] = []
    analyse(store, runs[0], "conv2d_2", 0, ModelCache(), seen.append)
    assert seen == sorted(seen) and seen[-1] == 1.0 and seen[0] > 0
    assert len(seen) >= 4 + 1 + 160  # each test-set batch, the probe, each ascent step
