"""The dashboard's pages, callbacks and figure builders, on a temporary store (no browser, no TF).

The "succeeded" run here is a fixture of the dashboard's read side: its artifacts are written with
numpy following docs/CONTRACTS.md, as a worker would (the worker is tested on its own).
"""

from __future__ import annotations

import importlib
import json
from contextvars import copy_context
from typing import Any

import numpy as np
import plotly.graph_objects as go
import pytest
from dash._callback_context import context_value
from dash._utils import AttributeDict

from dashboard import state
from dashboard.run import inspection_callbacks
from dashboard.ui import components, figures, layer_editor, layer_preview, map_figures
from shared import artifacts as names
from shared.config import parse_config
from shared.datasets import load_raw, probe_indices
from shared.queue import producer
from shared.settings import Settings, get_settings
from shared.store import RUNNING, SUCCEEDED, RunStore

NO_BROKER = "redis://127.0.0.1:1/0"  # nothing listens there: submits stay queued, fast


def write_succeeded_run(
    store: RunStore, config: dict[str, Any] | None = None, seed: int = 0
) -> str:
    """Create a run and write every artifact a finished training leaves (CONTRACTS.md shapes)."""
    rng = np.random.default_rng(seed)
    cfg, infos = parse_config(config or {"name": "fake notebook", "epochs": 3})
    run_id = store.create_run(cfg, infos)["id"]
    files = store.files
    for e in range(1, cfg.epochs + 1):
        store.record_epoch(
            run_id,
            e,
            {
                "loss": 1 / e,
                "accuracy": 1 - 0.3 / e,
                "val_loss": 1.1 / e,
                "val_accuracy": 1 - 0.35 / e,
            },
            2.0,
        )
    for info in infos:
        if info.kernel_shape:
            files.save_array(
                run_id,
                f"{names.FILTERS_DIR}/{info.name}.npy",
                rng.normal(size=info.kernel_shape).astype(np.float32),
            )
            stack = rng.normal(size=(cfg.epochs + 1, *info.kernel_shape)).astype(np.float16)
            files.save_array(run_id, f"{names.FILTERS_DIR}/epochs/{info.name}.npy", stack)
    _, _, x_test, y_test = load_raw("mnist-sample")
    idx = np.array(probe_indices(y_test, 10), dtype=np.int32)
    files.save_array(run_id, f"{names.PROBE_DIR}/inputs.npy", x_test[idx].astype(np.uint8))
    files.save_array(run_id, f"{names.PROBE_DIR}/labels.npy", y_test[idx].astype(np.int32))
    files.save_array(run_id, f"{names.PROBE_DIR}/indices.npy", idx)
    logits = rng.normal(size=(len(idx), 10)) + 4 * np.eye(10)[y_test[idx]]
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    files.save_array(run_id, f"{names.PROBE_DIR}/predictions.npy", probs.astype(np.float32))
    for info in infos:
        acts = np.maximum(rng.normal(size=(len(idx), *info.output_shape)), 0).astype(np.float16)
        files.save_array(run_id, f"{names.PROBE_DIR}/{info.name}.npy", acts)
    confusion = (np.eye(10) * 180 + rng.integers(0, 5, (10, 10))).astype(int).tolist()
    files.write_json(
        run_id,
        names.METRICS,
        {
            "test": {"loss": 0.08, "accuracy": 0.975},
            "confusion": confusion,
            "classes": [str(i) for i in range(10)],
            "train_images": 7200,
            "val_images": 800,
            "seconds": 21.5,
            "images_per_second": 1004.0,
        },
    )
    files.write_bytes(run_id, names.MODEL, b"not a real model")
    store.update_fields(run_id, epoch=cfg.epochs, steps=225, step=225)
    store.finish(run_id, SUCCEEDED, test_loss=0.08, test_accuracy=0.975)
    return run_id


