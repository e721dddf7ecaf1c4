"""A run submitted through the API is trained by a real Celery worker over the real Redis."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
import redis

from tests.integration.conftest import redis_url, wait_for_status

pytestmark = pytest.mark.integration
TINY = {"epochs": 1, "train_limit": 300, "batch_size": 32, "name": "tiny"}


def test_tiny_run_succeeds_with_artifacts_of_the_configured_shapes(api, services):
    resp = api.post("/api/runs", json=TINY)
    assert resp.status_code == 201, resp.get_json()
    run_id = resp.get_json()["id"]
    run = wait_for_status(api, run_id, ("succeeded", "failed"))
    assert run["status"] == "succeeded", run.get("error")
    assert len(run["history"]["loss"]) == 1 and run["progress"]["fraction"] == 1.0
    assert 0.0 < run["test"]["accuracy"] <= 1.0

    filters = api.get(f"/api/runs/{run_id}/filters/conv2d_2").get_json()
    assert filters["shape"] == [3, 3, 16, 32]
    assert np.asarray(filters["values"]).shape == (3, 3, 16, 32)

    probe = api.get(f"/api/runs/{run_id}/activations/probe/0").get_json()
    shapes = {layer["name"]: layer["shape"] for layer in probe["layers"]}
    assert shapes == {
        "conv2d_1": [26, 26, 16],
        "maxpool2d_1": [13, 13, 16],
        "conv2d_2": [11, 11, 32],
        "flatten_1": [3872],
        "dense_1": [10],
    }

    model = api.get(f"/api/runs/{run_id}/artifacts/model.keras")
    assert model.status_code == 200 and model.data[:2] == b"PK"  # a .keras file is a zip
    csv = api.get(f"/api/runs/{run_id}/artifacts/metrics.csv").data.decode()
    assert csv.splitlines()[0].startswith("epoch") and len(csv.splitlines()) == 2
    arrays = np.load(io.BytesIO(api.get(f"/api/runs/{run_id}/artifacts/filters.npz").data))
    assert arrays["conv2d_1"].shape == (3, 3, 1, 16)


def test_cancelled_run_ends_cancelled(api, services):
    resp = api.post("/api/runs", json={"epochs": 50, "name": "to cancel"})
    run_id = resp.get_json()["id"]
    deadline = time.time() + 120
    while api.get(f"/api/runs/{run_id}").get_json()["status"] != "running":
        assert time.time() < deadline, "run never started"
        time.sleep(0.2)
    cancel = api.post(f"/api/runs/{run_id}/cancel", headers={"X-Requested-With": "test"})
    assert cancel.status_code == 202
    run = wait_for_status(api, run_id, ("cancelled", "succeeded", "failed"), timeout=60)
    assert run["status"] == "cancelled"
    assert len(run["history"]["loss"]) < 50
    assert not (services["data_dir"] / "runs" / run_id / "model.keras").exists()


def test_invalid_config_is_422_and_nothing_is_queued(api, services):
    before = len(api.get("/api/runs").get_json()["runs"])
    queue_len = redis.Redis.from_url(redis_url()).llen("training")
    resp = api.post(
        "/api/runs", json={"epochs": 10**9, "layers": [{"type": "conv2d", "filters": 10**6}]}
    )
    assert resp.status_code == 422
    fields = {e["field"] for e in resp.get_json()["errors"]}
    assert {"epochs", "layers.0.filters"} <= fields
    assert len(api.get("/api/runs").get_json()["runs"]) == before
    assert redis.Redis.from_url(redis_url()).llen("training") == queue_len
