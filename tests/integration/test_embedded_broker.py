"""`make up` on a machine without Redis falls back to kombu's SQLite transport; it must train too."""

from __future__ import annotations

import os
import time

import pytest

from tests.integration.conftest import ROOT, WorkerProcess, reset_settings_caches

pytestmark = pytest.mark.integration


@pytest.fixture
def embedded_env(tmp_path, monkeypatch):
    broker = f"sqla+sqlite:///{tmp_path / 'broker.sqlite3'}"
    env = dict(
        os.environ,
        CNNLENS_BROKER_URL=broker,
        CNNLENS_DATA_DIR=str(tmp_path / "data"),
        REDIS_URL="redis://127.0.0.1:1/0",
        PYTHONPATH=str(ROOT),
    )
    env.pop("DATABASE_URL", None)
    for key in ("CNNLENS_BROKER_URL", "CNNLENS_DATA_DIR", "REDIS_URL"):
        monkeypatch.setenv(key, env[key])
    monkeypatch.delenv("DATABASE_URL", raising=False)
    reset_settings_caches()
    from shared.store import RunStore

    store = RunStore().init()  # tables exist before the worker's first look
    worker = WorkerProcess("training", env, tmp_path / "worker.log")
    try:
        worker.wait_ready()
        yield store
    finally:
        worker.stop()
        monkeypatch.undo()
        reset_settings_caches()


def test_run_on_the_embedded_broker_succeeds(embedded_env):
    from dashboard.service.run_actions import submit_run
    from shared.queue import broker_reachable

    store = embedded_env
    assert broker_reachable()
    run = submit_run(store, {"epochs": 1, "train_limit": 200, "name": "embedded"})
    assert "warning" not in run
    deadline = time.time() + 240
    while (status := store.get_run(run["id"])["status"]) not in ("succeeded", "failed"):
        assert time.time() < deadline, f"still {status}"
        time.sleep(0.5)
    final = store.get_run(run["id"])
    assert final["status"] == "succeeded", final["error"]
    assert store.files.exists(run["id"], "model.keras")
