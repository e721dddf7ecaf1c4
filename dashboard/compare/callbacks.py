"""The compare page's callbacks: choosing runs and the input, following the jobs, the views.

They stay thin: the work is in `inputs`, `panels`, `analysis`, `sections` and `picker`. Kept in a
`PageCallbacks` that pages/compare.py registers (ui/page_callbacks.py says why not at import).
"""

from __future__ import annotations

import time
from typing import Any

from dash import Input, Output, State, ctx, html, no_update

from dashboard.compare import (
    ablation,
    analysis,
    choice,
    inputs,
    page_status,
    panels,
    picker,
    sections,
    wait,
)
from dashboard.service import run_data
from dashboard.state import broker_ok, get_store
from dashboard.ui.i18n import t
from dashboard.ui.messages import message
from dashboard.ui.page_callbacks import PageCallbacks
from shared.config import MAX_EPOCHS
from shared.numbers import whole_number

callbacks = PageCallbacks()

# --- choosing runs ---------------------------------------------------------------------------------


@callbacks(
    Output("cmp-table", "rowData"),
    Output("cmp-table", "selectedRows"),
    Output("cmp-runs", "data"),
    Output("cmp-pick-note", "children"),
    Output("cmp-chips", "children"),
    Input("cmp-table", "selectedRows"),
    Input("cmp-f-name", "value"),
    Input("cmp-f-dataset", "value"),
    Input("cmp-f-status", "value"),
    State("cmp-runs", "data"),
    State("cmp-table", "rowData"),
    prevent_initial_call=True,
)
def pick(ticked, name, dataset, status, chosen, rows):
    """A tick in the grid (ag-grid reports the ticked row objects) or a change of filters."""
    store = get_store()
    chosen = list(chosen or [])
    if ctx.triggered_id == "cmp-table":
        rows = rows or []
        visible = [row["id"] for row in rows]
        new, note = picker.apply_selection(chosen, visible, picker.ticked_indices(rows, ticked))
        runs = choice.chosen_runs(store, new)
        fixed = picker.selection(rows, new)
        same = {row["id"] for row in fixed} == {row.get("id") for row in ticked or []}
        return (
            no_update,
            no_update if same else fixed,
            new if new != chosen else no_update,
            note,
            picker.chips(runs),
        )
    rows = choice.picker_data(store, name, dataset, status)
    return rows, picker.selection(rows, chosen), no_update, "", no_update


@callbacks(
    Output("cmp-body", "children"),
    Output("cmp-input-card", "className"),
    Output("cmp-input", "data", allow_duplicate=True),
    Output("cmp-input-preview", "src", allow_duplicate=True),
    Output("cmp-input-caption", "children", allow_duplicate=True),
    Input("cmp-runs", "data"),
    State("cmp-input", "data"),
    prevent_initial_call=True,
)
def rebuild(ids, desc):
    store = get_store()
    runs = choice.chosen_runs(store, ids, with_history=True)
    if len(runs) < 2:
        return choice.waiting_message(len(runs)), "d-none", no_update, no_update, no_update
    if not inputs.fits(desc, runs):  # none yet, or one of the runs compared before
        desc = inputs.default_input(store, runs[0])
        src, caption = choice.preview(desc, runs)
        return sections.body(store, runs), "", desc, src, caption
    return sections.body(store, runs), "", no_update, no_update, no_update


callbacks.clientside(
    """
    function(runs, input) {
        const parts = [];
        if (runs && runs.length) { parts.push("runs=" + runs.join(",")); }
        if (input && input.ref) { parts.push("input=" + encodeURIComponent(input.ref)); }
        const query = parts.length ? "?" + parts.join("&") : "";
        if (window.location.search !== query) {
            window.history.replaceState(window.history.state, "", window.location.pathname + query);
        }
        return query;
    }
    """,
    Output("cmp-url-sync", "data"),
    Input("cmp-runs", "data"),
    Input("cmp-input", "data"),
)


