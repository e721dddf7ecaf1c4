"""The compare page: its pure pieces, its layout and its callbacks, on fake succeeded runs (no TF).

Runs are written with tests/test_dashboard.py's `write_succeeded_run` (CONTRACTS.md shapes); what
the comparison jobs would cache (statistics, CKA) is written by hand. The broker is a dead address,
so nothing here reaches a worker.
"""

from __future__ import annotations

import base64
import io
import json
import zlib

import numpy as np
import pytest
from dash import no_update
from PIL import Image, ImageDraw

from dashboard.compare import analysis, callbacks, charts, choice, inputs, page_status, picker
from dashboard.service.comparisons import config_diff
from shared import artifacts as names
from shared import comparison
from shared.config import parse_config
from tests import test_dashboard as td

dash_app = td.dash_app  # the fixtures of the dashboard tests, shared
store = td.store
TANH = [
    {"type": "conv2d", "filters": 16, "activation": "tanh"},
    {"type": "maxpool2d"},
    {"type": "conv2d", "filters": 32},
    {"type": "flatten"},
    {"type": "dense", "units": 10, "activation": "softmax"},
]


def page():
    return td.page("compare")


@pytest.fixture
def pair(store):
    a = td.write_succeeded_run(store, {"name": "relu", "epochs": 3})
    b = td.write_succeeded_run(store, {"name": "tanh", "epochs": 2, "layers": TANH}, seed=1)
    return a, b


def status(store, ids, desc, pair=(0, 1), layer="conv2d_1"):
    runs = choice.chosen_runs(store, ids)
    return page_status.status(store, runs, desc, pair, ask=False, layer=layer)


# --- pure pieces ----------------------------------------------------------------------------------
def test_config_diff_keeps_only_the_fields_that_differ():
    a = {"name": "a", "epochs": 3, "seed": 42, "layers": [{"type": "conv2d", "filters": 16}]}
    b = {"name": "b", "epochs": 3, "seed": 7, "layers": [{"type": "conv2d", "filters": 32}]}
    c = {"name": "c", "epochs": 5, "seed": 42, "layers": [{"type": "conv2d", "filters": 16}, {}]}
    rows = config_diff([a, b, c])
    assert [r["field"] for r in rows] == ["epochs", "seed", "layer 1 · filters", "layer 2"]
    assert rows[1] == {
        "field": "seed",
        "values": ["42", "7", "42"],
        "differs": [False, True, False],
    }
    assert rows[3]["values"] == ["—", "—", "?"]
    assert config_diff([a, a | {"name": "other"}]) == []  # names are not settings


def test_selection_keeps_order_hidden_runs_and_at_most_four():
    chosen = ["a", "b"]
    assert picker.apply_selection(chosen, ["b", "c"], [0, 1]) == (["a", "b", "c"], "")
    assert picker.apply_selection(chosen, ["b", "c"], [1]) == (["a", "c"], "")
    full, note = picker.apply_selection(["a", "b", "c", "d"], ["e"], [0])
    assert full == ["a", "b", "c", "d"] and "Up to 4 runs" in note
    rows = [{"id": "x"}, {"id": "b"}]
    assert picker.selected_rows(rows, chosen) == [1]


def test_picker_rows_put_the_best_test_accuracy_first(pair, store):
    queued = store.create_run(*parse_config({"name": "waiting"}))
    rows = picker.picker_rows(store.list_runs())
    assert rows[-1]["id"] == queued["id"] and rows[0]["test_acc"] == pytest.approx(0.975)


def test_inputs_round_trip_through_the_url():
    desc = inputs.test_input("mnist-sample", 42)
    assert desc["ref"] == "test:42" and inputs.input_image(desc).shape == (28, 28)
    assert inputs.from_ref("test:42", "mnist-sample") == desc
    image = np.zeros((28, 28), np.uint8)
    image[4:24, 12:16] = 255
    picture = inputs.picture_input(image, "drawing")
    assert len(picture["ref"]) < 200  # a drawing fits in a link
    again = inputs.from_ref(picture["ref"], "mnist-sample")
    assert np.array_equal(inputs.input_image(again), image)
    bomb = base64.urlsafe_b64encode(zlib.compress(b"\0" * 10**6)).decode()
    for bad in ("test:x", "test:99999", "px:!!", "px:" + "A" * 40, "px:" + bomb, "nonsense", None):
        assert inputs.from_ref(bad, "mnist-sample") is None
    with pytest.raises(inputs.InputRefused, match="between 0 and 1999"):
        inputs.test_input("mnist-sample", 5000)


