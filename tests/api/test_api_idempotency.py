"""POST /api/runs (and /retry) with an Idempotency-Key: a repeated request makes one run."""

from __future__ import annotations

import threading

import pytest

from shared.store import FAILED
from tests.api.support import documented

KEY = "Idempotency-Key"


def post(client, body, key=None):
    headers = {KEY: key} if key is not None else {}
    return client.post("/api/runs", json=body, headers=headers)


def test_same_key_twice_answers_the_first_run_and_queues_nothing_new(client, api_store):
    first = post(client, {"epochs": 1, "name": "once"}, "3f1c-retry-me")
    assert first.status_code == 201, first.get_json()
    assert documented(first, "create_run")["replayed"] is False
    assert "Idempotent-Replayed" not in first.headers
    again = post(client, {"epochs": 1, "name": "once"}, "3f1c-retry-me")
    assert again.status_code == 200, again.get_json()
    body = documented(again, "create_run")
    assert body["id"] == first.get_json()["id"] and body["replayed"] is True
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Location"] == first.headers["Location"]
    assert body["layers"] and body["config"] == first.get_json()["config"]
    assert len(api_store.list_runs()) == 1
    # The same config spelled out with its defaults is the same request.
    spelled = dict(first.get_json()["config"])
    assert post(client, spelled, "3f1c-retry-me").status_code == 200


def test_no_key_or_another_key_makes_new_runs(client, api_store):
    ids = {post(client, {"epochs": 1}).get_json()["id"] for _ in range(2)}
    ids |= {post(client, {"epochs": 1}, key).get_json()["id"] for key in ("k-1", "k-2")}
    assert len(ids) == 4 and len(api_store.list_runs()) == 4


def test_same_key_with_another_config_is_refused(client, api_store):
    first = post(client, {"epochs": 1}, "reused").get_json()
    response = post(client, {"epochs": 2}, "reused")
    assert response.status_code == 422
    (error,) = response.get_json()["errors"]
    assert error["field"] == KEY
    assert first["id"] in error["message"] and "different run config" in error["message"]
    assert [r["id"] for r in api_store.list_runs()] == [first["id"]]


def test_an_invalid_config_with_a_key_stores_nothing_and_frees_nothing(client, api_store):
    refused = post(client, {"epochs": -1}, "fix-and-resend")
    assert refused.status_code == 422 and refused.get_json()["errors"][0]["field"] == "epochs"
    assert post(client, {"epochs": 1}, "fix-and-resend").status_code == 201
    assert len(api_store.list_runs()) == 1


@pytest.mark.parametrize(
    ("key", "says"),
    [
        ("", "is empty"),
        ("k" * 201, "201 characters long"),
        ("tab\there", "not allowed"),
        ("caf\u00e9", "not allowed"),
    ],
    ids=["empty", "201 characters", "control character", "not ASCII"],
)
def test_a_malformed_key_is_a_422_on_the_header(client, api_store, key, says):
    response = post(client, {}, key)
    assert response.status_code == 422
    (error,) = response.get_json()["errors"]
    assert error["field"] == KEY and says in error["message"] and "printable" in error["message"]
    assert api_store.list_runs() == []


def test_the_longest_key_and_spaces_inside_are_fine(client, api_store):
    for key in ("k" * 200, "lab run 7 / retry #2"):
        assert post(client, {}, key).status_code == 201
        assert post(client, {}, key).status_code == 200
    assert len(api_store.list_runs()) == 2


def test_eight_concurrent_requests_with_one_key_make_one_run(app, api_store):
    barrier = threading.Barrier(8)
    answers: list[tuple[int, str]] = []

    def send():
        client = app.test_client()
        barrier.wait()
        response = post(client, {"epochs": 1, "name": "raced"}, "one-click-many-requests")
        answers.append((response.status_code, response.get_json()["id"]))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(code for code, _ in answers)
    assert codes == [200] * 7 + [201], answers
    assert len({run_id for _, run_id in answers}) == 1
    assert len(api_store.list_runs()) == 1
    # The losers' config folders were removed: only the winner's is on disk.
    folders = [p.name for p in api_store.settings.runs_dir.iterdir()]
    assert folders == [answers[0][1]]


