"""The run page's rename / tags / notes editor and Retry button, and tags on the runs page.

Pages are built and callbacks called directly, on a temporary store (no browser, no broker).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from dash import no_update

from dashboard import state
from dashboard.run import manage
from shared.config import parse_config
from shared.queue import producer
from shared.settings import Settings, get_settings
from shared.store import CANCELLED, FAILED, QUEUED, RunStore
from tests.test_dashboard import find, page

NO_BROKER = "redis://127.0.0.1:1/0"  # nothing listens there: a retry stays queued, fast
HOSTILE = '<img src=x onerror="alert(1)">'


@pytest.fixture(scope="module")
def dash_app(tmp_path_factory):
    from dashboard.app import create_app

    settings = Settings(
        _env_file=None, CNNLENS_DATA_DIR=tmp_path_factory.mktemp("app"), REDIS_URL=NO_BROKER
    )
    app = create_app(RunStore(settings).init())
    yield app
    state.set_store(None)


@pytest.fixture
def store(tmp_path, dash_app, monkeypatch):
    monkeypatch.setenv("REDIS_URL", NO_BROKER)
    monkeypatch.delenv("CNNLENS_BROKER_URL", raising=False)
    get_settings.cache_clear()
    producer.cache_clear()
    s = RunStore(Settings(_env_file=None, CNNLENS_DATA_DIR=tmp_path, REDIS_URL=NO_BROKER)).init()
    state.set_store(s)
    yield s
    s.engine.dispose()
    get_settings.cache_clear()
    producer.cache_clear()


def strings(component: Any) -> list[str]:
    """Every text node in a component tree: what the browser shows as text, never as markup."""
    if isinstance(component, str):
        return [component]
    if isinstance(component, list | tuple):
        return [s for c in component for s in strings(c)]
    children = getattr(component, "children", None)
    return strings(children) if children is not None else []


def new_run(store: RunStore, **config: Any) -> str:
    return store.create_run(*parse_config({"epochs": 2, **config}))["id"]


def test_run_page_shows_name_tags_and_notes_as_text(store):
    run_id = new_run(store, name=HOSTILE)
    store.update_fields(run_id, tags=json.dumps(["baseline", "lr:0.01"]), notes=f"a\n{HOSTILE}")
    out = page("run").layout(run_id=run_id)
    assert find(out, "run-title").children == HOSTILE  # a text node: Dash escapes it
    assert [b.children for b in find(out, "run-tags").children] == ["baseline", "lr:0.01"]
    assert find(out, "run-notes").children.children == f"a\n{HOSTILE}"
    assert find(out, "run-edit").is_open is False
    assert find(out, "run-edit-name").value == HOSTILE
    assert find(out, "run-edit-tags").value == "baseline, lr:0.01"
    assert "d-none" in find(out, "run-retry").class_name  # queued: nothing to retry


def test_editor_saves_and_refuses_with_the_reason(store):
    run_id = new_run(store, name="old")
    title, tags, notes, message = manage.save(store, run_id, " new ", "a, b  c,a", "line 1\n2")
    assert title == "new" and [t.children for t in tags] == ["a", "b", "c"]
    assert notes.children == "line 1\n2" and message.children == "Saved."
    saved = store.get_run(run_id)
    assert (saved["name"], saved["tags"], saved["notes"]) == ("new", ["a", "b", "c"], "line 1\n2")

    *kept, message = manage.save(store, run_id, "", "<b>", "")
    assert kept == [no_update] * 3
    said = message.children.lower()  # field labels may be capitalized or translated
    assert "name: must not be empty" in said and "tags: tag '<b>'" in said
    assert store.get_run(run_id)["name"] == "new"
    *_, gone = manage.save(store, "f" * 32, "x", "", "")
    assert "deleted" in gone.children


@pytest.mark.parametrize("status", [FAILED, CANCELLED])
def test_retry_button_starts_a_new_run_and_goes_there(store, status):
    run_id = new_run(store, name="flaky")
    store.update_fields(run_id, status=status)
    out = page("run").layout(run_id=run_id)
    assert find(out, "run-retry").class_name == ""
    href, flash = manage.retry(store, run_id)
    new = store.list_runs()[0]
    assert href == f"/run/{new['id']}" and new["parent_id"] == run_id
    assert new["status"] == QUEUED and new["name"] == "flaky"
    assert "Started again" in flash["message"] and "not reachable" in flash["message"]


def test_retry_of_a_queued_run_says_why_not(store):
    run_id = new_run(store)
    href, flash = manage.retry(store, run_id)
    assert href is no_update and "only a failed, cancelled or interrupted run" in flash["message"]
    assert len(store.list_runs()) == 1
    assert manage.retry_class(None) == "d-none" and manage.retry_class(FAILED) == ""


def test_runs_page_shows_tags(store):
    run_id = new_run(store, name="tagged")
    _, sig_before, *_ = page("runs").refresh(1, "", "", "", None)
    store.update_fields(run_id, tags=json.dumps(["baseline", "x:1"]))
    table, sig, *_ = page("runs").refresh(2, "", "", "", sig_before)
    assert sig != sig_before  # a tag change redraws the table
    assert "baseline" in strings(table) and "x:1" in strings(table)


def test_run_page_callbacks_are_registered_once(dash_app, store):
    deps = dash_app.server.test_client().get("/_dash-dependencies").get_json()
    outputs = json.dumps([d["output"] for d in deps])
    moved = ("run-cancel.children", "run-filters.figure", "run-act-detail.figure")  # not in run.py
    for cid in ("run-edit.is_open", "run-title.children", "run-retry.className", *moved):
        assert outputs.count(cid) == 1, cid