def drawing_url() -> str:
    img = Image.new("RGBA", (168, 168), (0, 0, 0, 0))
    ImageDraw.Draw(img).line([(84, 20), (84, 150)], fill=(255, 255, 255, 255), width=15)
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def test_a_canvas_drawing_becomes_an_mnist_style_input():
    desc = inputs.data_url_input(drawing_url(), "drawing")
    image = inputs.input_image(desc)
    assert image.shape == (28, 28) and image.max() == 255 and image[:, :4].max() == 0
    assert "your drawing" in inputs.describe(desc)
    with pytest.raises(inputs.InputRefused, match="blank"):
        blank = Image.new("L", (50, 50), 0)
        buffer = io.BytesIO()
        blank.save(buffer, format="PNG")
        url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
        inputs.data_url_input(url, "drawing")


def test_tile_grid_outlines_dead_tiles_and_shares_a_scale():
    tiles = np.stack([np.full((4, 4), v, np.float32) for v in (0.0, 1.0, 2.0)])
    assert charts.scaled(tiles, 0.0, 2.0)[:, 0, 0].tolist() == [0.0, 0.5, 1.0]
    assert charts.scaled(tiles)[:, 0, 0].tolist() == [0.0, 0.0, 0.0]  # constant tiles: no contrast
    fig = charts.tile_grid(
        charts.scaled(tiles, 0.0, 2.0), ["#0", "#1", "#2"], ["", "", ""], outlined=[2]
    )
    assert [t["type"] for t in fig["data"]] == ["image", "scatter", "scatter"]
    assert len(fig["layout"]["shapes"]) == 1
    assert fig["layout"]["shapes"][0]["line"]["color"] == charts.DEAD_COLOR


def test_curves_put_every_run_on_shared_axes():
    history = {"loss": [1.0, 0.5], "accuracy": [0.8, 0.9], "val_loss": [1.1, 0.6]}
    fig = charts.curves(
        [("A x", charts.RUN_COLORS[0], history), ("B y", charts.RUN_COLORS[1], history)]
    )
    assert len(fig["data"]) == 6
    assert {t["name"] for t in fig["data"] if t["showlegend"]} == {"A x", "B y"}
    assert {t["xaxis"] for t in fig["data"]} == {"x", "x2"}  # loss and accuracy side by side


# --- the page -------------------------------------------------------------------------------------
def test_page_without_two_runs_asks_for_them(store):
    out = page().layout()
    assert "Tick at least two runs" in td.texts(out)
    assert td.find(out, "cmp-input-card").className == "d-none"
    assert "Tick at least two" in td.texts(page().layout(runs="nope,../x"))


def test_page_for_two_runs_shows_every_section(pair, store):
    a, b = pair
    out = page().layout(runs=f"{a},{b},{a}", input="test:42")
    text = td.texts(out)
    for title in (
        "Config differences",
        "Training curves",
        "Predictions",
        "Feature maps, layer by layer",
        "Filters side by side",
        "Per-filter statistics",
        "Layer similarity (CKA)",
    ):
        assert title in text
    assert td.find(out, "cmp-runs").data == [a, b]  # repeats dropped
    assert td.find(out, "cmp-input").data["index"] == 42
    assert "layer 1 · activation" in text and "tanh" in text
    assert td.find(out, "cmp-input-preview").src.startswith("data:image/png;base64,")
    depth = td.find(out, "cmp-depth")
    assert [o["value"] for o in depth.options] == ["0", "1", "2", "3", "4"]
    assert depth.options[0]["label"] == "1 · conv2d_1 · 26×26×16"


def test_picking_runs_in_the_table_updates_the_choice(pair, store):
    a, b = pair
    rows = picker.picker_rows(store.list_runs())
    ticked = [{"id": rows[0]["id"]}, {"id": rows[1]["id"]}]  # ag-grid reports row objects
    triggered = [{"prop_id": "cmp-table.selectedRows", "value": ticked}]
    data, selected, chosen, note, chips = td.with_context(
        triggered, callbacks.pick, ticked, "", "all", "succeeded", [], rows
    )
    assert set(chosen) == {a, b} and note == "" and "relu" in td.texts(chips)
    triggered = [{"prop_id": "cmp-f-name.value", "value": "tan"}]
    data, selected, chosen, *_ = td.with_context(
        triggered, callbacks.pick, ticked, "tan", "all", "all", [a, b], rows
    )
    assert [r["id"] for r in data] == [b] and selected == [{"id": b}]


