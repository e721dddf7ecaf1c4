"""Issue 12, item 5 end to end: the notebook's model, trained with plain Keras and saved with
model.save("model.keras"), is uploaded to POST /api/models; a real training worker evaluates it;
then everything works on it as on a run CNN Lens trained: activations of a test image, filters,
downloads, and CKA and statistics against a run trained here. Real Redis and workers
(tests/integration/conftest.py); the file is built with Keras here, in the test."""

from __future__ import annotations

import io
import os
import time

import numpy as np
import pytest

from tests.integration.conftest import wait_for_status

pytestmark = pytest.mark.integration
XRW = {"X-Requested-With": "test"}


def notebook_keras_file(tmp_path) -> tuple[bytes, float]:
    """The notebook's model after one epoch on 1,000 digits, and its own test accuracy."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    keras = pytest.importorskip("keras")
    from shared.datasets import load_raw, to_model_input

    x_train, y_train, x_test, y_test = load_raw("mnist-sample")
    layers = keras.layers
    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            layers.Conv2D(16, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(32, 3, activation="relu"),
            layers.Flatten(),
            layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(to_model_input(x_train[:1000]), y_train[:1000], epochs=1, verbose=0)
    predicted = model.predict(to_model_input(x_test), verbose=0).argmax(axis=1)
    model.save(tmp_path / "model.keras")
    return (tmp_path / "model.keras").read_bytes(), float((predicted == y_test).mean())


def poll_job(api, job_id: str, timeout: float = 180) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = api.get(f"/api/jobs/{job_id}").get_json()
        if job["status"] in ("succeeded", "failed"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} still running after {timeout} s")


def test_an_imported_notebook_model_works_like_a_trained_run(api, services, tmp_path):
    data, accuracy = notebook_keras_file(tmp_path)
    response = api.post(
        "/api/models",
        data={
            "model": (io.BytesIO(data), "model.keras"),
            "dataset": "mnist-sample",
            "name": "notebook, trained elsewhere",
        },
        content_type="multipart/form-data",
        headers=XRW,
    )
    assert response.status_code == 202, response.get_json()
    imported = response.get_json()["id"]
    trained = api.post("/api/runs", json={"epochs": 1, "train_limit": 300, "name": "here"})
    assert trained.status_code == 201, trained.get_json()
    trained_id = trained.get_json()["id"]

    run = wait_for_status(api, imported, ("succeeded", "failed"))
    assert run["status"] == "succeeded", run.get("error")
    assert run["origin"] == "imported"
    assert run["test"]["accuracy"] == pytest.approx(accuracy, abs=1e-9)

    # Filters (final only) and downloads.
    kernel = api.get(f"/api/runs/{imported}/filters/conv2d_1").get_json()
    assert np.array(kernel["values"]).shape == (3, 3, 1, 16)
    assert api.get(f"/api/runs/{imported}/filters/conv2d_1?epoch=1").status_code == 404
    for name in ("model.keras", "filters.npz", "activations.npz", "metrics.json"):
        assert api.get(f"/api/runs/{imported}/artifacts/{name}").status_code == 200, name

    # Activations of a test image, computed by the extraction worker from the stored model.
    asked = api.post(f"/api/runs/{imported}/activations", json={"test_index": 5})
    assert asked.status_code in (200, 202), asked.get_json()
    if asked.status_code == 202:
        assert poll_job(api, asked.get_json()["job_id"])["status"] == "succeeded"

    # CKA and filter statistics against a run trained here, by the analysis worker.
    assert wait_for_status(api, trained_id, ("succeeded", "failed"))["status"] == "succeeded"
    cka = api.get(f"/api/compare/cka?a={imported}&b={trained_id}")
    assert cka.status_code in (200, 202), cka.get_json()
    if cka.status_code == 202:
        job = poll_job(api, cka.get_json()["job_id"])
        assert job["status"] == "succeeded", job.get("error")
        matrix = job["result"]["matrix"]
    else:
        matrix = cka.get_json()["result"]["matrix"]
    assert len(matrix) == 5 and len(matrix[0]) == 5
    stats = api.get(f"/api/runs/{imported}/filter-stats")
    assert stats.status_code in (200, 202), stats.get_json()
