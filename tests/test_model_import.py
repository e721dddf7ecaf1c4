"""Model import (issue 12, item 5) with real Keras files: the notebook's own model, trained with
plain Keras and saved with model.save("model.keras"), becomes a run that the training worker
evaluates; everything a trained run has works on it. Hostile files are refused with a sentence,
leave nothing behind, and no code from them ever runs (a Lambda that would write a marker file)."""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
keras = pytest.importorskip("keras")

from dashboard.service import model_import  # noqa: E402
from shared import keras_archive  # noqa: E402
from shared.artifacts import FILTERS_DIR, IMPORT_ARCHIVE, IMPORT_DIR, METRICS, PROBE_DIR  # noqa: E402
from shared.config import parse_config  # noqa: E402
from shared.datasets import load_raw, to_model_input  # noqa: E402
from shared.settings import Settings  # noqa: E402
from shared.store import RunStore  # noqa: E402
from worker.compare_jobs import compute_stats  # noqa: E402
from worker.extraction import ModelCache, compute_activations  # noqa: E402
from worker.training import train_run  # noqa: E402

L = keras.layers
MARKER_ENV = "CNNLENS_TEST_LAMBDA_MARKER"


def notebook_model() -> keras.Model:
    """The teaching notebook's model, as the notebook writes it."""
    return keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            L.Conv2D(16, 3, activation="relu"),
            L.MaxPooling2D(),
            L.Conv2D(32, 3, activation="relu"),
            L.Flatten(),
            L.Dense(10, activation="softmax"),
        ]
    )


def saved(model: keras.Model, folder: Path, name: str = "model.keras") -> bytes:
    path = folder / name
    model.save(path)
    return path.read_bytes()


@pytest.fixture(scope="module")
def notebook_file(tmp_path_factory) -> tuple[bytes, keras.Model]:
    """Trained for one epoch on 1,000 digits with plain Keras, then model.save("model.keras")."""
    x_train, y_train, _, _ = load_raw("mnist-sample")
    # Keras numbers layer names per process: start from a clean session so the notebook's layers
    # get the names a fresh notebook gives them (conv2d, conv2d_1, …), whatever ran before.
    keras.backend.clear_session()
    keras.utils.set_random_seed(7)
    model = notebook_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(to_model_input(x_train[:1000]), y_train[:1000], epochs=1, batch_size=64, verbose=0)
    return saved(model, tmp_path_factory.mktemp("notebook")), model


@pytest.fixture
def store(tmp_path, monkeypatch) -> RunStore:
    settings = Settings(
        _env_file=None,
        CNNLENS_DATA_DIR=str(tmp_path / "data"),
        DATABASE_URL=f"sqlite:///{tmp_path / 'test.sqlite3'}",
    )
    sent: list[tuple[str, str]] = []
    monkeypatch.setattr(model_import, "send", lambda name, run_id: sent.append((name, run_id)))
    runs = RunStore(settings).init()
    runs.sent = sent  # type: ignore[attr-defined]
    return runs


def nothing_left(store: RunStore) -> bool:
    folder = store.settings.runs_dir
    return store.list_runs() == [] and (not folder.exists() or not any(folder.iterdir()))


