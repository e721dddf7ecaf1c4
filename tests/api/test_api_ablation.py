"""A conv layer's ablation curve through the API, on fake succeeded runs: tasks go to the test
Redis sink, so the job stays queued and its result and progress are written by hand."""

from __future__ import annotations

from shared import comparison
from tests.api.support import documented, fake_trained_run


def trained(client, api_store, seed=0):
    run = client.post("/api/runs", json={"epochs": 2, "name": f"r{seed}"}).get_json()
    fake_trained_run(api_store, run["id"], seed=seed)
    return run["id"]


def curve_file(run_id: str) -> dict:
    n = 16
    return {
        "run_id": run_id,
        "layer": "conv2d_1",
        "dataset": "mnist-sample",
        "classes": 10,
        "filters": n,
        "test_images": 2000,
        "importance": {
            "method": "accuracy_drop",
            "values": [round(0.001 * f, 6) for f in range(n)],
            "probability_drop": [round(0.002 * f, 6) for f in range(n)],
        },
        "order": list(range(n - 1, -1, -1)),
        "points": [
            {"removed": k, "fraction": k / n, "accuracy": round(0.97 - 0.05 * k, 6)}
            for k in range(n + 1)
        ],
        "every_k": True,
        "seconds": 2.5,
    }


def test_the_curve_is_a_job_with_progress_then_cached(client, api_store):
    a = trained(client, api_store)
    url = f"/api/runs/{a}/ablation?layer=conv2d_1"
    response = client.get(url)
    assert response.status_code == 202, response.get_json()
    job_id = documented(response, "ablation_curve")["job_id"]
    assert job_id == comparison.ablation_job_id(a, "conv2d_1")
    assert response.headers["Location"] == f"/api/jobs/{job_id}"
    job = api_store.get_job(job_id)
    assert job["kind"] == "ablation" and job["params"] == {"run_id": a, "layer": "conv2d_1"}
    assert client.get(url).get_json()["job_id"] == job_id  # asking again queues nothing new
    assert documented(client.get(f"/api/jobs/{job_id}"), "get_job")["progress"] is None

    api_store.set_job(job_id, "running")
    assert api_store.job_progress(job_id, 0.4)
    polled = documented(client.get(f"/api/jobs/{job_id}"), "get_job")
    assert polled["status"] == "running" and polled["progress"] == 0.4

    result = curve_file(a)
    api_store.files.write_json(a, comparison.ablation_rel("conv2d_1"), result)
    api_store.set_job(job_id, "succeeded", result=result)
    assert not api_store.job_progress(job_id, 0.9)  # a finished job's progress stays put
    cached = client.get(url)
    assert cached.status_code == 200
    assert documented(cached, "ablation_curve") == {"status": "cached", "result": result}
    assert documented(client.get(f"/api/jobs/{job_id}"), "get_job")["result"] == result
    # another layer is another job
    other = client.get(f"/api/runs/{a}/ablation?layer=conv2d_2")
    assert other.status_code == 202
    assert other.get_json()["job_id"] == comparison.ablation_job_id(a, "conv2d_2") != job_id


def test_asking_again_for_a_failed_curve_starts_over(client, api_store):
    a = trained(client, api_store)
    url = f"/api/runs/{a}/ablation?layer=conv2d_2"
    job_id = client.get(url).get_json()["job_id"]
    api_store.set_job(job_id, "running")
    api_store.job_progress(job_id, 0.7)
    api_store.set_job(job_id, "failed", error="the worker stopped")
    assert client.get(url).status_code == 202
    job = api_store.get_job(job_id)
    assert job["status"] == "queued" and job["progress"] is None and job["error"] is None


def test_refusals_say_why(client, api_store):
    a = trained(client, api_store)
    cases = {
        "": (422, "give a conv layer name, such as conv2d_1"),
        "?layer=": (422, "give a conv layer name, such as conv2d_1"),
        "?layer=conv2d_9": (422, "has no conv layer 'conv2d_9'; its conv layers are: conv2d_1, "),
        "?layer=dense_1": (422, "has no conv layer 'dense_1'"),
        "?layer=..%2F..%2Fmodel.keras": (422, "has no conv layer '../../model.keras'"),
        "?layer=" + "x" * 200: (422, "is not a layer name"),
    }
    for query, (status, words) in cases.items():
        response = client.get(f"/api/runs/{a}/ablation{query}")
        assert response.status_code == status, (query, response.get_json())
        body = documented(response, "ablation_curve")
        [error] = body["errors"]
        assert error["field"] == "layer" and words in error["message"], (query, error)
    queued = client.post("/api/runs", json={"name": "waiting"}).get_json()["id"]
    response = client.get(f"/api/runs/{queued}/ablation?layer=conv2d_1")
    assert response.status_code == 409
    assert "no trained model yet (it is queued)" in documented(response, "ablation_curve")["error"]
    missing = client.get(f"/api/runs/{'0' * 32}/ablation?layer=conv2d_1")
    assert missing.status_code == 404
    assert "no run with id" in documented(missing, "ablation_curve")["error"]
    with api_store.engine.connect() as connection:
        from sqlalchemy import text

        kinds = [row[0] for row in connection.execute(text("SELECT kind FROM jobs"))]
    assert kinds == []  # nothing was queued for any of them
