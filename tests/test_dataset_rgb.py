"""The generated colour dataset (shapes-rgb) and a run on it: shapes follow the dataset's H×W×C.

Numpy checks of the generator first, then one tiny training in this process (TensorFlow), whose
files must carry three input channels: colour filters, colour probe inputs, the class names.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from shared import synthetic
from shared.config import ConfigError, parse_config
from shared.datasets import describe, input_shape, load_raw, to_model_input
from shared.settings import Settings, get_settings

RGB_LAYERS = [
    {"type": "conv2d", "filters": 8, "kernel_size": 3},
    {"type": "maxpool2d", "pool_size": 2},
    {"type": "flatten"},
    {"type": "dense", "units": 8, "activation": "softmax"},
]


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNLENS_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    load_raw.cache_clear()
    yield tmp_path
    get_settings.cache_clear()
    load_raw.cache_clear()


def test_generator_is_deterministic_and_balanced():
    a = synthetic.generate(train_per_class=20, test_per_class=5)
    b = synthetic.generate(train_per_class=20, test_per_class=5)
    for left, right in zip(a, b, strict=True):
        assert np.array_equal(left, right)
    x_train, y_train, x_test, y_test = a
    assert x_train.shape == (160, 32, 32, 3) and x_train.dtype == np.uint8
    assert x_test.shape == (40, 32, 32, 3)
    assert np.bincount(y_train).tolist() == [20] * len(synthetic.CLASSES)
    # Colour matters: the channels differ (not a grey picture copied three times).
    assert np.abs(x_train[..., 0].astype(int) - x_train[..., 2]).mean() > 10


def test_built_once_and_cached_atomically(data_dir):
    x_train, _, x_test, _ = load_raw("shapes-rgb")
    path = synthetic.cache_path(data_dir / "datasets" / "builtin")
    assert path.exists()
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    assert x_train.shape == (12000, 32, 32, 3) and x_test.shape == (2000, 32, 32, 3)
    load_raw.cache_clear()
    again = load_raw("shapes-rgb")[0]
    assert np.array_equal(again[:50], x_train[:50])


def test_catalogue_and_shapes():
    info = describe("shapes-rgb")
    assert info is not None and info.shape == (32, 32, 3) and info.num_classes == 8
    assert input_shape("mnist-sample") == (28, 28, 1)
    assert to_model_input(np.zeros((2, 32, 32, 3), np.uint8)).shape == (2, 32, 32, 3)
    assert to_model_input(np.zeros((2, 28, 28), np.uint8)).shape == (2, 28, 28, 1)


def test_config_follows_the_dataset():
    _, infos = parse_config({"dataset": "shapes-rgb", "layers": RGB_LAYERS})
    assert infos[0].kernel_shape == (3, 3, 3, 8) and infos[0].output_shape == (30, 30, 8)
    assert infos[-1].output_shape == (8,)
    ten = [*RGB_LAYERS[:-1], {"type": "dense", "units": 10, "activation": "softmax"}]
    with pytest.raises(ConfigError) as err:
        parse_config({"dataset": "shapes-rgb", "layers": ten})  # given layers are kept
    assert any("8 units" in e["message"] for e in err.value.errors)
    # Without layers, the notebook's end in one unit per class (tests/test_config.py).
    assert parse_config({"dataset": "shapes-rgb"})[1][-1].output_shape == (8,)
    with pytest.raises(ConfigError) as err:
        parse_config({"dataset": "../../etc"})
    assert err.value.errors[0]["field"] == "dataset"
    assert "'shapes-rgb'" in err.value.errors[0]["message"]
    with pytest.raises(ConfigError) as err:
        parse_config({"dataset": "0" * 32})  # an id, but no such imported dataset
    assert err.value.errors[0]["field"] == "dataset"


def test_a_run_on_rgb_trains_with_colour_filters(data_dir):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    pytest.importorskip("keras")
    from shared.artifacts import CACHE_DIR
    from shared.store import RunStore
    from worker.extraction import extract_job
    from worker.training import train_run

    settings = Settings(
        _env_file=None,
        CNNLENS_DATA_DIR=str(data_dir),
        DATABASE_URL=f"sqlite:///{data_dir / 'test.sqlite3'}",
    )
    store = RunStore(settings).init()
    config, infos = parse_config(
        {
            "dataset": "shapes-rgb",
            "layers": RGB_LAYERS,
            "epochs": 1,
            "train_limit": 400,
            "batch_size": 32,
        }
    )
    run_id = store.create_run(config, infos)["id"]
    assert train_run(store, run_id, "test-owner") == "succeeded"
    kernel = store.files.load_array(run_id, "filters/conv2d_1.npy")
    assert kernel is not None and kernel.shape == (3, 3, 3, 8)
    probe = store.files.load_array(run_id, "activations/probe/inputs.npy")
    assert probe is not None and probe.shape == (8, 32, 32, 3)
    metrics = store.files.read_json(run_id, "metrics.json")
    assert metrics["classes"] == list(synthetic.CLASS_NAMES)
    assert np.asarray(metrics["confusion"]).shape == (8, 8)

    # One colour picture through the stored model.
    image = load_raw("shapes-rgb")[2][3]
    digest = "ab" * 16
    store.files.save_array(run_id, f"{CACHE_DIR}/{digest}.input.npy", image)
    job_id = store.create_job("extract", run_id, {"run_id": run_id, "input_hash": digest})
    assert extract_job(store, job_id) == "succeeded"
    arrays = store.files.load_arrays(run_id, f"{CACHE_DIR}/{digest}.npz")
    assert arrays is not None and arrays["layer:conv2d_1"].shape == (30, 30, 8)
    assert arrays["probabilities"].shape == (8,)

    # Statistics and layer similarity on the colour probe batch, against a second run.
    from worker.compare_jobs import compute_cka, compute_stats

    stats = compute_stats(store, run_id)
    assert stats["dataset"] == "shapes-rgb" and len(stats["layers"][0]["filters"]) == 8
    other_config, other_infos = parse_config(
        {**config.model_dump(mode="json"), "seed": 7, "name": "other"}
    )
    other = store.create_run(other_config, other_infos)["id"]
    assert train_run(store, other, "test-owner") == "succeeded"
    summary, _ = compute_cka(store, run_id, other)
    assert summary["layers_a"] == ["conv2d_1", "maxpool2d_1", "flatten_1", "dense_1"]
    assert len(summary["matrix"]) == 4 and all(0 <= v <= 1.0001 for v in summary["matrix"][0])
    store.engine.dispose()
