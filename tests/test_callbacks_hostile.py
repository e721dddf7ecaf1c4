"""Odd input to the dashboard's callbacks, through Dash's real endpoint (issue 11, items 10, 11).

A callback's inputs come from the browser, so anyone can send any JSON there: the compare page's
address with 200,000 run ids, `test:²` (a digit to str.isdigit, not to int), 5,000-digit or
infinite indices, text where a number goes, a status store that is not one. Every such request
is answered 200 with a sentence (or the page as it was and a toast), never a 500; and the
address's ids are cut to four before any is looked up. Run names with markup are shown as text in
the compare page's Plotly figures (legends, hover labels), not as links or styled spans.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

import pytest

from shared.settings import Settings
from tests.api.support import fake_trained_run

NO_BROKER = "redis://127.0.0.1:1/0"
MARKUP = '<a href="https://evil.example/">click</a><span style="font-size:90px">big</span> 5%{y}'


@pytest.fixture
def site(tmp_path, monkeypatch):
    """The dashboard with two finished runs (one named with markup), and a callback caller."""
    from dashboard import state
    from dashboard.app import create_app
    from shared.config import parse_config
    from shared.queue import producer
    from shared.settings import get_settings
    from shared.store import RunStore

    monkeypatch.setenv("REDIS_URL", NO_BROKER)
    monkeypatch.delenv("CNNLENS_BROKER_URL", raising=False)
    get_settings.cache_clear()
    producer.cache_clear()
    store = RunStore(Settings(_env_file=None, CNNLENS_DATA_DIR=tmp_path, REDIS_URL=NO_BROKER))
    store.init()
    app = create_app(store)
    ids = []
    for name in ("plain", MARKUP):
        run = store.create_run(*parse_config({"name": name, "epochs": 2}))
        fake_trained_run(store, run["id"])
        store.record_epoch(run["id"], 1, {"loss": 1.0, "accuracy": 0.5, "val_loss": 1.1})
        ids.append(run["id"])
    client = app.server.test_client()
    deps = client.get("/_dash-dependencies").get_json()
    yield Caller(client, deps), store, ids
    state.set_store(None)
    store.engine.dispose()
    get_settings.cache_clear()


class Caller:
    """Posts to /_dash-update-component exactly as the page's JavaScript does."""

    def __init__(self, client, deps):
        self.client = client
        self.deps = deps

    def dep(self, output: str) -> dict[str, Any]:
        return next(d for d in self.deps if output in d["output"])

    def body(self, output: str, values: dict[str, Any], changed: str) -> dict[str, Any]:
        dep = self.dep(output)
        outputs = [
            {"id": o.rsplit(".", 1)[0], "property": o.rsplit(".", 1)[1]}
            for o in dep["output"].strip(".").split("...")
        ]
        key = lambda i: f"{i['id']}.{i['property']}"  # noqa: E731
        return {
            "output": dep["output"],
            "outputs": outputs if dep["output"].startswith("..") else outputs[0],
            "inputs": [{**i, "value": values.get(key(i))} for i in dep["inputs"]],
            "state": [{**s, "value": values.get(key(s))} for s in dep.get("state", [])],
            "changedPropIds": [changed],
        }

    def call(self, output: str, values: dict[str, Any], changed: str, raw: str | None = None):
        body = json.dumps(self.body(output, values, changed)) if raw is None else raw
        response = self.client.post(
            "/_dash-update-component", data=body, content_type="application/json"
        )
        assert response.status_code in (200, 204), (
            response.status_code,
            response.get_data(as_text=True)[:400],
        )
        return response.get_json() if response.status_code == 200 else None

    def page(self, path: str, search: str = "") -> Any:
        values = {"_pages_location.pathname": path, "_pages_location.search": search}
        return self.call("_pages_content.children", values, "_pages_location.pathname")


def strings(obj: Any) -> list[str]:
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):
        return [s for v in obj.values() for s in strings(v)]
    if isinstance(obj, list):
        return [s for v in obj for s in strings(v)]
    return []