# --- choosing the input ----------------------------------------------------------------------------


@callbacks(
    Output("cmp-input", "data"),
    Output("cmp-input-preview", "src"),
    Output("cmp-input-caption", "children"),
    Output("cmp-input-status", "children"),
    Input("cmp-test-show", "n_clicks"),
    Input("cmp-test-index", "n_submit"),
    Input("cmp-upload", "contents"),
    Input("cmp-drawing", "data"),
    State("cmp-test-index", "value"),
    State("cmp-runs", "data"),
    prevent_initial_call=True,
)
def choose_input(_show, _submit, uploaded, drawing, index, ids):
    runs = choice.chosen_runs(get_store(), ids)
    if not runs:
        return no_update, no_update, no_update, no_update
    try:
        if ctx.triggered_id == "cmp-upload":
            desc = inputs.data_url_input(uploaded, "upload", runs[0]["dataset"])
        elif ctx.triggered_id == "cmp-drawing":
            desc = inputs.data_url_input(drawing, "drawing", runs[0]["dataset"])
        else:
            desc = inputs.test_input(runs[0]["dataset"], index)
    except inputs.InputRefused as exc:
        return (
            no_update,
            no_update,
            no_update,
            html.Span(message(str(exc)), className="text-danger"),
        )
    src, caption = choice.preview(desc, runs)
    return desc, src, caption, ""


callbacks.clientside(
    """
    function(n) {
        const canvas = document.getElementById("cmp-canvas");
        if (!n || !canvas) { return window.dash_clientside.no_update; }
        return canvas.toDataURL("image/png");
    }
    """,
    Output("cmp-drawing", "data"),
    Input("cmp-draw-use", "n_clicks"),
    prevent_initial_call=True,
)


# --- jobs ------------------------------------------------------------------------------------------


def _state(ids: Any, desc: Any, pair: Any, layer: Any, ask: bool) -> tuple[dict[str, Any], bool]:
    store = get_store()
    runs = choice.chosen_runs(store, ids)
    state = page_status.status(
        store,
        runs,
        desc,
        analysis.parse_pair(pair, len(runs)),
        ask=ask,
        layer=ablation.chosen_layer(runs, layer),
    )
    return state, not page_status.waiting(state)


@callbacks(
    Output("cmp-status", "data"),
    Output("cmp-poll", "disabled"),
    Output("cmp-wait", "data"),
    Output("cmp-wait-note", "children"),
    Output("cmp-retry", "className"),
    Input("cmp-body-runs", "data"),
    Input("cmp-input", "data"),
    Input("cmp-pair", "value"),
    Input("cmp-abl-layer", "value"),
    Input("cmp-retry", "n_clicks"),
)
def ensure(ids, desc, pair, layer, _retry):
    """Ask for whatever the views need that the store does not hold yet."""
    state, done = _state(ids, desc, pair, layer, ask=True)
    note = ""
    if ctx.triggered_id == "cmp-retry" and not wait.resend_queued(get_store(), state):
        note = t("compare.wait.queue_waiting")  # the poll's notes follow after PATIENCE
    return state, done, None if done else time.time(), note, wait.retry_class(False)


@callbacks(
    Output("cmp-status", "data", allow_duplicate=True),
    Output("cmp-poll", "disabled", allow_duplicate=True),
    Output("cmp-wait-note", "children", allow_duplicate=True),
    Output("cmp-retry", "className", allow_duplicate=True),
    Input("cmp-poll", "n_intervals"),
    State("cmp-body-runs", "data"),
    State("cmp-input", "data"),
    State("cmp-pair", "value"),
    State("cmp-abl-layer", "value"),
    State("cmp-status", "data"),
    State("cmp-wait", "data"),
    prevent_initial_call=True,
)
def poll(_n, ids, desc, pair, layer, last, since):
    """Follow the jobs; stop, say why and offer a retry when no worker answers (compare_wait)."""
    state, done = _state(ids, desc, pair, layer, ask=False)
    if done:
        return (no_update if state == last else state), True, "", wait.retry_class(False)
    answer = wait.verdict(get_store(), state, since, time.time(), broker_ok())
    if answer["stop"]:
        state = wait.stopped(state, answer["why"])
    stopped_early = answer["stop"] and bool(answer["why"])
    return (
        no_update if state == last else state,
        answer["stop"],
        answer["note"],
        wait.retry_class(stopped_early),
    )


