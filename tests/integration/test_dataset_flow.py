"""A folder dataset imported through the API, read by the real analysis worker, trained on by the real
training worker, and one of its pictures sent through the trained model: colour end to end. A
hostile archive sent the same way fails with a sentence and leaves nothing behind.

Real Redis and Celery workers (tests/integration/conftest.py); the data are made in the test.
"""

from __future__ import annotations

import io
import time
import zipfile

import numpy as np
import pytest
from PIL import Image

from tests.integration.conftest import wait_for_status

pytestmark = pytest.mark.integration
HEADERS = {"X-Requested-With": "test"}
COLOURS = {"red": (210, 40, 40), "green": (40, 190, 60), "blue": (40, 60, 210)}


def picture(colour: tuple[int, int, int], seed: int, size=(20, 16)) -> bytes:
    rng = np.random.default_rng(seed)
    pixels = np.clip(rng.normal(colour, 25, (size[1], size[0], 3)), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def folder_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, colour in COLOURS.items():
            for i in range(30):
                archive.writestr(f"pictures/{name}/{i:02}.png", picture(colour, i))
    return buffer.getvalue()


def upload(api, data: bytes, name: str) -> dict:
    response = api.post(
        "/api/datasets",
        data={"file": (io.BytesIO(data), f"{name}.zip"), "name": name, "test_fraction": "0.2"},
        content_type="multipart/form-data",
        headers=HEADERS,
    )
    assert response.status_code == 202, response.get_json()
    return response.get_json()


def wait_for_dataset(api, url: str, timeout: float = 120) -> dict:
    deadline = time.time() + timeout
    row: dict = {}
    while time.time() < deadline:
        row = api.get(url).get_json()
        if row["status"] != "importing":
            return row
        time.sleep(0.2)
    raise AssertionError(f"dataset still importing after {timeout}s: {row}")


def test_import_train_and_look_inside_a_colour_folder_dataset(api, services):
    body = upload(api, folder_zip(), "colours")
    row = wait_for_dataset(api, body["url"])
    assert row["status"] == "ready", row
    assert row["shape"] == [16, 20, 3] and row["classes"] == ["blue", "green", "red"]
    assert row["counts"]["train"] == 72 and row["counts"]["test"] == 18
    assert api.get(body["job_url"]).get_json()["status"] == "succeeded"

    config = {
        "name": "colours run",
        "dataset": row["id"],
        "epochs": 1,
        "batch_size": 16,
        "layers": [
            {"type": "conv2d", "filters": 4, "kernel_size": 3},
            {"type": "maxpool2d", "pool_size": 2},
            {"type": "flatten"},
            {"type": "dense", "units": 3, "activation": "softmax"},
        ],
    }
    created = api.post("/api/runs", json=config)
    assert created.status_code == 201, created.get_json()
    run_id = created.get_json()["id"]
    run = wait_for_status(api, run_id, ("succeeded", "failed"))
    assert run["status"] == "succeeded", run.get("error")
    kernel = api.get(f"/api/runs/{run_id}/filters/conv2d_1").get_json()
    assert kernel["shape"] == [3, 3, 3, 4]
    probe = api.get(f"/api/runs/{run_id}/activations/probe/0").get_json()
    assert np.asarray(probe["input"]).shape == (16, 20, 3)
    assert probe["class_name"] in COLOURS

    # A picture of another size is made the dataset's 16×20 colour input.
    response = api.post(
        f"/api/runs/{run_id}/activations",
        data={"image": (io.BytesIO(picture(COLOURS["green"], 99, size=(64, 64))), "g.png")},
        content_type="multipart/form-data",
        headers=HEADERS,
    )
    assert response.status_code in (200, 202), response.get_json()
    answer = response.get_json()
    if response.status_code == 202:
        deadline = time.time() + 60
        while (job := api.get(answer["job_url"]).get_json())["status"] not in (
            "succeeded",
            "failed",
        ):
            assert time.time() < deadline
            time.sleep(0.1)
        assert job["status"] == "succeeded", job["error"]
        result = job["result"]
    else:
        result = answer["result"]
    assert len(result["probabilities"]) == 3
    assert {"name": "conv2d_1", "shape": [14, 18, 4]} in result["layers"]

    assert api.delete(body["url"], headers=HEADERS).status_code == 409  # the run uses it
    assert api.delete(f"/api/runs/{run_id}", headers=HEADERS).status_code == 204
    assert api.delete(body["url"], headers=HEADERS).status_code == 200
    assert not (services["data_dir"] / "datasets" / row["id"]).exists()


def test_a_bad_archive_fails_on_the_worker_and_leaves_nothing(api, services):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("train/a/0.png", picture((1, 2, 3), 0))
        archive.writestr("train/b/", b"")  # an empty class
        archive.writestr("test/a/0.png", picture((1, 2, 3), 1))
    body = upload(api, buffer.getvalue(), "empty class")
    row = wait_for_dataset(api, body["url"])
    assert row["status"] == "failed" and "is empty" in row["error"], row
    assert not (services["data_dir"] / "datasets" / row["id"]).exists()
