"""The JSON API on a Flask app built here, over a temporary store and a spare Redis database."""

from __future__ import annotations

import json
import re

import pytest

from dashboard.api.models import NotAllowed
from dashboard.service import run_actions
from shared.queue import BrokerUnavailable, broker_reachable
from shared.settings import Settings
from shared.store import RunStore
from tests.api.support import TEST_REDIS, documented

HEX = re.compile(r"^[0-9a-f]{32}$")


def create(client, body=None, **kwargs):
    response = client.post("/api/runs", json={} if body is None else body, **kwargs)
    assert response.status_code == 201, response.get_json()
    return documented(response, "create_run")


def error_fields(response, endpoint="create_run"):
    assert response.status_code == 422, response.get_json()
    documented(response, endpoint)
    return {e["field"] for e in response.get_json()["errors"]}


def assert_sentence(response, status):
    assert response.status_code == status
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert isinstance(body["error"], str) and len(body["error"]) > 10
    return body["error"]


# --- health ------------------------------------------------------------------------------------
def test_health_reports_broker_and_store(client, api_store):
    response = client.get("/api/health")
    body = documented(response, "health")
    assert body["store"] is True and isinstance(body["version"], str)
    if broker_reachable(api_store.settings):
        assert response.status_code == 200 and body == body | {"status": "ok", "broker": True}
    else:
        assert response.status_code == 503 and body["status"] == "degraded"


def test_health_is_degraded_without_broker(tmp_path):
    from flask import Flask

    from dashboard.api.routes import register_api

    settings = Settings(
        _env_file=None, CNNLENS_DATA_DIR=tmp_path, REDIS_URL="redis://127.0.0.1:1/0"
    )
    server = Flask(__name__)
    register_api(server, RunStore(settings).init())
    response = server.test_client().get("/api/health")
    assert response.status_code == 503
    documented(response, "health")
    assert response.get_json() | {"version": ""} == {
        "status": "degraded",
        "broker": False,
        "store": True,
        "version": "",
    }


# --- creating runs -----------------------------------------------------------------------------
def test_create_with_defaults(client):
    response = client.post("/api/runs", json={})
    run = response.get_json()
    assert response.status_code == 201
    documented(response, "create_run")
    assert HEX.match(run["id"]) and run["status"] == "queued"
    assert response.headers["Location"].endswith(f"/api/runs/{run['id']}")
    assert run["config"]["epochs"] == 3 and run["config"]["dataset"] == "mnist-sample"
    assert [layer["name"] for layer in run["layers"]] == [
        "conv2d_1",
        "maxpool2d_1",
        "conv2d_2",
        "flatten_1",
        "dense_1",
    ]
    assert run["layers"][0]["output_shape"] == [26, 26, 16]
    assert {"name": "config.json"}.items() <= run["artifacts"][0].items()


def test_empty_body_means_defaults(client):
    response = client.post("/api/runs")
    assert response.status_code == 201
    assert response.get_json()["config"]["epochs"] == 3


def test_epochs_changes_only_epochs(client):
    default = create(client)["config"]
    one = create(client, {"epochs": 1})["config"]
    assert one["epochs"] == 1
    assert {k: v for k, v in one.items() if k not in ("epochs", "name")} == {
        k: v for k, v in default.items() if k not in ("epochs", "name")
    }


def test_create_sends_one_training_task(client, api_store):
    import redis

    if not broker_reachable(api_store.settings):
        pytest.skip("no Redis on 127.0.0.1:6379")
    run = create(client)
    assert "warning" not in run
    queued = redis.Redis.from_url(TEST_REDIS).lrange("training", 0, -1)
    assert len(queued) == 1 and run["id"] in queued[0].decode()


@pytest.mark.parametrize(
    "body, field",
    [
        ({"epochs": 10**9}, "epochs"),
        ({"epochs": 0}, "epochs"),
        (
            {
                "layers": [
                    {"type": "conv2d", "filters": 10**6},
                    {"type": "flatten"},
                    {"type": "dense"},
                ]
            },
            "layers.0.filters",
        ),
        ({"layers": [{"type": "lstm"}]}, "layers.0"),
        ({"layers": [{"filters": 8}]}, "layers.0"),
        (
            {
                "layers": [
                    {"type": "conv2d", "kernel_size": 11},
                    {"type": "maxpool2d", "pool_size": 8},
                    {"type": "conv2d", "kernel_size": 5},
                    {"type": "flatten"},
                    {"type": "dense"},
                ]
            },
            "layers.2.kernel_size",
        ),
        (
            {
                "layers": [
                    {"type": "conv2d"},
                    {"type": "flatten"},
                    {"type": "dense", "units": 10, "activation": "relu"},
                ]
            },
            "layers.2",
        ),
        ({"layers": [{"type": "flatten"}, {"type": "dense"}]}, "layers"),
        ({"dataset": "imagenet"}, "dataset"),
        ({"epochs": "three"}, "epochs"),
        ({"epochs": "3"}, "epochs"),
        ({"epochs": True}, "epochs"),
        ({"learning_rate": "0.1"}, "learning_rate"),
        ({"name": 5}, "name"),
        ({"layers": "conv"}, "layers"),
        ({"colour": "red"}, "colour"),
        ({"name": "tab\there"}, "name"),
        ({"name": "nul\u0000"}, "name"),
        (
            {
                "layers": [
                    {"type": "conv2d", "filters": 8, "color": 1},
                    {"type": "flatten"},
                    {"type": "dense"},
                ]
            },
            "layers.0.color",
        ),
    ],
)
def test_invalid_configs_are_422_with_field_names(client, api_store, body, field):
    before = api_store.list_runs()
    response = client.post("/api/runs", json=body)
    assert field in error_fields(response)
    assert all(e["message"] for e in response.get_json()["errors"])
    assert api_store.list_runs() == before  # nothing recorded, nothing queued


