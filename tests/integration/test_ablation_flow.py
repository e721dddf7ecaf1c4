"""Ablation curves through the real analysis worker, over the real Redis: the API's 202 → 200,
the job's progress, the stored model left as it was, and the compare page's card drawing one
curve per run from what the jobs cached (its status and view functions, as its callbacks call
them)."""

from __future__ import annotations

import hashlib
import time

import pytest

from tests.integration.conftest import finished_job, trained_runs

pytestmark = pytest.mark.integration
TINY = {"epochs": 1, "train_limit": 600, "batch_size": 32}


@pytest.fixture(scope="module")
def run_ids(api, services):
    return trained_runs(api, [TINY | {"name": f"ablation {seed}", "seed": seed} for seed in (1, 2)])


def finished(api, job_id: str) -> dict:
    return finished_job(api, job_id, timeout=180)


def test_the_curve_is_computed_by_the_worker_and_the_model_file_is_untouched(
    api, services, run_ids
):
    run_id = run_ids[0]
    model = services["data_dir"] / "runs" / run_id / "model.keras"
    before = (hashlib.sha256(model.read_bytes()).hexdigest(), model.stat().st_mtime_ns)
    url = f"/api/runs/{run_id}/ablation?layer=conv2d_2"
    first = api.get(url)
    assert first.status_code == 202, first.get_json()
    job = finished(api, first.get_json()["job_id"])
    # a job longer than half a second writes its progress, and then ends at 1.0
    assert job["progress"] in (None, 1.0)
    second = api.get(url)
    assert second.status_code == 200
    result = second.get_json()["result"]
    assert result == job["result"]
    assert result["filters"] == 32 and sorted(result["order"]) == list(range(32))
    assert [p["removed"] for p in result["points"]] == list(range(33))
    metrics = api.get(f"/api/runs/{run_id}").get_json()
    assert result["points"][0]["accuracy"] == pytest.approx(metrics["test"]["accuracy"], abs=1e-6)
    assert (hashlib.sha256(model.read_bytes()).hexdigest(), model.stat().st_mtime_ns) == before


def test_the_compare_card_draws_one_curve_per_run(api, services, run_ids):
    from dashboard.compare import ablation, choice, page_status
    from dashboard.state import get_store

    store = get_store()
    runs = choice.chosen_runs(store, run_ids)
    state = page_status.status(store, runs, None, None, ask=True, layer="conv2d_1")
    deadline = time.time() + 180
    while page_status.PENDING in state["ablation"].values():
        assert time.time() < deadline, state["ablation"]
        time.sleep(0.3)
        state = page_status.status(store, runs, None, None, ask=False, layer="conv2d_1")
    assert set(state["ablation"].values()) == {page_status.READY}, state["ablation"]
    figure, lines, caption = ablation.view(store, runs, "conv2d_1", state)
    names = [trace["name"] for trace in figure["data"]]
    assert names[:2] == ["A · ablation 1", "B · ablation 2"] and names[2].startswith("chance")
    for trace in figure["data"][:2]:
        assert len(trace["x"]) == 17 and trace["x"][0] == 0 and trace["x"][-1] == 1
    assert len(lines) == 2 and "test images of mnist-sample" in caption