@pytest.fixture(scope="module")
def dash_app(tmp_path_factory):
    """One app per module: Dash imports the pages (and registers their callbacks) per app."""
    from dashboard.app import create_app

    settings = Settings(
        _env_file=None, CNNLENS_DATA_DIR=tmp_path_factory.mktemp("boot"), REDIS_URL=NO_BROKER
    )
    store = RunStore(settings).init()
    app = create_app(store)
    yield app
    state.set_store(None)


@pytest.fixture
def store(tmp_path, dash_app, monkeypatch):
    # The producer reads the global settings: point them at a dead broker so a submit in a test
    # can never reach a real Redis (and a real worker) on this machine.
    monkeypatch.setenv("REDIS_URL", NO_BROKER)
    monkeypatch.setenv("CNNLENS_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CNNLENS_BROKER_URL", raising=False)
    get_settings.cache_clear()
    producer.cache_clear()
    settings = Settings(_env_file=None, CNNLENS_DATA_DIR=tmp_path, REDIS_URL=NO_BROKER)
    s = RunStore(settings).init()
    state.set_store(s)
    state.reset_broker_cache(ok=True)
    yield s
    s.engine.dispose()
    get_settings.cache_clear()
    producer.cache_clear()


def page(name: str):
    return importlib.import_module(f"dashboard.pages.{name}")


def texts(component: Any) -> str:
    """All text in a component tree (what a reader of the page would see)."""
    if component is None or isinstance(component, bool):
        return ""
    if isinstance(component, str | int | float):
        return str(component)
    if isinstance(component, list | tuple):
        return " ".join(texts(c) for c in component)
    return texts(getattr(component, "children", None))


def find(component: Any, cid: Any) -> Any:
    """The component with id `cid` in a tree, or None."""
    if isinstance(component, list | tuple):
        for c in component:
            hit = find(c, cid)
            if hit is not None:
                return hit
        return None
    if getattr(component, "id", None) == cid:
        return component
    children = getattr(component, "children", None)
    return find(children, cid) if children is not None and not isinstance(children, str) else None


def walk(component: Any):
    """Every component of a tree, depth first."""
    if isinstance(component, list | tuple):
        for c in component:
            yield from walk(c)
        return
    if component is None or isinstance(component, str | int | float | bool):
        return
    yield component
    yield from walk(getattr(component, "children", None))


def with_context(triggered: list[dict[str, Any]], func, *args):
    """Call a callback the way Dash does, with ctx.triggered set."""

    def run():
        context_value.set(AttributeDict(triggered_inputs=triggered))
        return func(*args)

    return copy_context().run(run)


# --- app ----------------------------------------------------------------------------------------
def test_app_serves_pages_and_local_assets(dash_app, store):
    client = dash_app.server.test_client()
    assert dash_app.server.config["MAX_CONTENT_LENGTH"] == store.settings.max_request_bytes
    html_page = client.get("/").get_data(as_text=True)
    assert "bootstrap.min.css" in html_page and "cdn" not in html_page.lower()
    assert client.get("/assets/bootstrap.min.css").status_code == 200
    layout = client.get("/_dash-layout").get_json()
    assert "app-flash" in json.dumps(layout)
    paths = {p["path"] for p in __import__("dash").page_registry.values()}
    assert {"/", "/new", "/404"} <= paths


def test_a_second_app_gets_each_callback_once(dash_app, store):
    from dashboard.app import create_app

    create_app(store)  # its pages register callbacks, but it never serves
    again = create_app(store)
    deps = again.server.test_client().get("/_dash-dependencies").get_json()
    outputs = [d["output"] for d in deps]
    assert len(outputs) == len(set(outputs)) and any("runs-table" in o for o in outputs)


# --- pages render -------------------------------------------------------------------------------
def test_runs_page_empty_store(store):
    out = page("runs").layout()
    assert "No runs yet — start one" in texts(out)


