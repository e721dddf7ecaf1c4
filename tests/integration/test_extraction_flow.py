"""Activations, uploads and comparisons through the real workers, over the real Redis.

Two tiny runs are trained once; then every layer of one input is extracted by the extraction
worker (a job, then a cache hit), the prediction is checked against the stored model itself, and
CKA / filter statistics jobs run on the probe batch.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from shared.datasets import load_raw, to_model_input
from tests.integration.conftest import finished_job, stored_model, trained_runs

pytestmark = pytest.mark.integration
TINY = {"epochs": 1, "train_limit": 300, "batch_size": 32}
SHAPES = {
    "conv2d_1": [26, 26, 16],
    "maxpool2d_1": [13, 13, 16],
    "conv2d_2": [11, 11, 32],
    "flatten_1": [3872],
    "dense_1": [10],
}


@pytest.fixture(scope="module")
def runs(api, services):
    return trained_runs(
        api,
        [
            TINY | {"name": name, "seed": seed}
            for name, seed in (("extract a", 42), ("extract b", 7))
        ],
    )


def own_prediction(services, run_id: str, image: np.ndarray) -> np.ndarray:
    """The stored model's own answer."""
    model = stored_model(services, run_id)
    return np.asarray(model(to_model_input(image[None]), training=False))[0]


def test_extraction_job_then_cache_hit_agrees_with_the_model(api, services, runs):
    run_id = runs[0]
    image = load_raw("mnist-sample")[2][123]  # not in the probe set
    first = api.post(f"/api/runs/{run_id}/activations", json={"test_index": 123})
    assert first.status_code == 202, first.get_json()
    job = finished_job(api, first.get_json()["job_id"])
    result = job["result"]
    assert {layer["name"]: layer["shape"] for layer in result["layers"]} == SHAPES
    assert len(result["probabilities"]) == 10
    second = api.post(f"/api/runs/{run_id}/activations", json={"test_index": 123})
    assert second.status_code == 200 and second.get_json()["result"] == result
    expected = own_prediction(services, run_id, image)
    assert result["predicted"] == int(np.argmax(expected))
    assert np.allclose(result["probabilities"], expected, atol=1e-4)
    with np.load(io.BytesIO(api.get(result["download"]).data)) as arrays:
        assert arrays["layer:conv2d_2"].shape == (11, 11, 32)


def test_an_uploaded_picture_goes_through_the_worker(api, services, runs):
    img = Image.new("L", (200, 260), 255)
    ImageDraw.Draw(img).line([(40, 40), (160, 40), (80, 220)], fill=0, width=18)
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    response = api.post(
        f"/api/runs/{runs[0]}/activations",
        data={"image": (io.BytesIO(buffer.getvalue()), "seven.png")},
        content_type="multipart/form-data",
        headers={"X-Requested-With": "test"},  # what curl -F must send too (not JSON)
    )
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["input_png"].startswith("data:image/png;base64,")
    job = finished_job(api, response.get_json()["job_id"])
    assert {layer["name"] for layer in job["result"]["layers"]} == set(SHAPES)


def test_cka_between_two_runs_and_of_a_run_with_itself(api, services, runs):
    a, b = runs
    for first, second in ((a, b), (a, a)):
        response = api.get(f"/api/compare/cka?a={first}&b={second}")
        if response.status_code == 202:
            finished_job(api, response.get_json()["job_id"], timeout=240)
            response = api.get(f"/api/compare/cka?a={first}&b={second}")
        assert response.status_code == 200, response.get_json()
        result = response.get_json()["result"]
        assert result["layers_a"] == result["layers_b"] == list(SHAPES)
        matrix = np.asarray(result["matrix"])
        assert matrix.shape == (5, 5) and ((matrix >= 0) & (matrix <= 1)).all()
        if first == second:
            assert np.allclose(np.diag(matrix), 1.0, atol=1e-4)
        else:
            assert np.diag(matrix).mean() > 0.5  # one architecture, two seeds: alike
    reverse = api.get(f"/api/compare/cka?a={b}&b={a}")
    assert reverse.status_code == 200  # read transposed, no second job


def test_filter_statistics_of_a_run(api, services, runs):
    response = api.get(f"/api/runs/{runs[1]}/filter-stats")
    if response.status_code == 202:
        finished_job(api, response.get_json()["job_id"])
        response = api.get(f"/api/runs/{runs[1]}/filter-stats")
    assert response.status_code == 200
    stats = response.get_json()["result"]
    assert stats["probe_images"] == 500
    assert [(layer["name"], len(layer["filters"])) for layer in stats["layers"]] == [
        ("conv2d_1", 16),
        ("conv2d_2", 32),
    ]