def figures(obj: Any) -> list[dict[str, Any]]:
    """Every Plotly figure ({"data": [...], "layout": {...}}) in a layout's JSON."""
    if isinstance(obj, dict):
        here = [obj] if isinstance(obj.get("data"), list) and "layout" in obj else []
        return here + [f for v in obj.values() for f in figures(v)]
    if isinstance(obj, list):
        return [f for v in obj for f in figures(v)]
    return []


# --- 11. the compare page's address ----------------------------------------------------------------
def test_200000_ids_in_the_address_are_cut_to_four_before_any_is_looked_up(site, monkeypatch):
    caller, store, ids = site
    looked_up: list[str] = []
    original = type(store).get_run

    def counting(self, run_id, *args, **kwargs):
        looked_up.append(run_id)
        return original(self, run_id, *args, **kwargs)

    monkeypatch.setattr(type(store), "get_run", counting)
    crowd = [secrets.token_hex(16) for _ in range(2000)] * 100  # 200,000 ids, 6.6 MB
    search = "?runs=" + ",".join([*ids, ids[0], *crowd])
    start = time.perf_counter()
    layout = caller.page("/compare", search)
    seconds = time.perf_counter() - start
    assert layout is not None
    assert len(looked_up) <= 4 + 4  # the layout's own lookups, and the chosen runs' once more
    assert set(looked_up) <= {*ids, *crowd[:2]}
    assert seconds < 5, seconds  # before: one query per id, ~80 s for 250,000
    cards = json.dumps(layout)
    assert ids[0] in cards and ids[1] in cards


@pytest.mark.parametrize(
    "ref",
    ["test:²", "test:٣", "test:" + "9" * 5000, "test:-1", "test:1e3", "px:" + "A" * 5000, "x" * 9],
    ids=[
        "superscript two",
        "arabic three",
        "5000 digits",
        "negative",
        "exponent",
        "huge px",
        "junk",
    ],
)
def test_an_input_reference_that_is_not_one_falls_back_to_the_default(site, ref):
    caller, _store, ids = site
    layout = caller.page("/compare", f"?runs={ids[0]},{ids[1]}&input={ref}")
    assert "cmp-input" in json.dumps(layout)


@pytest.mark.parametrize(
    "index",
    ["²", "9" * 5000, "abc", {"a": 1}, [1], -3, 10**30, 2.5, True],
    ids=[
        "superscript",
        "5000 digits",
        "text",
        "object",
        "list",
        "negative",
        "huge",
        "half",
        "bool",
    ],
)
def test_a_typed_test_index_that_is_not_one_gets_a_sentence(site, index):
    caller, _store, ids = site
    values = {
        "cmp-test-show.n_clicks": 1,
        "cmp-test-index.value": index,
        "cmp-runs.data": ids,
    }
    answer = caller.call("cmp-input-status.children", values, "cmp-test-show.n_clicks")
    status = answer["response"]["cmp-input-status"]["children"]
    text = " ".join(strings(status))
    assert len(text) > 10 and "Traceback" not in text, text
    assert "cmp-input" not in answer["response"]  # no input chosen


@pytest.mark.parametrize(
    ("output", "values", "changed"),
    [
        ("cmp-acts.children", {"cmp-depth.value": "9" * 5000}, "cmp-depth.value"),
        ("cmp-acts.children", {"cmp-depth.value": "Infinity"}, "cmp-depth.value"),
        (
            "cmp-filters.children",
            {"cmp-epoch.value": "abc", "cmp-conv.value": 0},
            "cmp-epoch.value",
        ),
        ("cmp-filters.children", {"cmp-epoch.value": 10**30}, "cmp-epoch.value"),
        ("cmp-stats-table.rowData", {"cmp-conv.value": [1, 2]}, "cmp-conv.value"),
        ("cmp-cka.figure", {"cmp-pair.value": "9:0"}, "cmp-pair.value"),
        ("cmp-abl.figure", {"cmp-abl-layer.value": "../../model.keras"}, "cmp-abl-layer.value"),
        ("cmp-abl.figure", {"cmp-abl-layer.value": ["conv2d_1"]}, "cmp-abl-layer.value"),
        (
            "cmp-abl.figure",
            {"cmp-abl-layer.value": "conv2d_1", "cmp-status.data": {"ablation": [1]}},
            "cmp-status.data",
        ),
        ("cmp-preds.children", {"cmp-status.data": "not a status"}, "cmp-status.data"),
        (
            "cmp-preds.children",
            {"cmp-input.data": {"kind": "test", "label": "²"}},
            "cmp-status.data",
        ),
    ],
    ids=str,
)
def test_the_compare_views_answer_odd_values_without_a_500(site, output, values, changed):
    caller, _store, ids = site
    values = {"cmp-body-runs.data": ids, "cmp-status.data": {}, **values}
    raw = None
    if values.get("cmp-depth.value") == "Infinity":  # a JSON literal Python's parser accepts
        body = caller.body(output, {**values, "cmp-depth.value": 12345}, changed)
        raw = json.dumps(body).replace("12345", "Infinity")
    caller.call(output, values, changed, raw=raw)


