"""The run page's "how the layers settled" card (dashboard/run/settling.py) on fake runs."""

from __future__ import annotations

import pytest

from dashboard.run import settling
from shared import comparison
from tests.api.support import fake_trained_run
from tests.api.test_filter_page import text_of

RESULT = {
    "dataset": "mnist-sample",
    "probe_images": 500,
    "batches": 5,
    "level": 0.95,
    "layers": ["conv2d_1", "dense_1"],
    "epochs": [0, 1, 2],
    "matrix": [[0.5, 0.92, 1.0], [0.1, 0.6, 1.0]],
    "lower": [[0.4, 0.9, 1.0], [0.05, 0.5, 1.0]],
    "upper": [[0.6, 0.95, 1.0], [0.15, 0.7, 1.0]],
    "threshold": 0.9,
    "settled": [1, 2],
}


@pytest.fixture
def run(client, api_store):
    created = client.post("/api/runs", json={"epochs": 2}).get_json()
    fake_trained_run(api_store, created["id"])
    return api_store.get_run(created["id"], with_history=False)


def test_nothing_is_asked_until_the_button(api_store, run):
    figure, words, done = settling.view(api_store, run, ask=False)
    assert done and words == ""
    assert api_store.get_job(comparison.epoch_cka_job_id(run["id"])) is None
    figure, words, done = settling.view(api_store, run, ask=True)
    assert not done
    job = api_store.get_job(comparison.epoch_cka_job_id(run["id"]))
    assert job["kind"] == "cka_epochs" and job["params"] == {"run_id": run["id"]}
    assert "Press the button" in text_of(settling.card(api_store, run))


def test_a_cached_answer_is_drawn_with_its_intervals(api_store, run):
    api_store.files.write_json(run["id"], comparison.EPOCH_CKA, RESULT | {"run_id": run["id"]})
    figure, words, done = settling.view(api_store, run, ask=False)
    assert done and len(figure["data"]) == 2
    first = figure["data"][0]
    assert first["y"] == [0.5, 0.92, 1.0] and first["x"] == [0, 1, 2]
    assert first["error_y"]["array"] == pytest.approx([0.1, 0.03, 0.0])
    assert first["error_y"]["arrayminus"] == pytest.approx([0.1, 0.02, 0.0])
    assert "conv2d_1, after epoch 1" in words and "500" in words
    assert settling.summary(RESULT | {"settled": [None, None]}).startswith("No layer")
