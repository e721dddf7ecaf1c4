"""The compare page's runs picker: a sortable table of runs with filters, up to four ticked, and the
chosen runs as coloured letters. Pure: run dicts in, Dash components and selections out.
"""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import html
from dash.dash_table.DataTable import DataTable
from dash.dash_table.Format import Format, Scheme

from dashboard.compare import charts
from dashboard.ui import components
from dashboard.ui.i18n import t
from shared.datasets import DATASETS
from shared.store import STATUSES, SUCCEEDED

MAX_RUNS = 4
ANY = "all"


def picker_columns() -> Any:
    """The picker table's columns, headed in the page's language."""
    percent = Format(precision=1, scheme=Scheme.percentage)
    return [
        {"name": t("runs.col.name"), "id": "name"},
        {"name": t("runs.col.dataset"), "id": "dataset"},
        {"name": t("runs.col.status"), "id": "status"},
        {"name": t("runs.col.test_acc"), "id": "test_acc", "type": "numeric", "format": percent},
        {"name": t("runs.col.val_acc"), "id": "val_acc", "type": "numeric", "format": percent},
        {"name": t("runs.col.architecture"), "id": "architecture"},
        {"name": t("form.epochs"), "id": "epochs", "type": "numeric"},
        {"name": t("runs.col.created"), "id": "created"},
    ]


TABLE_STYLE: dict[str, Any] = {
    "style_table": {"overflowX": "auto", "maxHeight": "330px", "overflowY": "auto"},
    "style_cell": {
        "fontFamily": "inherit",
        "fontSize": "0.85rem",
        "padding": "5px 8px",
        "border": "none",
        "borderBottom": "1px solid #eef2f7",
        "textAlign": "left",
        "maxWidth": "260px",
        "overflow": "hidden",
        "textOverflow": "ellipsis",
    },
    "style_header": {
        "fontWeight": "600",
        "color": "#6b7280",
        "fontSize": "0.72rem",
        "textTransform": "uppercase",
        "backgroundColor": "#f8fafc",
        "borderBottom": "1px solid #e3e8ef",
    },
    "style_cell_conditional": [
        {"if": {"column_type": "numeric"}, "textAlign": "right"},
    ],
}


# --- runs picker -----------------------------------------------------------------------------------


def picker_rows(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Table rows, best test accuracy first (runs without one last)."""
    rows = [
        {
            "id": run["id"],
            "name": run["name"],
            "dataset": run["dataset"],
            "status": components.status_word(run["status"]),
            "test_acc": (run.get("test") or {}).get("accuracy"),
            "val_acc": run.get("val_accuracy"),
            "architecture": run.get("architecture") or "",
            "epochs": (run.get("config") or {}).get("epochs"),
            "created": components.fmt_time(run.get("created_at")),
        }
        for run in runs
    ]
    return sorted(rows, key=lambda r: (r["test_acc"] is None, -(r["test_acc"] or 0.0)))


def apply_selection(
    chosen: list[str], visible: list[str], selected_rows: list[int] | None
) -> tuple[list[str], str]:
    """The chosen runs after a click in the table, in the order they were chosen, and a note.

    Runs filtered out of view stay chosen; a fifth run is not added.
    """
    ticked = [visible[i] for i in selected_rows or [] if 0 <= i < len(visible)]
    kept = [c for c in chosen if c not in visible or c in ticked]
    added = [t for t in ticked if t not in kept]
    room = MAX_RUNS - len(kept)
    note = ""
    if len(added) > room:
        note = t("compare.pick.max", n=MAX_RUNS)
    return kept + added[: max(room, 0)], note


def selected_rows(rows: list[dict[str, Any]], chosen: list[str]) -> list[int]:
    return [i for i, row in enumerate(rows) if row["id"] in chosen]


def chips(runs: list[dict[str, Any]]) -> list[Any]:
    """The chosen runs as coloured letters; the letter names the run everywhere below."""
    if not runs:
        return [html.Span(t("compare.pick.none"), className="lens-faint")]
    return [
        html.Span(
            [html.B(charts.letter(i), className="lens-cmp-letter"), run["name"]],
            className="lens-cmp-chip",
            style={"borderColor": charts.RUN_COLORS[i]},
            title=f"{run['dataset']} · {run.get('architecture') or ''}",
        )
        for i, run in enumerate(runs)
    ]


def picker(rows: list[dict[str, Any]], chosen_runs: list[dict[str, Any]]) -> dbc.Card:
    chosen = [run["id"] for run in chosen_runs]
    data: Any = rows  # DataTable's annotations are narrower than JSON rows
    filters = dbc.Row(
        [
            dbc.Col(
                dbc.Input(
                    id="cmp-f-name", type="search", placeholder=t("runs.filter.name"), value=""
                ),
                md=5,
            ),
            dbc.Col(
                dbc.Select(
                    id="cmp-f-dataset",
                    value=ANY,
                    options=[{"label": t("runs.filter.all_datasets"), "value": ANY}]
                    + [{"label": key, "value": key} for key in DATASETS],
                ),
                md=3,
            ),
            dbc.Col(
                dbc.Select(
                    id="cmp-f-status",
                    value=SUCCEEDED,
                    options=[{"label": t("runs.filter.all_statuses"), "value": ANY}]
                    + components.select_options(
                        list(STATUSES), [components.status_word(s) for s in STATUSES]
                    ),
                ),
                md=3,
            ),
        ],
        class_name="g-2 mb-2",
    )
    table = DataTable(
        id="cmp-table",
        columns=picker_columns(),
        data=data,
        row_selectable="multi",
        selected_rows=selected_rows(rows, chosen),
        sort_action="native",
        sort_by=[{"column_id": "test_acc", "direction": "desc"}],
        cell_selectable=False,
        style_data_conditional=[{"if": {"state": "selected"}, "backgroundColor": "#eff6ff"}],
        **TABLE_STYLE,
    )
    body = html.Div(
        [
            filters,
            table,
            html.Div(
                [
                    html.Span(t("compare.pick.comparing"), className="lens-label me-2 mb-0"),
                    html.Span(chips(chosen_runs), id="cmp-chips"),
                    html.Span(id="cmp-pick-note", className="text-danger small ms-2"),
                ],
                className="lens-cmp-chips",
            ),
        ]
    )
    return components.section(t("compare.runs.title"), body, t("compare.runs.help"))