def rezip(data: bytes, **replace: bytes) -> bytes:
    """The same archive with some entries replaced (or added)."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as src,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst,
    ):
        for info in src.infolist():
            dst.writestr(info.filename, replace.pop(info.filename, src.read(info.filename)))
        for name, content in replace.items():
            dst.writestr(name, content)
    return out.getvalue()


def config_of(data: bytes) -> dict:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return json.loads(archive.read("config.json"))


# --- the notebook's model --------------------------------------------------------------------
def test_the_notebooks_model_imports_evaluates_and_works_like_a_trained_run(store, notebook_file):
    data, original = notebook_file
    run = model_import.import_model(store, data, "model.keras", "mnist-sample", "my notebook")
    run_id = run["id"]
    assert run["origin"] == "imported" and run["status"] == "queued"
    assert run["name"] == "my notebook"
    assert run["architecture"] == "C16k3 → MP2 → C32k3 → F → D10"
    assert store.sent == [("cnnlens.train", run_id)]  # type: ignore[attr-defined]
    assert store.files.exists(run_id, IMPORT_ARCHIVE)

    assert train_run(store, run_id, "test-owner") == "succeeded"
    done = store.get_run(run_id)
    assert done is not None and done["origin"] == "imported"
    assert all(values == [] for values in done["history"].values())

    # The test score is the original model's own.
    _, _, x_test, y_test = load_raw("mnist-sample")
    expected = original.predict(to_model_input(x_test), verbose=0)
    accuracy = float((expected.argmax(axis=1) == y_test).mean())
    assert done["test"]["accuracy"] == pytest.approx(accuracy, abs=1e-9)
    metrics = store.files.read_json(run_id, METRICS)
    assert metrics["train_images"] == 0 and np.array(metrics["confusion"]).sum() == len(y_test)

    # Filters are the original kernels (no epoch history); probes are its predictions.
    kernel = store.files.load_array(run_id, f"{FILTERS_DIR}/conv2d_1.npy")
    np.testing.assert_array_equal(kernel, original.layers[0].kernel.numpy())
    assert store.files.list(run_id, FILTERS_DIR) == ["conv2d_1.npy", "conv2d_2.npy"]
    probe_inputs = store.files.load_array(run_id, f"{PROBE_DIR}/inputs.npy")
    predictions = store.files.load_array(run_id, f"{PROBE_DIR}/predictions.npy")
    np.testing.assert_allclose(
        predictions, original.predict(to_model_input(probe_inputs), verbose=0), atol=1e-5
    )
    assert not store.files.exists(run_id, IMPORT_DIR)  # the upload goes once evaluated

    # Activations of any input and the per-filter statistics, through the stored model.
    digest = "0" * 32
    store.files.save_array(run_id, f"activations/cache/{digest}.input.npy", x_test[3])
    arrays = compute_activations(store, run_id, digest, ModelCache())
    np.testing.assert_allclose(arrays["probabilities"], expected[3], atol=1e-5)
    stats = compute_stats(store, run_id, ModelCache())
    assert [layer["name"] for layer in stats["layers"]] == ["conv2d_1", "conv2d_2"]


def test_a_functional_chain_with_batchnorm_imports_with_its_moving_statistics(store, tmp_path):
    inputs = keras.Input((28, 28, 1))
    x = L.Conv2D(8, 3, use_bias=True)(inputs)
    x = L.BatchNormalization(momentum=0.9)(x)
    x = L.ReLU()(x)
    x = L.GlobalAveragePooling2D()(x)
    x = L.Dense(10)(x)
    outputs = L.Softmax()(x)
    model = keras.Model(inputs, outputs)
    bn = model.layers[2]
    rng = np.random.default_rng(0)
    bn.set_weights([rng.uniform(0.5, 2, 8).astype("float32") for _ in range(4)])
    run = model_import.import_model(store, saved(model, tmp_path), "bn.keras", "mnist-sample")
    assert [layer["type"] for layer in run["config"]["layers"]] == [
        "conv2d",
        "batchnorm",
        "activation",
        "globalavgpool2d",
        "dense",
    ]
    assert run["config"]["layers"][1]["momentum"] == 0.9
    assert train_run(store, run["id"], "test-owner") == "succeeded"
    probe_inputs = store.files.load_array(run["id"], f"{PROBE_DIR}/inputs.npy")
    np.testing.assert_allclose(
        store.files.load_array(run["id"], f"{PROBE_DIR}/predictions.npy"),
        model.predict(to_model_input(probe_inputs), verbose=0),
        atol=1e-5,
    )


# --- hostile files ---------------------------------------------------------------------------
def _write_marker(x):
    """A Lambda's function: it would leave a file behind if anything ever called it."""
    marker = os.environ.get(MARKER_ENV)
    if marker:
        Path(marker).write_text("code from the model file ran")
    return x


def lambda_file(folder: Path) -> bytes:
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            L.Lambda(_write_marker),
            L.Conv2D(4, 3),
            L.Flatten(),
            L.Dense(10, activation="softmax"),
        ]
    )
    return saved(model, folder, "lambda.keras")


