"""Comparison endpoints and picture uploads, on fake succeeded runs written as a worker would.

Tasks go to the test Redis sink (no worker there), so queued jobs stay queued; a job's result is
written by hand where a test needs the cached answer.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from shared import artifacts as names
from shared import comparison
from shared.images import MAX_BYTES
from tests.api.support import documented, fake_trained_run


def new_trained(client, api_store, seed=0, **config):
    run = client.post("/api/runs", json={"epochs": 2, **config}).get_json()
    fake_trained_run(api_store, run["id"], seed=seed)
    return run["id"]


@pytest.fixture
def pair(client, api_store):
    return new_trained(client, api_store, 0, name="a"), new_trained(client, api_store, 1, name="b")


def error_text(response, status, endpoint="request_activations"):
    assert response.status_code == status, response.get_json()
    body = documented(response, endpoint)
    return body["error"] if "error" in body else body["errors"][0]["message"]


# --- filter alignment ----------------------------------------------------------------------------
def test_alignment_recovers_a_permutation_of_a_runs_own_filters(client, api_store, pair):
    a, b = pair
    kernel = api_store.files.load_array(a, f"{names.FILTERS_DIR}/conv2d_2.npy")
    permutation = np.random.default_rng(3).permutation(kernel.shape[-1])
    api_store.files.save_array(b, f"{names.FILTERS_DIR}/conv2d_2.npy", kernel[..., permutation])
    response = client.get(f"/api/compare/filters?a={a}&b={b}&layer=conv2d_2")
    assert response.status_code == 200, response.get_json()
    body = documented(response, "compare_filters")
    assert body["kernel_shape"] == [3, 3, 16, 32] and body["layer_b"] == "conv2d_2"
    assert [p["a"] for p in body["pairs"]] == list(range(32))
    assert all(p["correlation"] == pytest.approx(1.0, abs=1e-6) for p in body["pairs"])
    # B's filter j is A's filter permutation[j]: A's filter i sits at B's position inverse[i].
    assert body["order_b"] == np.argsort(permutation).tolist()
    assert body["mean_correlation"] == pytest.approx(1.0)


def test_alignment_at_an_epoch_and_with_absolute_correlation(client, api_store, pair):
    a, b = pair
    stack = api_store.files.load_array(a, f"{names.FILTERS_DIR}/epochs/conv2d_1.npy")
    flipped = -stack.astype(np.float32)
    api_store.files.save_array(b, f"{names.FILTERS_DIR}/epochs/conv2d_1.npy", flipped)
    url = f"/api/compare/filters?a={a}&b={b}&layer=conv2d_1&epoch=0"
    signed = documented(client.get(url), "compare_filters")
    assert signed["epoch"] == 0 and signed["absolute"] is False
    absolute = documented(client.get(url + "&absolute=true"), "compare_filters")
    assert absolute["order_b"] == list(range(16))
    assert all(p["correlation"] == pytest.approx(-1.0, abs=1e-3) for p in absolute["pairs"])


@pytest.mark.parametrize(
    "query, field, words",
    [
        ("b={b}&layer=conv2d_1", "a", "give a run id"),
        ("a={a}&b={b}", "layer", "give a conv layer name"),
        ("a={a}&b={b}&layer=dense_1", "layer", "its conv layers are: conv2d_1, conv2d_2"),
        ("a={a}&b={b}&layer=conv2d_1&layer_b=conv2d_2", "layer_b", "same kernel size"),
        ("a={a}&b={b}&layer=conv2d_1&absolute=maybe", "absolute", "true or false"),
        ("a={a}&b={b}&layer=conv2d_1&epoch=-1", "epoch", "whole number"),
    ],
)
def test_alignment_refusals_name_the_field(client, pair, query, field, words):
    a, b = pair
    response = client.get("/api/compare/filters?" + query.format(a=a, b=b))
    assert response.status_code == 422, response.get_json()
    error = documented(response, "compare_filters")["errors"][0]
    assert error["field"] == field and words in error["message"]


def test_alignment_of_unknown_or_untrained_runs(client, pair):
    a, _ = pair
    assert "no run with id" in error_text(
        client.get(f"/api/compare/filters?a={a}&b={'f' * 32}&layer=conv2d_1"),
        404,
        "compare_filters",
    )
    queued = client.post("/api/runs", json={}).get_json()["id"]
    assert "not stored yet" in error_text(
        client.get(f"/api/compare/filters?a={a}&b={queued}&layer=conv2d_1"), 409, "compare_filters"
    )


# --- CKA and filter statistics --------------------------------------------------------------------
def test_cka_is_a_job_then_cached_both_ways(client, api_store, pair):
    a, b = pair
    response = client.get(f"/api/compare/cka?a={a}&b={b}")
    assert response.status_code == 202, response.get_json()
    job_id = documented(response, "compare_cka")["job_id"]
    assert response.headers["Location"].endswith(f"/api/jobs/{job_id}")
    job = documented(client.get(f"/api/jobs/{job_id}"), "get_job")
    assert job["kind"] == "cka" and job["status"] == "queued" and job["run_id"] == a
    assert client.get(f"/api/compare/cka?a={a}&b={b}").get_json()["job_id"] == job_id
    result = {
        "a": a,
        "b": b,
        "dataset": "mnist-sample",
        "probe_images": 500,
        "layers_a": ["conv2d_1", "dense_1"],
        "layers_b": ["conv2d_1", "maxpool2d_1", "dense_1"],
        "matrix": [[0.9, 0.5, 0.1], [0.2, 0.3, 0.8]],
        "lower": [[0.85, 0.4, 0.0], [0.1, 0.25, 0.7]],
        "upper": [[0.95, 0.6, 0.2], [0.3, 0.35, 0.9]],
    }
    api_store.files.write_json(a, comparison.cka_rel(b), result)  # what the worker writes
    cached = client.get(f"/api/compare/cka?a={a}&b={b}")
    assert cached.status_code == 200 and cached.get_json() == {"status": "cached", "result": result}
    documented(cached, "compare_cka")
    reverse = client.get(f"/api/compare/cka?a={b}&b={a}").get_json()["result"]
    assert reverse["a"] == b and reverse["layers_a"] == result["layers_b"]
    assert reverse["matrix"] == [[0.9, 0.2], [0.5, 0.3], [0.1, 0.8]]
    assert reverse["lower"] == [[0.85, 0.1], [0.4, 0.25], [0.0, 0.7]]


def test_cka_refusals(client, api_store, pair):
    a, _ = pair
    other = client.post("/api/runs", json={"dataset": "mnist"})
    if other.status_code == 201:  # full MNIST is on this machine
        fake_trained_run(api_store, other.get_json()["id"])
        response = client.get(f"/api/compare/cka?a={a}&b={other.get_json()['id']}")
        assert "different datasets" in error_text(response, 422, "compare_cka")
    queued = client.post("/api/runs", json={}).get_json()["id"]
    assert "no trained model yet" in error_text(
        client.get(f"/api/compare/cka?a={a}&b={queued}"), 409, "compare_cka"
    )
    response = client.get(f"/api/compare/cka?a={a}")
    assert "give a run id" in error_text(response, 422, "compare_cka")
    response = client.get(f"/api/compare/cka?a={a}&b=nope")
    assert "no run with id" in error_text(response, 404, "compare_cka")


def test_filter_stats_are_a_job_then_cached(client, api_store, pair):
    a, _ = pair
    response = client.get(f"/api/runs/{a}/filter-stats")
    assert response.status_code == 202
    documented(response, "filter_stats")
    assert client.get(response.headers["Location"]).get_json()["kind"] == "stats"
    row = {"channel": 0, "mean": 0.1, "std": 0.2, "max": 1.5, "silent_fraction": 0.0}
    layer = {"name": "conv2d_1", "activation": "relu", "relu_like": True}
    layer["filters"] = [row | {"sparsity": 0.5, "dead": False}]
    stats = {"run_id": a, "dataset": "mnist-sample", "probe_images": 500, "layers": [layer]}
    api_store.files.write_json(a, comparison.FILTER_STATS, stats)
    cached = client.get(f"/api/runs/{a}/filter-stats")
    assert cached.status_code == 200 and cached.get_json()["result"] == stats
    documented(cached, "filter_stats")
    missing = client.get(f"/api/runs/{'0' * 32}/filter-stats")
    assert missing.status_code == 404
    documented(missing, "filter_stats")


# --- pictures -------------------------------------------------------------------------------------
def png(img: Image.Image) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return buffer.getvalue()


def digit_png() -> bytes:
    img = Image.new("L", (120, 160), 255)
    ImageDraw.Draw(img).line([(20, 20), (90, 20), (40, 140)], fill=0, width=10)
    return png(img)


def upload(client, run_id, data: bytes, field="image"):
    return client.post(
        f"/api/runs/{run_id}/activations",
        data={field: (io.BytesIO(data), "digit.png")},
        content_type="multipart/form-data",
    )


def decoded_preview(body) -> np.ndarray:
    header, payload = body["input_png"].split(",", 1)
    assert header == "data:image/png;base64"
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(payload))))


def test_an_uploaded_picture_is_converted_and_shown(client, pair):
    a, _ = pair
    response = upload(client, a, digit_png())
    assert response.status_code == 202, response.get_json()
    shown = decoded_preview(documented(response, "request_activations"))
    assert shown.shape == (28, 28) and shown.max() == 255 and np.median(shown) == 0


def test_a_data_url_from_a_canvas_is_converted(client, pair):
    a, _ = pair
    url = "data:image/png;base64," + base64.b64encode(digit_png()).decode()
    response = client.post(f"/api/runs/{a}/activations", json={"image_data_url": url})
    assert response.status_code == 202
    documented(response, "request_activations")
    same = upload(client, a, digit_png()).get_json()
    assert response.get_json()["job_id"] == same["job_id"]  # the same input, the same job
    assert response.get_json()["input_png"] == same["input_png"]


def truncated_png() -> bytes:
    noise = np.random.default_rng(0).integers(0, 256, size=(64, 64), dtype=np.uint8)
    data = png(Image.fromarray(noise))
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    "make, status, words",
    [
        (lambda: b"%PDF-1.4 not a picture", 422, "not a picture we can read"),
        (truncated_png, 422, "damaged or incomplete (truncated)"),
        (lambda: png(Image.new("L", (1, 1), 255)), 422, "1×1 pixels; it needs at least 8"),
        (lambda: png(Image.new("1", (8000, 6250))), 422, "8000×6250 pixels; at most 4"),
        (lambda: b"\x89PNG" + b"\0" * (3 * 2**20), 413, "is 3.0 MB; pictures up to 2.0 MB"),
    ],
    ids=["not-an-image", "truncated-png", "1x1", "50-megapixels", "over-the-limit"],
)
def test_refused_uploads_say_why(client, pair, make, status, words):
    a, _ = pair
    response = upload(client, a, make())
    assert words in error_text(response, status)
    if status == 422:
        assert response.get_json()["errors"][0]["field"] == "image"


def test_refused_data_urls_say_why(client, pair):
    a, _ = pair
    post = lambda body: client.post(f"/api/runs/{a}/activations", json=body)  # noqa: E731
    big = "data:image/png;base64," + base64.b64encode(b"\0" * (MAX_BYTES + 10)).decode()
    assert "pictures up to 2.0 MB" in error_text(post({"image_data_url": big}), 413)
    assert "not valid base64" in error_text(
        post({"image_data_url": "data:image/png;base64,%"}), 422
    )
    assert "cannot be sent with" in error_text(
        post({"image_data_url": "data:,", "test_index": 1}), 422
    )


def test_a_body_over_the_request_limit_is_413_json(client, api_store, pair):
    a, _ = pair
    response = upload(client, a, b"\0" * (api_store.settings.max_request_bytes + 1))
    assert "too large" in error_text(response, 413)


def test_an_upload_in_another_field_or_to_an_untrained_run(client, pair):
    a, _ = pair
    assert "it came as 'file'" in error_text(upload(client, a, digit_png(), field="file"), 422)
    queued = client.post("/api/runs", json={}).get_json()["id"]
    assert "no trained model yet" in error_text(upload(client, queued, digit_png()), 409)
