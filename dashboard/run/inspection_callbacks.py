"""The run page's inspection callbacks: filters, probe and test-image selection, feature maps.

The views themselves are in run/inspection.py (filters and feature maps) and run/input_panel.py (any test
image through an extraction job); these callbacks find the page's run and hand it over. Registered
by pages/run.py (see ui/page_callbacks.py for why not at import).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dash import ALL, Input, Output, State, ctx, no_update

from dashboard.run import input_panel, inspection
from dashboard.service import run_data
from dashboard.state import get_store
from dashboard.ui.page_callbacks import PageCallbacks
from shared.store import RunStore

callbacks = PageCallbacks()


def on_run(run_id: str, missing: Any, view: Callable[..., Any], *args: Any) -> Any:
    """`view(store, run, *args)` for the page's run; `missing` when the run was deleted meanwhile."""
    store = get_store()
    run = store.get_run(run_id, with_history=False)
    return missing if run is None else view(store, run, *args)


@callbacks(
    Output("run-filters", "figure"),
    Output("run-filter-channel", "options"),
    Output("run-filter-channel", "disabled"),
    Output("run-filter-caption", "children"),
    Input("run-filter-layer", "value"),
    Input("run-filter-channel", "value"),
    Input("run-filter-epoch", "value"),
    Input("run-filter-scale", "value"),
    State("run-id", "data"),
    prevent_initial_call=True,
)
def show_filters(layer, channel, epoch, scale, run_id):
    return on_run(run_id, (no_update,) * 4, inspection.filter_view, layer, channel, epoch, scale)


@callbacks(
    Output("run-filter-detail", "figure"),
    Input("run-filters", "clickData"),
    State("run-filter-layer", "value"),
    State("run-filter-channel", "value"),
    State("run-filter-epoch", "value"),
    State("run-id", "data"),
    prevent_initial_call=True,
)
def show_filter_detail(click, layer, channel, epoch, run_id):
    return on_run(run_id, no_update, inspection.filter_detail, layer, channel, epoch, click)


def pick_probe(trigger: Any, clicked: Any, current: Any) -> Any:
    """The probe image a thumbnail click selects (a freshly rendered thumbnail is no click)."""
    return trigger["index"] if isinstance(trigger, dict) and clicked else current


@callbacks(
    Output("run-probe", "data"),
    Input({"type": "run-probe", "index": ALL}, "n_clicks"),
    State("run-probe", "data"),
    prevent_initial_call=True,
)
def select_probe(_clicks, current):
    clicked = ctx.triggered[0]["value"] if ctx.triggered else None
    return pick_probe(ctx.triggered_id, clicked, current)


@callbacks(
    Output({"type": "run-probe", "index": ALL}, "className"),
    Input("run-probe", "data"),
    State({"type": "run-probe", "index": ALL}, "n_clicks"),
)
def mark_probe(selection, clicks):
    return input_panel.thumb_classes(selection, len(clicks))


@callbacks(
    Output("run-probe", "data", allow_duplicate=True),
    Output("run-job", "data"),
    Output("run-job-interval", "disabled"),
    Output("run-test-status", "children"),
    Input("run-test-show", "n_clicks"),
    Input("run-test-index", "n_submit"),
    State("run-test-index", "value"),
    State("run-id", "data"),
    prevent_initial_call=True,
)
def ask_test_image(_clicks, _submit, index, run_id):
    return on_run(run_id, (no_update,) * 4, input_panel.request_test_input, index)


@callbacks(
    Output("run-probe", "data", allow_duplicate=True),
    Output("run-job", "data", allow_duplicate=True),
    Output("run-job-interval", "disabled", allow_duplicate=True),
    Output("run-test-status", "children", allow_duplicate=True),
    Input("run-job-interval", "n_intervals"),
    State("run-job", "data"),
    State("run-id", "data"),
    prevent_initial_call=True,
)
def wait_for_job(_n, job, run_id):
    # A deleted run's job is forgotten and its polling stopped.
    return on_run(run_id, (no_update, None, True, no_update), input_panel.poll_job, job)


def activation_view(
    store: RunStore, run: dict[str, Any], selection: Any, layer: str | None, scale: str | None
) -> tuple[Any, Any, str]:
    """inspection.activation_view with the run's layers and probe images read from the store."""
    infos = run_data.layer_infos(run)
    probe = run_data.load_probe(store, run["id"])
    return inspection.activation_view(store, run, infos, probe, selection, layer, scale)


@callbacks(
    Output("run-act", "figure"),
    Output("run-act-probs", "figure"),
    Output("run-act-caption", "children"),
    Input("run-probe", "data"),
    Input("run-act-layer", "value"),
    Input("run-act-scale", "value"),
    State("run-id", "data"),
    prevent_initial_call=True,
)
def show_activations(selection, layer, scale, run_id):
    return on_run(run_id, (no_update,) * 3, activation_view, selection, layer, scale)


@callbacks(
    Output("run-act-detail", "figure"),
    Input("run-act", "clickData"),
    Input("run-probe", "data"),
    Input("run-act-layer", "value"),
    State("run-id", "data"),
    prevent_initial_call=True,
)
def show_activation_detail(click, selection, layer, run_id):
    return on_run(run_id, no_update, inspection.activation_detail, selection, layer, click)
