"""`cnnlens import-model` and CnnLensClient.import_model against the real API over HTTP (the
archive is written with zipfile, as in tests/api/test_api_models_import.py; no TensorFlow)."""

from __future__ import annotations

import json

import pytest

from shared.client import ApiError
from tests.api.test_api_models_import import LAMBDA, archive, notebook_config
from tests.test_cli import run_cli, server  # noqa: F401  (the HTTP server fixture)


def test_import_model_prints_the_new_run(server, tmp_path, capsys):  # noqa: F811
    path = tmp_path / "model.keras"
    path.write_bytes(archive())
    code = run_cli(server, "import-model", str(path), "--dataset", "mnist-sample", "--name", "nb")
    assert code == 0
    out = capsys.readouterr().out
    run_id = out.split()[0]
    run = server.store.get_run(run_id)
    assert run is not None and run["origin"] == "imported" and run["name"] == "nb"
    assert "C16k3 → MP2 → C32k3 → F → D10" in out


def test_a_refused_model_prints_the_sentence_and_exits_2(server, tmp_path, capsys):  # noqa: F811
    path = tmp_path / "model.keras"
    path.write_bytes(archive(notebook_config(LAMBDA)))
    assert run_cli(server, "import-model", str(path), "--dataset", "mnist-sample") == 2
    err = capsys.readouterr().err
    assert "the server rejected the model" in err and "Lambda layer" in err
    assert server.store.list_runs() == []
    assert run_cli(server, "import-model", str(tmp_path / "missing.keras"), "--dataset", "x") == 2


def test_the_client_raises_the_servers_sentence(server, tmp_path):  # noqa: F811
    path = tmp_path / "model.keras"
    path.write_bytes(archive(json.dumps(notebook_config()).encode()))
    run = server.client.import_model(path, "mnist-sample")
    assert run["origin"] == "imported" and run["status"] == "queued"
    with pytest.raises(ApiError) as refused:
        server.client.import_model(path, "imagenet")
    assert refused.value.status == 422 and refused.value.errors[0]["field"] == "dataset"


def test_a_lost_answer_to_an_import_is_retried_with_the_same_key(server, tmp_path, monkeypatch):  # noqa: F811
    """The first answer is lost behind a proxy: the client sends the file again with the same
    Idempotency-Key and gets the run the first upload made; one run, one evaluation sent."""
    from dashboard.service import model_import
    from tests.test_cli import lossy_proxy

    sent: list[str] = []
    monkeypatch.setattr(model_import, "send", lambda _name, run_id: sent.append(run_id))
    path = tmp_path / "model.keras"
    path.write_bytes(archive())
    with lossy_proxy(server.store) as (client, keys):
        run = client.import_model(path, "mnist-sample", "nb")
    assert len(keys) == 2 and keys[0] and keys[0] == keys[1]
    assert run["replayed"] is True and run["origin"] == "imported"
    assert [r["id"] for r in server.store.list_runs()] == [run["id"]] and sent == [run["id"]]