# --- views -----------------------------------------------------------------------------------------


MAX_DEPTH = 64  # more than any model has layers (RunConfig: at most 24)


def _depth(value: Any) -> int:
    """A slider's or dropdown's layer index; anything that is not one (a string, infinity, a
    5,000-digit number from a crafted request) is the first layer."""
    number = whole_number(value, text=True)
    return 0 if number is None else min(max(0, number), MAX_DEPTH)


def _epoch(value: Any) -> int | None:
    number = whole_number(value, text=True)
    return None if number is None else min(max(0, number), MAX_EPOCHS)


@callbacks(
    Output("cmp-preds", "children"),
    Input("cmp-status", "data"),
    State("cmp-body-runs", "data"),
    State("cmp-input", "data"),
)
def show_predictions(state, ids, desc):
    store = get_store()
    label = desc.get("label") if desc and desc.get("kind") == "test" else None
    return panels.predictions(store, choice.chosen_runs(store, ids), state, label)


@callbacks(
    Output("cmp-acts", "children"),
    Input("cmp-status", "data"),
    Input("cmp-depth", "value"),
    Input("cmp-scale", "value"),
    State("cmp-body-runs", "data"),
)
def show_activations(state, depth, scale, ids):
    store = get_store()
    runs = choice.chosen_runs(store, ids)
    infos = [run_data.layer_infos(run) for run in runs]
    return panels.activations(store, runs, infos, state, _depth(depth), scale)


@callbacks(
    Output("cmp-filters", "children"),
    Input("cmp-conv", "value"),
    Input("cmp-epoch", "value"),
    Input("cmp-align", "value"),
    Input("cmp-status", "data"),
    State("cmp-body-runs", "data"),
)
def show_filters(depth, epoch, mode, state, ids):
    store = get_store()
    runs = choice.chosen_runs(store, ids)
    return panels.filters(store, runs, _depth(depth), _epoch(epoch), mode, state)


@callbacks(
    Output("cmp-stats-table", "rowData"),
    Output("cmp-stats-summary", "children"),
    Input("cmp-conv", "value"),
    Input("cmp-status", "data"),
    State("cmp-body-runs", "data"),
)
def show_stats(depth, state, ids):
    store = get_store()
    return analysis.stats_rows(store, choice.chosen_runs(store, ids), _depth(depth), state)


@callbacks(
    Output("cmp-cka", "figure"),
    Output("cmp-cka-caption", "children"),
    Input("cmp-pair", "value"),
    Input("cmp-status", "data"),
    State("cmp-body-runs", "data"),
)
def show_cka(pair, state, ids):
    store = get_store()
    runs = choice.chosen_runs(store, ids)
    return analysis.cka(store, runs, analysis.parse_pair(pair, len(runs)), state)


@callbacks(
    Output("cmp-abl", "figure"),
    Output("cmp-abl-summary", "children"),
    Output("cmp-abl-caption", "children"),
    Input("cmp-abl-layer", "value"),
    Input("cmp-status", "data"),
    Input("cmp-poll", "n_intervals"),  # a job's progress moves while the status does not
    State("cmp-body-runs", "data"),
)
def show_ablation(layer, state, _n, ids):
    store = get_store()
    figure, lines, caption = ablation.view(store, choice.chosen_runs(store, ids), layer, state)
    if ctx.triggered_id == "cmp-poll":  # only the lines say how far the jobs have got
        return no_update, lines, no_update
    return figure, lines, caption
