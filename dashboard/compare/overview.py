"""The compare page's overview of the chosen runs (cards, config differences, training curves) and
its input chooser: pure Dash components from run dicts.
"""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboard.compare import charts
from dashboard.service.comparisons import config_diff
from dashboard.ui import components
from dashboard.ui.components import graph
from dashboard.ui.i18n import t
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
                                html.B(charts.letter(i), className="lens-cmp-letter"),
                                dcc.Link(run["name"], href=f"/run/{run['id']}", className="fw-6"),
                                components.status_badge(run["status"]),
                            ],
                            className="lens-cmp-card-head",
                        ),
                        html.Div(
                            f"{components.dataset_name(run['dataset'])} · "
                            f"{run.get('architecture') or ''}",
                            className="lens-mono lens-faint",
                        ),
                        html.Div(
                            [
                                html.Span(components.fmt_pct(test, 1), className="lens-cmp-acc"),
                                html.Span(t("compare.card.test_acc"), className="lens-faint"),
                            ]
                        ),
                    ],
                    className="lens-cmp-card",
                    style={"borderTopColor": charts.RUN_COLORS[i]},
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
            t("compare.diff.same"),
            className="lens-faint mb-0",
        )
    head = html.Thead(
        html.Tr(
            [html.Th(t("compare.diff.setting"))]
            + [
                html.Th(html.Span(charts.letter(i), className="lens-cmp-letter"))
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
        (f"{charts.letter(i)} {run['name']}", charts.RUN_COLORS[i], run.get("history") or {})
        for i, run in enumerate(runs)
    ]
    return [
        run_cards(runs),
        dbc.Row(
            [
                dbc.Col(
                    components.section(
                        t("compare.diff.title"), diff_table(runs), t("compare.diff.help")
                    ),
                    lg=5,
                ),
                dbc.Col(
                    components.section(
                        t("compare.curves.title"),
                        graph("cmp-curves", charts.curves(histories)),
                        components.tr("compare.curves.help"),
                    ),
                    lg=7,
                ),
            ],
            class_name="g-3",
        ),
    ]


# --- the input -------------------------------------------------------------------------------------


def input_card(
    preview_src: str | None,
    caption: str,
    drawable: bool = True,
    shape: tuple[int, int, int] = (28, 28, 1),
) -> dbc.Card:
    """The input's sources: a test image, a picture, and a drawing when the runs' images are
    grayscale (a mouse drawing says little to a model of colour pictures). `shape` is the runs'
    images': a picture is made MNIST-like for 28×28 grayscale, else cropped and resized to it,
    and the help says which."""
    mnist_like = tuple(shape) == (28, 28, 1)
    test = html.Div(
        [
            html.Span(t("compare.input.test"), className="lens-label"),
            dbc.InputGroup(
                [
                    dbc.InputGroupText("#"),
                    dbc.Input(
                        id="cmp-test-index",
                        type="number",
                        min=0,
                        step=1,
                        value=None,
                        placeholder=t("compare.input.example"),
                    ),
                    dbc.Button(
                        t("compare.input.show"), id="cmp-test-show", color="primary", outline=True
                    ),
                ],
                size="sm",
            ),
            html.Div(t("compare.input.by_number"), className="lens-faint mt-1"),
        ],
        className="lens-cmp-source",
    )
    upload = html.Div(
        [
            html.Span(t("compare.input.picture"), className="lens-label"),
            dcc.Upload(
                html.Div([t("compare.input.drop"), html.U(t("compare.input.choose_file"))]),
                id="cmp-upload",
                accept="image/png,image/jpeg,image/gif,image/bmp,image/webp",
                max_size=MAX_BYTES,
                multiple=False,
                className="lens-cmp-upload",
            ),
            html.Div(
                t(
                    "compare.input.picture_hint"
                    if mnist_like
                    else "compare.input.picture_hint_photo"
                ),
                className="lens-faint mt-1",
            ),
        ],
        className="lens-cmp-source",
    )
    draw = html.Div(
        [
            html.Span(t("compare.input.draw"), className="lens-label"),
            html.Canvas(id="cmp-canvas", width=168, height=168, className="lens-draw"),
            html.Div(
                [
                    dbc.Button(
                        t("compare.input.use_drawing"),
                        id="cmp-draw-use",
                        size="sm",
                        color="primary",
                    ),
                    dbc.Button(
                        t("compare.input.clear"), id="cmp-draw-clear", size="sm", color="light"
                    ),
                ],
                className="d-flex gap-1 mt-1",
            ),
        ],
        className="lens-cmp-source" if drawable else "d-none",
    )
    shown = html.Div(
        [
            html.Span(t("compare.input.shown"), className="lens-label"),
            html.Img(id="cmp-input-preview", src=preview_src, className="lens-cmp-preview"),
            html.Div(caption, id="cmp-input-caption", className="lens-faint mt-1"),
        ],
        className="lens-cmp-source",
    )
    return components.section(
        t("compare.input.title"),
        html.Div(
            [
                html.Div([test, upload, draw, shown], className="lens-cmp-sources"),
                html.Div(id="cmp-input-status", className="small mt-2"),
                dcc.Store(id="cmp-drawing"),
            ]
        ),
        components.tr("compare.input.help")
        if mnist_like
        else components.tr(
            "compare.input.help_photo",
            h=shape[0],
            w=shape[1],
            kind=t("datasets.rgb" if shape[2] == 3 else "datasets.gray"),
        ),
    )
