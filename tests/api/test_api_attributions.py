"""POST /api/runs/{id}/attributions on a fake succeeded run: 202 and a job, then 200 from the run
folder once the worker's file is there (written here by hand, as worker/attribution.py does), and
a 422 naming the field for every bad setting."""

from __future__ import annotations

import io

import numpy as np
import pytest

from dashboard.service import attributions
from shared import attribution_result as ar
from shared.datasets import load_raw
from shared.queue import BrokerUnavailable
from tests.api.support import documented, fake_trained_run

ENDPOINT = "request_attribution"


@pytest.fixture
def trained(client, api_store):
    run = client.post("/api/runs", json={"epochs": 1, "name": "trained"}).get_json()
    fake_trained_run(api_store, run["id"])
    return run["id"]


def url(run_id: str) -> str:
    return f"/api/runs/{run_id}/attributions"


def test_a_job_then_the_stored_result_with_its_npz(client, trained, api_store):
    body = {"test_index": 5, "method": "integrated_gradients"}
    response = client.post(url(trained), json=body)
    assert response.status_code == 202, response.get_json()
    job_id = documented(response, ENDPOINT)["job_id"]
    assert response.headers["Location"].endswith(f"/api/jobs/{job_id}")
    job = documented(client.get(f"/api/jobs/{job_id}"), "get_job")
    assert job["status"] == "queued" and job["kind"] == "attribute"
    again = client.post(url(trained), json=body)
    assert again.status_code == 202 and again.get_json()["job_id"] == job_id  # one job
    # The worker's side, by hand.
    image = load_raw("mnist-sample")[2][5]
    digest = attributions.input_hash(image)
    assert np.array_equal(api_store.files.load_array(trained, ar.input_rel(digest)), image)
    params = ar.canonical("integrated_gradients", None, None, None, False)
    key = ar.attribution_key(digest, params)
    assert ar.attribution_job_id(trained, key) == job_id
    attribution = np.linspace(-1, 1, 784, dtype=np.float32).reshape(28, 28)
    meta = {
        "target": 7,
        "layer": None,
        "completeness": {"total": 0.0, "expected": 0.0, "relative_error": 0.0, "steps": 64},
    }
    api_store.files.save_arrays(
        trained,
        ar.result_rel(key),
        input=image,
        attribution=attribution,
        probabilities=np.eye(10, dtype=np.float32)[7],
        **ar.meta_arrays(meta),
    )
    cached = client.post(url(trained), json=body)
    assert cached.status_code == 200
    result = documented(cached, ENDPOINT)["result"]
    assert result["target"] == 7 and result["predicted"] == 7 and result["baseline"] == "black"
    assert result["shape"] == [28, 28] and result["score"] == "probability"
    assert result["completeness"]["steps"] == 64 and result["target_was"] == "predicted"
    download = client.get(result["download"])
    assert download.status_code == 200
    with np.load(io.BytesIO(download.data)) as npz:
        assert np.array_equal(npz["input"], image) and np.array_equal(
            npz["attribution"], attribution
        )


def test_each_method_and_setting_is_its_own_job(client, trained):
    ids = set()
    for body in (
        {"method": "saliency"},
        {"method": "saliency", "target": 3},
        {"method": "saliency", "target": "true"},
        {"method": "saliency", "sanity_check": True},
        {"method": "smoothgrad"},
        {"method": "integrated_gradients", "baseline": "blur"},
        {"method": "gradcam"},
        {"method": "gradcam", "layer": "conv2d_1"},
        {"method": "occlusion"},
        {"method": "hirescam"},
    ):
        response = client.post(url(trained), json={"test_index": 2} | body)
        assert response.status_code == 202, (body, response.get_json())
        ids.add(documented(response, ENDPOINT)["job_id"])
    assert len(ids) == 10
    # Same request with the defaults spelled out: the same job.
    spelled = client.post(
        url(trained), json={"test_index": 2, "method": "gradcam", "layer": "conv2d_2"}
    )
    assert spelled.get_json()["job_id"] in ids
    picture = client.post(url(trained), json={"image": [[9] * 28] * 28, "method": "occlusion"})
    assert picture.status_code == 202
    documented(picture, ENDPOINT)


