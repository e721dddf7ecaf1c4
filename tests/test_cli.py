"""The Python client and the `cnnlens` command against a real HTTP server.

A werkzeug server on a free port serves the real API (`dashboard.api.routes.register_api`) over a
temporary store. Submitted tasks go to Redis database 15, flushed afterwards, so no real worker
ever sees them.
"""

from __future__ import annotations

import contextlib
import io
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace

import pytest
import redis
import requests
from flask import Flask
from werkzeug.serving import make_server

from shared import cli
from shared import store as store_module
from shared.client import ApiError, CnnLensClient, config_diff
from shared.config import parse_config
from shared.queue import producer
from shared.settings import Settings, get_settings
from shared.store import RunStore
from tests.redis_dbs import SINK_URL

TEST_REDIS = SINK_URL


def flush_test_redis() -> None:
    # Without Redis, submit still works (the run stays queued, with a warning): nothing to flush.
    with contextlib.suppress(redis.RedisError):
        redis.Redis.from_url(TEST_REDIS, socket_timeout=1).flushdb()


@pytest.fixture
def server(tmp_path, monkeypatch):
    from dashboard.api.routes import register_api

    monkeypatch.setenv("REDIS_URL", TEST_REDIS)
    monkeypatch.setenv("CNNLENS_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CNNLENS_BROKER_URL", raising=False)
    get_settings.cache_clear()
    producer.cache_clear()
    runs = RunStore(Settings(_env_file=None, CNNLENS_DATA_DIR=tmp_path, REDIS_URL=TEST_REDIS))
    runs.init()
    app = Flask("cnnlens-cli-test")
    register_api(app, runs)
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{http.server_port}"
    yield SimpleNamespace(url=url, store=runs, client=CnnLensClient(url, timeout=10))
    http.shutdown()
    thread.join(10)
    runs.engine.dispose()
    flush_test_redis()
    get_settings.cache_clear()
    producer.cache_clear()


def run_cli(server, *args: str) -> int:
    return cli.main(["--url", server.url, *args])


def new_run(server, **cfg):
    return server.store.create_run(*parse_config(cfg))


def test_submit_answers_201_and_the_run_is_listed(server, capsys):
    resp = requests.post(f"{server.url}/api/runs", json={"epochs": 1}, timeout=10)
    assert resp.status_code == 201 and resp.json()["status"] == "queued"

    assert run_cli(server, "submit", "--epochs", "2", "--name", "from the cli") == 0
    run_id = capsys.readouterr().out.split()[0]
    run = server.client.get(run_id)
    assert run["name"] == "from the cli" and run["config"]["epochs"] == 2
    assert run["status"] == "queued" and "warning" not in run
    # The training task was sent, to the test database where no real worker listens. (Its
    # queue is not inspected: other test sessions share database 15 and flush it.)
    assert producer().conf.broker_url == TEST_REDIS
    assert [r["id"] for r in server.client.list()] == [run_id, resp.json()["id"]]
    assert server.client.list(name="FROM THE") == [server.client.list()[0]]

    assert run_cli(server, "list", "--status", "queued") == 0
    table = capsys.readouterr().out
    assert run_id in table and "from the cli" in table and "0/2" in table


def test_submit_reads_a_config_file_and_options_override_it(server, tmp_path, capsys):
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"name": "file", "epochs": 5, "optimizer": "sgd"}))
    assert run_cli(server, "submit", "--config", str(path), "--epochs", "1") == 0
    run = server.client.get(capsys.readouterr().out.split()[0])
    assert (run["name"], run["config"]["epochs"], run["config"]["optimizer"]) == ("file", 1, "sgd")


def test_submit_with_an_idempotency_key_twice_queues_one_run(server, capsys):
    args = ("submit", "--epochs", "1", "--idempotency-key", "nightly-2025-01-03")
    assert run_cli(server, *args) == 0
    first = capsys.readouterr()
    assert run_cli(server, *args) == 0
    again = capsys.readouterr()
    assert again.out.split()[0] == first.out.split()[0]
    assert "queued earlier" in again.err and "queued earlier" not in first.err
    assert len(server.store.list_runs()) == 1
    # Without a key each submit is its own run.
    assert run_cli(server, "submit", "--epochs", "1") == 0
    assert len(server.store.list_runs()) == 2


