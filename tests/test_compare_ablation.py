"""The compare page's ablation card (compare/ablation.py): the layer picker, the figure builder,
and the curves once the jobs cached them, on fake succeeded runs (no TF, no worker: the broker is
a dead address, and what the `ablation` jobs would write is written by hand)."""

from __future__ import annotations

import json

from dashboard.compare import ablation, callbacks, choice, page_status
from shared import comparison
from tests import test_compare as tc
from tests import test_dashboard as td

dash_app = td.dash_app
store = td.store
pair = tc.pair
NARROW = {
    "name": "narrow",
    "layers": [
        {"type": "conv2d", "filters": 4},
        {"type": "maxpool2d"},
        {"type": "conv2d", "filters": 8},
        {"type": "conv2d", "filters": 8},
        {"type": "flatten"},
        {"type": "dense", "units": 10, "activation": "softmax"},
    ],
}


def curve(run_id: str, layer: str, n: int, method: str = "accuracy_drop", every: bool = True):
    """An `analysis/ablation/<layer>.json` as the worker writes it (docs/CONTRACTS.md)."""
    ks = list(range(n + 1))
    return {
        "run_id": run_id,
        "layer": layer,
        "dataset": "mnist-sample",
        "classes": 10,
        "filters": n,
        "test_images": 2000,
        "importance": {
            "method": method,
            "values": [0.01 * f for f in range(n)],
            "probability_drop": [0.02 * f for f in range(n)] if method == "accuracy_drop" else None,
        },
        "order": list(range(n - 1, -1, -1)),
        "points": [
            {"removed": k, "fraction": k / n, "accuracy": round(0.95 - 0.85 * k / n, 6)} for k in ks
        ],
        "every_k": every,
        "seconds": 1.5,
    }


def show(layer, state, ids, trigger="cmp-status.data"):
    """The card's callback as Dash calls it, triggered by `trigger`."""
    triggered = [{"prop_id": trigger, "value": 1}]
    return td.with_context(triggered, callbacks.show_ablation, layer, state, 1, ids)


def links(component) -> list[str]:
    """The address of every link in a component tree."""
    if isinstance(component, list | tuple):
        return [href for c in component for href in links(c)]
    own = [component.href] if getattr(component, "href", None) else []
    children = getattr(component, "children", None)
    return own + (links(children) if children is not None and not isinstance(children, str) else [])


def write(store, run_id, layer, n, **kw):
    result = curve(run_id, layer, n, **kw)
    store.files.write_json(run_id, comparison.ablation_rel(layer), result)
    return result


def test_the_figure_overlays_runs_of_different_widths_on_the_fraction_removed():
    fig = ablation.curves_figure(
        [
            ("A · <b>x</b>", "#111111", curve("a" * 32, "conv2d_1", 16)),
            ("B · y", "#222222", curve("b" * 32, "conv2d_1", 4)),
        ]
    )
    runs, chance = fig["data"][:2], fig["data"][2]
    assert [len(t["x"]) for t in runs] == [17, 5]
    assert runs[0]["x"][0] == runs[1]["x"][0] == 0 and runs[0]["x"][-1] == runs[1]["x"][-1] == 1
    assert runs[1]["x"] == [0, 0.25, 0.5, 0.75, 1]
    assert runs[1]["y"][0] == 0.95 and runs[1]["y"][-1] == 0.1
    assert runs[1]["customdata"][2] == [2, 4]  # 2 of 4 filters removed, in the hover
    assert "%{customdata[0]} of %{customdata[1]} filters removed" in runs[0]["hovertemplate"]
    assert runs[0]["name"] == "A · &lt;b&gt;x&lt;/b&gt;"  # a run's name is text, not markup
    assert [t["line"]["color"] for t in runs] == ["#111111", "#222222"]
    assert chance["y"] == [0.1, 0.1] and chance["line"]["dash"] == "dot"
    assert fig["layout"]["xaxis"]["tickformat"] == ".0%"
    empty = ablation.curves_figure([])
    assert "No curve yet" in json.dumps(empty.to_plotly_json())


