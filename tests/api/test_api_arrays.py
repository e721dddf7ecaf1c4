"""API views over a run's arrays and files, on a fake succeeded run written as a worker would."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from dashboard.service import run_actions
from shared.datasets import load_raw
from shared.queue import BrokerUnavailable
from tests.api.support import PROBES, documented, fake_trained_run


@pytest.fixture
def trained(client, api_store):
    run = client.post("/api/runs", json={"epochs": 2, "name": "trained"}).get_json()
    arrays = fake_trained_run(api_store, run["id"])
    return run["id"], arrays


def image_body(value=7):
    return {"image": [[value] * 28 for _ in range(28)]}


# --- filters -----------------------------------------------------------------------------------
def test_filter_list_before_and_after_training(client, api_store):
    run = client.post("/api/runs", json={}).get_json()
    before = documented(client.get(f"/api/runs/{run['id']}/filters"), "list_filters")
    assert before["layers"] == [
        {
            "name": "conv2d_1",
            "kernel_shape": [3, 3, 1, 16],
            "available": False,
            "epochs_available": False,
        },
        {
            "name": "conv2d_2",
            "kernel_shape": [3, 3, 16, 32],
            "available": False,
            "epochs_available": False,
        },
    ]
    response = client.get(f"/api/runs/{run['id']}/filters/conv2d_1")
    assert "not stored yet" in response.get_json()["error"] and response.status_code == 409
    documented(response, "get_filter")
    fake_trained_run(api_store, run["id"])
    after = documented(client.get(f"/api/runs/{run['id']}/filters"), "list_filters")
    assert all(layer["available"] and layer["epochs_available"] for layer in after["layers"])


def test_filter_values(client, trained):
    run_id, arrays = trained
    body = documented(client.get(f"/api/runs/{run_id}/filters/conv2d_2"), "get_filter")
    assert body["shape"] == [3, 3, 16, 32] and body["layer"] == "conv2d_2"
    values = np.array(body["values"])
    assert values.shape == (3, 3, 16, 32)
    np.testing.assert_allclose(values, arrays["conv2d_2"], atol=1e-6)
    first = documented(client.get(f"/api/runs/{run_id}/filters/conv2d_1?epoch=0"), "get_filter")
    assert first["epoch"] == 0 and first["shape"] == [3, 3, 1, 16]
    missing = client.get(f"/api/runs/{run_id}/filters/conv2d_1?epoch=3")
    assert missing.status_code == 404 and "epochs 0 to 2" in missing.get_json()["error"]
    documented(missing, "get_filter")
    invalid = client.get(f"/api/runs/{run_id}/filters/conv2d_1?epoch=x")
    assert invalid.status_code == 422
    documented(invalid, "get_filter")


def test_non_finite_filter_values_are_null(client, trained, api_store):
    run_id, _ = trained
    kernel = np.zeros((3, 3, 1, 16), np.float32)
    kernel[0, 0, 0, :2] = [np.nan, np.inf]
    api_store.files.save_array(run_id, "filters/conv2d_1.npy", kernel)
    response = client.get(f"/api/runs/{run_id}/filters/conv2d_1")
    assert b"NaN" not in response.data and b"Infinity" not in response.data
    assert response.get_json()["values"][0][0][0][:3] == [None, None, 0.0]
    documented(response, "get_filter")


@pytest.mark.parametrize("layer", ["dense_1", "maxpool2d_1", "conv2d_9", "..", "%2e%2e"])
def test_unknown_filter_layer_names_the_valid_ones(client, trained, layer):
    run_id, _ = trained
    response = client.get(f"/api/runs/{run_id}/filters/{layer}")
    assert response.status_code == 404
    assert "conv2d_1, conv2d_2" in response.get_json()["error"]


# --- probe activations -------------------------------------------------------------------------
def test_probe_activations(client, trained):
    run_id, arrays = trained
    body = documented(client.get(f"/api/runs/{run_id}/activations/probe/3"), "get_probe")
    assert body["index"] == 3 and body["label"] == 3 and body["test_index"] == 9
    assert body["class_name"] == "3" and body["count"] == PROBES
    assert np.array(body["input"]).shape == (28, 28)
    assert len(body["probabilities"]) == 10
    assert body["predicted"] == int(np.argmax(arrays["predictions"][3]))
    assert [layer["name"] for layer in body["layers"]] == [
        "conv2d_1",
        "maxpool2d_1",
        "conv2d_2",
        "flatten_1",
        "dense_1",
    ]
    first = body["layers"][0]
    assert first["shape"] == [26, 26, 16]
    np.testing.assert_allclose(
        np.array(first["values"]), arrays["probe:conv2d_1"][3].astype(np.float32), atol=1e-4
    )


@pytest.mark.parametrize("k", ["10", "-1", "abc", "1.5", "+1", "99999999999999999999"])
def test_probe_index_out_of_range_names_the_range(client, trained, k):
    run_id, _ = trained
    response = client.get(f"/api/runs/{run_id}/activations/probe/{k}")
    assert response.status_code == 404
    documented(response, "get_probe")
    assert "from 0 to 9" in response.get_json()["error"]


def test_probe_before_training_is_409(client):
    run = client.post("/api/runs", json={}).get_json()
    response = client.get(f"/api/runs/{run['id']}/activations/probe/0")
    assert response.status_code == 409
    documented(response, "get_probe")


# --- activation requests and jobs --------------------------------------------------------------
def test_activations_need_a_trained_model(client):
    run = client.post("/api/runs", json={}).get_json()
    response = client.post(f"/api/runs/{run['id']}/activations", json={"test_index": 0})
    assert response.status_code == 409
    assert "no trained model yet" in response.get_json()["error"]
    documented(response, "request_activations")


def test_activations_queue_a_job_then_answer_from_cache(client, trained, api_store):
    run_id, _ = trained
    response = client.post(f"/api/runs/{run_id}/activations", json={"test_index": 5})
    assert response.status_code == 202, response.get_json()
    job_id = documented(response, "request_activations")["job_id"]
    assert response.headers["Location"].endswith(f"/api/jobs/{job_id}")
    job = documented(client.get(f"/api/jobs/{job_id}"), "get_job")
    assert job["status"] == "queued" and job["kind"] == "extract" and job["run_id"] == run_id
    # The worker's side, by hand: write the cache file, then the same request is answered at once.
    image = load_raw("mnist-sample")[2][5]
    digest = run_actions.input_hash(image)
    api_store.files.save_arrays(
        run_id,
        run_actions.cache_rel(digest),
        input=image,
        probabilities=np.full(10, 0.1, np.float32),
        **{"layer:conv2d_1": np.zeros((26, 26, 16), np.float16)},
    )
    cached = client.post(f"/api/runs/{run_id}/activations", json={"test_index": 5})
    assert cached.status_code == 200
    result = documented(cached, "request_activations")["result"]
    assert cached.get_json()["status"] == "cached" and result["input_hash"] == digest
    download = client.get(result["download"])
    assert download.status_code == 200
    with np.load(io.BytesIO(download.data)) as npz:
        assert npz["layer:conv2d_1"].shape == (26, 26, 16)
    names = [a["name"] for a in client.get(f"/api/runs/{run_id}").get_json()["artifacts"]]
    assert f"activations/cache/{digest}.npz" not in names  # downloadable, but not listed


def test_activations_accept_an_image(client, trained):
    run_id, _ = trained
    response = client.post(f"/api/runs/{run_id}/activations", json=image_body(200))
    assert response.status_code == 202
    documented(response, "request_activations")


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "body"),
        ({"test_index": 0, "image": [[0]]}, "body"),
        ({"test_index": -1}, "test_index"),
        ({"test_index": 2000}, "test_index"),
        ({"test_index": "1"}, "test_index"),
        ({"test_index": True}, "test_index"),
        ({"test_index": 1.5}, "test_index"),
        ({"index": 1}, "index"),
        ({"image": [[0] * 28] * 27}, "image"),
        ({"image": [[0] * 27] * 28}, "image.0"),
        ({"image": "pixels"}, "image"),
        ({"image": [[0] * 27 + [256]] * 28}, "image.0.27"),
        ({"image": [[0] * 27 + [-1]] * 28}, "image.0.27"),
        ({"image": [[0.5] * 28] * 28}, "image.0.0"),
        ({"image": [[None] * 28] * 28}, "image.0.0"),
        ([1, 2], "body"),
    ],
)
def test_invalid_activation_requests_are_422(client, trained, body, field):
    run_id, _ = trained
    response = client.post(f"/api/runs/{run_id}/activations", json=body)
    assert response.status_code == 422, response.get_json()
    assert [e["field"] for e in response.get_json()["errors"]] == [field]
    documented(response, "request_activations")


@pytest.mark.parametrize("first, status", [("NaN", 400), ("Infinity", 400), ("1e999", 422)])
def test_non_finite_pixels_are_rejected(client, trained, first, status):
    run_id, _ = trained
    rows = [[first] + ["0"] * 27] + [["0"] * 28] * 27
    data = '{"image": [' + ", ".join("[" + ", ".join(row) + "]" for row in rows) + "]}"
    response = client.post(
        f"/api/runs/{run_id}/activations", data=data, content_type="application/json"
    )
    assert response.status_code == status
    documented(response, "request_activations")
    if status == 422:  # 1e999 is valid JSON, but infinite
        assert response.get_json()["errors"] == [
            {"field": "image.0.0", "message": "must be a finite number, not NaN or infinity"}
        ]


def test_activation_request_with_broker_down_is_503_and_retried_later(client, trained, monkeypatch):
    run_id, _ = trained

    def refuse(*args):
        raise BrokerUnavailable("down")

    monkeypatch.setattr(run_actions, "send", refuse)
    response = client.post(f"/api/runs/{run_id}/activations", json={"test_index": 1})
    assert response.status_code == 503 and "not reachable" in response.get_json()["error"]
    documented(response, "request_activations")
    monkeypatch.undo()
    assert client.post(f"/api/runs/{run_id}/activations", json={"test_index": 1}).status_code == 202


@pytest.mark.parametrize("job_id", ["0" * 32, "nope", "../x"])
def test_unknown_jobs_are_404(client, job_id):
    response = client.get(f"/api/jobs/{job_id}")
    assert response.status_code == 404 and response.get_json()["error"]
    documented(response, "get_job")


# --- artifacts ---------------------------------------------------------------------------------
def test_artifact_list_and_downloads(client, trained, api_store):
    run_id, arrays = trained
    listed = documented(client.get(f"/api/runs/{run_id}"), "get_run")["artifacts"]
    assert [a["name"] for a in listed] == [
        "model.keras",
        "config.json",
        "history.jsonl",
        "metrics.json",
        "metrics.csv",
        "filters.npz",
        "activations.npz",
    ]
    for item in listed:
        response = client.get(item["url"])
        assert response.status_code == 200, item
        documented(response, "download_artifact")
        assert response.headers["Content-Disposition"].startswith("attachment")
        if item["size"] is not None:
            assert len(response.data) == item["size"]
    config = client.get(f"/api/runs/{run_id}/artifacts/config.json")
    assert json.loads(config.data)["name"] == "trained"
    rows = list(
        csv.DictReader(
            io.StringIO(client.get(f"/api/runs/{run_id}/artifacts/metrics.csv").data.decode())
        )
    )
    assert [r["epoch"] for r in rows] == ["1", "2"] and float(rows[1]["loss"]) == 0.5
    assert list(rows[0]) == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy"]
    with np.load(io.BytesIO(client.get(f"/api/runs/{run_id}/artifacts/filters.npz").data)) as npz:
        assert sorted(npz.files) == ["conv2d_1", "conv2d_2"]
        np.testing.assert_array_equal(npz["conv2d_1"], arrays["conv2d_1"])
    acts = client.get(f"/api/runs/{run_id}/artifacts/activations.npz").data
    with np.load(io.BytesIO(acts)) as npz:
        assert {"inputs", "labels", "indices", "predictions", "conv2d_1", "dense_1"} <= set(
            npz.files
        )
        assert npz["conv2d_1"].dtype == np.float16 and npz["conv2d_1"].shape[0] == PROBES


def test_artifacts_not_written_yet_are_404(client):
    run = client.post("/api/runs", json={}).get_json()
    for name in (
        "model.keras",
        "metrics.csv",
        "filters.npz",
        "activations.npz",
        f"activations/cache/{'a' * 32}.npz",
    ):
        response = client.get(f"/api/runs/{run['id']}/artifacts/{name}")
        assert response.status_code == 404 and "(yet)" in response.get_json()["error"]
        documented(response, "download_artifact")


@pytest.mark.parametrize(
    "name",
    [
        "../../cnnlens.sqlite3",
        "..%2F..%2Fcnnlens.sqlite3",
        "%2e%2e/%2e%2e/cnnlens.sqlite3",
        "/etc/passwd",
        "%2Fetc%2Fpasswd",
        "..",
        "./config.json",
        "config.json/",
        "filters/conv2d_1.npy",
        "activations/probe/inputs.npy",
        "checkpoint",
        "activations/cache/x.npz",
        "activations/cache/../../config.json",
        "..\\..\\config.json",
        "CONFIG.JSON",
        "config.json%00",
    ],
)
def test_artifact_path_traversal_and_unknown_names_are_404(client, trained, name):
    run_id, _ = trained
    response = client.get(f"/api/runs/{run_id}/artifacts/{name}")
    assert response.status_code == 404, name
    assert response.mimetype == "application/json" and response.get_json()["error"]
