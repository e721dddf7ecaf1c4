"""Hostile and heavy use (issue 11): limits that hold before a request costs anything, writes only
from the dashboard's own pages and scripts, a login that covers what it should, bounded growth.

The body-size limit is checked against a real waitress server on a free port (waitress, not
Flask, is what buffers a body); everything else goes through the whole dashboard (pages + API)
as a Flask test client, over a store in a temporary folder and a spare Redis database.
"""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from shared.settings import Settings
from tests.api.support import TEST_REDIS, fake_trained_run

ROOT = Path(__file__).resolve().parents[2]
JSON = "application/json"
SCRIPT = {"X-Requested-With": "test"}
WIDE = {"type": "conv2d", "filters": 512, "kernel_size": 1, "padding": "same"}
TOO_MANY_ACTIVATIONS = {
    "layers": [WIDE, *[{"type": "dropout", "rate": 0}] * 21, {"type": "flatten"}]
    + [{"type": "dense", "units": 10, "activation": "softmax"}],
    "train_limit": 10,
}


def make_settings(tmp_path: Path, **env: Any) -> Settings:
    return Settings(_env_file=None, CNNLENS_DATA_DIR=tmp_path, REDIS_URL=TEST_REDIS, **env)


@pytest.fixture
def make_dashboard(tmp_path, monkeypatch):
    """The whole dashboard (pages + API) over a fresh store, with the given settings."""
    from dashboard import state
    from dashboard.app import create_app
    from shared.queue import producer
    from shared.store import RunStore
    from tests.api.support import flush_test_redis

    monkeypatch.setenv("REDIS_URL", TEST_REDIS)
    monkeypatch.delenv("CNNLENS_BROKER_URL", raising=False)
    producer.cache_clear()
    stores: list[RunStore] = []

    def make(**env: Any):
        store = RunStore(make_settings(tmp_path, **env)).init()
        stores.append(store)
        return create_app(store), store

    yield make
    state.set_store(None)
    for store in stores:
        store.engine.dispose()
    flush_test_redis()
    producer.cache_clear()


@pytest.fixture
def dashboard(make_dashboard):
    app, store = make_dashboard()
    return app.server.test_client(), store


# --- 1. request bodies are refused by waitress from their header --------------------------------
class Served:
    """The dashboard under waitress with the options `python -m dashboard` gives it."""

    def __init__(self, app, settings: Settings):
        from dashboard import serve

        self.seen: list[str] = []

        def counting(environ, start_response):
            self.seen.append(f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}")
            return app.server(environ, start_response)

        self.server = serve.make_server(counting, settings, host="127.0.0.1", port=0)
        self.port = self.server.effective_port
        self.url = f"http://127.0.0.1:{self.port}"
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        # waitress' own run() loops until its sockets are closed, and closing them from another
        # thread while it polls them ends that thread on EBADF. This loop stops between polls.
        while not self.stopping.is_set():
            self.server.asyncore.loop(timeout=0.05, map=self.server._map, use_poll=True, count=1)

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(5)
        self.server.close()
        self.server.task_dispatcher.shutdown()

    def raw(self, head: str, body: bytes = b"", timeout: float = 5.0) -> tuple[str, float]:
        """Send a request head (and maybe part of a body); the answer's first lines, and when."""
        start = time.perf_counter()
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as conn:
            conn.sendall(head.encode() + body)
            answer = b""
            try:
                while b"\r\n\r\n" not in answer:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    answer += chunk
            except TimeoutError:
                pass
        return answer.decode("latin-1"), time.perf_counter() - start


@pytest.fixture
def served(make_dashboard, tmp_path):
    # Every route but the dataset upload is held to 1,000 bytes; the upload to 1 MB.
    app, store = make_dashboard(CNNLENS_MAX_REQUEST_BYTES=1000, CNNLENS_DATASET_MAX_BYTES=1_000_000)
    server = Served(app, store.settings)
    yield server, store
    server.close()


def post_head(length: int, path: str = "/api/runs") -> str:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n"
    )


def test_waitress_refuses_an_oversized_body_from_its_header_without_reading_it(served):
    server, store = served
    # 500 MB announced, nothing sent: waitress must answer at once, not wait to buffer it all.
    answer, seconds = server.raw(post_head(500_000_000))
    assert answer.startswith("HTTP/1.1 413"), answer[:200]
    assert seconds < 2.0, seconds
    assert server.seen == []  # neither the login nor the app saw it
    assert store.list_runs() == []