def test_the_picker_offers_every_conv_layer_with_its_widths(pair, store):
    a, b = pair
    c = td.write_succeeded_run(store, NARROW, seed=2)
    runs = choice.chosen_runs(store, [a, b, c])
    options = ablation.layer_options(runs)
    assert [o["value"] for o in options] == ["conv2d_1", "conv2d_2", "conv2d_3"]
    assert options[0]["label"] == "conv2d_1 · filters: A 16, B 16, C 4"
    assert options[2]["label"] == "conv2d_3 · filters: A –, B –, C 8"
    assert ablation.default_layer(runs) == "conv2d_1"
    assert ablation.chosen_layer(runs, "conv2d_3") == "conv2d_3"
    for bad in ("dense_1", "../../model.keras", None, 3, ["conv2d_1"]):
        assert ablation.chosen_layer(runs, bad) is None
    # the status asks only for the runs that have the layer
    state = tc.status(store, [a, b, c], None, layer="conv2d_3")
    assert state["ablation"] == {f"{c}:conv2d_3": page_status.PENDING}
    layout = tc.page().layout(runs=f"{a},{b},{c}")
    assert "How much each layer relies on its filters" in td.texts(layout)
    assert td.find(layout, "cmp-abl-layer").value == "conv2d_1"


def test_the_curves_once_the_jobs_cached_them(pair, store):
    a, b = pair
    c = td.write_succeeded_run(store, NARROW, seed=2)
    ids = [a, b, c]
    state = tc.status(store, ids, None)
    assert {state["ablation"][f"{r}:conv2d_1"] for r in ids} == {page_status.PENDING}
    assert page_status.waiting(state)
    figure, lines, caption = show("conv2d_1", state, ids)
    assert "appears when its job has finished" in json.dumps(figure.to_plotly_json())
    assert td.texts(lines).count("waiting for the analysis worker") == 3

    job_id = comparison.ablation_job_id(b, "conv2d_1")
    store.create_job(comparison.ABLATION_KIND, b, {"run_id": b, "layer": "conv2d_1"}, job_id)
    store.set_job(job_id, "running")
    store.job_progress(job_id, 0.4)
    write(store, a, "conv2d_1", 16)
    write(store, c, "conv2d_1", 4, method="mean_abs_activation")
    state = tc.status(store, ids, None)
    assert state["ablation"][f"{a}:conv2d_1"] == page_status.READY
    assert state["ablation"][f"{b}:conv2d_1"] == page_status.PENDING
    figure, lines, caption = show("conv2d_1", state, ids)
    assert [t["name"] for t in figure["data"]] == ["A · relu", "C · narrow", "chance (10%)"]
    text = td.texts(lines)
    assert "B · tanh: computing on the whole test set… 40%" in text
    squeezed = "".join(text.split())  # texts() puts a space between a sentence's parts
    assert "A·relu:95.0%astrained;withoutits3mostimportantfilters(15,14,13)79.1%" in squeezed
    assert "with the whole layer switched off 10.0%" in text
    assert f"/run/{a}/filter/conv2d_1/15" in links(lines)
    assert "On all 2000 test images of mnist-sample" in caption
    assert "(C · narrow) are ranked by their filters' mean absolute activation" in caption
    # a poll tick updates the lines only: the figure is not sent again while nothing changed
    with_tick = show("conv2d_1", state, ids, trigger="cmp-poll.n_intervals")
    assert with_tick[0] is callbacks.no_update and with_tick[2] is callbacks.no_update

    store.set_job(job_id, "failed", error="the comparison could not be computed (ValueError)")
    state = tc.status(store, ids, None)
    assert page_status.PENDING not in state["ablation"].values()  # nothing more to wait for here
    _, lines, _ = show("conv2d_1", state, ids)
    assert "B · tanh: the comparison could not be computed" in td.texts(lines)


def test_a_run_without_the_layer_says_so(pair, store):
    a, b = pair
    c = td.write_succeeded_run(store, NARROW, seed=2)
    write(store, c, "conv2d_3", 8)
    state = tc.status(store, [a, b, c], None, layer="conv2d_3")
    figure, lines, _ = show("conv2d_3", state, [a, b, c])
    assert "A · relu: no conv layer conv2d_3" in td.texts(lines)
    assert [t["name"] for t in figure["data"]][:1] == ["C · narrow"]
    figure, lines, caption = show("../x", state, [a, b, c])
    assert lines == [] and caption == ""
