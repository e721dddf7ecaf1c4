"""Attribution through the real extraction worker, over the real Redis: the API's contract.

One tiny run is trained; then POST /api/runs/{id}/attributions answers 202 with a job, the
extraction worker computes it, the same request answers 200 from the run folder, and the .npz
holds `input` and the raw `attribution` with the input's height and width, whose sum (Integrated
Gradients, black baseline) is the stored model's own change of probability within 1 %.
"""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest

from shared.datasets import load_raw, to_model_input
from tests.integration.conftest import finished_job, stored_model, trained_runs

pytestmark = pytest.mark.integration
TINY = {"epochs": 1, "train_limit": 600, "batch_size": 32, "name": "attribution"}
INDEX = 77


@pytest.fixture(scope="module")
def run_id(api, services):
    return trained_runs(api, [TINY])[0]


def own_probabilities(services, run_id: str, images: np.ndarray) -> np.ndarray:
    """The stored model's own answer."""
    return np.asarray(stored_model(services, run_id)(images, training=False))


def ask(api, run_id: str, body: dict) -> dict:
    first = api.post(f"/api/runs/{run_id}/attributions", json=body)
    assert first.status_code == 202, first.get_json()
    job = finished_job(api, first.get_json()["job_id"])
    second = api.post(f"/api/runs/{run_id}/attributions", json=body)
    assert second.status_code == 200, second.get_json()
    assert second.get_json()["result"] == job["result"]
    return job["result"]


def test_integrated_gradients_202_then_200_and_the_npz_sums_to_the_probability_change(
    api, services, run_id
):
    result = ask(api, run_id, {"test_index": INDEX, "method": "integrated_gradients"})
    with np.load(io.BytesIO(api.get(result["download"]).data)) as npz:
        image, attribution = npz["input"], npz["attribution"]
    expected_image = load_raw("mnist-sample")[2][INDEX]
    assert image.dtype == np.uint8 and np.array_equal(image, expected_image)
    assert attribution.shape == image.shape == (28, 28) and attribution.dtype == np.float32
    probs = own_probabilities(
        services, run_id, np.concatenate([to_model_input(image[None]), np.zeros((1, 28, 28, 1))])
    )
    target = result["target"]
    assert target == int(np.argmax(probs[0])) == result["predicted"]  # the default: predicted
    change = float(probs[0, target] - probs[1, target])
    assert abs(change) > 0.01
    assert abs(float(attribution.sum()) - change) <= 0.01 * abs(change)
    assert result["baseline"] == "black" and result["completeness"]["relative_error"] <= 0.01


def test_gradcam_and_the_sanity_check_leave_the_stored_model_alone(api, services, run_id):
    path = services["data_dir"] / "runs" / run_id / "model.keras"
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    result = ask(
        api,
        run_id,
        {"test_index": INDEX, "method": "gradcam", "target": "true", "sanity_check": True},
    )
    assert result["layer"] == "conv2d_2" and result["score"] == "logit"
    assert result["target"] == int(load_raw("mnist-sample")[3][INDEX])
    sanity = result["sanity"]
    assert -1 <= sanity["spearman"] <= 1 and sanity["unreliable"] == (
        sanity["spearman"] >= sanity["threshold"]
    )
    with np.load(io.BytesIO(api.get(result["download"]).data)) as npz:
        assert npz["attribution"].shape == npz["randomised"].shape == (28, 28)
        assert (npz["attribution"] >= 0).all()  # Grad-CAM keeps the positive part
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_an_unknown_layer_is_a_422_naming_it(api, run_id):
    response = api.post(
        f"/api/runs/{run_id}/attributions",
        json={"test_index": 0, "method": "gradcam", "layer": "dense_1"},
    )
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"] == "layer"
