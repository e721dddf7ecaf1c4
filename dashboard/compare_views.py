"""The compare page's pure pieces: the runs picker, the run cards, the config diff, the curves card,
the input chooser and the skeleton of the comparison. Data in, Dash components out.
"""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html
from dash.dash_table.DataTable import DataTable
from dash.dash_table.Format import Format, Scheme

from dashboard import compare_figures as cf
from dashboard import components as ui
from dashboard.compare_service import config_diff
from dashboard.run_views import graph
from shared.datasets import DATASETS
from shared.images import MAX_BYTES
from shared.store import STATUSES, SUCCEEDED

MAX_RUNS = 4
ANY = "all"
PICKER_COLUMNS: Any = [
    {"name": "Name", "id": "name"},
    {"name": "Dataset", "id": "dataset"},
    {"name": "Status", "id": "status"},
    {
        "name": "Test acc.",
        "id": "test_acc",
        "type": "numeric",
        "format": Format(precision=1, scheme=Scheme.percentage),
    },
    {
        "name": "Val acc.",
        "id": "val_acc",
        "type": "numeric",
        "format": Format(precision=1, scheme=Scheme.percentage),
    },
    {"name": "Architecture", "id": "architecture"},
    {"name": "Epochs", "id": "epochs", "type": "numeric"},
    {"name": "Created", "id": "created"},
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
            "status": run["status"],
            "test_acc": (run.get("test") or {}).get("accuracy"),
            "val_acc": run.get("val_accuracy"),
            "architecture": run.get("architecture") or "",
            "epochs": (run.get("config") or {}).get("epochs"),
            "created": ui.fmt_time(run.get("created_at")),
        }
        for run in runs
    ]
    return sorted(rows, key=lambda r: -1.0 if r["test_acc"] is None else -r["test_acc"])


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
        note = f"Up to {MAX_RUNS} runs side by side: untick one to add another."
    return kept + added[: max(room, 0)], note


def selected_rows(rows: list[dict[str, Any]], chosen: list[str]) -> list[int]:
    return [i for i, row in enumerate(rows) if row["id"] in chosen]


def chips(runs: list[dict[str, Any]]) -> list[Any]:
    """The chosen runs as coloured letters; the letter names the run everywhere below."""
    if not runs:
        return [html.Span("No run chosen yet.", className="lens-faint")]
    return [
        html.Span(
            [html.B(cf.letter(i), className="lens-cmp-letter"), run["name"]],
            className="lens-cmp-chip",
            style={"borderColor": cf.RUN_COLORS[i]},
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
                dbc.Input(id="cmp-f-name", type="search", placeholder="Filter by name", value=""),
                md=5,
            ),
            dbc.Col(
                dbc.Select(
                    id="cmp-f-dataset",
                    value=ANY,
                    options=[{"label": "All datasets", "value": ANY}]
                    + [{"label": key, "value": key} for key in DATASETS],
                ),
                md=3,
            ),
            dbc.Col(
                dbc.Select(
                    id="cmp-f-status",
                    value=SUCCEEDED,
                    options=[{"label": "All statuses", "value": ANY}]
                    + ui.select_options(list(STATUSES)),
                ),
                md=3,
            ),
        ],
        class_name="g-2 mb-2",
    )
    table = DataTable(
        id="cmp-table",
        columns=PICKER_COLUMNS,
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
                    html.Span("Comparing", className="lens-label me-2 mb-0"),
                    html.Span(chips(chosen_runs), id="cmp-chips"),
                    html.Span(id="cmp-pick-note", className="text-danger small ms-2"),
                ],
                className="lens-cmp-chips",
            ),
        ]
    )
    return ui.section(
        "Runs",
        body,
        "Tick two to four runs. They keep the letters A–D and their colours everywhere "
        "below; the address of this page holds the choice, so you can share the comparison.",
    )


# --- overview --------------------------------------------------------------------------------------


def run_cards(runs: list[dict[str, Any]]) -> dbc.Row:
    cols = []
    for i, run in enumerate(runs):
        test = (run.get("test") or {}).get("accuracy")
        cols.append(
            dbc.Col(
                html.Div(
                    [
                        html.Div(
                            [
                                html.B(cf.letter(i), className="lens-cmp-letter"),
                                dcc.Link(run["name"], href=f"/run/{run['id']}", className="fw-6"),
                                ui.status_badge(run["status"]),
                            ],
                            className="lens-cmp-card-head",
                        ),
                        html.Div(
                            f"{run['dataset']} · {run.get('architecture') or ''}",
                            className="lens-mono lens-faint",
                        ),
                        html.Div(
                            [
                                html.Span(ui.fmt_pct(test, 1), className="lens-cmp-acc"),
                                html.Span(" test accuracy", className="lens-faint"),
                            ]
                        ),
                    ],
                    className="lens-cmp-card",
                    style={"borderTopColor": cf.RUN_COLORS[i]},
                ),
                md=12 // len(runs),
            )
        )
    return dbc.Row(cols, class_name="g-3 mb-3")