def test_runs_page_lists_runs_with_progress(store):
    queued = store.create_run(*parse_config({"name": "<b>queued</b>", "epochs": 4}))
    done = write_succeeded_run(store)
    running = store.create_run(*parse_config({"name": "busy", "epochs": 5}))
    assert store.claim(running["id"], "w1", 60)
    store.heartbeat(running["id"], "w1", 60, epoch=2, step=10, steps=100)
    table, _sig, _count, _banner = page("runs").refresh(1, "", "", "", None)
    text = texts(table)
    assert "<b>queued</b>" in text  # user text shown as text, never parsed as markup
    assert "waiting for a worker" in text
    assert "epoch 2/5 · batch 10/100" in text
    assert "3/3 epochs" in text and "97.5%" in text
    assert f"/run/{done}" in json.dumps(table.to_plotly_json(), default=str)
    assert queued["id"] != done
    only_done, *_ = page("runs").refresh(2, SUCCEEDED, "", "", None)
    assert "busy" not in texts(only_done) and "fake notebook" in texts(only_done)
    by_name, *_ = page("runs").refresh(3, "", "", "BUS", None)
    assert "busy" in texts(by_name) and "fake notebook" not in texts(by_name)
    none, *_ = page("runs").refresh(4, RUNNING, "mnist", "", None)
    assert "No runs match" in texts(none)


def test_runs_refresh_skips_unchanged_table_and_shows_broker_banner(store):
    store.create_run(*parse_config({}))
    _table, sig, _count, _ = page("runs").refresh(1, "", "", "", None)
    state.reset_broker_cache(ok=False)
    state._broker["checked"] = 1e18  # fresh: no background check in the test
    again = page("runs").refresh(2, "", "", "", sig)
    assert again[0] is __import__("dash").no_update
    assert "task queue is not reachable" in texts(again[3])


def test_run_page_not_found(store):
    out = page("run").layout(run_id="0" * 32)
    assert "Run not found" in texts(out)
    assert "Run not found" in texts(page("run").layout(run_id="../etc"))


def test_run_page_queued_and_succeeded(store):
    queued = store.create_run(*parse_config({"name": "waiting"}))["id"]
    out = page("run").layout(run_id=queued)
    text = texts(out)
    assert "waiting for a worker" in text and "appear here when training finishes" in text
    assert find(out, "run-interval").disabled is False
    done = write_succeeded_run(store)
    out = page("run").layout(run_id=done)
    text = texts(out)
    assert "97.50%" in text and "Filters" in text and "Feature maps" in text
    assert find(out, "run-interval").disabled is True
    assert len(find(out, "run-probe-thumbs").children) == 10
    assert find(out, "run-filters").figure.data[0].type == "image"


def test_cloned_run_links_its_parent_and_running_runs_show_time_left(store):
    from dashboard.ui import components

    parent = store.create_run(*parse_config({"name": "the original"}))["id"]
    child = store.create_run(*parse_config({"name": "the copy"}), parent_id=parent)["id"]
    out = page("run").layout(run_id=child)
    assert "copy of" in texts(out) and "the original" in texts(out)
    run = {"status": RUNNING, "started_at": 1000.0, "progress": {"fraction": 0.25}}
    assert components.eta_text(run, now=1060.0) == "about 3 min 00 s left"
    assert components.eta_text(run | {"status": SUCCEEDED}, now=1060.0) == ""


def test_failed_run_shows_error(store):
    run_id = store.create_run(*parse_config({}))["id"]
    store.finish(run_id, "failed", error="out of memory while building the model")
    assert "out of memory while building the model" in texts(page("run").layout(run_id=run_id))


def test_new_and_404_pages_render(store):
    assert "Model preview" in texts(page("new_run").layout())
    assert "Page not found" in texts(page("not_found_404").layout())


