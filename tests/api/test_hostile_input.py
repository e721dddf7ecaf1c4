"""Hostile input: every row of the bad-input tables in docs/SECURITY.md, sent to the API through the Flask test client.

Each gets a 4xx with a sentence (or per-field messages) saying what was wrong; none gets a 5xx,
and nothing is lost: after the whole table the runs are exactly as they were. The last tests check
the protections that are settings and code rather than answers: login, debug off, loopback by
default, JSON-only Celery, no pickle, models loaded in safe mode, user text never as markup.

The table "Attributions and filter pages" (POST /api/runs/{id}/attributions and GET
/api/runs/{id}/filters/{layer}/{k}/analysis) has its cases in tests/api/test_hostile_attributions.py,
built from this file's `Case`, which checks its rows against its cases both ways.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from shared.store import RUNNING
from tests.api.support import fake_trained_run, refused

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "SECURITY.md"
SOURCES = [
    p for d in ("shared", "dashboard", "worker", "scripts") for p in (ROOT / d).rglob("*.py")
]
JSON = "application/json"
HTML_NAME = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@dataclass
class Case:
    input: str  # as the bad-input tables in docs/SECURITY.md name it
    method: str
    path: str  # {queued}, {running}, {done}: ids of runs in those states
    status: int
    says: str  # a fragment of the error sentence or of a field message
    kw: dict[str, Any] = field(default_factory=dict)
    field: str | None = None  # the field a 422 names

    def __str__(self) -> str:
        return self.input


def raw(body: str | bytes, content_type: str = JSON) -> dict[str, Any]:
    return {"data": body, "content_type": content_type}


def grid(value: Any) -> list[list[Any]]:
    return [[value] + [0] * 27] + [[0] * 28 for _ in range(27)]


def upload(data: bytes, name: str = "digit.png") -> dict[str, Any]:
    return {"data": {"image": (io.BytesIO(data), name)}, "content_type": "multipart/form-data"}


CONV = {"type": "conv2d", "filters": 16, "kernel_size": 3}
SOFTMAX = {"type": "dense", "units": 10, "activation": "softmax"}
CASES = [
    # --- malformed bodies -------------------------------------------------------------------
    Case("Malformed JSON", "post", "/api/runs", 400, "not valid JSON", raw('{"epochs": 3')),
    Case(
        "JSON sent as text/plain",
        "post",
        "/api/runs",
        400,
        "Content-Type: application/json",
        raw("{}", "text/plain"),
    ),
    Case(
        "Bytes that are not UTF-8", "post", "/api/runs", 400, "not valid UTF-8", raw(b"\xff\xfe{")
    ),
    Case(
        "A lone surrogate in a string",
        "post",
        "/api/runs",
        400,
        "not valid UTF-8",
        raw('{"name": "\\ud800"}'),
    ),
    Case(
        "JSON nested 100,000 deep",
        "post",
        "/api/runs",
        400,
        "nested too deeply",
        raw("[" * 100_000 + "]" * 100_000),
    ),
    Case("NaN or Infinity literal", "post", "/api/runs", 400, "NaN is not", raw('{"seed": NaN}')),
    Case(
        "A 5,000-digit number",
        "post",
        "/api/runs",
        400,
        "too many digits",
        raw('{"epochs": 1' + "0" * 5000 + "}"),
    ),
    Case(
        "A list or a string instead of an object",
        "post",
        "/api/runs",
        422,
        "must be a JSON object",
        {"json": [1, 2]},
        "config",
    ),
    Case(
        "Body over the size limit (9 MB)",
        "post",
        "/api/runs",
        413,
        "the limit is 8,388,608 bytes",
        raw(b'{"name": "' + b"x" * (9 * 1024 * 1024) + b'"}'),
    ),
    # --- wrong types ------------------------------------------------------------------------
    Case(
        "A number as text",
        "post",
        "/api/runs",
        422,
        "not text",
        {"json": {"epochs": "3"}},
        "epochs",
    ),
    Case(
        "true for a number",
        "post",
        "/api/runs",
        422,
        "whole number",
        {"json": {"epochs": True}},
        "epochs",
    ),
    Case(
        "2.5 epochs", "post", "/api/runs", 422, "whole number", {"json": {"epochs": 2.5}}, "epochs"
    ),
    Case(
        "layers as a string",
        "post",
        "/api/runs",
        422,
        "",
        {"json": {"layers": "conv"}},
        "layers",
    ),
    Case(
        "An unknown layer type",
        "post",
        "/api/runs",
        422,
        "unknown layer type",
        {"json": {"layers": [{"type": "lstm"}]}},
        "layers.0",
    ),
    Case(
        "An unknown setting",
        "post",
        "/api/runs",
        422,
        "is not a known setting",
        {"json": {"epoch": 3}},
        "epoch",
    ),
    # --- out of range and giant numbers -----------------------------------------------------
    Case(
        "epochs 10^9",
        "post",
        "/api/runs",
        422,
        "at most 200",
        {"json": {"epochs": 10**9}},
        "epochs",
    ),
    Case(
        "epochs 10^400",
        "post",
        "/api/runs",
        422,
        "at most 200",
        {"json": {"epochs": 10**400}},
        "epochs",
    ),
    Case(
        "filters 10^6",
        "post",
        "/api/runs",
        422,
        "at most",
        {"json": {"layers": [CONV | {"filters": 10**6}, {"type": "flatten"}, SOFTMAX]}},
        "layers.0.filters",
    ),
    Case(
        "dense units 10^6",
        "post",
        "/api/runs",
        422,
        "at most",
        {"json": {"layers": [CONV, {"type": "flatten"}, SOFTMAX | {"units": 10**6}]}},
        "layers.2.units",
    ),
    Case(
        "learning_rate 1e999 (infinity)",
        "post",
        "/api/runs",
        422,
        "at most 1.0",
        raw('{"learning_rate": 1e999}'),
        "learning_rate",
    ),
    Case(
        "batch_size -1",
        "post",
        "/api/runs",
        422,
        "at least 1",
        {"json": {"batch_size": -1}},
        "batch_size",
    ),
    Case("seed 2^64", "post", "/api/runs", 422, "at most", {"json": {"seed": 2**64}}, "seed"),
    Case(
        "A kernel larger than the image",
        "post",
        "/api/runs",
        422,
        "",
        {"json": {"layers": [CONV | {"kernel_size": 11}] * 3 + [{"type": "flatten"}, SOFTMAX]}},
    ),
    Case(
        "A name of a million characters",
        "post",
        "/api/runs",
        422,
        "at most 120 characters",
        {"json": {"name": "x" * 10**6}},
        "name",
    ),
    Case(
        "Control characters in a name",
        "post",
        "/api/runs",
        422,
        "control characters",
        {"json": {"name": "a\nb\x00"}},
        "name",
    ),
    # --- datasets ---------------------------------------------------------------------------
    Case(
        "An unknown dataset",
        "post",
        "/api/runs",
        422,
        "must be one of",
        {"json": {"dataset": "imagenet"}},
        "dataset",
    ),
    Case(
        "A path as a dataset",
        "post",
        "/api/runs",
        422,
        "must be one of",
        {"json": {"dataset": "../../etc/passwd"}},
        "dataset",
    ),
    # --- ids, names and paths ---------------------------------------------------------------
    Case("../ in a run id", "get", "/api/runs/..%2F..%2Fetc%2Fpasswd", 404, "no API endpoint"),
    Case("NUL in a run id", "get", "/api/runs/%00", 404, "no run with id"),
    Case(
        "A run id that is not 32 hex digits",
        "delete",
        "/api/runs/" + "A" * 32,
        404,
        "no run with id",
    ),
    Case(
        "../ in an artifact name",
        "get",
        "/api/runs/{done}/artifacts/..%2Fconfig.json",
        404,
        "no artifact",
    ),
    Case(
        "An absolute artifact path",
        "get",
        "/api/runs/{done}/artifacts/%2Fetc%2Fpasswd",
        404,
        "no API endpoint",
    ),
    Case(
        "A file outside the download list",
        "get",
        "/api/runs/{done}/artifacts/activations/cache/..%2F..%2Fmodel.keras",
        404,
        "no artifact",
    ),
    Case(
        "../ in a layer name",
        "get",
        "/api/runs/{done}/filters/..%2F..%2Fconfig",
        404,
        "no API endpoint",
    ),
    Case(
        "A probe index of 10^20",
        "get",
        "/api/runs/{done}/activations/probe/" + "9" * 20,
        404,
        "whole number",
    ),
    Case(
        "A probe index of -1", "get", "/api/runs/{done}/activations/probe/-1", 404, "whole number"
    ),
    Case("../ in a job id", "get", "/api/jobs/..%2F..%2Fjobs", 404, "no API endpoint"),
    Case(
        "An unknown status filter",
        "get",
        "/api/runs?status=%3Cb%3E",
        422,
        "unknown status",
        field="status",
    ),
    Case("limit=10^9", "get", "/api/runs?limit=1000000000", 422, "from 1 to 1000", field="limit"),
    Case(
        "epoch=10^9 for filters",
        "get",
        "/api/runs/{done}/filters/conv2d_1?epoch=1000000000",
        422,
        "from 0 to",
        field="epoch",
    ),
    # --- arrays, images and uploads ---------------------------------------------------------
    Case(
        "NaN in an image",
        "post",
        "/api/runs/{done}/activations",
        400,
        "NaN is not",
        raw(json.dumps({"image": grid(0)}).replace("[[0,", "[[NaN,", 1)),
    ),
    Case(
        "Infinity (1e999) in an image",
        "post",
        "/api/runs/{done}/activations",
        422,
        "finite number",
        raw(json.dumps({"image": grid(0)}).replace("[[0,", "[[1e999,", 1)),
        "image.0.0",
    ),
    Case(
        "A pixel of 300",
        "post",
        "/api/runs/{done}/activations",
        422,
        "from 0 to 255",
        {"json": {"image": grid(300)}},
        "image.0.0",
    ),
    Case(
        "Text as a pixel",
        "post",
        "/api/runs/{done}/activations",
        422,
        "from 0 to 255",
        {"json": {"image": grid("0")}},
        "image.0.0",
    ),
    Case(
        "A 27×28 image",
        "post",
        "/api/runs/{done}/activations",
        422,
        "got 27 rows",
        {"json": {"image": grid(0)[:27]}},
        "image",
    ),
    Case(
        "test_index 10^9",
        "post",
        "/api/runs/{done}/activations",
        422,
        "must be between 0 and",
        {"json": {"test_index": 10**9}},
        "test_index",
    ),
    Case(
        "An upload that is not a picture",
        "post",
        "/api/runs/{done}/activations",
        422,
        "not a picture",
        upload(b"#!/bin/sh\nrm -rf /\n", "digit.png"),
        "image",
    ),
    Case(
        "An upload over 2 MB",
        "post",
        "/api/runs/{done}/activations",
        413,
        "up to 2.0 MB",
        upload(b"\x89PNG\r\n\x1a\n" + b"0" * (3 * 1024 * 1024)),
    ),
    # --- run management ---------------------------------------------------------------------
    Case("Cancelling a finished run", "post", "/api/runs/{done}/cancel", 409, "already finished"),
    Case("Retrying a running run", "post", "/api/runs/{running}/retry", 409, "only a failed"),
    Case(
        "HTML as a tag",
        "patch",
        "/api/runs/{queued}",
        422,
        "is not valid",
        {"json": {"tags": ["<b>x</b>"]}},
        "tags",
    ),
    Case(
        "Changing a run's status by PATCH",
        "patch",
        "/api/runs/{queued}",
        422,
        "only name, tags and notes",
        {"json": {"status": "succeeded"}},
        "status",
    ),
    Case(
        "An Idempotency-Key of 201 characters",
        "post",
        "/api/runs",
        422,
        "201 characters long",
        {"json": {}, "headers": {"Idempotency-Key": "k" * 201}},
        "Idempotency-Key",
    ),
    Case(
        "A tab in an Idempotency-Key",
        "post",
        "/api/runs",
        422,
        "not allowed",
        {"json": {}, "headers": {"Idempotency-Key": "a\tb"}},
        "Idempotency-Key",
    ),
    Case("A method the path does not have", "put", "/api/runs", 405, "not allowed"),
    Case("A path that does not exist", "get", "/api/../../etc/passwd", 404, "no API endpoint"),
]


@pytest.fixture
def runs(client, api_store):
    def create(**config: Any) -> str:
        response = client.post("/api/runs", json={"epochs": 2, **config})
        assert response.status_code == 201, response.get_json()
        return response.get_json()["id"]

    ids = {"queued": create(name="queued"), "running": create(), "done": create()}
    assert api_store.claim(ids["running"], "w/1/t", 60)
    fake_trained_run(api_store, ids["done"])
    return ids


def snapshot(store) -> list[tuple]:
    return [
        (r["id"], r["name"], r["status"], tuple(r["tags"]), r["notes"], r["cancel_requested"])
        for r in store.list_runs()
    ]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_hostile_input_gets_a_4xx_that_says_why_and_changes_nothing(client, api_store, runs, case):
    before = snapshot(api_store)
    response = client.open(case.path.format(**runs), method=case.method.upper(), **case.kw)
    refused(response, case.status, case.field, case.says)
    assert snapshot(api_store) == before


def test_the_table_in_the_docs_lists_every_case():
    text = DOC.read_text()
    missing = [case.input for case in CASES if f"| {case.input} |" not in text]
    assert not missing, missing


def test_html_in_a_name_is_stored_as_is_and_served_as_json_text(client, api_store):
    response = client.post("/api/runs", json={"name": HTML_NAME})
    assert response.status_code == 201
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.mimetype == JSON and response.get_json()["name"] == HTML_NAME
    listed = client.get("/api/runs")
    assert listed.mimetype == JSON and listed.get_json()["runs"][0]["name"] == HTML_NAME


def test_deleting_a_running_run_asks_it_to_stop_and_removes_its_files(client, api_store, runs):
    running = runs["running"]
    assert client.delete(f"/api/runs/{running}").status_code == 204
    assert api_store.get_run(running) is None and not api_store.run_dir(running).exists()
    assert client.get(f"/api/runs/{running}").status_code == 404
    assert client.delete(f"/api/runs/{running}").status_code == 404  # twice: still a clear 404


def test_cancelling_twice_is_fine(client, runs):
    for _ in range(2):
        response = client.post(f"/api/runs/{runs['queued']}/cancel")
        assert response.status_code == 202 and response.get_json()["status"] == "cancelled"
    for _ in range(2):
        response = client.post(f"/api/runs/{runs['running']}/cancel")
        assert response.status_code == 202 and response.get_json()["status"] == RUNNING


# --- protections that are settings and code ----------------------------------------------------
@pytest.fixture
def dashboard(tmp_path, monkeypatch):
    """The whole dashboard (pages + API) with a login configured."""
    from dashboard import state
    from dashboard.app import create_app
    from shared.settings import Settings
    from shared.store import RunStore

    settings = Settings(
        _env_file=None,
        CNNLENS_DATA_DIR=tmp_path,
        REDIS_URL="redis://127.0.0.1:1/0",
        CNNLENS_AUTH_USER="lab",
        CNNLENS_AUTH_PASSWORD="s3cret pass",
    )
    app = create_app(RunStore(settings).init())
    yield app.server.test_client()
    state.set_store(None)


def basic(user: str, password: str) -> dict[str, str]:
    import base64

    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.mark.parametrize(
    "path", ["/", "/new", "/_dash-layout", "/_dash-dependencies", "/api/runs", "/api/openapi.json"]
)
def test_login_covers_pages_and_api(dashboard, path):
    refused = dashboard.get(path)
    assert refused.status_code == 401 and "Basic" in refused.headers["WWW-Authenticate"]
    assert dashboard.get(path, headers=basic("lab", "wrong")).status_code == 401
    assert dashboard.get(path, headers=basic("lab", "s3cret pass")).status_code in (200, 503)
    assert dashboard.post("/api/runs", json={}).status_code == 401  # nothing created


class Served:
    """Stands for waitress' server in test_debug_off_and_loopback_by_default: records, no socket."""

    def __init__(self, record: dict[str, Any], options: dict[str, Any]):
        self.record = record
        record.update(options)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "channel_class":
            self.record["channel"] = value
        object.__setattr__(self, name, value)

    def run(self) -> None:
        self.record["ran"] = True