def test_waitress_takes_a_body_at_the_limit_and_refuses_one_byte_more(served):
    server, store = served
    body = b'{"name": "' + b"x" * 984 + b'"}'
    assert len(body) == 996
    answer, _ = server.raw(post_head(len(body)), body)
    assert answer.startswith("HTTP/1.1 422"), answer[:200]  # read by Flask: the name is too long
    answer, _ = server.raw(post_head(1001), b"{" * 10)
    assert answer.startswith("HTTP/1.1 413"), answer[:200]
    assert server.seen == ["POST /api/runs"]


@pytest.mark.parametrize("path", ["/api/runs", "/api/models", "/_dash-update-component", "/"])
def test_a_body_under_the_dataset_limit_is_refused_from_its_header_on_other_routes(served, path):
    """Waitress' own limit is the dataset upload's (1 MB here); every other route keeps the
    request limit (1,000 bytes), refused from the header before a byte of the body is read."""
    server, store = served
    answer, seconds = server.raw(post_head(500_000, path))
    assert answer.startswith("HTTP/1.1 413"), answer[:200]
    assert seconds < 2.0, seconds
    assert server.seen == [] and store.list_runs() == []


def test_a_chunked_body_is_cut_off_once_it_passes_its_routes_limit(served):
    server, _store = served
    head = (
        "POST /api/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"200\r\n" + b"x" * 0x200 + b"\r\n"  # 512 bytes a chunk, no last chunk sent
    answer, seconds = server.raw(head, chunk * 4, timeout=5.0)
    assert answer.startswith("HTTP/1.1 413"), answer[:200]
    assert seconds < 2.0, seconds
    assert server.seen == []


def test_the_dataset_upload_route_may_send_up_to_its_own_limit(served):
    """POST /api/datasets announcing 500 KB is not refused from its header: waitress waits for
    the body (the socket times out here with no answer), and over 1 MB it is a 413 at once."""
    server, _store = served
    answer, _ = server.raw(post_head(500_000, "/api/datasets"), timeout=1.0)
    assert answer == "", answer[:200]
    answer, seconds = server.raw(post_head(2_000_000, "/api/datasets"))
    assert answer.startswith("HTTP/1.1 413") and seconds < 2.0, answer[:200]
    assert server.seen == []


def test_the_cli_client_works_through_the_guard(served):
    from shared.client import CnnLensClient

    server, store = served
    client = CnnLensClient(server.url, retries=0)
    run = client.submit({"epochs": 1})
    assert client.cancel(run["id"])["status"] == "cancelled"
    client.delete(run["id"])
    assert store.get_run(run["id"]) is None


# --- 8. cross-site writes ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", None]
)
def test_a_write_that_a_foreign_form_could_send_is_refused(dashboard, content_type):
    client, store = dashboard
    kwargs = {"content_type": content_type} if content_type else {}
    response = client.post("/api/runs", data=b"", **kwargs)
    assert response.status_code == 415, response.get_data(as_text=True)
    assert "Content-Type: application/json" in response.get_json()["error"]
    assert store.list_runs() == []


def test_cancel_and_delete_need_json_or_the_custom_header(dashboard):
    client, store = dashboard
    run_id = client.post("/api/runs", json={}).get_json()["id"]
    assert client.post(f"/api/runs/{run_id}/cancel").status_code == 415
    assert client.delete(f"/api/runs/{run_id}").status_code == 415
    assert store.get_run(run_id)["status"] == "queued"
    cancel = client.post(f"/api/runs/{run_id}/cancel", headers=SCRIPT)
    assert cancel.status_code == 202
    deleted = client.delete(f"/api/runs/{run_id}", content_type=JSON)
    assert deleted.status_code == 204


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "http://evil.example"},
        {"Origin": "http://localhost:5555"},  # another port of the same host is another origin
        {"Origin": "null"},
    ],
    ids=str,
)
def test_writes_from_other_sites_and_origins_are_refused(dashboard, headers):
    client, store = dashboard
    response = client.post("/api/runs", json={}, headers=headers)
    assert response.status_code == 403, response.get_data(as_text=True)
    assert "cannot change anything here" in response.get_json()["error"]
    dash_post = client.post("/_dash-update-component", json={}, headers=headers)
    assert dash_post.status_code == 403
    assert store.list_runs() == []