def test_new_page_clone_prefills(store):
    src = store.create_run(*parse_config({"name": "base", "epochs": 7}))["id"]
    out = page("new_run").layout(clone=src)
    config = find(out, "new-config").data
    assert config["epochs"] == 7 and config["name"] == "base (copy)"
    assert find(out, "new-parent").data == src
    assert "not found" in texts(page("new_run").layout(clone="f" * 32))


# --- new-run editor -----------------------------------------------------------------------------
def preview_of(store: RunStore, config: dict[str, Any]):
    field_ids = [{"type": "new-field", "field": f} for f in layer_editor.FIELDS]
    layer_ids = [{"type": "new-layer-error", "index": i} for i in range(len(config["layers"]))]
    param_ids = [
        {"type": "new-param", "index": i, "param": p}
        for i, layer in enumerate(config["layers"])
        for p, *_ in layer_editor.LAYER_PARAMS[layer["type"]]
    ]
    return (
        page("new_run").preview_outputs(store, config, field_ids, field_ids, layer_ids, param_ids),
        field_ids,
        param_ids,
    )


def test_default_model_preview_has_notebook_shapes_and_43530_params(store):
    (table, messages, invalid, field_errs, layer_errs, param_invalid, disabled), *_ = preview_of(
        store, layer_editor.default_config()
    )
    text = texts(table)
    for shape in ("(26, 26, 16)", "(13, 13, 16)", "(11, 11, 32)", "(3872,)", "(10,)"):
        assert shape in text
    assert "43,530" in text
    assert not disabled and not any(invalid) and not any(layer_errs) and messages == []


def test_editor_add_remove_move_edit(store):
    config = layer_editor.default_config()
    added, rerender, rewrite = layer_editor.editor_step(
        config, "new-add", 1, "conv2d", [], [], [], []
    )
    assert rerender and not rewrite
    assert [layer["type"] for layer in added["layers"]] == [
        "conv2d",
        "maxpool2d",
        "conv2d",
        "conv2d",
        "flatten",
        "dense",
    ]
    moved, *_ = layer_editor.editor_step(
        added, {"type": "new-layer-action", "index": 3, "action": "up"}, 1, None, [], [], [], []
    )
    assert [layer["type"] for layer in moved["layers"]][:4] == [
        "conv2d",
        "maxpool2d",
        "conv2d",
        "conv2d",
    ]
    removed, *_ = layer_editor.editor_step(
        moved, {"type": "new-layer-action", "index": 2, "action": "remove"}, 1, None, [], [], [], []
    )
    assert len(removed["layers"]) == 5
    edited, rerender, _ = layer_editor.editor_step(
        layer_editor.default_config(),
        {"type": "new-param", "index": 2, "param": "filters"},
        64,
        None,
        [{"type": "new-param", "index": 2, "param": "filters"}],
        [64],
        [],
        [],
    )
    assert not rerender and edited["layers"][2]["filters"] == 64
    (table, *_rest), *_ = preview_of(store, edited)
    assert "(11, 11, 64)" in texts(table) and "78,730" not in texts(table)
    assert f"{layer_preview.total_params(edited):,}" in texts(table)
    fresh, rerender, _ = layer_editor.editor_step(
        edited, {"type": "new-layer-action", "index": 0, "action": "up"}, None, None, [], [], [], []
    )
    assert not rerender and fresh == edited  # a freshly rendered button firing is not a click


def test_presets_cover_the_notebook_exercises(store):
    field_ids = [{"type": "new-field", "field": f} for f in layer_editor.FIELDS]
    for name in layer_editor.PRESETS:
        config, rerender, rewrite = layer_editor.editor_step(
            layer_editor.default_config() | {"name": "mine"},
            {"type": "new-preset", "name": name},
            1,
            None,
            [],
            [],
            field_ids,
            layer_editor.field_values(layer_editor.default_config() | {"name": "mine"}, field_ids),
        )
        assert rerender and rewrite and config["name"] == "mine"
        (_t, _m, _i, _fe, _le, _pi, disabled), *_ = preview_of(store, config)
        assert not disabled, name
    tanh, *_ = layer_editor.editor_step(
        layer_editor.default_config(),
        {"type": "new-preset", "name": "tanh"},
        1,
        None,
        [],
        [],
        [],
        [],
    )
    assert {layer.get("activation") for layer in tanh["layers"][:3:2]} == {"tanh"}


