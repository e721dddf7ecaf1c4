"""The Import a model page (no TensorFlow): its layout, and what pressing Import shows."""

from __future__ import annotations

import base64

import pytest

from dashboard import state
from dashboard.service import model_import
from shared.queue import producer
from shared.settings import Settings, get_settings
from shared.store import RunStore
from tests.api.test_api_models_import import LAMBDA, archive, notebook_config
from tests.test_dashboard import dash_app, page, texts  # noqa: F401  (one app per module)


@pytest.fixture
def store(tmp_path, dash_app, monkeypatch):  # noqa: F811
    monkeypatch.setenv("CNNLENS_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    producer.cache_clear()
    sent: list[str] = []
    monkeypatch.setattr(model_import, "send", lambda name, run_id: sent.append(run_id))
    runs = RunStore(Settings(_env_file=None, CNNLENS_DATA_DIR=tmp_path)).init()
    runs.sent = sent  # type: ignore[attr-defined]
    state.set_store(runs)
    yield runs
    runs.engine.dispose()
    get_settings.cache_clear()


def data_url(data: bytes) -> str:
    return "data:application/octet-stream;base64," + base64.b64encode(data).decode()


def test_the_page_offers_an_upload_a_dataset_and_a_button(store):
    out = texts(page("import_model").layout())
    assert "Import a model" in out and "model.save" in out and "Import and evaluate" in out


def test_import_links_the_new_run(store):
    shown, done = page("import_model").submit(
        store, data_url(archive()), "model.keras", "mnist-sample", "mine"
    )
    assert done
    (run,) = store.list_runs()
    assert run["origin"] == "imported" and run["name"] == "mine"
    assert f"/run/{run['id']}" in str(shown) and store.sent == [run["id"]]  # type: ignore[attr-defined]


def test_a_refused_file_shows_its_sentence_and_leaves_nothing(store):
    bad = data_url(archive(notebook_config(LAMBDA)))
    shown, done = page("import_model").submit(store, bad, "model.keras", "mnist-sample", "")
    assert not done and "Lambda layer" in texts(shown)
    shown, done = page("import_model").submit(store, None, None, "mnist-sample", "")
    assert not done and "Choose a .keras file first" in texts(shown)
    assert store.list_runs() == []


def test_a_double_click_on_import_makes_one_run(store):
    """Two presses with one page view's token and the same file and form: one run, one task, the
    same link twice; another page view imports the file again."""
    upload = data_url(archive())
    first, done = page("import_model").submit(
        store, upload, "model.keras", "mnist-sample", "mine", "view-1"
    )
    second, again = page("import_model").submit(
        store, upload, "model.keras", "mnist-sample", "mine", "view-1"
    )
    (run,) = store.list_runs()
    assert (
        done and again and f"/run/{run['id']}" in str(first) and f"/run/{run['id']}" in str(second)
    )
    assert store.sent == [run["id"]]  # type: ignore[attr-defined]
    page("import_model").submit(store, upload, "model.keras", "mnist-sample", "mine", "view-2")
    assert len(store.list_runs()) == 2