def test_a_callback_that_fails_on_its_input_answers_with_a_toast(site, monkeypatch):
    from dashboard.compare import panels

    caller, _store, ids = site

    def broken(*_args, **_kwargs):
        raise KeyError("something no widget sends")

    monkeypatch.setattr(panels, "predictions", broken)
    values = {"cmp-body-runs.data": ids, "cmp-status.data": {}}
    answer = caller.call("cmp-preds.children", values, "cmp-status.data")
    flash = answer["sideUpdate"]["app-flash"]["data"]
    assert "could not be done" in flash["message"]


# --- 10. run names in Plotly figures ---------------------------------------------------------------
def test_markup_in_a_run_name_is_text_in_the_compare_figures(site):
    caller, _store, ids = site
    layout = caller.page("/compare", f"?runs={ids[0]},{ids[1]}")
    curves = [f for f in figures(layout) if any(t.get("legendgroup") for t in f["data"])]
    assert curves, "the curves figure"
    texts = [s for fig in curves for trace in fig["data"] for s in strings(trace)]
    texts += [s for fig in curves for s in strings(fig["layout"])]
    assert not [s for s in texts if "<a " in s or "<span" in s], texts
    names = {trace["name"] for fig in curves for trace in fig["data"]}
    assert any("&lt;a href=" in n and "&lt;span style=" in n for n in names), names
    hovers = [trace["hovertemplate"] for fig in curves for trace in fig["data"]]
    # the name's "%{y}" is not a template field any more: only the figure's own fields remain
    assert all(h.count("%{") == 2 for h in hovers), hovers
    assert any("5&#37;{y}" in h for h in hovers)


def test_plotly_text_escapes_what_plotly_reads_as_markup():
    from dashboard.ui.figures import plotly_text

    assert plotly_text("<b>A</b> & 50%{x}") == "&lt;b&gt;A&lt;/b&gt; &amp; 50&#37;{x}"
    assert plotly_text("plain name · 3") == "plain name · 3"


@pytest.mark.parametrize("channel", ["²", "٣", "9" * 5000, -1, 10**30, 2.5, True, {"a": 1}])
def test_the_run_page_filter_views_answer_an_odd_channel_with_the_mean(site, channel):
    """The channel picker's value as a hostile page could send it: "²" is a digit to isdigit but
    not to int(); a negative int would index the kernel from the end. Both views fall back to the
    mean over input channels instead of failing."""
    caller, _store, ids = site
    values = {
        "run-id.data": ids[0],
        "run-filter-layer.value": "conv2d_1",
        "run-filter-channel.value": channel,
        "run-filter-scale.value": "tile",
    }
    answer = caller.call("run-filters.figure", values, "run-filter-channel.value")
    grid = answer["response"]["run-filters"]["figure"]
    assert grid["data"], grid  # a drawn grid, not the empty figure
    click = {"points": [{"pointIndex": 0}]}
    detail = caller.call(
        "run-filter-detail.figure",
        {**values, "run-filters.clickData": click},
        "run-filters.clickData",
    )
    assert detail["response"]["run-filter-detail"]["figure"]["data"]
