"""A run's printable report: settings, curves, confusion matrix, filters, one image's maps."""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, clientside_callback, dcc, html

from dashboard import components as ui
from dashboard.report_views import report_sections
from dashboard.state import get_store
from shared.store import SUCCEEDED

# order: matched before the run page, whose "/run/<run_id>" would also take ".../report".
dash.register_page(
    __name__,
    path_template="/run/<run_id>/report",
    name="Report",
    title="Report · CNN Lens",
    order=5,
)


def layout(run_id: str | None = None, **_query: Any) -> html.Div:
    store = get_store()
    run = store.get_run(run_id or "")
    if run is None:
        return ui.message_page(
            "Run not found",
            "There is no run with this id: it may have been deleted, or the link is mistyped.",
        )
    back = dcc.Link("← Back to the run", href=f"/run/{run['id']}", className="btn btn-light")
    if run["status"] != SUCCEEDED:
        return ui.message_page(
            "No report yet",
            f"The report shows a finished run's results; this run is {run['status']}.",
            "Back to the run",
            f"/run/{run['id']}",
        )
    meta = " · ".join(
        x
        for x in (
            run["dataset"],
            run.get("architecture") or "",
            f"{ui.fmt_int(run.get('params'))} parameters",
            f"created {ui.fmt_time(run.get('created_at'))}",
            f"run {run['id'][:8]}",
        )
        if x
    )
    head = html.Div(
        [
            html.Div(
                [
                    html.H2(["Report: ", run["name"]], className="lens-title"),
                    html.Div(meta, className="lens-subtitle lens-mono-soft"),
                ]
            ),
            html.Div(
                [
                    back,
                    dbc.Button("Print / save as PDF", id="report-print", color="primary"),
                ],
                className="lens-actions lens-no-print",
            ),
        ],
        className="lens-page-head",
    )
    return html.Div(
        [head, *report_sections(store, run), dcc.Store(id="report-printed")],
        className="lens-report",
    )


# The browser's print dialog, where "Save as PDF" is one of the printers.
clientside_callback(
    """
    function (n) {
        if (n) { window.print(); }
        return n || 0;
    }
    """,
    Output("report-printed", "data"),
    Input("report-print", "n_clicks"),
    prevent_initial_call=True,
)