def test_rebuild_gives_the_comparison_and_a_default_input(pair, store):
    a, b = pair
    body, card_class, desc, src, caption = callbacks.rebuild([a, b], None)
    assert card_class == "" and desc["kind"] == "test" and "true class 0" in caption
    assert "Filters side by side" in td.texts(body)
    assert callbacks.rebuild([a], desc)[1] == "d-none"


def test_the_input_follows_a_change_of_runs_to_another_dataset(pair, store):
    """A test image or a picture chosen for MNIST runs gives way to the new runs' own first probe
    image when they were trained on colour shapes; an input that still fits is kept."""
    a, b = pair
    digit = inputs.test_input("mnist-sample", 7)
    drawn = inputs.picture_input(np.zeros((28, 28), np.uint8), "drawing")
    c = td.write_succeeded_run(store, {"name": "shapes a", "dataset": "shapes-rgb", "epochs": 1})
    d = td.write_succeeded_run(store, {"name": "shapes b", "dataset": "shapes-rgb", "epochs": 1})
    for old in (digit, drawn):
        _body, _card, desc, src, caption = callbacks.rebuild([c, d], old)
        assert desc["kind"] == "test" and desc["dataset"] == "shapes-rgb", desc
        assert src.startswith("data:image/png") and "test image" in caption
        # The same input with runs that take it stays as it was.
        assert callbacks.rebuild([a, b], old)[2:] == (no_update, no_update, no_update)
    # One MNIST run among the new ones: a digit is still an input of one of them.
    assert callbacks.rebuild([a, c], digit)[2] is no_update
    assert not inputs.fits(None, [store.get_run(a)])


def test_choosing_inputs(pair, store):
    a, b = pair
    triggered = [{"prop_id": "cmp-test-show.n_clicks", "value": 1}]
    desc, src, caption, msg = td.with_context(
        triggered, callbacks.choose_input, 1, None, None, None, 7, [a, b]
    )
    assert desc["index"] == 7 and "test image #7" in caption and msg == ""
    refused = td.with_context(triggered, callbacks.choose_input, 1, None, None, None, None, [a, b])
    assert "Type the number" in td.texts(refused[3])
    drawn = [{"prop_id": "cmp-drawing.data", "value": "x"}]
    desc, *_ = td.with_context(
        drawn, callbacks.choose_input, 1, None, None, drawing_url(), 7, [a, b]
    )
    assert desc["kind"] == "picture" and desc["how"] == "drawing"


def test_a_probe_image_is_answered_from_the_probe_set(pair, store):
    a, b = pair
    desc = inputs.default_input(store, store.get_run(a))
    state = status(store, [a, b], desc)
    assert state["sources"] == {a: {"probe": 0}, b: {"probe": 0}}
    cols = callbacks.show_predictions(state, [a, b], desc)
    assert "predicts 0" in td.texts(cols)
    acts = callbacks.show_activations(state, "0", "shared", [a, b])
    figure = td.find(acts, "cmp-act-0").figure
    assert figure["data"][0]["type"] == "image"
    flat = callbacks.show_activations(state, "4", "run", [a, b])
    assert td.find(flat, "cmp-act-1").figure["data"][0]["type"] == "bar"


def test_another_input_waits_for_extraction_then_reads_the_cache(pair, store):
    a, b = pair
    desc = inputs.test_input("mnist-sample", 1)  # not a probe image
    state = status(store, [a, b], desc)
    digest = state["sources"][a]["pending"]
    assert page_status.waiting(state)
    assert "Running the input through this model" in td.texts(
        callbacks.show_predictions(state, [a, b], desc)
    )
    image = inputs.input_image(desc)
    probs = np.eye(10, dtype=np.float32)[2]
    store.files.save_arrays(
        a,
        f"{names.CACHE_DIR}/{digest}.npz",
        input=image,
        probabilities=probs,
        **{"layer:conv2d_1": np.ones((26, 26, 16), np.float16)},
    )
    state = status(store, [a, b], desc)
    assert state["sources"][a] == {"digest": digest}
    assert "predicts 2 (100%)" in td.texts(callbacks.show_predictions(state, [a, b], desc))


