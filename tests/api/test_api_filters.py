"""A filter page's analysis and the layers-across-epochs CKA through the API, on fake succeeded
runs; tasks go to the test Redis sink, so jobs stay queued and results are written by hand."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from shared import comparison
from tests.api.support import documented, fake_trained_run


def trained(client, api_store, seed=0):
    run = client.post("/api/runs", json={"epochs": 2, "name": f"r{seed}"}).get_json()
    fake_trained_run(api_store, run["id"], seed=seed)
    return run["id"]


def analysis_file(run_id: str, other: str) -> dict:
    return {
        "run_id": run_id,
        "layer": "conv2d_2",
        "filter": 3,
        "filters": 32,
        "dataset": "mnist-sample",
        "activation": "relu",
        "test_images": 2000,
        "probe_images": 500,
        "receptive_field": 8,
        "top_images": [
            {"test_index": 40 + i, "value": 5.0 - i / 10, "box": [0, 2, 8, 10]} for i in range(9)
        ],
        "selectivity": [{"class": str(c), "mean": 0.1 * c, "images": 200} for c in range(10)],
        "selectivity_index": 0.6,
        "ablation": {
            "accuracy": 0.97,
            "accuracy_without": 0.95,
            "per_class": [
                {"class": str(c), "accuracy": 0.97, "accuracy_without": 0.9} for c in range(10)
            ],
        },
        "dead": False,
        "near_duplicate": True,
        "duplicates": [{"filter": 7, "correlation": 0.93}],
        "matches": [
            {"run_id": other, "name": "r1", "layer": "conv2d_2", "filter": 11, "correlation": 0.8}
        ],
        "activation_max": f"/api/runs/{run_id}/artifacts/analysis/filters/conv2d_2-3.png",
        "activation_max_objective": 2.5,
        "activation_max_box": [10, 10, 18, 18],
        "seconds": 3.1,
    }


def test_filter_analysis_is_a_job_then_cached(client, api_store):
    a, b = trained(client, api_store, 0), trained(client, api_store, 1)
    url = f"/api/runs/{a}/filters/conv2d_2/3/analysis"
    response = client.get(url)
    assert response.status_code == 202, response.get_json()
    job_id = documented(response, "filter_analysis")["job_id"]
    assert job_id == comparison.filter_job_id(a, "conv2d_2", 3)
    job = api_store.get_job(job_id)
    assert job["kind"] == "filter" and job["params"] == {"run_id": a, "layer": "conv2d_2", "k": 3}
    assert client.get(url).get_json()["job_id"] == job_id  # asking again queues nothing new
    result = analysis_file(a, b)
    api_store.files.write_json(a, comparison.filter_rel("conv2d_2", 3), result)
    buf = io.BytesIO()
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(buf, format="PNG")
    api_store.files.write_bytes(a, comparison.filter_rel("conv2d_2", 3, "png"), buf.getvalue())
    cached = client.get(url)
    assert cached.status_code == 200
    assert documented(cached, "filter_analysis") == {"status": "cached", "result": result}
    picture = client.get(result["activation_max"])
    assert picture.status_code == 200 and picture.mimetype == "image/png"
    assert picture.data == buf.getvalue()


def test_filter_analysis_refusals_name_what_there_is(client, api_store):
    a = trained(client, api_store)
    cases = {
        f"/api/runs/{a}/filters/conv2d_9/0/analysis": "its conv layers are: conv2d_1, conv2d_2",
        f"/api/runs/{a}/filters/dense_1/0/analysis": "no conv layer 'dense_1'",
        f"/api/runs/{a}/filters/conv2d_1/16/analysis": "filters 0 to 15",
        f"/api/runs/{a}/filters/conv2d_1/-1/analysis": "not a filter number",
        f"/api/runs/{a}/filters/conv2d_1/x1/analysis": "not a filter number",
        f"/api/runs/{a}/filters/conv2d_1/99999999/analysis": "not a filter number",
        f"/api/runs/{'0' * 32}/filters/conv2d_1/0/analysis": "no run with id",
    }
    for url, words in cases.items():
        response = client.get(url)
        assert response.status_code == 404, (url, response.get_json())
        assert words in documented(response, "filter_analysis")["error"], url
    queued = client.post("/api/runs", json={}).get_json()["id"]
    response = client.get(f"/api/runs/{queued}/filters/conv2d_1/0/analysis")
    assert response.status_code == 409
    assert "no trained model yet" in documented(response, "filter_analysis")["error"]
    missing = client.get(f"/api/runs/{a}/artifacts/analysis/filters/conv2d_1-0.png")
    assert missing.status_code == 404


def test_epoch_cka_is_a_job_then_cached(client, api_store):
    a = trained(client, api_store)
    response = client.get(f"/api/runs/{a}/cka/epochs")
    assert response.status_code == 202
    job_id = documented(response, "epoch_cka")["job_id"]
    assert api_store.get_job(job_id)["kind"] == "cka_epochs"
    result = {
        "run_id": a,
        "dataset": "mnist-sample",
        "probe_images": 500,
        "batches": 5,
        "level": 0.95,
        "layers": ["conv2d_1", "dense_1"],
        "epochs": [0, 1, 2],
        "matrix": [[0.5, 0.9, 1.0], [0.1, 0.6, 1.0]],
        "lower": [[0.4, 0.85, 1.0], [0.05, 0.5, 1.0]],
        "upper": [[0.6, 0.95, 1.0], [0.15, 0.7, 1.0]],
        "threshold": 0.9,
        "settled": [1, 2],
    }
    api_store.files.write_json(a, comparison.EPOCH_CKA, result)
    cached = client.get(f"/api/runs/{a}/cka/epochs")
    assert cached.status_code == 200
    assert documented(cached, "epoch_cka")["result"] == result