def test_invalid_config_shows_field_messages(store):
    bad = layer_editor.default_config() | {"epochs": 0}
    bad["layers"][2]["kernel_size"] = 11
    (table, _m, invalid, field_errs, layer_errs, param_invalid, disabled), field_ids, param_ids = (
        preview_of(store, bad)
    )
    assert disabled
    epochs_at = [f["field"] for f in field_ids].index("epochs")
    assert invalid[epochs_at] and "at least 1" in field_errs[epochs_at]
    bad = layer_editor.default_config()
    bad["layers"][1]["pool_size"] = 8
    bad["layers"][2]["kernel_size"] = 5
    (table, _m, invalid, field_errs, layer_errs, param_invalid, disabled), _f, param_ids = (
        preview_of(store, bad)
    )
    assert "does not fit" in layer_errs[2]
    assert param_invalid[param_ids.index({"type": "new-param", "index": 2, "param": "kernel_size"})]
    assert "(3, 3, 16)" in texts(table) and "—" in texts(table)


def test_submit_queues_the_run_and_navigates(store):
    path, flash, error = page("new_run").submit_config(store, layer_editor.default_config(), None)
    assert error is None and path.startswith("/run/")
    run_id = path.rsplit("/", 1)[1]
    assert store.get_run(run_id)["status"] == "queued"
    assert "not reachable" in flash["message"]  # no broker in the tests: it stays queued
    _p, _f, error = page("new_run").submit_config(store, {"epochs": -1}, None)
    assert "Epochs: must be at least 1" in texts(error)  # the form's label for the field


# --- run page callbacks -------------------------------------------------------------------------
def test_probe_click_changes_activation_figure(store):
    run_id = write_succeeded_run(store)
    k = with_context(
        [{"prop_id": '{"index":3,"type":"run-probe"}.n_clicks', "value": 1}],
        inspection_callbacks.select_probe,
        [0, 0, 0, 1] + [0] * 6,
        0,
    )
    assert k == 3
    classes = inspection_callbacks.mark_probe(k, [0] * 10)
    assert classes[3].endswith("selected") and not classes[0].endswith("selected")
    fresh = with_context(
        [{"prop_id": '{"index":5,"type":"run-probe"}.n_clicks', "value": None}],
        inspection_callbacks.select_probe,
        [0] * 10,
        3,
    )
    assert fresh == 3  # a re-rendered thumbnail is not a click
    first = inspection_callbacks.show_activations(0, "conv2d_1", "tile", run_id)
    third = inspection_callbacks.show_activations(3, "conv2d_1", "tile", run_id)
    assert first[0].data[0].source != third[0].data[0].source
    assert "16 feature maps of 26×26" in " ".join(texts(third[2]).split())  # with glossary links
    dense = inspection_callbacks.show_activations(3, "dense_1", "tile", run_id)
    assert dense[0].data[0].type == "bar" and len(dense[0].data[0].y) == 10
    click = {"points": [{"curveNumber": 1, "pointIndex": 4}]}
    detail = inspection_callbacks.show_activation_detail(click, 3, "conv2d_1", run_id)
    assert detail.data[0].type == "heatmap" and np.asarray(detail.data[0].z).shape == (26, 26)


