"""The dashboard restarted: nothing is lost, and an open page's polling is answered by the new one.

The store is the only state; a page in a browser keeps polling through dcc.Interval, so a new
process (a new create_app over the same data directory) answers the same callback requests.
"""

from __future__ import annotations

import time

import pytest

from dashboard import state
from shared.queue import producer
from shared.settings import Settings, get_settings
from shared.store import RunStore

NO_BROKER = "redis://127.0.0.1:1/0"


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("REDIS_URL", NO_BROKER)
    monkeypatch.setenv("CNNLENS_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CNNLENS_BROKER_URL", raising=False)
    monkeypatch.delenv("CNNLENS_AUTH_USER", raising=False)
    get_settings.cache_clear()
    producer.cache_clear()
    yield tmp_path
    state.set_store(None)
    get_settings.cache_clear()
    producer.cache_clear()


def start_dashboard(data_dir):
    """What `python -m dashboard` does at start, minus the server loop."""
    from dashboard.app import create_app

    store = RunStore(Settings(_env_file=None, CNNLENS_DATA_DIR=data_dir, REDIS_URL=NO_BROKER))
    app = create_app(store.init())
    return app, store


def poll_runs_table(client) -> str:
    """The request an open runs page sends every 1.5 s (its dcc.Interval), as the browser does."""
    deps = client.get("/_dash-dependencies").get_json()
    dep = next(d for d in deps if "runs-table.children" in d["output"])
    values = {"runs-interval.n_intervals": 7}
    body = {
        "output": dep["output"],
        "outputs": [
            {"id": o.split(".")[0], "property": o.split(".")[1]}
            for o in dep["output"].strip(".").split("...")
        ],
        "inputs": [{**i, "value": values.get(f"{i['id']}.{i['property']}")} for i in dep["inputs"]],
        "state": [{**s, "value": None} for s in dep["state"]],
        "changedPropIds": ["runs-interval.n_intervals"],
    }
    response = client.post("/_dash-update-component", json=body)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return response.get_data(as_text=True)


def test_a_restarted_dashboard_lists_every_run_and_answers_open_pages(data_dir):
    app, store = start_dashboard(data_dir)
    client = app.server.test_client()
    made = [
        client.post("/api/runs", json={"name": f"before restart {i}", "epochs": 1}).get_json()
        for i in range(3)
    ]
    client.patch(f"/api/runs/{made[0]['id']}", json={"tags": ["kept"], "notes": "still here"})
    store.engine.dispose()  # the old process is gone

    app, _ = start_dashboard(data_dir)
    client = app.server.test_client()
    listed = client.get("/api/runs").get_json()["runs"]
    assert {r["id"] for r in listed} == {r["id"] for r in made}
    first = client.get(f"/api/runs/{made[0]['id']}").get_json()
    assert first["tags"] == ["kept"] and first["notes"] == "still here"
    for path in ("/", f"/run/{made[1]['id']}", "/_dash-layout"):
        assert client.get(path).status_code == 200, path
    table = poll_runs_table(client)
    assert all(f"before restart {i}" in table for i in range(3))


def intervals(component) -> list[str]:
    """Ids of the dcc.Interval components in a layout tree."""
    from dash import dcc

    if isinstance(component, list | tuple):
        return [i for c in component for i in intervals(c)]
    found = [component.id] if isinstance(component, dcc.Interval) else []
    children = getattr(component, "children", None)
    return found + (intervals(children) if children is not None else [])


def test_pages_poll_so_they_pick_up_a_new_server_by_themselves(data_dir):
    import importlib

    app, store = start_dashboard(data_dir)
    run_id = app.server.test_client().post("/api/runs", json={}).get_json()["id"]
    layouts = {
        "runs": importlib.import_module("dashboard.pages.runs").layout(),
        "run": importlib.import_module("dashboard.pages.run").layout(run_id=run_id),
    }
    for name, layout in layouts.items():
        assert intervals(layout), name
    root = app.layout() if callable(app.layout) else app.layout  # a function when per-request
    assert "app-clock" in intervals(root)  # the navbar's broker badge polls on every page


def test_the_dashboard_marks_runs_whose_worker_died_interrupted(data_dir, monkeypatch):
    app, store = start_dashboard(data_dir)
    run_id = app.server.test_client().post("/api/runs", json={}).get_json()["id"]
    assert store.claim(run_id, "w/1/t", 60)
    store.update_fields(run_id, heartbeat_at=time.time() - 3600)  # no worker left to sweep
    monkeypatch.setitem(state._stale, "checked", 0.0)
    assert state.mark_dead_runs() == [run_id]
    assert store.get_run(run_id)["status"] == "interrupted"
    assert state.mark_dead_runs() == []  # throttled