def test_debug_off_and_loopback_by_default(monkeypatch):
    from dashboard import serve
    from shared.settings import Settings

    for key in ("CNNLENS_DEBUG", "CNNLENS_HOST", "CNNLENS_AUTH_USER", "CNNLENS_AUTH_PASSWORD"):
        monkeypatch.delenv(key, raising=False)
    settings = Settings(_env_file=None)
    assert settings.debug is False and settings.host == "127.0.0.1"
    assert settings.auth_user is None and settings.max_request_bytes == 8 * 1024 * 1024
    served: dict[str, Any] = {}

    class FakeApp:
        server = object()

        def run(self, **kw):  # Dash's development server: must not be used
            raise AssertionError("the debug server started")

    monkeypatch.setattr(serve, "get_settings", lambda: settings)
    monkeypatch.setattr(serve, "create_app", FakeApp)
    monkeypatch.setattr("waitress.create_server", lambda app, **kw: Served(served, kw))
    serve.main()
    assert served["host"] == "127.0.0.1" and served["ran"]
    # every route but the dataset upload keeps the request limit (tests/api/test_hostile_limits)
    assert served["channel"].parser_class.__name__ == "RouteLimitedParser"


def test_celery_speaks_json_only_and_beat_keeps_no_pickle_file():
    from shared.queue import celery_config
    from shared.settings import Settings

    config = celery_config(Settings(_env_file=None))
    assert config["accept_content"] == ["json"]
    assert config["task_serializer"] == config["result_serializer"] == "json"
    worker_app = (ROOT / "worker" / "celery_app.py").read_text()
    assert '"beat_scheduler": "celery.beat:Scheduler"' in worker_app  # not the shelve (pickle)