def write_cached_extraction(store: RunStore, run_id: str, index: int) -> str:
    """What the extraction worker leaves for one test image (CONTRACTS.md: activations/cache)."""
    from dashboard.service import run_actions

    image, _label = run_actions.test_image("mnist-sample", index)
    digest = run_actions.input_hash(image)
    run = store.get_run(run_id)
    _, infos = parse_config(run["config"])
    rng = np.random.default_rng(index)
    arrays = {"input": image, "probabilities": np.full(10, 0.1, np.float32)}
    for info in infos:
        arrays[f"layer:{info.name}"] = rng.random(info.output_shape).astype(np.float16)
    store.files.save_arrays(run_id, run_actions.cache_rel(digest), **arrays)
    return digest


def test_any_test_image_from_cache_and_through_a_job(store):
    from dashboard.run import input_panel

    run_id = write_succeeded_run(store)
    run = store.get_run(run_id)
    digest = write_cached_extraction(store, run_id, 7)
    selection, job, disabled, status = input_panel.request_test_input(store, run, 7)
    assert selection["digest"] == digest and job is None and disabled
    assert "test image #7" in texts(status)
    probe0 = inspection_callbacks.show_activations(0, "conv2d_1", "tile", run_id)
    chosen = inspection_callbacks.show_activations(selection, "conv2d_1", "tile", run_id)
    assert chosen[0].data[0].source != probe0[0].data[0].source
    assert inspection_callbacks.mark_probe(selection, [0] * 10) == ["lens-thumb"] * 10
    # Not cached and no broker in the tests: the page says so instead of failing.
    selection, job, disabled, status = input_panel.request_test_input(store, run, 8)
    assert job is None and "not reachable" in texts(status)
    _s, _j, _d, status = input_panel.request_test_input(store, run, 10**6)
    assert "test_index must be between" in texts(status)
    # A job the worker finished: polling selects its image.
    job_id = store.create_job("extract", run_id, {"run_id": run_id, "input_hash": "x"})
    job = {"job_id": job_id, "since": 0, "test_index": 9, "digest": digest, "label": 7}
    assert input_panel.poll_job(store, run, job, now=1)[2] is __import__("dash").no_update
    store.set_job(job_id, SUCCEEDED, result={})
    selection, job_after, disabled, status = input_panel.poll_job(store, run, job, now=2)
    assert selection["digest"] == digest and job_after is None and disabled


def test_filter_channel_selector(store):
    run_id = write_succeeded_run(store)
    show = inspection_callbacks.show_filters
    fig, options, disabled, caption = show("conv2d_1", "mean", None, "tile", run_id)
    assert disabled and "16 filters of 3×3" in caption and len(fig.data[2].text) == 16
    fig_mean, options, disabled, caption = show("conv2d_2", "mean", None, "tile", run_id)
    assert not disabled and len(options) == 17 and "averaged" in caption
    fig_c5, _o, _d, caption = show("conv2d_2", "5", None, "tile", run_id)
    assert "input map #5" in caption
    assert fig_c5.data[0].source != fig_mean.data[0].source
    fig_init, *_rest, caption = show("conv2d_2", "5", 0, "tile", run_id)
    assert "initial" in caption and fig_init.data[0].source != fig_c5.data[0].source


def test_poll_updates_progress_and_stops_when_finished(store):
    run_id = store.create_run(*parse_config({"epochs": 2}))["id"]
    run_page = page("run")
    assert store.claim(run_id, "w", 60)
    store.heartbeat(run_id, "w", 60, epoch=1, step=5, steps=10)
    out = run_page.poll_outputs(store, run_id, None)
    assert "epoch 1/2" in texts(out[1]) and out[4] is False
    assert run_page.poll_outputs(store, run_id, out[5])[0] is __import__("dash").no_update
    store.record_epoch(run_id, 1, {"loss": 0.3, "accuracy": 0.9})
    store.finish(run_id, "cancelled")
    out = run_page.poll_outputs(store, run_id, out[5])
    assert out[4] is True and isinstance(out[2], go.Figure)