def test_type_errors_and_range_errors_are_reported_together(client):
    response = client.post("/api/runs", json={"epochs": "3", "batch_size": 0})
    assert error_fields(response) == {"epochs", "batch_size"}


@pytest.mark.parametrize("body", [[], [1, 2], "config", 3, None])
def test_a_body_that_is_not_an_object_is_422(client, body):
    response = client.post("/api/runs", data=json.dumps(body), content_type="application/json")
    assert error_fields(response) == {"config"}


@pytest.mark.parametrize(
    "data, content_type",
    [
        ("{bad json", "application/json"),
        ('{"epochs": NaN}', "application/json"),
        (b"\xff\xfe{}", "application/json"),
        ('{"epochs": 1}', "text/plain"),
        ("epochs=1", "application/x-www-form-urlencoded"),
        ('{"name": "\\ud800"}', "application/json"),
        ("[" * 100_000 + "]" * 100_000, "application/json"),
    ],
)
def test_malformed_bodies_are_400(client, api_store, data, content_type):
    response = client.post("/api/runs", data=data, content_type=content_type)
    assert_sentence(response, 400)
    assert api_store.list_runs() == []


def test_too_large_body_is_413_json(client, api_store):
    api_store.settings.max_request_bytes = 1000
    response = client.post("/api/runs", json={"name": "x" * 5000})
    assert "too large" in assert_sentence(response, 413)


def test_broker_down_still_creates_the_run_with_a_warning(client, monkeypatch):
    def refuse(*args):
        raise BrokerUnavailable("the task queue is not reachable (test)")

    monkeypatch.setattr(run_actions, "send", refuse)
    response = client.post("/api/runs", json={"epochs": 1})
    assert response.status_code == 201
    run = documented(response, "create_run")
    assert run["status"] == "queued" and "not reachable" in run["warning"]
    assert client.get(f"/api/runs/{run['id']}").status_code == 200


def test_html_in_a_name_is_returned_verbatim_as_json(client):
    name = "<script>alert('x')</script> & <b>"
    run = create(client, {"name": name})
    response = client.get(f"/api/runs/{run['id']}")
    assert response.mimetype == "application/json"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.get_json()["name"] == name


# --- listing and showing -----------------------------------------------------------------------
def test_list_newest_first_with_filters(client):
    a = create(client, {"name": "Alpha one", "epochs": 1})
    b = create(client, {"name": "beta"})
    client.post(f"/api/runs/{a['id']}/cancel")
    runs = documented(client.get("/api/runs"), "list_runs")["runs"]
    assert [r["id"] for r in runs] == [b["id"], a["id"]]
    assert [r["id"] for r in client.get("/api/runs?name=ALPHA").get_json()["runs"]] == [a["id"]]
    assert [r["id"] for r in client.get("/api/runs?status=cancelled").get_json()["runs"]] == [
        a["id"]
    ]
    assert client.get("/api/runs?dataset=fashion_mnist").get_json() == {"runs": []}
    assert len(client.get("/api/runs?limit=1").get_json()["runs"]) == 1
    assert client.get("/api/runs?name=%25").get_json() == {"runs": []}  # % is literal text


@pytest.mark.parametrize(
    "query, field",
    [
        ("status=finished", "status"),
        ("status=", "status"),
        ("dataset=cifar", "dataset"),
        ("limit=0", "limit"),
        ("limit=abc", "limit"),
        ("limit=100000", "limit"),
        ("limit=+5", "limit"),
        ("name=" + "x" * 200, "name"),
        ("name=a%00b", "name"),
    ],
)
def test_list_rejects_bad_filters(client, query, field):
    response = client.get(f"/api/runs?{query}")
    assert error_fields(response, "list_runs") == {field}


