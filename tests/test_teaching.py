"""The teaching features without a browser: variants, sweeps, the glossary, the report page."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from dash import dcc

from dashboard.run import action_callbacks, variant_bar
from dashboard.service import run_actions, variants
from dashboard.sweep import params
from dashboard.ui import glossary, layer_editor
from shared.config import ConfigError, parse_config
from tests import test_dashboard as td
from tests.test_dashboard import page, texts, with_context, write_succeeded_run

# The dashboard tests' fixtures: an app built once per module, and a fresh store per test.
dash_app = td.dash_app
store = td.store

DEFAULT = layer_editor.default_config() | {"name": "notebook"}
MORE_CONV = layer_editor.apply_preset(DEFAULT, "more-conv")


def walk(component: Any) -> Iterator[Any]:
    """Every component in a tree."""
    if isinstance(component, list | tuple):
        for c in component:
            yield from walk(c)
        return
    if component is None or isinstance(component, str | int | float | bool | dict):
        return
    yield component
    yield from walk(getattr(component, "children", None))


def convs(config: dict[str, Any]) -> list[dict[str, Any]]:
    return [layer for layer in config["layers"] if layer["type"] == "conv2d"]


def without(config: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k not in keys}


# --- variants ------------------------------------------------------------------------------------
@pytest.mark.parametrize("base", [DEFAULT, MORE_CONV], ids=["notebook", "more-conv"])
@pytest.mark.parametrize("kind", list(variants.KINDS))
def test_every_variant_is_valid_and_named(base, kind):
    before = copy.deepcopy(base)
    out = variants.variant(base, kind)
    parse_config(out)  # raises when invalid
    assert out["name"] == f"notebook · {variants.KINDS[kind][0]}"
    assert base == before  # the input is left alone
    if kind != "more_epochs":
        assert without(out, "name", "layers") == without(
            variants.normalized(base), "name", "layers"
        )


@pytest.mark.parametrize("base", [DEFAULT, MORE_CONV], ids=["notebook", "more-conv"])
def test_each_variant_changes_only_its_one_thing(base):
    base = variants.normalized(base)
    more = variants.variant(base, "more_conv")
    at = [layer["type"] for layer in base["layers"]].index("flatten")
    assert more["layers"][:at] == base["layers"][:at]
    assert more["layers"][-(len(base["layers"]) - at) :] == base["layers"][at:]
    inserted = more["layers"][at : at + len(more["layers"]) - len(base["layers"])]
    assert (
        inserted[0]["type"] == "conv2d" and inserted[0]["filters"] == 2 * convs(base)[-1]["filters"]
    )
    assert [layer["type"] for layer in inserted] in (["conv2d", "maxpool2d"], ["conv2d"])

    double = variants.variant(base, "double_filters")
    assert [c["filters"] for c in convs(double)] == [2 * c["filters"] for c in convs(base)]
    for before, after in zip(base["layers"], double["layers"], strict=True):
        assert without(after, "filters") == without(before, "filters")

    five = variants.variant(base, "kernel_5x5")
    assert {c["kernel_size"] for c in convs(five)} == {5}
    for before, after in zip(base["layers"], five["layers"], strict=True):
        assert without(after, "kernel_size", "padding") == without(before, "kernel_size", "padding")

    epochs = variants.variant(base, "more_epochs")
    assert epochs["epochs"] == 2 * base["epochs"]
    assert without(epochs, "name", "epochs") == without(base, "name", "epochs")

    for act in ("tanh", "sigmoid"):
        out = variants.variant(base, act)
        assert {c["activation"] for c in convs(out)} == {act}
        assert out["layers"][-1]["activation"] == "softmax"
        for before, after in zip(base["layers"], out["layers"], strict=True):
            assert without(after, "activation") == without(before, "activation")


def test_variant_fallbacks_for_tight_shapes():
    # On "more conv layers" the maps are 3×3 at the end: no room for pooling, and a 5×5 kernel
    # only fits the last conv layer with padding 'same'.
    more = variants.variant(MORE_CONV, "more_conv")
    assert more["layers"][5]["type"] == "conv2d" and more["layers"][5]["padding"] == "same"
    assert more["layers"][6]["type"] == "flatten"
    five = variants.variant(MORE_CONV, "kernel_5x5")
    assert [c["padding"] for c in convs(five)] == ["valid", "valid", "same"]
    assert [c["padding"] for c in convs(variants.variant(DEFAULT, "kernel_5x5"))] == ["valid"] * 2


def test_variants_that_cannot_apply_say_why():
    capped = copy.deepcopy(DEFAULT) | {"epochs": 200}
    with pytest.raises(variants.VariantError, match="maximum of 200 epochs"):
        variants.variant(capped, "more_epochs")
    assert variants.variant(DEFAULT | {"epochs": 150}, "more_epochs")["epochs"] == 200
    tanh = variants.variant(DEFAULT, "tanh")
    with pytest.raises(variants.VariantError, match="already use tanh"):
        variants.variant(tanh, "tanh")
    with pytest.raises(variants.VariantError, match="unknown variant"):
        variants.variant(DEFAULT, "bigger")
    reasons = variants.available(tanh | {"epochs": 200})
    assert reasons["tanh"] and reasons["more_epochs"] and reasons["sigmoid"] is None
    long_name = variants.variant(DEFAULT | {"name": "x" * 120}, "tanh")["name"]
    assert len(long_name) <= 120 and long_name.endswith(" · tanh")


def test_submit_variant_queues_a_child_and_the_page_goes_there(store):
    parent = write_succeeded_run(store)
    run = run_actions.submit_variant(store, parent, "double_filters")
    assert run["parent_id"] == parent and run["status"] == "queued"
    assert run["name"] == "fake notebook · double the filters"
    href, flash, error = variant_bar.submit(store, parent, "sigmoid")
    assert href.startswith("/run/") and error is None and "sigmoid" in flash["message"]
    _, _, error = variant_bar.submit(store, "f" * 32, "tanh")
    assert "not found" in texts(error)
    child = page("run").layout(run_id=run["id"])
    links = {c.href for c in walk(child) if isinstance(c, dcc.Link)}
    assert f"/compare?runs={parent},{run['id']}" in links
    clicked = with_context(
        [{"prop_id": '{"kind":"tanh","type":"run-variant"}.n_clicks', "value": 1}],
        action_callbacks.try_variant,
        [0, 0, 0, 0, 1, 0],
        parent,
    )
    assert clicked[0].startswith("/run/") and clicked[2] is None


# --- sweeps --------------------------------------------------------------------------------------
def test_sweep_values_are_parsed_per_type():
    assert params.parse_values("epochs", "1, 3;3, 6") == ([1, 3, 6], None)
    assert params.parse_values("learning_rate", "1e-4, 0.01") == ([0.0001, 0.01], None)
    assert "whole number" in str(params.parse_values("batch_size", "32, 1.5")[1])
    assert "not one of" in str(params.parse_values("optimizer", "adam, lbfgs")[1])
    assert "at least one" in str(params.parse_values("seed", " , ")[1])
    values, problem = params.parse_values("seed", ",".join(str(i) for i in range(12)))
    assert len(values) == params.MAX_RUNS and "at most" in str(problem)


@pytest.mark.parametrize(
    ("param", "values", "layer", "check"),
    [
        ("epochs", [1, 2], None, lambda c, v: c["epochs"] == v),
        ("learning_rate", [0.01], None, lambda c, v: c["learning_rate"] == v),
        ("batch_size", [64], None, lambda c, v: c["batch_size"] == v),
        ("filters", [8, 64], 2, lambda c, v: c["layers"][2]["filters"] == v),
        ("kernel_size", [5], 0, lambda c, v: c["layers"][0]["kernel_size"] == v),
        ("activation", ["tanh"], None, lambda c, v: {x["activation"] for x in convs(c)} == {v}),
        ("optimizer", ["sgd"], None, lambda c, v: c["optimizer"] == v),
        ("seed", [1, 2, 3], None, lambda c, v: c["seed"] == v),
    ],
)
def test_sweep_expands_one_valid_config_per_value(param, values, layer, check):
    planned = params.expand(DEFAULT, param, values, layer)
    assert [p.value for p in planned] == values
    for p in planned:
        assert p.error is None and p.config is not None and check(p.config, p.value)
        assert p.name.startswith(f"sweep {params.PARAMS[param].label}") and p.name.endswith(
            "notebook"
        )
        parse_config(p.config)
    assert len({p.name for p in planned}) == len(values)


def test_sweep_marks_invalid_values_and_links_four_runs():
    planned = params.expand(MORE_CONV, "kernel_size", [3, 7, 13], 4)
    assert [p.error is None for p in planned] == [True, False, False]
    assert "does not fit" in str(planned[1].error) and "at most 11" in str(planned[2].error)
    assert params.compare_href(["a", "b", "c", "d", "e"]) == "/compare?runs=a,b,c,d"
    assert [label for _, label in params.conv_layers(DEFAULT)][0].startswith("conv2d_1")


def test_sweep_page_previews_and_submits(store):
    parent = write_succeeded_run(store)
    sweep_page = page("sweep")
    layout = sweep_page.layout(**{"from": parent})
    assert "fake notebook" in texts(layout) and "Start 3 runs" in texts(layout)
    preview, disabled, label = sweep_page.show_plan("seed", None, "1, 2", {"config": DEFAULT})[:3]
    assert not disabled and label == "Start 2 runs" and "sweep seed = 2" in texts(preview)
    _, disabled, _ = sweep_page.show_plan("batch_size", None, "32, 0", {"config": DEFAULT})[:3]
    assert disabled
    base = {"config": params.normalized(DEFAULT), "id": parent}
    result, disabled = sweep_page.submit(1, "seed", None, "1, 2, 3, 4, 5", base)
    assert disabled and "5 runs queued" in texts(result)
    runs = store.list_runs(name="sweep seed")
    assert len(runs) == 5 and {r["parent_id"] for r in runs} == {parent}
    links = [c.href for c in walk(result) if isinstance(c, dcc.Link)]
    assert links[0].startswith("/compare?runs=") and links[0].count(",") == 3
    assert sweep_page.choose_param("filters")[2] == ""  # the conv layer picker shows


# --- glossary and explanations -------------------------------------------------------------------
def test_glossary_has_every_required_term_with_text():
    for term_id in glossary.REQUIRED_TERMS:
        term = glossary.TERMS[term_id]
        assert term.title and len(term.short) > 20 and len(term.long) > 80
    for term in glossary.TERMS.values():
        assert all(other in glossary.TERMS for other in term.related)
    with pytest.raises(KeyError):
        glossary.href("transformer")


def test_glossary_page_has_an_anchor_per_term(store):
    layout = page("glossary").layout()
    ids = {c.id for c in walk(layout) if isinstance(getattr(c, "id", None), str)}
    assert {f"glossary-{t}" for t in glossary.TERMS} <= ids


def test_term_links_point_at_glossary_entries(store):
    run_id = write_succeeded_run(store)
    layouts = [
        page("runs").layout(),
        page("new_run").layout(),
        page("run").layout(run_id=run_id),
        page("sweep").layout(),
        page("report").layout(run_id=run_id),
        page("glossary").layout(),
    ]
    seen = set()
    for layout in layouts:
        for c in walk(layout):
            if isinstance(c, dcc.Link) and str(c.href).startswith("/glossary#"):
                term_id = c.href.split("#", 1)[1]
                assert term_id in glossary.TERMS, c.href
                seen.add(term_id)
    used = {"filter", "feature-map", "pooling", "softmax", "epoch", "loss", "confusion-matrix"}
    assert used <= seen


# --- report --------------------------------------------------------------------------------------
def test_report_page_renders_a_finished_run(store):
    run_id = write_succeeded_run(store)
    out = page("report").layout(run_id=run_id)
    text = texts(out)
    for title in ("Model and settings", "Training curves", "Confusion matrix", "Filters"):
        assert title in text
    assert "97.50%" in text and "Print / save as PDF" in text
    graphs = {c.id: c for c in walk(out) if isinstance(c, dcc.Graph)}
    assert {"report-filters-conv2d_1", "report-filters-conv2d_2", "report-confusion"} <= set(graphs)
    for layer in ("conv2d_1", "maxpool2d_1", "conv2d_2", "flatten_1", "dense_1"):
        assert f"report-act-{layer}" in graphs
    assert graphs["report-filters-conv2d_1"].figure.data[0].type == "image"
    for graph in graphs.values():
        assert graph.config["modeBarButtons"] == [["toImage"]]
        assert graph.config["toImageButtonOptions"]["format"] == "png"


def test_report_of_an_unfinished_or_missing_run(store):
    queued = store.create_run(*parse_config({"name": "waiting"}))["id"]
    assert "No report yet" in texts(page("report").layout(run_id=queued))
    assert "Run not found" in texts(page("report").layout(run_id="0" * 32))


def test_every_run_page_graph_offers_a_png_download(store):
    out = page("run").layout(run_id=write_succeeded_run(store))
    graphs = [c for c in walk(out) if isinstance(c, dcc.Graph)]
    assert len(graphs) >= 6
    for graph in graphs:
        assert graph.config.get("displayModeBar") is not False
        assert graph.config["toImageButtonOptions"]["filename"] == f"cnnlens-{graph.id}"


def test_config_error_from_the_service_reaches_the_variant_bar(store, monkeypatch):
    parent = write_succeeded_run(store)

    def refuse(*_args, **_kwargs):
        raise ConfigError([{"field": "dataset", "message": "not on this machine"}])

    monkeypatch.setattr(run_actions, "submit_run", refuse)
    _, _, error = variant_bar.submit(store, parent, "tanh")
    assert "not on this machine" in texts(error)