def diff_table(runs: list[dict[str, Any]]) -> Any:
    """Only the config fields that differ; a value that differs from A's is highlighted."""
    rows = config_diff([run.get("config") or {} for run in runs])
    if not rows:
        return html.P(
            "These runs were trained with exactly the same settings (only their names differ).",
            className="lens-faint mb-0",
        )
    head = html.Thead(
        html.Tr(
            [html.Th("Setting")]
            + [
                html.Th(html.Span(cf.letter(i), className="lens-cmp-letter"))
                for i in range(len(runs))
            ]
        )
    )
    body = html.Tbody(
        [
            html.Tr(
                [html.Td(row["field"], className="lens-mono")]
                + [
                    html.Td(value, className="lens-mono" + (" lens-cmp-diff" if differs else ""))
                    for value, differs in zip(row["values"], row["differs"], strict=True)
                ]
            )
            for row in rows
        ]
    )
    return dbc.Table([head, body], size="sm", class_name="lens-table mb-0")


def overview(runs: list[dict[str, Any]]) -> list[Any]:
    histories = [
        (f"{cf.letter(i)} {run['name']}", cf.RUN_COLORS[i], run.get("history") or {})
        for i, run in enumerate(runs)
    ]
    return [
        run_cards(runs),
        dbc.Row(
            [
                dbc.Col(
                    ui.section(
                        "Config differences",
                        diff_table(runs),
                        "Only the settings that differ between the runs; a value that differs "
                        "from run A's is highlighted.",
                    ),
                    lg=5,
                ),
                dbc.Col(
                    ui.section(
                        "Training curves",
                        graph("cmp-curves", cf.curves(histories)),
                        "Every run on the same axes, in its colour: solid lines on the training "
                        "images, dashed on the held-out validation images. Lower loss and higher "
                        "accuracy are better.",
                    ),
                    lg=7,
                ),
            ],
            class_name="g-3",
        ),
    ]


# --- the input -------------------------------------------------------------------------------------


def input_card(preview_src: str | None, caption: str) -> dbc.Card:
    test = html.Div(
        [
            html.Span("A test image", className="lens-label"),
            dbc.InputGroup(
                [
                    dbc.InputGroupText("#"),
                    dbc.Input(
                        id="cmp-test-index",
                        type="number",
                        min=0,
                        step=1,
                        value=None,
                        placeholder="e.g. 42",
                    ),
                    dbc.Button("Show", id="cmp-test-show", color="primary", outline=True),
                ],
                size="sm",
            ),
            html.Div("by its number in the test set", className="lens-faint mt-1"),
        ],
        className="lens-cmp-source",
    )
    upload = html.Div(
        [
            html.Span("Or a picture", className="lens-label"),
            dcc.Upload(
                html.Div(["Drop a PNG or JPEG here, or ", html.U("choose a file")]),
                id="cmp-upload",
                accept="image/png,image/jpeg,image/gif,image/bmp,image/webp",
                max_size=MAX_BYTES,
                multiple=False,
                className="lens-cmp-upload",
            ),
            html.Div("any size up to 2 MB; a digit on paper works", className="lens-faint mt-1"),
        ],
        className="lens-cmp-source",
    )
    draw = html.Div(
        [
            html.Span("Or draw a digit", className="lens-label"),
            html.Canvas(id="cmp-canvas", width=168, height=168, className="lens-draw"),
            html.Div(
                [
                    dbc.Button("Use drawing", id="cmp-draw-use", size="sm", color="primary"),
                    dbc.Button("Clear", id="cmp-draw-clear", size="sm", color="light"),
                ],
                className="d-flex gap-1 mt-1",
            ),
        ],
        className="lens-cmp-source",
    )
    shown = html.Div(
        [
            html.Span("What every model gets", className="lens-label"),
            html.Img(id="cmp-input-preview", src=preview_src, className="lens-cmp-preview"),
            html.Div(caption, id="cmp-input-caption", className="lens-faint mt-1"),
        ],
        className="lens-cmp-source",
    )
    return ui.section(
        "One input through every model",
        html.Div(
            [
                html.Div([test, upload, draw, shown], className="lens-cmp-sources"),
                html.Div(id="cmp-input-status", className="small mt-2"),
                dcc.Store(id="cmp-drawing"),
            ]
        ),
        "Choose what the models look at. A picture or a drawing is converted the way MNIST's "
        "digits were prepared: gray, white on black, the digit scaled to 20 pixels and centred "
        "in 28×28. The image on the right is exactly what every model receives.",
    )
