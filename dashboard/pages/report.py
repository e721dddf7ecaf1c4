"""A run's printable report: settings, curves, confusion matrix, filters, one image's maps."""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, clientside_callback, dcc, html

from dashboard.run.report import report_sections
from dashboard.state import get_store
from dashboard.ui import components
from dashboard.ui.i18n import t
from shared.store import SUCCEEDED

# order: matched before the run page, whose "/run/<run_id>" would also take ".../report".
dash.register_page(
    __name__,
    path_template="/run/<run_id>/report",
    name="Report",
    title=lambda **_: t("report.tab_title"),
    order=5,
)


def layout(run_id: str | None = None, **_query: Any) -> html.Div:
    store = get_store()
    run = store.get_run(run_id or "")
    if run is None:
        return components.message_page(t("run.not_found"), t("run.not_found_text"))
    back = dcc.Link(t("report.back"), href=f"/run/{run['id']}", className="btn btn-light")
    if run["status"] != SUCCEEDED:
        return components.message_page(
            t("report.none"),
            t("report.none_text", status=components.status_word(run["status"])),
            t("report.back_plain"),
            f"/run/{run['id']}",
        )
    meta = " · ".join(
        x
        for x in (
            run["dataset"],
            run.get("architecture") or "",
            t("common.n_parameters", n=components.fmt_int(run.get("params"))),
            t("run.created", when=components.fmt_time(run.get("created_at"))),
            t("report.run_id", id=run["id"][:8]),
        )
        if x
    )
    head = html.Div(
        [
            html.Div(
                [
                    html.H2([t("report.title"), run["name"]], className="lens-title"),
                    html.Div(meta, className="lens-subtitle lens-mono-soft"),
                ]
            ),
            html.Div(
                [
                    back,
                    dbc.Button(t("report.print"), id="report-print", color="primary"),
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