def calls(text: str, opening: str) -> list[str]:
    """Each `opening…)` call in a source text, up to its matching parenthesis."""
    found = []
    for match in re.finditer(re.escape(opening), text):
        depth, end = 1, match.end()
        while depth and end < len(text):
            depth += {"(": 1, ")": -1}.get(text[end], 0)
            end += 1
        found.append(text[match.start() : end])
    return found


def test_no_pickle_anywhere_and_models_load_in_safe_mode():
    offenders = []
    for path in SOURCES:
        text = path.read_text()
        for pattern in (
            r"^\s*(import|from)\s+(pickle|cPickle|dill|shelve|marshal)\b",
            r"allow_pickle\s*=\s*True",
            r"enable_unsafe_deserialization",
            r"safe_mode\s*=\s*False",
            r"PersistentScheduler",
        ):
            if re.search(pattern, text, re.MULTILINE):
                offenders.append(f"{path.relative_to(ROOT)}: {pattern}")
        for call in calls(text, "load_model("):
            if "safe_mode=True" not in call:
                offenders.append(f"{path.relative_to(ROOT)}: {call}")
        for call in calls(text, "np.load("):
            if "allow_pickle=False" not in call:
                offenders.append(f"{path.relative_to(ROOT)}: {call}")
    assert not offenders, offenders


