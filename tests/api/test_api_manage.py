"""Run management through the API: retry, rename, tags and notes."""

from __future__ import annotations

import pytest

from dashboard.service import run_actions
from shared.store import CANCELLED, FAILED, INTERRUPTED, QUEUED, RUNNING, SUCCEEDED
from tests.api.support import documented


def create(client, **config):
    response = client.post("/api/runs", json={"epochs": 2, "name": "first", **config})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


@pytest.mark.parametrize("status", [FAILED, CANCELLED, INTERRUPTED])
def test_retry_makes_a_new_run_with_the_same_config(client, api_store, status):
    run = create(client, seed=7)
    api_store.update_fields(run["id"], status=status, error="it broke")
    api_store.update_fields(run["id"], name="renamed since")
    response = client.post(f"/api/runs/{run['id']}/retry")
    assert response.status_code == 201, response.get_json()
    new = documented(response, "retry_run")
    assert new["id"] != run["id"] and new["status"] == QUEUED
    assert new["parent_id"] == run["id"]
    assert response.headers["Location"].endswith(f"/api/runs/{new['id']}")
    assert new["config"] == run["config"] | {"name": "renamed since"}
    assert new["name"] == "renamed since" and new["error"] is None
    # The original stays for the record; an interrupted one no longer resumes by itself.
    old = api_store.get_run(run["id"])
    assert old["status"] == (CANCELLED if status == INTERRUPTED else status)


@pytest.mark.parametrize("status", [QUEUED, RUNNING, SUCCEEDED])
def test_retry_of_a_run_that_did_not_fail_is_409(client, api_store, status):
    run = create(client)
    api_store.update_fields(run["id"], status=status)
    before = len(api_store.list_runs())
    response = client.post(f"/api/runs/{run['id']}/retry")
    assert response.status_code == 409
    documented(response, "retry_run")
    assert (
        f"is {status}; only a failed, cancelled or interrupted run" in response.get_json()["error"]
    )
    assert len(api_store.list_runs()) == before


def test_retry_of_an_unknown_run_is_404(client):
    assert client.post(f"/api/runs/{'a' * 32}/retry").status_code == 404
    assert client.post("/api/runs/..%2F..%2Fetc/retry").status_code == 404


def test_retry_when_the_dataset_is_gone_is_422(client, api_store, monkeypatch):

    run = create(client)
    api_store.update_fields(run["id"], status=FAILED)
    monkeypatch.setattr(run_actions, "unavailable_reason", lambda name: f"{name} is not here")
    response = client.post(f"/api/runs/{run['id']}/retry")
    assert response.status_code == 422
    documented(response, "retry_run")
    assert response.get_json()["errors"] == [
        {"field": "dataset", "message": "mnist-sample is not here"}
    ]


def test_rename_tag_and_annotate(client):
    run = create(client)
    url = f"/api/runs/{run['id']}"
    response = client.patch(url, json={"name": "  wide filters  ", "tags": ["baseline", "lr:0.01"]})
    assert response.status_code == 200, response.get_json()
    body = documented(response, "update_run")
    assert body["name"] == "wide filters" and body["tags"] == ["baseline", "lr:0.01"]
    assert body["notes"] == "" and "layers" in body  # the full run, as GET answers it
    notes = "Tried 5×5 kernels.\n\tAccuracy went up <b>a bit</b>."
    body = client.patch(url, json={"notes": notes, "tags": ["b", "b", "a"]}).get_json()
    assert body["notes"] == notes and body["tags"] == ["b", "a"]
    assert body["name"] == "wide filters"  # untouched
    assert client.get(url).get_json()["tags"] == ["b", "a"]
    assert client.patch(url, json={"tags": []}).get_json()["tags"] == []
    assert client.patch(url, json={}).status_code == 200  # nothing to change is fine


def test_rename_a_running_run(client, api_store):
    run = create(client)
    assert api_store.claim(run["id"], "w/1/t", 60)
    response = client.patch(f"/api/runs/{run['id']}", json={"name": "still going"})
    assert response.status_code == 200 and response.get_json()["status"] == RUNNING


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"name": ""}, "name", "must not be empty"),
        ({"name": "   "}, "name", "must not be empty"),
        ({"name": "x" * 121}, "name", "at most 120 characters"),
        ({"name": "a\nb"}, "name", "control characters"),
        ({"name": 5}, "name", "must be text"),
        ({"tags": "baseline"}, "tags", "list of texts"),
        ({"tags": [1, 2]}, "tags", "list of texts"),
        ({"tags": ["has space"]}, "tags", "'has space' is not valid"),
        ({"tags": ["<script>"]}, "tags", "is not valid"),
        ({"tags": ["x" * 33]}, "tags", "is not valid"),
        ({"tags": [f"t{i}" for i in range(21)]}, "tags", "at most 20 tags"),
        ({"notes": "x" * 5001}, "notes", "at most 5000 characters"),
        ({"notes": "a\x00b"}, "notes", "control characters other than newlines"),
        ({"notes": ["a"]}, "notes", "must be text"),
        ({"status": "succeeded"}, "status", "only name, tags and notes can be changed"),
        ([], "body", "JSON object"),
        ("rename", "body", "JSON object"),
    ],
)
def test_bad_annotations_are_422_and_change_nothing(client, body, field, message):
    run = create(client)
    response = client.patch(f"/api/runs/{run['id']}", json=body)
    assert response.status_code == 422, response.get_json()
    errors = documented(response, "update_run")["errors"]
    assert [e["field"] for e in errors] == [field]
    assert message in errors[0]["message"]
    after = client.get(f"/api/runs/{run['id']}").get_json()
    assert (after["name"], after["tags"], after["notes"], after["status"]) == (
        "first",
        [],
        "",
        QUEUED,
    )


def test_patch_without_a_body_or_an_unknown_run(client):
    run = create(client)
    response = client.patch(f"/api/runs/{run['id']}")
    assert response.status_code == 422 and response.get_json()["errors"][0]["field"] == "body"
    assert client.patch(f"/api/runs/{'b' * 32}", json={"name": "x"}).status_code == 404
    bad = client.patch(f"/api/runs/{run['id']}", data="{", content_type="application/json")
    assert bad.status_code == 400 and "not valid JSON" in bad.get_json()["error"]
    documented(bad, "update_run")