def test_filters_matched_to_run_a_recover_a_permutation(pair, store):
    a, b = pair
    kernel = store.files.load_array(a, f"{names.FILTERS_DIR}/conv2d_1.npy")
    perm = np.random.default_rng(0).permutation(16)
    store.files.save_array(b, f"{names.FILTERS_DIR}/conv2d_1.npy", kernel[..., perm])
    store.files.remove(b, f"{names.FILTERS_DIR}/epochs")  # final weights only
    cols = callbacks.show_filters("0", 3, "aligned", None, [a, b])
    assert "mean r 1.00" in td.texts(cols)
    labels = td.find(cols, "cmp-filt-1").figure["data"][2]["text"]
    assert labels == [f"#{j} 1.00" for j in np.argsort(perm)]
    raw = callbacks.show_filters("0", 3, "raw", None, [a, b])
    assert td.find(raw, "cmp-filt-1").figure["data"][2]["text"][:2] == ["#0", "#1"]


def write_stats(store, run_id, dead: set[int]):
    rows = [
        {
            "channel": c,
            "mean": 0.0 if c in dead else 0.5,
            "std": 0.1,
            "max": 1.0,
            "silent_fraction": 1.0 if c in dead else 0.1,
            "sparsity": 1.0 if c in dead else 0.4,
            "dead": c in dead,
        }
        for c in range(16)
    ]
    layer = {"name": "conv2d_1", "activation": "relu", "relu_like": True, "filters": rows}
    store.files.write_json(
        run_id, comparison.FILTER_STATS, {"run_id": run_id, "probe_images": 500, "layers": [layer]}
    )


def test_dead_filters_are_listed_and_outlined(pair, store):
    a, b = pair
    write_stats(store, a, {3, 5})
    state = status(store, [a, b], None)
    assert state["stats"][a] == "ready"
    rows, summary = callbacks.show_stats("0", state, [a, b])
    assert len(rows) == 16 and [r["filter"] for r in rows if r["dead"]] == [3, 5]
    assert "2 of 16 filters dead" in td.texts(summary)
    cols = callbacks.show_filters("0", 3, "raw", state, [a, b])
    assert len(td.find(cols, "cmp-filt-0").figure["layout"]["shapes"]) == 2


def test_cka_heatmap_once_the_job_cached_it(pair, store):
    a, b = pair
    result = {
        "a": b,
        "b": a,
        "dataset": "mnist-sample",
        "probe_images": 500,
        "layers_a": ["conv2d_1", "dense_1"],
        "layers_b": ["conv2d_1", "dense_1"],
        "matrix": [[0.9, 0.2], [0.3, 0.8]],
    }
    store.files.write_json(b, comparison.cka_rel(a), result)  # computed as (B, A) earlier
    state = status(store, [a, b], None)
    figure, caption = callbacks.show_cka("0-1", state, [a, b])
    assert figure["data"][0]["z"] == [[0.9, 0.3], [0.2, 0.8]]  # read transposed
    assert "first 500 test images" in caption
    assert analysis.parse_pair("1-0", 2) == (1, 0)
    assert analysis.parse_pair("0-0", 2) is None
    assert analysis.parse_pair("x", 2) is None


def test_run_page_links_to_the_compare_page(pair, store):
    a, _ = pair
    out = td.page("run").layout(run_id=a)
    assert f"/compare?runs={a}" in json.dumps(out.to_plotly_json(), default=str)


def test_a_run_still_training_is_shown_with_what_it_lacks(pair, store):
    a, _ = pair
    queued = store.create_run(*parse_config({"name": "still waiting"}))["id"]
    out = page().layout(runs=f"{a},{queued}")
    assert "still waiting" in td.texts(out)
    desc = inputs.default_input(store, store.get_run(a))
    write_stats(store, a, set())
    store.files.write_json(a, comparison.ablation_rel("conv2d_1"), {"points": []})
    state = status(store, [a, queued], desc)
    assert state["sources"][queued] == {"error": "not trained (it is queued)"}
    assert state["ablation"][f"{queued}:conv2d_1"] == "not trained (it is queued)"
    assert not page_status.waiting(state)  # nothing to wait for: no polling
    assert "not trained (it is queued)" in td.texts(
        callbacks.show_predictions(state, [a, queued], desc)
    )
    assert "No filters stored" in td.texts(
        callbacks.show_filters("0", None, "aligned", state, [a, queued])
    )
    figure, _ = callbacks.show_cka("0-1", state, [a, queued])
    assert "no trained model yet" in json.dumps(figure.to_plotly_json())