def test_user_text_is_never_rendered_as_markup():
    # Dash escapes strings; only these would render user text as HTML or Markdown.
    for path in (ROOT / "dashboard").rglob("*.py"):
        text = path.read_text()
        assert "dangerously_allow_html" not in text, path
        assert "dcc.Markdown(" not in text, path


def test_html_names_are_text_in_every_page(tmp_path, monkeypatch):
    import importlib

    from dash import html

    from dashboard import state
    from dashboard.app import create_app
    from shared.config import parse_config
    from shared.settings import Settings
    from shared.store import RunStore

    store = RunStore(Settings(_env_file=None, CNNLENS_DATA_DIR=tmp_path)).init()
    create_app(store)
    try:
        run_id = store.create_run(*parse_config({"name": HTML_NAME}))["id"]
        pages = {
            "runs": importlib.import_module("dashboard.pages.runs").layout(),
            "run": importlib.import_module("dashboard.pages.run").layout(run_id=run_id),
            "new (clone)": importlib.import_module("dashboard.pages.new_run").layout(clone=run_id),
        }
        table, *_ = importlib.import_module("dashboard.pages.runs").refresh(1, "", "", "", None)
        pages["runs table"] = table
        for name, layout in pages.items():
            assert not _markup_nodes(layout), name
        assert HTML_NAME in _strings(pages["run"]) and HTML_NAME in _strings(table)
    finally:
        state.set_store(None)
    assert html.Div(HTML_NAME).children == HTML_NAME  # a text child, escaped by React


def _strings(component: Any) -> list[str]:
    if isinstance(component, str):
        return [component]
    if isinstance(component, list | tuple):
        return [s for c in component for s in _strings(c)]
    children = getattr(component, "children", None)
    return _strings(children) if children is not None else []


def _markup_nodes(component: Any) -> list[Any]:
    """Components that would parse their content as markup (none should exist)."""
    from dash import dcc

    if isinstance(component, list | tuple):
        return [n for c in component for n in _markup_nodes(c)]
    found = [component] if isinstance(component, dcc.Markdown) else []
    if getattr(component, "dangerously_allow_html", False):
        found.append(component)
    children = getattr(component, "children", None)
    return found + (_markup_nodes(children) if children is not None else [])
