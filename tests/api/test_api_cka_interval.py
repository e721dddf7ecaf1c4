"""The CKA answer with confidence intervals: a probe-batch answer is only a first one (202 with
`partial`), the whole-test-set answer with `lower` and `upper` is the cached one (200), and the
compare page shows either, the intervals in the heatmap's hover."""

from __future__ import annotations

import numpy as np

from dashboard.compare import analysis, charts, page_status
from shared import comparison
from tests.api.support import documented, fake_trained_run

PROBE = {
    "dataset": "mnist-sample",
    "probe_images": 500,
    "layers_a": ["conv2d_1", "dense_1"],
    "layers_b": ["conv2d_1", "maxpool2d_1", "dense_1"],
    "matrix": [[0.9, 0.5, 0.1], [0.2, 0.3, 0.8]],
    "estimator": "probe",
    "lower": None,
    "upper": None,
}
FULL = PROBE | {
    "estimator": "minibatch-unbiased",
    "matrix": [[0.8, 0.4, 0.05], [0.1, 0.2, 0.7]],
    "lower": [[0.75, 0.3, 0.0], [0.05, 0.15, 0.6]],
    "upper": [[0.85, 0.5, 0.1], [0.15, 0.25, 0.8]],
    "probe_matrix": PROBE["matrix"],
    "test_images": 2000,
    "batches": 20,
    "batch_size": 100,
    "level": 0.95,
}


def trained_pair(client, api_store):
    ids = []
    for seed in (0, 1):
        run = client.post("/api/runs", json={"epochs": 1, "name": f"r{seed}"}).get_json()
        fake_trained_run(api_store, run["id"], seed=seed)
        ids.append(run["id"])
    return ids


def test_a_probe_answer_is_partial_and_the_job_goes_on(client, api_store):
    a, b = trained_pair(client, api_store)
    api_store.files.write_json(a, comparison.cka_rel(b), PROBE | {"a": a, "b": b})
    response = client.get(f"/api/compare/cka?a={a}&b={b}")
    assert response.status_code == 202, response.get_json()
    body = documented(response, "compare_cka")
    assert body["status"] == "queued" and body["partial"]["matrix"] == PROBE["matrix"]
    assert body["partial"]["lower"] is None
    job = api_store.get_job(body["job_id"])
    assert job["kind"] == "cka" and job["params"] == {"a": a, "b": b}
    # read the other way round: the partial answer is transposed too
    reverse = client.get(f"/api/compare/cka?a={b}&b={a}")
    assert reverse.status_code == 202
    assert documented(reverse, "compare_cka")["partial"]["matrix"] == [
        [0.9, 0.2],
        [0.5, 0.3],
        [0.1, 0.8],
    ]


def test_the_whole_test_set_answer_is_cached_with_intervals(client, api_store):
    a, b = trained_pair(client, api_store)
    api_store.files.write_json(a, comparison.cka_rel(b), FULL | {"a": a, "b": b})
    response = client.get(f"/api/compare/cka?a={b}&b={a}")  # stored as (a, b): transposed
    assert response.status_code == 200
    result = documented(response, "compare_cka")["result"]
    for key in ("matrix", "lower", "upper", "probe_matrix"):
        assert result[key] == np.asarray(FULL[key]).T.tolist()
        assert np.shape(result[key]) == (3, 2)
    assert result["layers_a"] == FULL["layers_b"] and result["test_images"] == 2000


def test_a_complete_answer_is_preferred_to_a_probe_one(client, api_store):
    a, b = trained_pair(client, api_store)
    api_store.files.write_json(a, comparison.cka_rel(b), PROBE | {"a": a, "b": b})
    api_store.files.write_json(b, comparison.cka_rel(a), FULL | {"a": b, "b": a})
    response = client.get(f"/api/compare/cka?a={a}&b={b}")
    assert response.status_code == 200
    assert (
        documented(response, "compare_cka")["result"]["lower"]
        == np.asarray(FULL["lower"]).T.tolist()
    )


def test_heatmap_hover_carries_each_cells_interval():
    figure = charts.cka_heatmap(FULL, "A", "B")
    heat = figure["data"][0]
    assert np.shape(heat["customdata"]) == (2, 3, 2)
    assert heat["customdata"][1][2] == [0.6, 0.8]  # [lower, upper] of cell (dense_1, dense_1)
    assert "customdata[0]" in heat["hovertemplate"] and "95%" in heat["hovertemplate"]
    probe = charts.cka_heatmap(PROBE, "A", "B")["data"][0]
    assert "customdata" not in probe and "customdata" not in probe["hovertemplate"]


def test_the_compare_page_shows_the_first_answer_while_it_waits(client, api_store):
    a, b = trained_pair(client, api_store)
    runs = [api_store.get_run(a), api_store.get_run(b)]
    api_store.files.write_json(a, comparison.cka_rel(b), PROBE | {"a": a, "b": b})
    state = {"cka": {f"{a}:{b}": page_status.cka_state(api_store, runs[0], runs[1], ask=True)}}
    assert state["cka"][f"{a}:{b}"] == page_status.PENDING
    figure, caption = analysis.cka(api_store, runs, (0, 1), state)
    assert figure["data"][0]["z"] == PROBE["matrix"] and "500" in caption
    api_store.files.write_json(a, comparison.cka_rel(b), FULL | {"a": a, "b": b})
    state = {"cka": {f"{a}:{b}": page_status.cka_state(api_store, runs[0], runs[1], ask=False)}}
    assert state["cka"][f"{a}:{b}"] == page_status.READY
    figure, caption = analysis.cka(api_store, runs, (0, 1), state)
    assert figure["data"][0]["z"] == FULL["matrix"] and "2000" in caption and "95%" in caption