@contextmanager
def lossy_proxy(store) -> Iterator[tuple[CnnLensClient, list[str | None]]]:
    """A client of the API behind a proxy that loses the answer to the first POST: the request
    IS handled, the client sees a 502 and sends it again. Yields the client and the
    Idempotency-Key of every POST."""
    from dashboard.api.routes import register_api

    app = Flask("cnnlens-lossy-proxy")
    register_api(app, store)
    keys: list[str | None] = []

    def lossy(environ, start_response):
        if environ["REQUEST_METHOD"] == "POST":
            keys.append(environ.get("HTTP_IDEMPOTENCY_KEY"))
            if len(keys) == 1:
                b"".join(app(environ, lambda *_: None))
                start_response("502 Bad Gateway", [("Content-Type", "text/plain")])
                return [b"bad gateway"]
        return app(environ, start_response)

    http = make_server("127.0.0.1", 0, lossy, threaded=True)
    thread = threading.Thread(target=http.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield CnnLensClient(f"http://127.0.0.1:{http.server_port}", retry_delay=0.01), keys
    finally:
        http.shutdown()
        thread.join(10)


def test_a_lost_answer_is_retried_with_the_same_key_and_makes_one_run(server):
    with lossy_proxy(server.store) as (client, keys):
        run = client.submit({"epochs": 1})
    assert len(keys) == 2 and keys[0] and keys[0] == keys[1]
    assert run["replayed"] is True
    assert [r["id"] for r in server.store.list_runs()] == [run["id"]]


def test_invalid_config_prints_each_field_message_and_exits_2(server, capsys):
    code = run_cli(server, "submit", "--epochs", "0", "--set", "learning_rate=7")
    err = capsys.readouterr().err
    assert code == 2
    assert "\n  epochs: " in err and "\n  learning_rate: " in err
    assert server.store.list_runs() == []  # nothing was queued
    with pytest.raises(ApiError) as exc:
        server.client.submit({"epochs": 0})
    assert exc.value.status == 422 and exc.value.errors[0]["field"] == "epochs"


def test_download_writes_the_file(server, tmp_path, capsys):
    run = new_run(server)
    server.store.files.write_bytes(run["id"], "model.keras", b"not really a model" * 1000)
    target = tmp_path / "out" / "m.keras"
    target.parent.mkdir()
    assert run_cli(server, "download", run["id"], "model.keras", "-o", str(target)) == 0
    assert target.read_bytes() == b"not really a model" * 1000
    assert run_cli(server, "download", run["id"], "config.json", "-o", str(target.parent)) == 0
    assert json.loads((target.parent / "config.json").read_text())["epochs"] == 3
    assert [p.name for p in target.parent.iterdir() if p.name.endswith(".part")] == []
    capsys.readouterr()

    assert run_cli(server, "download", run["id"], "metrics.json", "-o", str(tmp_path)) == 1
    assert "metrics.json" in capsys.readouterr().err  # the server's sentence, not a traceback
    assert not (tmp_path / "metrics.json").exists()


def test_watch_exits_0_when_the_run_succeeded(server, capsys):
    run = new_run(server, epochs=1)
    server.store.update_fields(
        run["id"], status="succeeded", epoch=1, test_accuracy=0.98, test_loss=0.05
    )
    assert run_cli(server, "watch", run["id"]) == 0
    out = capsys.readouterr().out
    assert "[########################] 100%" in out
    assert "succeeded: test accuracy 0.9800, loss 0.0500" in out


def test_watch_exits_1_when_the_run_failed_or_was_cancelled(server, capsys):
    failed, queued = new_run(server), new_run(server)
    server.store.finish(failed["id"], "failed", error="the worker ran out of memory")
    assert run_cli(server, "watch", failed["id"]) == 1
    assert "failed: the worker ran out of memory" in capsys.readouterr().out
    assert run_cli(server, "cancel", queued["id"]) == 0
    assert run_cli(server, "watch", queued["id"]) == 1
    assert capsys.readouterr().out.splitlines()[-1] == "cancelled"


def test_watch_follows_a_run_through_its_epochs(server):
    run = new_run(server, epochs=2)
    runs, run_id = server.store, run["id"]

    def train():
        runs.claim(run_id, "w", 60)
        for epoch in (1, 2):
            for step in (10, 50, 100):
                runs.heartbeat(
                    run_id, "w", 60, epoch=epoch, step=step, steps=100, loss=0.5, accuracy=0.9
                )
                time.sleep(0.05)
        runs.finish(run_id, "succeeded", test_accuracy=0.91, test_loss=0.3)

    worker = threading.Thread(target=train)
    worker.start()
    out = io.StringIO()  # not a terminal: one line per epoch or state change
    assert cli.follow(server.client, run_id, interval=0.02, out=out) == 0
    worker.join()
    lines = out.getvalue().splitlines()
    assert any("epoch 1/2" in line and "step " in line and "loss 0.5000" in line for line in lines)
    assert any("epoch 2/2" in line for line in lines)
    assert lines[-1] == "succeeded: test accuracy 0.9100, loss 0.3000"
    assert len(lines) < 10


def test_compare_prints_config_differences_and_accuracies(server, capsys):
    a = new_run(server, name="small", epochs=1)
    layers = [
        {"type": "conv2d", "filters": 32, "kernel_size": 5, "activation": "relu"},
        {"type": "flatten"},
        {"type": "dense", "units": 10, "activation": "softmax"},
    ]
    b = new_run(server, name="wide", epochs=3, layers=layers)
    server.store.finish(a["id"], "succeeded", test_accuracy=0.95, test_loss=0.2)
    assert run_cli(server, "compare", a["id"], b["id"]) == 0
    out = capsys.readouterr().out
    for expected in (
        "epochs",
        "layers.0.filters",
        "layers.0.kernel_size",
        "test accuracy",
        "0.9500",
        "small",
        "wide",
    ):
        assert expected in out
    assert "\nname " not in out  # names are in the header, not the diff


def test_cancel_delete_and_unknown_runs(server, capsys):
    run = new_run(server)
    assert run_cli(server, "delete", run["id"]) == 0
    assert server.store.get_run(run["id"]) is None
    capsys.readouterr()
    assert run_cli(server, "watch", run["id"]) == 1
    assert "error: " in capsys.readouterr().err
    with pytest.raises(ApiError) as exc:
        server.client.get("../../etc/passwd")
    assert exc.value.status == 404


def test_health_and_an_unreachable_server(server, capsys):
    assert server.client.health()["store"] is True
    assert cli.main(["--url", "http://127.0.0.1:9", "--timeout", "2", "list"]) == 1
    assert "cannot reach CNN Lens at http://127.0.0.1:9" in capsys.readouterr().err


def test_client_states_match_the_store():
    from shared import client

    assert client.STATUSES == store_module.STATUSES and client.FINISHED == store_module.FINISHED


def test_progress_line_and_config_diff():
    run = {
        "status": "running",
        "progress": {
            "epoch": 2,
            "epochs": 4,
            "step": 5,
            "steps": 10,
            "fraction": 0.375,
            "loss": 0.25,
            "accuracy": None,
        },
    }
    line = cli.progress_line(run)
    assert line.startswith("[#########---------------]  38%  epoch 2/4  step 5/10  loss 0.2500")
    assert line.endswith("running") and "acc" not in line
    diff = config_diff(
        {"epochs": 1, "layers": [{"filters": 16}]},
        {"epochs": 1, "layers": [{"filters": 32}, {"type": "flatten"}]},
    )
    assert diff == [("layers.0.filters", 16, 32), ("layers.1.type", "—", "flatten")]


def test_submit_watch_follows_the_new_run_to_its_end(server, capsys):
    def worker():  # stands in for the Celery worker: picks up the queued run and fails it
        deadline = time.time() + 10
        while time.time() < deadline:
            queued = server.store.list_runs(status="queued")
            if queued:
                server.store.finish(queued[0]["id"], "failed", error="no GPU today")
                return
            time.sleep(0.02)

    thread = threading.Thread(target=worker)
    thread.start()
    code = run_cli(server, "submit", "--epochs", "1", "--watch")
    thread.join()
    assert code == 1
    assert capsys.readouterr().out.splitlines()[-1] == "failed: no GPU today"