def test_writes_from_the_dashboards_own_pages_pass(dashboard):
    client, store = dashboard
    own = {"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"}
    assert client.post("/api/runs", json={}, headers=own).status_code == 201
    assert client.post("/api/runs", json={}, headers={"Sec-Fetch-Site": "none"}).status_code == 201
    # Dash's own callback endpoint: a JSON POST from the page
    layout = client.get("/_dash-dependencies").get_json()
    broker = next(d for d in layout if d["output"] == "app-broker.children")
    body = {
        "output": broker["output"],
        "outputs": {"id": "app-broker", "property": "children"},
        "inputs": [{"id": "app-clock", "property": "n_intervals", "value": 1}],
        "changedPropIds": ["app-clock.n_intervals"],
        "state": [],
    }
    assert client.post("/_dash-update-component", json=body, headers=own).status_code == 200


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8050", "127.0.0.1.nip.io"])
def test_requests_for_a_foreign_host_name_are_refused(dashboard, host):
    client, _store = dashboard
    for path in ("/", "/_dash-layout", "/api/runs", "/api/openapi.json"):
        response = client.get(path, headers={"Host": host})
        assert response.status_code == 400, path
        assert "does not answer for the host name" in response.get_data(as_text=True)
    assert client.post("/api/runs", json={}, headers={"Host": host}).status_code == 400
    # health checks come by IP address (compose, a load balancer): answered for any host name
    assert client.get("/api/health", headers={"Host": host}).status_code in (200, 503)
    for host_ok in ("localhost", "127.0.0.1:8050", "[::1]:8050"):
        assert client.get("/api/runs", headers={"Host": host_ok}).status_code == 200


def test_allowed_hosts_are_a_setting(make_dashboard):
    app, _ = make_dashboard(CNNLENS_ALLOWED_HOSTS="lab.example.org")
    client = app.server.test_client()
    assert client.get("/api/runs", headers={"Host": "lab.example.org:8050"}).status_code == 200
    assert client.get("/api/runs", headers={"Host": "localhost"}).status_code == 400
    behind_tls = {"Host": "lab.example.org", "Origin": "https://lab.example.org"}
    assert client.post("/api/runs", json={}, headers=behind_tls).status_code == 201


def test_no_page_may_frame_the_dashboard(dashboard):
    client, _ = dashboard
    for path in ("/", "/new", "/api/runs", "/api/health", "/assets/cnnlens.css"):
        response = client.get(path)
        assert response.headers["Content-Security-Policy"] == "frame-ancestors 'none'", path
        assert response.headers["X-Frame-Options"] == "DENY", path


# --- 9. login ------------------------------------------------------------------------------------
def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_health_answers_without_the_login_and_nothing_else_does(make_dashboard):
    app, _ = make_dashboard(CNNLENS_AUTH_USER="lab", CNNLENS_AUTH_PASSWORD="pw")
    client = app.server.test_client()
    health = client.get("/api/health")
    assert health.status_code in (200, 503) and health.get_json()["store"] is True
    assert set(health.get_json()) == {"status", "broker", "store", "version"}
    assert client.get("/api/runs").status_code == 401
    assert client.post("/api/health", json={}).status_code == 401
    assert client.get("/api/health/").status_code == 401
    assert client.get("/api/runs", headers=basic("lab", "pw")).status_code == 200