def test_retry_with_a_key_makes_one_new_run(client, api_store):
    run_id = post(client, {"epochs": 1}).get_json()["id"]
    api_store.finish(run_id, FAILED, error="boom")
    headers = {KEY: "retry-once"}
    first = client.post(f"/api/runs/{run_id}/retry", headers=headers)
    again = client.post(f"/api/runs/{run_id}/retry", headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    documented(first, "retry_run")
    documented(again, "retry_run")
    assert first.get_json()["id"] == again.get_json()["id"] and again.get_json()["replayed"]
    assert len(api_store.list_runs()) == 2
    bad = client.post(f"/api/runs/{run_id}/retry", headers={KEY: "x" * 300})
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["field"] == KEY


def import_model(client, data: bytes, key: str | None, name: str = "mine"):
    import io

    headers = {"X-Requested-With": "test", **({KEY: key} if key is not None else {})}
    form = {"model": (io.BytesIO(data), "model.keras"), "dataset": "mnist-sample", "name": name}
    return client.post(
        "/api/models", data=form, content_type="multipart/form-data", headers=headers
    )


def test_a_model_import_with_the_same_key_twice_is_one_run(client, api_store, monkeypatch):
    """POST /api/models with an Idempotency-Key: the same file, dataset and name again is the
    first run (200, replayed) with nothing stored or sent; another file under the key is a 422."""
    from dashboard.service import model_import
    from shared.artifacts import IMPORT_ARCHIVE
    from tests.api.test_api_models_import import archive

    sent: list[str] = []
    monkeypatch.setattr(model_import, "send", lambda _name, run_id: sent.append(run_id))
    first = import_model(client, archive(), "upload-7f3e")
    assert first.status_code == 202, first.get_json()
    assert documented(first, "import_model")["replayed"] is False
    run_id = first.get_json()["id"]
    assert api_store.files.exists(run_id, IMPORT_ARCHIVE)
    api_store.files.remove(run_id, IMPORT_ARCHIVE)  # as the worker does once it has evaluated it

    again = import_model(client, archive(), "upload-7f3e")
    assert again.status_code == 200, again.get_json()
    body = documented(again, "import_model")
    assert body["id"] == run_id and body["replayed"] is True and body["origin"] == "imported"
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Location"] == first.headers["Location"]
    assert len(api_store.list_runs()) == 1 and sent == [run_id]
    assert not api_store.files.exists(run_id, IMPORT_ARCHIVE)  # nothing stored again

    # Other weights under the same layers are another request; so is another name.
    heavier = archive(weights=b"\x89HDF\r\n\x1a\n" + b"\1" * 4000)
    for data, name in ((heavier, "mine"), (archive(), "other")):
        refused = import_model(client, data, "upload-7f3e", name)
        assert refused.status_code == 422, refused.get_json()
        (error,) = refused.get_json()["errors"]
        assert error["field"] == KEY and run_id in error["message"]
    # Without a key, or with another, the same file is a new run; a malformed key reads nothing.
    assert import_model(client, archive(), None).status_code == 202
    assert import_model(client, archive(), "upload-other").status_code == 202
    bad = import_model(client, archive(), "a\tb")
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["field"] == KEY
    assert len(api_store.list_runs()) == 3 and len(sent) == 3


def test_a_key_of_a_run_submit_is_not_a_model_import(client, api_store, monkeypatch):
    from dashboard.service import model_import
    from tests.api.test_api_models_import import archive

    monkeypatch.setattr(model_import, "send", lambda _name, _run_id: None)
    assert post(client, {"epochs": 1}, "shared-key").status_code == 201
    refused = import_model(client, archive(), "shared-key")
    assert refused.status_code == 422 and refused.get_json()["errors"][0]["field"] == KEY
    assert len(api_store.list_runs()) == 1
