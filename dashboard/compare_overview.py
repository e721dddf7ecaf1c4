"""The compare page's overview of the chosen runs (cards, config differences, training curves) and
its input chooser: pure Dash components from run dicts.
"""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboard import compare_figures as cf
from dashboard import components as ui
from dashboard.compare_service import config_diff
from dashboard.run_views import graph
from shared.images import MAX_BYTES

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