@pytest.mark.parametrize(
    "env",
    [
        {"CNNLENS_AUTH_USER": "lab"},
        {"CNNLENS_AUTH_PASSWORD": "pw"},
        {"CNNLENS_AUTH_USER": "lab", "CNNLENS_AUTH_PASSWORD": ""},
    ],
    ids=["user only", "password only", "empty password"],
)
def test_half_a_login_refuses_to_start_and_says_why(make_dashboard, tmp_path, env):
    with pytest.raises(RuntimeError, match="the login needs both"):
        make_dashboard(**env)
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    child_env = {
        k: v for k, v in os.environ.items() if not k.startswith(("CNNLENS_", "REDIS_", "DATABASE"))
    }
    child_env |= env | {
        "CNNLENS_DATA_DIR": str(tmp_path / "cli"),
        "CNNLENS_PORT": str(port),
        "REDIS_URL": "redis://127.0.0.1:1/0",
    }
    done = subprocess.run(
        [sys.executable, "-m", "dashboard"],
        cwd=tmp_path,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "CNN Lens will not start" in done.stderr and "the login needs both" in done.stderr
    assert "Traceback" not in done.stderr


def test_compose_gives_flower_the_same_login():
    import yaml

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    flower = compose["services"]["flower"]
    env = flower.get("environment") or {}
    assert "FLOWER_BASIC_AUTH" in env, env
    assert "CNNLENS_AUTH_USER" in env["FLOWER_BASIC_AUTH"]
    assert "CNNLENS_AUTH_PASSWORD" in env["FLOWER_BASIC_AUTH"]
    for name in ("worker", "extractor", "analyzer"):
        assert compose["services"][name].get("mem_limit"), name


# --- 2. activation budget and one layer at a time ----------------------------------------------
def test_a_model_whose_activations_cannot_fit_is_a_422_naming_the_layer(dashboard):
    client, store = dashboard
    response = client.post("/api/runs", json=TOO_MANY_ACTIVATIONS)
    assert response.status_code == 422, response.get_json()
    fields = {e["field"]: e["message"] for e in response.get_json()["errors"]}
    assert "dropout_2" in fields["layers.2"] and "over the budget" in fields["layers.2"]
    assert store.list_runs() == []


def test_the_activation_budgets_are_settings(make_dashboard):
    app, _ = make_dashboard(CNNLENS_ACTIVATION_BUDGET="5000")
    client = app.server.test_client()
    response = client.post("/api/runs", json={})
    assert response.status_code == 422
    assert "conv2d_1" in response.get_json()["errors"][0]["message"]
    app, _ = make_dashboard(CNNLENS_BATCH_ACTIVATION_BUDGET="1000000")
    response = app.server.test_client().post("/api/runs", json={"batch_size": 64})
    assert response.status_code == 422
    assert "batch of 64 images" in response.get_json()["errors"][0]["message"]


def test_probe_activations_one_layer_at_a_time(dashboard):
    client, store = dashboard
    run_id = client.post("/api/runs", json={"epochs": 1}).get_json()["id"]
    fake_trained_run(store, run_id)
    everything = client.get(f"/api/runs/{run_id}/activations/probe/0").get_json()
    assert len(everything["layers"]) == 5
    one = client.get(f"/api/runs/{run_id}/activations/probe/0?layer=conv2d_2")
    assert one.status_code == 200
    body = one.get_json()
    assert [layer["name"] for layer in body["layers"]] == ["conv2d_2"]
    assert body["layers"][0] == everything["layers"][2]
    assert len(one.data) < len(client.get(f"/api/runs/{run_id}/activations/probe/0").data) / 2
    missing = client.get(f"/api/runs/{run_id}/activations/probe/0?layer=lstm_1")
    assert missing.status_code == 404 and "conv2d_1" in missing.get_json()["error"]


# --- 4. bounded growth ---------------------------------------------------------------------------
def test_past_the_queued_run_limit_a_submit_is_a_429_with_retry_after(make_dashboard):
    app, store = make_dashboard(CNNLENS_MAX_QUEUED_RUNS="2")
    client = app.server.test_client()
    first = client.post("/api/runs", json={}, headers={"Idempotency-Key": "k1"})
    assert first.status_code == 201
    assert client.post("/api/runs", json={}).status_code == 201
    refused = client.post("/api/runs", json={})
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert "waiting to train" in refused.get_json()["error"]
    assert len(store.list_runs()) == 2
    # a retried request whose run exists adds nothing, so it is answered as before
    again = client.post("/api/runs", json={}, headers={"Idempotency-Key": "k1"})
    assert again.status_code == 200 and again.get_json()["replayed"] is True
    # a retry of a failed run is refused too; once a run has left the queue there is room again
    done = first.get_json()["id"]
    store.update_fields(done, status="failed")
    assert client.post(f"/api/runs/{done}/retry", headers=SCRIPT).status_code == 201
    assert client.post(f"/api/runs/{done}/retry", headers=SCRIPT).status_code == 429


def test_the_pages_say_the_queue_is_full_in_a_sentence(make_dashboard):
    from dash import html

    from dashboard.pages import new_run, sweep
    from dashboard.sweep import params

    app, store = make_dashboard(CNNLENS_MAX_QUEUED_RUNS="1")
    assert app.server.test_client().post("/api/runs", json={}).status_code == 201
    _path, _flash, alert = new_run.submit_config(store, {"epochs": 1}, None)
    assert "waiting to train" in str(alert.children)
    planned = [params.Planned(value=1, name="a", config={"epochs": 1})]
    shown = sweep.submit_plan(store, planned, None)
    assert "waiting to train" in str(shown.children) and not isinstance(shown, html.Div)
    assert len(store.list_runs()) == 1


def test_the_activation_cache_keeps_the_most_recently_used_within_its_size(make_dashboard):
    from dashboard.service import run_actions
    from shared.artifacts import CACHE_DIR
    from shared.extraction_result import cache_rel

    app, store = make_dashboard(CNNLENS_ACTIVATION_CACHE_BYTES="300000")
    client = app.server.test_client()
    run_id = client.post("/api/runs", json={"epochs": 1}).get_json()["id"]
    fake_trained_run(store, run_id)
    files = store.files
    digests = []
    for i in range(4):  # four cached results of ~100 KB each, the first used longest ago
        image = np.full((28, 28), i, dtype=np.uint8)
        digest = run_actions.input_hash(image)
        files.save_array(run_id, f"{CACHE_DIR}/{digest}.input.npy", image)
        files.save_arrays(
            run_id,
            cache_rel(digest),
            input=image,
            probabilities=np.full(10, 0.1, dtype=np.float32),
            **{"layer:conv2d_1": np.random.default_rng(i).random(25_000, dtype=np.float32)},
        )
        stamp = time.time() - 100 + i
        for name in (f"{digest}.input.npy", f"{digest}.npz"):
            os.utime(files.path(run_id, f"{CACHE_DIR}/{name}"), (stamp, stamp))
        digests.append(digest)
    # a hit on the oldest makes it the newest
    hit = run_actions.request_activations(store, run_id, np.full((28, 28), 0, dtype=np.uint8))
    assert hit["status"] == "cached"
    # a miss makes room for its result: the least recently used ones go
    miss = run_actions.request_activations(store, run_id, np.full((28, 28), 9, dtype=np.uint8))
    assert miss["status"] == "queued"
    left = {d for d in digests if files.exists(run_id, cache_rel(d))}
    assert digests[0] in left and digests[1] not in left
    total = sum(p.stat().st_size for p in files.path(run_id, CACHE_DIR).iterdir())
    assert total <= 300_000


def test_finished_jobs_are_pruned_after_the_retention(api_store):
    from shared import housekeeping

    old, recent, queued = (api_store.create_job("extract", None, {}) for _ in range(3))
    for job_id in (old, recent):
        api_store.set_job(job_id, "succeeded", result={"ok": True})
    with api_store.engine.begin() as conn:
        from sqlalchemy import update

        from shared import db

        conn.execute(
            update(db.jobs).where(db.jobs.c.id == old).values(finished_at=time.time() - 90_000)
        )
    assert housekeeping.prune_jobs(api_store, older_than=86_400) == 1
    assert api_store.get_job(old) is None
    assert api_store.get_job(recent) is not None and api_store.get_job(queued) is not None


def test_a_run_no_longer_lists_its_cache_files(dashboard):
    from shared.artifacts import CACHE_DIR

    client, store = dashboard
    run_id = client.post("/api/runs", json={"epochs": 1}).get_json()["id"]
    fake_trained_run(store, run_id)
    for i in range(50):
        store.files.save_arrays(run_id, f"{CACHE_DIR}/{i:032x}.npz", x=np.zeros(3))
    names = [a["name"] for a in client.get(f"/api/runs/{run_id}").get_json()["artifacts"]]
    assert "model.keras" in names
    assert not [n for n in names if n.startswith(CACHE_DIR)]
    # each still downloads by its name, as the extraction's answer gives it
    one = client.get(f"/api/runs/{run_id}/artifacts/{CACHE_DIR}/{0:032x}.npz")
    assert one.status_code == 200