@pytest.mark.parametrize(
    "body, field",
    [
        ({"test_index": 0}, "method"),
        ({"test_index": 0, "method": "lime"}, "method"),
        ({"test_index": 0, "method": "gradcam", "layer": "dense_1"}, "layer"),
        ({"test_index": 0, "method": "gradcam", "layer": "conv2d_9"}, "layer"),
        ({"test_index": 0, "method": "saliency", "layer": "conv2d_1"}, "layer"),
        ({"test_index": 0, "method": "saliency", "target": 10}, "target"),
        ({"test_index": 0, "method": "saliency", "target": -1}, "target"),
        ({"test_index": 0, "method": "saliency", "target": "cat"}, "target"),
        ({"test_index": 0, "method": "saliency", "target": 2.5}, "target"),
        ({"image": [[0] * 28] * 28, "method": "saliency", "target": "true"}, "target"),
        ({"test_index": 0, "method": "integrated_gradients", "baseline": "white"}, "baseline"),
        ({"test_index": 0, "method": "occlusion", "baseline": "black"}, "baseline"),
        ({"test_index": 0, "method": "saliency", "sanity_check": "yes"}, "sanity_check"),
        ({"test_index": 0, "method": "saliency", "steps": 5}, "steps"),
        ({"method": "saliency"}, "body"),
        ({"test_index": 0, "image": [[0] * 28] * 28, "method": "saliency"}, "body"),
        ({"test_index": 99999, "method": "saliency"}, "test_index"),
        ({"image": [[0] * 28] * 27, "method": "saliency"}, "image"),
        ([1], "body"),
    ],
)
def test_bad_settings_are_422_naming_the_field(client, trained, body, field):
    response = client.post(url(trained), json=body)
    assert response.status_code == 422, response.get_json()
    assert [e["field"] for e in response.get_json()["errors"]] == [field]
    documented(response, ENDPOINT)


def test_refusals_before_and_without_a_queue(client, api_store, trained, monkeypatch):
    untrained = client.post("/api/runs", json={}).get_json()["id"]
    response = client.post(url(untrained), json={"test_index": 0, "method": "saliency"})
    assert response.status_code == 409 and "no trained model" in response.get_json()["error"]
    documented(response, ENDPOINT)
    assert (
        client.post(url("0" * 32), json={"test_index": 0, "method": "saliency"}).status_code == 404
    )

    def refuse(*args):
        raise BrokerUnavailable("down")

    monkeypatch.setattr(attributions, "send", refuse)
    response = client.post(url(trained), json={"test_index": 1, "method": "saliency"})
    assert response.status_code == 503 and "not reachable" in response.get_json()["error"]
    documented(response, ENDPOINT)
    monkeypatch.undo()
    assert (
        client.post(url(trained), json={"test_index": 1, "method": "saliency"}).status_code == 202
    )


def test_a_multipart_upload_with_its_settings(client, trained):
    from PIL import Image, ImageDraw

    picture = Image.new("L", (60, 60), 255)
    ImageDraw.Draw(picture).line([(10, 10), (50, 10), (25, 55)], fill=0, width=6)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    response = client.post(
        url(trained),
        data={
            "image": (io.BytesIO(buffer.getvalue()), "x.png"),
            "method": "gradcam",
            "target": "4",
        },
        content_type="multipart/form-data",
        headers={"X-Requested-With": "test"},
    )
    assert response.status_code == 202, response.get_json()
    assert documented(response, ENDPOINT)["input_png"].startswith("data:image/png;base64,")
    bad = client.post(
        url(trained),
        data={"image": (io.BytesIO(buffer.getvalue()), "x.png"), "method": "gradcam", "k": "1"},
        content_type="multipart/form-data",
        headers={"X-Requested-With": "test"},
    )
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["field"] == "k"


def test_a_colour_run_takes_its_own_images(client, api_store):
    """A shapes-rgb run's test image and a picture become 32×32×3 inputs (they were refused as
    "not a 28×28 grayscale image")."""
    layers = [
        {"type": "conv2d", "filters": 8, "kernel_size": 3},
        {"type": "maxpool2d", "pool_size": 2},
        {"type": "flatten"},
        {"type": "dense", "units": 8, "activation": "softmax"},
    ]
    created = client.post(
        "/api/runs", json={"epochs": 1, "dataset": "shapes-rgb", "layers": layers}
    )
    run_id = created.get_json()["id"]
    fake_trained_run(api_store, run_id)
    response = client.post(url(run_id), json={"test_index": 3, "method": "gradcam"})
    assert response.status_code == 202, response.get_json()
    image = load_raw("shapes-rgb")[2][3]
    digest = attributions.input_hash(image)
    assert api_store.files.load_array(run_id, ar.input_rel(digest)).shape == (32, 32, 3)
    grid = {"image": [[[0, 128, 255]] * 32] * 32, "method": "saliency", "target": 7}
    assert client.post(url(run_id), json=grid).status_code == 202
    gray = client.post(url(run_id), json={"image": [[0] * 28] * 28, "method": "saliency"})
    assert gray.status_code == 422 and gray.get_json()["errors"][0]["field"] == "image"