def test_a_lambda_carrying_code_is_refused_and_its_code_never_runs(store, tmp_path, monkeypatch):
    data = lambda_file(tmp_path)  # built without the marker variable: nothing written yet
    assert "Lambda" in json.dumps(config_of(data))
    marker = tmp_path / "marker"
    monkeypatch.setenv(MARKER_ENV, str(marker))
    with pytest.raises(model_import.ImportRefused) as refused:
        model_import.import_model(store, data, "model.keras", "mnist-sample")
    assert "Lambda layer" in str(refused.value) and "'lambda'" in str(refused.value)
    assert nothing_left(store) and not marker.exists()

    # The worker refuses it too, should such a file reach it: the run fails with the sentence.
    config, infos = parse_config(
        {"layers": [{"type": "conv2d"}, {"type": "flatten"}, {"type": "dense"}]}
    )
    run_id = store.create_run(config, infos, origin="imported")["id"]
    store.files.write_bytes(run_id, IMPORT_ARCHIVE, data)
    assert train_run(store, run_id, "test-owner") == "failed"
    failed = store.get_run(run_id)
    assert failed is not None and "Lambda layer" in failed["error"]
    assert not marker.exists()
    assert not store.files.exists(run_id, IMPORT_DIR) and not store.files.exists(run_id, METRICS)


def test_wrong_weight_shapes_fail_the_evaluation_with_a_sentence(store, notebook_file):
    data, _ = notebook_file
    config = config_of(data)
    config["config"]["layers"][1]["config"]["filters"] = 8  # the weights hold 16 filters
    forged = rezip(data, **{"config.json": json.dumps(config).encode()})
    run = model_import.import_model(store, forged, "model.keras", "mnist-sample")
    assert train_run(store, run["id"], "test-owner") == "failed"
    failed = store.get_run(run["id"])
    assert failed is not None
    # Keras numbers layer names per process (conv2d, conv2d_2, …): the name depends on what
    # other tests built before this one.
    assert re.search(r"weight 0 of layer 'conv2d(_\d+)?' is 3×3×1×16", failed["error"])
    assert "needs 3×3×1×8" in failed["error"]
    assert not store.files.exists(run["id"], IMPORT_DIR)
    assert store.files.list(run["id"], FILTERS_DIR) == []


def test_weights_stored_outside_the_file_are_refused(store, notebook_file, tmp_path):
    """An HDF5 external link would make the worker read another file of its disk as weights."""
    import h5py

    data, _ = notebook_file
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        weights = archive.read("model.weights.h5")
    path = tmp_path / "w.h5"
    path.write_bytes(weights)
    (tmp_path / "other.h5").write_bytes(weights)
    with h5py.File(path, "r+") as h5:
        del h5["layers/dense/vars/0"]
        h5["layers/dense/vars/0"] = h5py.ExternalLink(
            str(tmp_path / "other.h5"), "/layers/dense/vars/0"
        )
    forged = rezip(data, **{"model.weights.h5": path.read_bytes()})
    run = model_import.import_model(store, forged, "model.keras", "mnist-sample")
    assert train_run(store, run["id"], "test-owner") == "failed"
    failed = store.get_run(run["id"])
    assert failed is not None and "points elsewhere" in failed["error"]


