"""The page of one filter (/run/<id>/filter/<layer>/<k>): its weights after every epoch at once,
then, from the analysis job, what it responds to (top test images with their receptive fields,
an activation-maximisation picture, its mean activation per class), what it is worth (the
accuracy without it), whether it is dead or a near-duplicate, and its twins in other runs.

The layout is built from the store; the job's part is filled in by `analysis_view`, which the
page's polling callback calls until the job has finished. The sections themselves are drawn by
dashboard/run/filter_sections.py. Pure: store and arguments in, components and figures out.
Also the links to a filter's page from the run page's filter tiles and feature maps.
"""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html

from dashboard.run.filter_sections import analysis_sections, href, weights_section
from dashboard.service import analysis_jobs, comparisons
from dashboard.state import get_store
from dashboard.ui import components
from dashboard.ui.i18n import t
from dashboard.ui.page_callbacks import PageCallbacks
from shared import comparison
from shared.queue import BrokerUnavailable
from shared.store import FAILED, RUNNING, SUCCEEDED, RunStore

callbacks = PageCallbacks()  # the filter page's (pages/filter.py registers them)
links = PageCallbacks()  # the run page's links to filter pages (pages/run.py registers them)

POLL_MS = 1000


GIVE_UP_POLLS = 330  # about the analysis jobs' hard time limit, and a margin


def _filter_count(run: dict[str, Any], layer: str) -> int | None:
    try:
        return analysis_jobs.check_filter(run, layer, 0)
    except comparisons.NotComparable:
        return None


def layout(store: RunStore, run_id: str | None, layer: str | None, k: str | None) -> Any:
    run = store.get_run(run_id or "", with_history=False)
    if run is None:
        return components.message_page(t("run.not_found"), t("run.not_found_text"))
    count = _filter_count(run, layer or "")
    index = int(k) if k is not None and str(k).isdecimal() and len(str(k)) <= 4 else None
    back = href(run["id"], "", 0).rsplit("/filter", 1)[0]
    if count is None or index is None or not 0 <= index < count:
        convs = ", ".join(info.name for info in comparisons.conv_layers(run)) or "—"
        return components.message_page(
            t("filter.not_found"), t("filter.not_found_text", layers=convs), t("filter.back"), back
        )
    assert layer is not None
    neighbours = [
        dcc.Link(t("filter.previous"), href=href(run["id"], layer, index - 1), className="me-3")
        if index > 0
        else None,
        dcc.Link(t("filter.next"), href=href(run["id"], layer, index + 1))
        if index + 1 < count
        else None,
    ]
    header = html.Div(
        [
            dcc.Link(t("filter.back_to", name=run["name"]), href=back, className="small"),
            html.H2(t("filter.title", k=index, layer=layer), className="h4 mt-1"),
            html.Div([n for n in neighbours if n is not None], className="small mb-2"),
            components.explain(components.tr("filter.help")),
        ]
    )
    return html.Div(
        [
            header,
            weights_section(store, run, layer, index),
            html.Div(analysis_view(store, run, layer, index, ask=False)[0], id="filter-analysis"),
            dcc.Store(id="filter-key", data={"run_id": run["id"], "layer": layer, "k": index}),
            dcc.Interval(id="filter-interval", interval=POLL_MS, max_intervals=GIVE_UP_POLLS),
        ],
        className="lens-filter",
    )


def analysis_view(
    store: RunStore, run: dict[str, Any], layer: str, k: int, ask: bool
) -> tuple[Any, bool]:
    """(components, done): the analysis when cached; else, with ask=True, the job is queued and
    a line says it is being computed (done=False, keep polling), or why it cannot be."""
    result = analysis_jobs.load_filter_analysis(store, run["id"], layer, k)
    if result is not None:
        return analysis_sections(store, run, result), True
    if run["status"] != SUCCEEDED:
        return _note(t("filter.not_trained")), True
    job = store.get_job(comparison.filter_job_id(run["id"], layer, k))
    if job is not None and job["status"] == FAILED and not ask:
        return _note(str(job.get("error") or t("filter.failed")), "danger"), True
    if ask:
        try:
            answer = analysis_jobs.request_filter_analysis(store, run, layer, k)
        except (comparisons.NotComparable, comparisons.NotReady) as exc:
            return _note(str(exc), "danger"), True
        except BrokerUnavailable:
            return _note(t("compare.state.queue_down"), "danger"), True
        if answer["status"] == "cached":
            return analysis_sections(store, run, answer["result"]), True
        job = store.get_job(comparison.filter_job_id(run["id"], layer, k))
    return computing_note(job), False


def computing_note(job: dict[str, Any] | None) -> Any:
    """What the page says while the job runs: how far it has got once it says (a bar and the
    share done), else that it is being computed."""
    fraction = job.get("progress") if job and job["status"] == RUNNING else None
    if fraction is None:
        return _note(t("filter.computing"))
    return dbc.Alert(
        components.computing_caption(float(fraction), "filter.computing_progress"),
        color="secondary",
        class_name="py-2",
    )


def _note(text: str, colour: str = "secondary") -> Any:
    return dbc.Alert(text, color=colour, class_name="py-2")


@callbacks(
    Output("filter-analysis", "children"),
    Output("filter-interval", "disabled"),
    Input("filter-interval", "n_intervals"),
    State("filter-key", "data"),
)
def poll(_n, key):
    store = get_store()
    run = store.get_run(str((key or {}).get("run_id", "")), with_history=False)
    if run is None:
        return _note(t("run.deleted")), True
    view, done = analysis_view(store, run, str(key["layer"]), int(key["k"]), ask=True)
    return view, done


def link_for(run_id: str | None, layer: str | None, click: dict | None, curve: int | None) -> Any:
    """A link to the clicked tile's filter page when `layer` is a conv layer, else nothing.
    `curve`: the trace that carries the tiles' points (None: any)."""
    if not run_id or not layer or not click or not click.get("points"):
        return ""
    point = click["points"][0]
    if curve is not None and point.get("curveNumber") != curve:
        return ""
    idx = point.get("pointIndex", point.get("pointNumber"))
    store = get_store()
    run = store.get_run(run_id, with_history=False)
    if run is None or idx is None or _filter_count(run, layer) is None:
        return ""
    return dcc.Link(t("filter.open", layer=layer, k=int(idx)), href=href(run_id, layer, int(idx)))


@links(
    Output("run-filter-page-link", "children"),
    Input("run-filters", "clickData"),
    State("run-filter-layer", "value"),
    State("run-id", "data"),
    prevent_initial_call=True,
)
def filter_tile_link(click, layer, run_id):
    return link_for(run_id, layer, click, 1)


@links(
    Output("run-act-page-link", "children"),
    Input("run-act", "clickData"),
    State("run-act-layer", "value"),
    State("run-id", "data"),
    prevent_initial_call=True,
)
def feature_map_link(click, layer, run_id):
    return link_for(run_id, layer, click, 1)
