"""The compare page's runs picker: a sortable grid of runs with filters, up to four ticked, and the
chosen runs as coloured letters. Pure: run dicts in, Dash components and selections out.
"""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import html

from dashboard.compare import charts
from dashboard.ui import components, grid
from dashboard.ui.i18n import t
from shared.store import STATUSES, SUCCEEDED

MAX_RUNS = 4
ANY = "all"


def picker_columns() -> list[dict[str, Any]]:
    """The picker grid's columns, headed in the page's language; the first holds the tick boxes."""
    return [
        grid.column("name", t("runs.col.name"), minWidth=160),
        grid.column("dataset", t("runs.col.dataset")),
        grid.column("status", t("runs.col.status")),
        grid.column("test_acc", t("runs.col.test_acc"), grid.PERCENT, sort="desc"),
        grid.column("val_acc", t("runs.col.val_acc"), grid.PERCENT),
        grid.column("architecture", t("runs.col.architecture"), minWidth=160),
        grid.column("epochs", t("form.epochs"), grid.INTEGER),
        grid.column("created", t("runs.col.created")),
    ]


# --- runs picker -----------------------------------------------------------------------------------


def picker_rows(
    runs: list[dict[str, Any]], dataset_names: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Table rows, best test accuracy first (runs without one last); an imported dataset by its
    name (`dataset_names`, by id)."""
    names = dataset_names or {}
    rows = [
        {
            "id": run["id"],
            "name": run["name"],
            "dataset": names.get(run["dataset"], run["dataset"]),
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


def ticked_indices(rows: list[dict[str, Any]], ticked: list[dict[str, Any]] | None) -> list[int]:
    """The grid's ticked rows (row objects, as ag-grid reports them) as indices into `rows`."""
    ids = {row.get("id") for row in ticked or [] if isinstance(row, dict)}
    return [i for i, row in enumerate(rows) if row["id"] in ids]


def selection(rows: list[dict[str, Any]], chosen: list[str]) -> list[dict[str, Any]]:
    """The chosen runs among `rows`, in the form the grid takes (`getRowId` reads only the id)."""
    return [{"id": rows[i]["id"]} for i in selected_rows(rows, chosen)]


def chips(runs: list[dict[str, Any]]) -> list[Any]:
    """The chosen runs as coloured letters; the letter names the run everywhere below."""
    if not runs:
        return [html.Span(t("compare.pick.none"), className="lens-faint")]
    return [
        html.Span(
            [html.B(charts.letter(i), className="lens-cmp-letter"), run["name"]],
            className="lens-cmp-chip",
            style={"borderColor": charts.RUN_COLORS[i]},
            title=f"{components.dataset_name(run['dataset'])} · {run.get('architecture') or ''}",
        )
        for i, run in enumerate(runs)
    ]


def picker(
    rows: list[dict[str, Any]],
    chosen_runs: list[dict[str, Any]],
    datasets: list[tuple[str, str]],
) -> dbc.Card:
    """The picker card; `datasets` are the dataset filter's (value, label) choices."""
    chosen = [run["id"] for run in chosen_runs]
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
                    + [{"label": label, "value": key} for key, label in datasets],
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
    table = grid.grid(
        "cmp-table",
        picker_columns(),
        rows,
        getRowId="params.data.id",
        selectedRows=selection(rows, chosen),
        dashGridOptions={
            "rowSelection": {"mode": "multiRow", "checkboxes": True, "headerCheckbox": False},
            "domLayout": "normal",
        },
        style={"height": "330px"},
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
