"""The run page's "how the layers settled" card: each layer after every epoch compared with the
same layer at the end (CKA with its interval), from the `cka_epochs` analysis job.

Nothing is computed on a page view: the card shows a cached answer, or a button that asks for
the job, and polls until it is done. Pure functions for the views; callbacks in a PageCallbacks
that pages/run.py registers.
"""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html, no_update

from dashboard.service import analysis_jobs, comparisons
from dashboard.state import get_store
from dashboard.ui import components, figures
from dashboard.ui.i18n import t
from dashboard.ui.page_callbacks import PageCallbacks
from shared import comparison
from shared.queue import BrokerUnavailable
from shared.store import FAILED, SUCCEEDED, RunStore

callbacks = PageCallbacks()

POLL_MS = 1000
GIVE_UP_POLLS = 330
COLOURS = ("#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563")


def settling_figure(result: dict[str, Any]) -> Any:
    """One line per layer: its CKA with the finished layer after each epoch, the interval as
    error bars, and a dotted line at the threshold that counts as settled."""
    epochs = result["epochs"]
    data = []
    for i, name in enumerate(result["layers"]):
        values, lower, upper = (result[k][i] for k in ("matrix", "lower", "upper"))
        colour = COLOURS[i % len(COLOURS)]
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": name,
                "x": epochs,
                "y": values,
                "line": {"color": colour},
                "error_y": {
                    "type": "data",
                    "symmetric": False,
                    "array": [max(0.0, u - v) for u, v in zip(upper, values, strict=True)],
                    "arrayminus": [max(0.0, v - lo) for v, lo in zip(values, lower, strict=True)],
                    "color": colour,
                    "thickness": 1,
                    "width": 3,
                },
                "customdata": [[lo, u] for lo, u in zip(lower, upper, strict=True)],
                "hovertemplate": t("run.settle.hover", layer=figures.plotly_text(name)),
            }
        )
    layout = {
        "template": figures.TEMPLATE,
        "height": 320,
        "xaxis": {"title": {"text": t("fig.epoch")}, "dtick": 1},
        "yaxis": {"title": {"text": t("run.settle.axis")}, "range": [0, 1.05]},
        "shapes": [
            {
                "type": "line",
                "xref": "paper",
                "x0": 0,
                "x1": 1,
                "y0": result["threshold"],
                "y1": result["threshold"],
                "line": {"dash": "dot", "color": "#9ca3af", "width": 1},
            }
        ],
        "legend": {"orientation": "h", "y": -0.25},
        "margin": {"l": 56, "r": 10, "t": 10, "b": 80},
    }
    return {"data": data, "layout": layout}


def summary(result: dict[str, Any]) -> str:
    settled = [
        (name, e)
        for name, e in zip(result["layers"], result["settled"], strict=True)
        if e is not None
    ]
    if not settled:
        return t("run.settle.none", threshold=result["threshold"])
    first = min(e for _, e in settled)
    names = ", ".join(name for name, e in settled if e == first)
    return t(
        "run.settle.summary",
        layers=names,
        epoch=first,
        threshold=result["threshold"],
        n=result["probe_images"],
    )


def view(store: RunStore, run: dict[str, Any], ask: bool) -> tuple[Any, Any, bool]:
    """(figure, words, done) for the card: the cached answer, or (with ask=True) the job."""
    cached = analysis_jobs.load_epoch_cka(store, run["id"])
    if cached is not None:
        return settling_figure(cached), summary(cached), True
    if run["status"] != SUCCEEDED:
        return figures.empty_figure(t("run.settle.untrained")), "", True
    job = store.get_job(comparison.epoch_cka_job_id(run["id"]))
    if job is not None and job["status"] == FAILED and not ask:
        return figures.empty_figure(t("run.settle.failed")), str(job.get("error") or ""), True
    if not ask:
        return figures.empty_figure(t("run.settle.ask")), "", True
    try:
        answer = analysis_jobs.request_epoch_cka(store, run)
    except comparisons.NotReady as exc:
        return figures.empty_figure(t("run.settle.failed")), str(exc), True
    except BrokerUnavailable:
        return figures.empty_figure(t("run.settle.failed")), t("compare.state.queue_down"), True
    if answer["status"] == "cached":
        return settling_figure(answer["result"]), summary(answer["result"]), True
    return figures.empty_figure(t("run.settle.computing")), "", False


def card(store: RunStore, run: dict[str, Any]) -> Any:
    figure, words, _ = view(store, run, ask=False)
    return components.section(
        t("run.settle.title"),
        [
            dbc.Button(
                t("run.settle.button"),
                id="run-settle-ask",
                size="sm",
                color="secondary",
                class_name="mb-2",
            ),
            components.graph("run-settle", figure),
            html.Div(words, id="run-settle-words", className="small"),
            dcc.Interval(
                id="run-settle-interval",
                interval=POLL_MS,
                max_intervals=GIVE_UP_POLLS,
                disabled=True,
            ),
        ],
        components.tr("run.settle.help"),
    )


@callbacks(
    Output("run-settle", "figure"),
    Output("run-settle-words", "children"),
    Output("run-settle-interval", "disabled"),
    Input("run-settle-ask", "n_clicks"),
    Input("run-settle-interval", "n_intervals"),
    State("run-id", "data"),
    prevent_initial_call=True,
)
def ask(_clicks, _n, run_id):
    store = get_store()
    run = store.get_run(run_id or "", with_history=False)
    if run is None:
        return no_update, t("run.deleted"), True
    figure, words, done = view(store, run, ask=True)
    return figure, words, done