# --- figure builders ----------------------------------------------------------------------------
def test_filter_grid_first_layer_is_gray_montage():
    fig = map_figures.filter_grid(np.random.default_rng(0).normal(size=(3, 3, 1, 16)))
    assert fig.data[0].type == "image" and fig.data[0].source.startswith("data:image/png")
    assert len(fig.data[1].x) == 16 and list(fig.data[2].text[:2]) == ["#0", "#1"]


def test_kernel_tiles_channel_and_mean():
    k = np.arange(3 * 3 * 4 * 8, dtype=np.float32).reshape(3, 3, 4, 8)
    assert map_figures.kernel_tiles(k, 2).shape == (8, 3, 3)
    np.testing.assert_allclose(map_figures.kernel_tiles(k, "mean")[0], k.mean(axis=2)[:, :, 0])
    assert map_figures.kernel_tiles(k, 99).shape == (8, 3, 3)  # out of range → mean


def test_activation_grid_tiles_and_flat_outputs():
    fig = map_figures.activation_grid(
        np.random.default_rng(0).random((13, 13, 32)).astype(np.float16)
    )
    assert len(fig.data) == 3 and len(fig.data[2].text) == 32
    assert "channel #31" in fig.data[1].hovertext[31]
    assert map_figures.activation_grid(np.zeros((26, 26, 4))).data[0].type == "image"  # dead maps
    assert map_figures.activation_grid(np.ones(3872)).data[0].type == "heatmap"
    bars = map_figures.activation_grid(np.ones(10), class_names=[str(i) for i in range(10)])
    assert bars.data[0].type == "bar" and list(bars.data[0].x) == [str(i) for i in range(10)]


def test_curves_confusion_samples_probabilities():
    curves = figures.training_curves(
        {
            "loss": [0.5, 0.3],
            "accuracy": [0.8, 0.9],
            "val_loss": [0.6, 0.4],
            "val_accuracy": [0.7, 0.85],
        }
    )
    assert len(curves.data) == 4 and list(curves.data[0].x) == [1, 2]
    cm = figures.confusion_matrix([[5, 1], [0, 4]], ["cat", "dog"])
    assert cm.data[0].type == "heatmap" and list(cm.data[0].x) == ["cat", "dog"]
    samples = map_figures.sample_images(
        np.zeros((6, 28, 28), np.uint8), [0, 1, 2, 3, 4, 5], [str(i) for i in range(10)]
    )
    assert list(samples.data[2].text) == ["0", "1", "2", "3", "4", "5"]
    probs = figures.class_probabilities([0.1, 0.7, 0.2], ["a", "b", "c"], true_label=2)
    assert probs.data[0].marker.color[1] == figures.BAD


@pytest.mark.parametrize(
    "fig",
    [
        lambda: map_figures.filter_grid(None),
        lambda: map_figures.filter_grid(np.zeros((0,))),
        lambda: map_figures.activation_grid(None),
        lambda: map_figures.activation_grid([]),
        lambda: figures.training_curves(None),
        lambda: figures.training_curves({"loss": []}),
        lambda: figures.confusion_matrix(None),
        lambda: figures.confusion_matrix([[1, 2]]),
        lambda: map_figures.sample_images(None),
        lambda: figures.class_probabilities(None),
        lambda: map_figures.vector_figure([]),
        lambda: map_figures.channel_detail(None),
    ],
)
def test_builders_say_no_data_instead_of_raising(fig):
    out = fig()
    assert isinstance(out, go.Figure) and out.layout.annotations and not out.data


def test_a_section_with_a_list_body_has_flat_children():
    """Dash renders no list nested in a list (React error #31 in the browser): a card's body given
    as a list joins the card's children."""
    from dash import html

    card = components.section("title", [html.Div("a"), html.Div("b")], "help")
    children = card.children.children
    assert not any(isinstance(child, list | tuple) for child in children)
    assert [c.children for c in children[-2:]] == ["a", "b"]
