"""/api/datasets through the Flask test client: import (202 and a job), list, show, delete, and a
run on an imported dataset; every refusal is a 4xx with a sentence and leaves nothing behind.

The task goes to the test Redis database (no worker listens there); the import job is then run in
this process, as the analysis worker would run it.
"""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from shared.store_datasets import DatasetCatalogue
from tests.api.support import documented
from worker.dataset_jobs import import_job

HEADERS = {"X-Requested-With": "test"}


def png(colour=(200, 30, 30), size=(12, 12)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def folder_zip(classes=("cat", "dog"), per_class=3) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for c, name in enumerate(classes):
            for i in range(per_class):
                colour = (200, 30, 30) if c == 0 else (30, 30, 200)
                archive.writestr(f"train/{name}/{i}.png", png(colour))
                archive.writestr(f"test/{name}/{i}.png", png(colour))
    return buffer.getvalue()


def npz_bytes(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def post(client, data: bytes | None, filename="pets.zip", **fields):
    form = dict(fields)
    if data is not None:
        form["file"] = (io.BytesIO(data), filename)
    return client.post(
        "/api/datasets", data=form, content_type="multipart/form-data", headers=HEADERS
    )


def nothing_left(api_store) -> bool:
    root = api_store.settings.data_dir / "datasets"
    leftovers = [p for p in root.iterdir() if p.name != "builtin"] if root.exists() else []
    return not leftovers and DatasetCatalogue.of(api_store).list() == []


def test_import_list_show_use_and_delete(client, api_store):
    response = post(client, folder_zip(), name="Pets")
    body = documented(response, "create_dataset")
    assert response.status_code == 202 and body["status"] == "importing"
    assert response.headers["Location"].endswith(f"/api/datasets/{body['id']}")
    assert body["job_url"].endswith(f"/api/jobs/{body['job_id']}")
    job = documented(client.get(body["job_url"]), "get_job")
    assert job["kind"] == "import_dataset" and job["status"] == "queued"

    assert import_job(api_store, body["job_id"]) == "succeeded"
    shown = documented(client.get(body["url"]), "get_dataset")
    assert shown["status"] == "ready" and shown["shape"] == [12, 12, 3]
    assert shown["classes"] == ["cat", "dog"] and shown["counts"]["train"] == 6
    listed = documented(client.get("/api/datasets"), "list_datasets")["datasets"]
    assert [d["id"] for d in listed][:4] == ["mnist-sample", "mnist", "fashion_mnist", "shapes-rgb"]
    assert listed[-1]["id"] == body["id"] and listed[-1]["builtin"] is False
    assert documented(client.get("/api/datasets/shapes-rgb"), "get_dataset")["shape"] == [32, 32, 3]

    config = {
        "dataset": body["id"],
        "epochs": 1,
        "layers": [
            {"type": "conv2d", "filters": 4, "kernel_size": 3},
            {"type": "flatten"},
            {"type": "dense", "units": 2, "activation": "softmax"},
        ],
    }
    run = client.post("/api/runs", json=config)
    assert run.status_code == 201, run.get_json()
    assert run.get_json()["layers"][0]["kernel_shape"] == [3, 3, 3, 4]
    wrong = client.post("/api/runs", json={**config, "layers": config["layers"][:2]})
    assert wrong.status_code == 422
    filtered = client.get(f"/api/runs?dataset={body['id']}").get_json()["runs"]
    assert [r["id"] for r in filtered] == [run.get_json()["id"]]

    busy = client.delete(body["url"])
    assert busy.status_code == 409 and "1 run uses" in documented(busy, "delete_dataset")["error"]
    assert client.delete(f"/api/runs/{run.get_json()['id']}").status_code == 204
    gone = client.delete(body["url"])
    assert documented(gone, "delete_dataset") == {"deleted": body["id"]}
    assert documented(client.get(body["url"]), "get_dataset")["error"].startswith("no dataset")
    assert nothing_left(api_store)


def climbing_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("train/a/../../../evil.png", png())
    return buffer.getvalue()


def test_a_bad_archive_fails_the_import_and_leaves_nothing(client, api_store):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("train/a/0.png", png())
        archive.writestr("train/a/run-me.exe", b"MZ\x90\x00")
        archive.writestr("test/a/0.png", png())
    body = post(client, buffer.getvalue(), name="evil").get_json()
    assert import_job(api_store, body["job_id"]) == "failed"
    shown = client.get(body["url"]).get_json()
    assert shown["status"] == "failed" and "is not a picture" in shown["error"]
    assert not (api_store.settings.data_dir / "datasets" / body["id"]).exists()
    assert client.delete(body["url"]).status_code == 200
    assert nothing_left(api_store)


def test_bad_labels_in_an_npz_fail_with_a_sentence(client, api_store):
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 255, (20, 10, 10), dtype=np.uint8),
        "y_train": np.arange(20) % 2,
        "x_test": rng.integers(0, 255, (6, 10, 10), dtype=np.uint8),
        "y_test": np.array([0, 1, 2, 0, 1, 0]),
    }
    body = post(client, npz_bytes(**arrays), filename="digits.npz", name="d").get_json()
    assert body["source"] == "npz"
    assert import_job(api_store, body["job_id"]) == "failed"
    assert "the training set lacks" in client.get(body["url"]).get_json()["error"]


@pytest.mark.parametrize(
    ("data", "filename", "fields", "status", "says"),
    [
        (b"", "x.zip", {}, 422, "give the dataset a name"),
        (b"PK\x03\x04 truncated", "x.zip", {"name": "t"}, 422, "truncated"),
        (b"plain text", "x.txt", {"name": "t"}, 422, ".npz file or a .zip"),
        (b"GIF89a", "x.npz", {"name": "t"}, 422, "not a readable"),
        (None, "x.zip", {"name": "t"}, 422, "exactly one file"),
        (b"PK", "x.zip", {"name": "t", "colour": "red"}, 422, "not a known field"),
        (b"PK", "x.zip", {"name": "t", "test_fraction": "2"}, 422, "0.05 to 0.5"),
        (b"PK", "x.zip", {"name": "a\nb"}, 422, "control characters"),
        (climbing_zip(), "x.zip", {"name": "t"}, 422, "climbs out of the archive"),
    ],
)
def test_refused_uploads_say_why_and_leave_nothing(
    client, api_store, data, filename, fields, status, says
):
    response = post(client, data, filename=filename, **fields)
    assert response.status_code == status
    body = documented(response, "create_dataset")
    text = body.get("error") or " ".join(e["message"] for e in body["errors"])
    assert says in text
    assert nothing_left(api_store)


def test_not_multipart_too_large_builtin_and_unknown(client, api_store):
    assert client.post("/api/datasets", json={"name": "x"}).status_code == 415
    api_store.settings.dataset_max_bytes = 2000
    api_store.settings.max_request_bytes = 1000
    response = post(client, b"PK" + b"\0" * 5000, name="big")
    assert response.status_code == 413
    assert nothing_left(api_store)
    builtin = client.delete("/api/datasets/mnist-sample")
    assert builtin.status_code == 409 and "built in" in builtin.get_json()["error"]
    assert client.get("/api/datasets/" + "0" * 32).status_code == 404
    assert client.delete("/api/datasets/" + "0" * 32).status_code == 404
    assert client.get("/api/datasets/..%2Fetc").status_code == 404