def test_get_run_has_progress_history_test_layers_artifacts(client):
    run = documented(client.get(f"/api/runs/{create(client)['id']}"), "get_run")
    assert set(run["progress"]) >= {"epoch", "epochs", "step", "steps", "fraction"}
    assert run["history"] == {"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": []}
    assert run["test"] == {"loss": None, "accuracy": None} and run["error"] is None
    assert run["layers"][2]["kernel_shape"] == [3, 3, 16, 32]
    assert [a["name"] for a in run["artifacts"]] == ["config.json"]


@pytest.mark.parametrize("run_id", ["0" * 32, "nope", "A" * 32, "../../etc/passwd", "x" * 5000])
def test_unknown_run_ids_are_404(client, run_id):
    for method, suffix, endpoint in (
        ("get", "", "get_run"),
        ("delete", "", "delete_run"),
        ("post", "/cancel", "cancel_run"),
        ("get", "/filters", "list_filters"),
        ("get", "/filters/conv2d_1", "get_filter"),
        ("get", "/activations/probe/0", "get_probe"),
        ("get", "/artifacts/config.json", "download_artifact"),
    ):
        response = getattr(client, method)(f"/api/runs/{run_id}{suffix}")
        assert response.status_code == 404, (method, suffix)
        documented(response, endpoint)
        if "/" not in run_id:
            assert "no run with id" in response.get_json()["error"]
    response = client.post(f"/api/runs/{'0' * 32}/activations", json={"test_index": 0})
    assert_sentence(response, 404)


def test_unknown_paths_and_methods_are_json(client):
    assert "no API endpoint" in assert_sentence(client.get("/api/nothing/here"), 404)
    assert_sentence(client.post("/api/"), 404)
    response = client.put("/api/runs")
    assert_sentence(response, 405)
    NotAllowed.model_validate(response.get_json(), strict=True)
    assert response.get_json()["allowed"] == ["GET", "POST"]
    assert "POST" in response.headers["Allow"]
    allow = client.put(f"/api/runs/{'0' * 32}").headers["Allow"]
    assert allow.startswith("GET, PATCH, DELETE")


def test_unexpected_errors_are_json_500(client, monkeypatch, caplog):
    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(RunStore, "list_runs", explode)
    response = client.get("/api/runs")
    assert response.status_code == 500
    documented(response, "list_runs")
    assert response.get_json() == {"error": "internal error, see server log"}
    assert "boom" in caplog.text


# --- cancel and delete -------------------------------------------------------------------------
def test_cancel_queued_then_again(client):
    run = create(client)
    first = client.post(f"/api/runs/{run['id']}/cancel")
    assert first.status_code == 202
    documented(first, "cancel_run")
    assert first.get_json() == {"id": run["id"], "status": "cancelled", "cancel_requested": True}
    again = client.post(f"/api/runs/{run['id']}/cancel")
    assert again.status_code == 202 and again.get_json()["status"] == "cancelled"
    assert client.get(f"/api/runs/{run['id']}").get_json()["status"] == "cancelled"


def test_cancel_running_asks_it_to_stop(client, api_store):
    run = create(client)
    assert api_store.claim(run["id"], "worker-1", 60)
    response = client.post(f"/api/runs/{run['id']}/cancel")
    assert response.status_code == 202 and response.get_json()["status"] == "running"
    assert api_store.cancel_requested(run["id"])


def test_cancel_finished_run_is_409(client, api_store):
    run = create(client)
    api_store.finish(run["id"], "succeeded")
    response = client.post(f"/api/runs/{run['id']}/cancel")
    assert "already finished" in assert_sentence(response, 409)
    documented(response, "cancel_run")


def test_delete_then_404(client, api_store):
    run = create(client)
    response = client.delete(f"/api/runs/{run['id']}")
    assert response.status_code == 204 and response.data == b""
    documented(response, "delete_run")
    assert client.get(f"/api/runs/{run['id']}").status_code == 404
    assert client.delete(f"/api/runs/{run['id']}").status_code == 404
    assert not api_store.run_dir(run["id"]).exists()


def test_delete_running_run_asks_it_to_stop_first(client, api_store, monkeypatch):
    run = create(client)
    api_store.claim(run["id"], "worker-1", 60)
    asked = []
    monkeypatch.setattr(RunStore, "request_cancel", lambda self, rid: asked.append(rid))
    assert client.delete(f"/api/runs/{run['id']}").status_code == 204
    assert asked == [run["id"]]


def test_routing_errors_under_api_are_json_but_other_paths_keep_their_handler(app, client):
    # A newline in a path segment, and a method no rule knows, never reach a view.
    response = client.get(f"/api/runs/{'0' * 32}/artifacts/a%0Ab")
    assert_sentence(response, 404)
    assert_sentence(client.open("/api/runs", method="PROPFIND"), 405)
    assert client.get("/elsewhere").mimetype == "text/html"
