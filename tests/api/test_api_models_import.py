"""POST /api/models through the Flask test client (no TensorFlow here: the archives are written
with zipfile and json as Keras 3 writes them; the weights entry is never opened by the dashboard).

An accepted file is a 202 with a queued run of origin `imported`, the file kept in its folder for
the worker. Every refused one gets a sentence naming what was refused and leaves nothing behind:
no run, no folder, no task.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pytest

from shared.artifacts import IMPORT_ARCHIVE
from tests.api.support import documented

XRW = {"X-Requested-With": "test"}


def layer(kind: str, name: str, **config: Any) -> dict[str, Any]:
    return {
        "module": "keras.layers",
        "class_name": kind,
        "config": {"name": name, "trainable": True, "dtype": "float32", **config},
        "registered_name": None,
    }


def notebook_config(*middle: dict[str, Any]) -> dict[str, Any]:
    """config.json of the notebook's Sequential model, as Keras 3.15 writes it (abridged)."""
    layers = [
        {
            "module": "keras.layers",
            "class_name": "InputLayer",
            "config": {"batch_shape": [None, 28, 28, 1], "dtype": "float32", "name": "input"},
            "registered_name": None,
        },
        layer("Conv2D", "conv2d", filters=16, kernel_size=[3, 3], strides=[1, 1], padding="valid",
              data_format="channels_last", dilation_rate=[1, 1], groups=1, activation="relu",
              use_bias=True, kernel_initializer={"module": "keras.initializers",
              "class_name": "GlorotUniform", "config": {}, "registered_name": None}),
        *middle,
        layer("MaxPooling2D", "max_pooling2d", pool_size=[2, 2], strides=[2, 2], padding="valid",
              data_format="channels_last"),
        layer("Conv2D", "conv2d_1", filters=32, kernel_size=[3, 3], activation="relu"),
        layer("Flatten", "flatten", data_format="channels_last"),
        layer("Dense", "dense", units=10, activation="softmax", use_bias=True),
    ]  # fmt: skip
    return {
        "module": "keras",
        "class_name": "Sequential",
        "config": {"name": "sequential", "layers": layers},
        "registered_name": None,
    }


def archive(config: Any = None, weights: bytes = b"\x89HDF\r\n\x1a\n" + b"\0" * 4000, **extra):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
        body = config if isinstance(config, bytes) else json.dumps(config or notebook_config())
        zf.writestr("config.json", body)
        zf.writestr("model.weights.h5", weights)
        for name, data in extra.items():
            zf.writestr(name, data)
    return out.getvalue()


def post(client, data: bytes | None, filename: str = "model.keras", **form: Any):
    fields: dict[str, Any] = {"dataset": "mnist-sample", **form}
    if data is not None:
        fields["model"] = (io.BytesIO(data), filename)
    return client.post("/api/models", data=fields, content_type="multipart/form-data", headers=XRW)


def test_an_accepted_model_is_a_queued_imported_run(client, api_store):
    response = post(client, archive(), name="from my notebook")
    assert response.status_code == 202, response.get_json()
    body = documented(response, "import_model")
    assert body["origin"] == "imported" and body["status"] == "queued"
    assert body["name"] == "from my notebook"
    assert body["architecture"] == "C16k3 → MP2 → C32k3 → F → D10"
    assert [info["name"] for info in body["layers"]] == [
        "conv2d_1",
        "maxpool2d_1",
        "conv2d_2",
        "flatten_1",
        "dense_1",
    ]
    assert response.headers["Location"].endswith(f"/api/runs/{body['id']}")
    assert api_store.files.exists(body["id"], IMPORT_ARCHIVE)
    listed = client.get(f"/api/runs/{body['id']}").get_json()
    assert listed["origin"] == "imported"
    assert "upload/model.keras" not in json.dumps(listed["artifacts"])


def test_the_models_own_name_is_the_default(client):
    body = post(client, archive()).get_json()
    assert body["name"] == "sequential (imported)"


LAMBDA = layer("Lambda", "evil", function={"class_name": "__lambda__", "config": {"code": "4wEA"}})
CUSTOM = {
    "module": "evil_package",
    "class_name": "Doubler",
    "config": {"name": "doubler"},
    "registered_name": "evil>Doubler",
}
DILATED = layer("Conv2D", "conv_d", filters=4, kernel_size=[3, 3], dilation_rate=[2, 2])
CASES = [
    # (what, body, status, field, says)
    ("not multipart", "json", 400, None, "multipart/form-data"),
    ("no file", None, 422, "model", "exactly one .keras file"),
    ("not .keras", ("model.h5", archive()), 422, "model", "is not a .keras file"),
    ("an .h5 renamed", b"\x89HDF\r\n\x1a\n" + b"\0" * 100, 422, "model", "is an HDF5 file"),
    ("a pickle renamed", b"\x80\x04\x95\x05\x00.", 422, "model", "looks like a Python pickle"),
    ("text", b"hello", 422, "model", "is not a .keras archive"),
    ("truncated", archive()[:200], 422, "model", "cannot be read as one"),
    ("a Lambda", archive(notebook_config(LAMBDA)), 422, "model", "layer 'evil' (Lambda) is a Lambda"),
    ("a custom layer", archive(notebook_config(CUSTOM)), 422, "model", "is a custom object"),
    ("an option", archive(notebook_config(DILATED)), 422, "model", "layer 'conv_d' (Conv2D) is dilated"),
    ("a zip bomb", archive(b" " * 50_000_000), 413, None, "config.json in the archive is larger"),
    ("deep JSON", archive(b"[" * 100_000 + b"]" * 100_000), 422, "model", "nested too deeply"),
    ("fat weights", archive(weights=b"\0" * 7_000_000), 413, None, "holds more than its layers"),
    ("an extra entry", archive(**{"../evil.sh": b"x"}), 422, "model", "'../evil.sh'"),
    ("unknown dataset", {"dataset": "imagenet"}, 422, "dataset", "must be one of"),
    ("no dataset", {"dataset": ""}, 422, "dataset", "pick the dataset"),
    ("control characters", {"name": "a\nb"}, 422, "name", "control characters"),
    ("unknown field", {"epochs": "3"}, 422, "epochs", "is not a field"),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_refused_files_get_a_sentence_and_leave_nothing(client, api_store, case):
    _what, body, status, field, says = case
    if body == "json":
        response = client.post("/api/models", json={"dataset": "mnist-sample"}, headers=XRW)
    elif body is None:
        response = post(client, None)
    elif isinstance(body, tuple):
        response = post(client, body[1], filename=body[0])
    elif isinstance(body, dict):
        response = post(client, archive(), **body)
    else:
        response = post(client, body)
    assert response.status_code == status, response.get_json()
    answer = documented(response, "import_model")
    if status == 422:
        messages = {e["field"]: e["message"] for e in answer["errors"]}
        assert says in messages[field], messages
    else:
        assert says in answer["error"], answer
    assert api_store.list_runs() == []
    runs_dir = api_store.settings.runs_dir
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


def test_a_failed_import_is_not_retried_as_a_training(client, api_store):
    run_id = post(client, archive()).get_json()["id"]
    api_store.finish(run_id, "failed", error="the weights do not fit the architecture")
    response = client.post(f"/api/runs/{run_id}/retry", headers=XRW)
    assert response.status_code == 409
    assert "import the file again" in response.get_json()["error"]
    assert [r["id"] for r in api_store.list_runs()] == [run_id]