@pytest.mark.parametrize(
    "kind, says, status",
    [
        ("h5", "is an HDF5 file", 422),
        ("pickle", "looks like a Python pickle", 422),
        ("text", "is not a .keras archive", 422),
        ("bomb", "larger than 1,048,576 bytes once unpacked", 413),
        ("fat-weights", "the file holds more than its layers", 413),
        ("extra-entry", "'run.sh'", 422),
        ("branch", "the model branches at layer 'conv2d_b'", 422),
        ("custom", "is a custom object", 422),
        ("dilated", "is dilated", 422),
        (
            "input-size",
            "the model takes 32×32×1 inputs, but the images of mnist-sample are 28×28×1",
            422,
        ),
        ("classes", "must be dense with 10 units", 422),
        ("truncated", "cannot be read as one", 422),
    ],
)
def test_hostile_and_unfit_files_are_refused_with_a_sentence(
    store, notebook_file, tmp_path, kind, says, status
):
    data, original = notebook_file
    if kind == "h5":
        original.save(tmp_path / "legacy.h5")  # the legacy HDF5 format, renamed
        data = (tmp_path / "legacy.h5").read_bytes()
    elif kind == "pickle":
        data = (
            b"\x80\x04\x95\x15\x00\x00\x00\x00\x00\x00\x00\x8c\x05posix\x94\x8c\x06system\x94\x93."
        )
    elif kind == "text":
        data = b"#!/bin/sh\necho hi\n"
    elif kind == "bomb":
        data = rezip(data, **{"config.json": b" " * (200 * 1024 * 1024)})
        assert len(data) < 2 * 1024 * 1024
    elif kind == "fat-weights":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            weights = archive.read("model.weights.h5")
        data = rezip(data, **{"model.weights.h5": weights + b"\0" * (20 * 1024 * 1024)})
    elif kind == "extra-entry":
        data = rezip(data, **{"run.sh": b"rm -rf /"})
    elif kind == "branch":
        inputs = keras.Input((28, 28, 1))
        a = L.Conv2D(4, 3, name="conv2d_a")(inputs)
        b = L.Conv2D(4, 3, name="conv2d_b")(inputs)
        x = L.Flatten()(L.Add()([a, b]))
        data = saved(keras.Model(inputs, L.Dense(10, activation="softmax")(x)), tmp_path)
    elif kind == "custom":

        @keras.saving.register_keras_serializable(package="evil")
        class Doubler(L.Layer):
            def call(self, x):
                return x * 2

        model = keras.Sequential(
            [keras.Input((28, 28, 1)), Doubler(), L.Conv2D(4, 3), L.Flatten(), L.Dense(10)]
        )
        data = saved(model, tmp_path)
    elif kind == "dilated":
        model = keras.Sequential(
            [
                keras.Input((28, 28, 1)),
                L.Conv2D(4, 3, dilation_rate=2),
                L.Flatten(),
                L.Dense(10, activation="softmax"),
            ]
        )
        data = saved(model, tmp_path)
    elif kind == "input-size":
        model = keras.Sequential(
            [
                keras.Input((32, 32, 1)),
                L.Conv2D(4, 3),
                L.Flatten(),
                L.Dense(10, activation="softmax"),
            ]
        )
        data = saved(model, tmp_path)
    elif kind == "classes":
        model = keras.Sequential(
            [
                keras.Input((28, 28, 1)),
                L.Conv2D(4, 3),
                L.Flatten(),
                L.Dense(5, activation="softmax"),
            ]
        )
        data = saved(model, tmp_path)
    elif kind == "truncated":
        data = data[: len(data) // 2]
    with pytest.raises(model_import.ImportRefused) as refused:
        model_import.import_model(store, data, "model.keras", "mnist-sample")
    assert says in str(refused.value)
    assert refused.value.status == status
    assert nothing_left(store)
    assert store.sent == []  # type: ignore[attr-defined]


def test_the_plan_names_every_layer_of_the_notebook(notebook_file):
    plan = keras_archive.read_plan(notebook_file[0], "model.keras")
    assert plan.input_shape == (28, 28, 1)
    assert plan.sources() == ["conv2d", "max_pooling2d", "conv2d_1", "flatten", "dense"]
    assert plan.keras_version == keras.__version__


def test_a_colour_model_imports_onto_the_rgb_dataset_and_not_onto_mnist(
    store, tmp_path, notebook_file
):
    model = keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            L.Conv2D(8, 3, activation="elu"),
            L.BatchNormalization(),
            L.MaxPooling2D(),
            L.Conv2D(8, 3, activation="gelu"),
            L.GlobalMaxPooling2D(),
            L.Dense(8, activation="softmax"),
        ]
    )
    data = saved(model, tmp_path, "rgb.keras")
    with pytest.raises(model_import.ImportRefused) as refused:
        model_import.import_model(store, data, "rgb.keras", "mnist-sample")
    assert "takes 32×32×3 inputs, but the images of mnist-sample are 28×28×1" in str(refused.value)
    with pytest.raises(model_import.ImportRefused) as refused:
        model_import.import_model(store, notebook_file[0], "model.keras", "shapes-rgb")
    assert "the images of shapes-rgb are 32×32×3" in str(refused.value)
    assert nothing_left(store)

    run = model_import.import_model(store, data, "rgb.keras", "shapes-rgb")
    assert train_run(store, run["id"], "test-owner") == "succeeded"
    kernel = store.files.load_array(run["id"], f"{FILTERS_DIR}/conv2d_1.npy")
    np.testing.assert_array_equal(kernel, model.layers[0].kernel.numpy())  # (3, 3, 3, 8): colour
    probe_inputs = store.files.load_array(run["id"], f"{PROBE_DIR}/inputs.npy")
    np.testing.assert_allclose(
        store.files.load_array(run["id"], f"{PROBE_DIR}/predictions.npy"),
        model.predict(to_model_input(probe_inputs), verbose=0),
        atol=1e-5,
    )
