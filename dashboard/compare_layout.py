"""The comparison below the picker: its cards, their controls, and the stores the views share.

Built when the page opens and again whenever the chosen runs change. The views' contents are
filled by the page's callbacks (`compare_inspect`), which fire as soon as these controls appear.
"""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html
from dash.dash_table.DataTable import DataTable
from dash.dash_table.Format import Format, Scheme

from dashboard import compare_analysis as analysis
from dashboard import compare_inspect as views
from dashboard import components as ui
from dashboard import figures, run_data
from dashboard.compare_overview import overview
from dashboard.compare_views import TABLE_STYLE
from dashboard.run_views import graph
from shared.store import RunStore

POLL_MS = 700
PERCENT = Format(precision=1, scheme=Scheme.percentage)
NUMBER = Format(precision=3, scheme=Scheme.fixed)
STATS_COLUMNS: Any = [
    {"name": "Run", "id": "run"},
    {"name": "Layer", "id": "layer"},
    {"name": "Filter", "id": "filter", "type": "numeric"},
    {"name": "Mean", "id": "mean", "type": "numeric", "format": NUMBER},
    {"name": "Std", "id": "std", "type": "numeric", "format": NUMBER},
    {"name": "Max", "id": "max", "type": "numeric", "format": NUMBER},
    {"name": "Silent on", "id": "silent", "type": "numeric", "format": PERCENT},
    {"name": "Sparsity", "id": "sparsity", "type": "numeric", "format": PERCENT},
    {"name": "Dead", "id": "dead"},
]


def _control(label: str, control: Any, md: int) -> dbc.Col:
    return dbc.Col([html.Span(label, className="lens-label"), control], md=md)


def _row(row_id: str) -> dbc.Row:
    return dbc.Row(id=row_id, class_name="g-3")


def activations_card(infos: list[list[Any]]) -> dbc.Card:
    controls = dbc.Row(
        [
            _control(
                "layer depth",
                dbc.Select(id="cmp-depth", options=views.depth_options(infos), value="0"),
                6,
            ),
            _control(
                "colour scale per",
                dbc.RadioItems(
                    id="cmp-scale",
                    options=views.SCALES,
                    value=views.SCALE_RUN,
                    inline=True,
                    class_name="lens-radio",
                ),
                6,
            ),
        ],
        class_name="g-2 mb-2",
    )
    return ui.section(
        "Feature maps, layer by layer",
        html.Div([controls, _row("cmp-acts")]),
        "The k-th layer of every run for the same input (yellow = strong response). With "
        "“shared by all runs” one colour means one value everywhere, so you can see which model "
        "responds more strongly; maps outlined in red belong to dead filters.",
    )


def filters_card(store: RunStore, runs: list[dict[str, Any]]) -> dbc.Card:
    last = views.max_epoch(store, runs)
    controls = dbc.Row(
        [
            _control(
                "conv layer",
                dbc.Select(id="cmp-conv", options=views.conv_options(runs), value="0"),
                5,
            ),
            _control(
                "order",
                dbc.RadioItems(
                    id="cmp-align",
                    options=[
                        {"label": "matched to A", "value": views.ALIGNED},
                        {"label": "as trained", "value": views.RAW},
                    ],
                    value=views.ALIGNED,
                    inline=True,
                    class_name="lens-radio",
                ),
                3,
            ),
            _control(
                "after epoch",
                dcc.Slider(
                    id="cmp-epoch",
                    min=0,
                    max=max(last, 1),
                    step=1,
                    value=max(last, 1),
                    marks={e: "init" if e == 0 else str(e) for e in range(last + 1)},
                    included=False,
                ),
                4,
            ),
        ],
        class_name="g-2 mb-2",
    )
    return ui.section(
        "Filters side by side",
        html.Div([controls, _row("cmp-filters")]),
        "Two trainings learn similar filters in a random order. “Matched to A” pairs each "
        "filter with its most similar counterpart in run A (Hungarian assignment on their "
        "correlation, shown as r above each tile). Gray: white = large weight. Red outline: "
        "a dead filter.",
    )


def stats_card() -> dbc.Card:
    table = DataTable(
        id="cmp-stats-table",
        columns=STATS_COLUMNS,
        data=[],
        sort_action="native",
        page_size=16,
        cell_selectable=False,
        style_data_conditional=[
            {
                "if": {"filter_query": '{dead} = "dead"'},
                "backgroundColor": "#fee2e2",
                "color": "#991b1b",
            }
        ],
        **TABLE_STYLE,
    )
    return ui.section(
        "Per-filter statistics",
        html.Div([html.Ul(id="cmp-stats-summary", className="lens-cmp-summary"), table]),
        "For the conv layer chosen above, on the first 500 test images: each filter's mean "
        "activation, how often it stays silent on a whole image, and its sparsity (the share of "
        "values that are zero). A dead filter never fires: under ReLU it contributes nothing. "
        "Click a column to sort.",
    )


def cka_card(runs: list[dict[str, Any]]) -> dbc.Card:
    pairs = analysis.pair_options(runs)
    # In a Div: a component without children is falsy, and the card header drops falsy tools.
    control = html.Div(
        dbc.Select(
            id="cmp-pair", options=pairs, value=pairs[0]["value"], size="sm", class_name="w-auto"
        )
    )
    return ui.section(
        "Layer similarity (CKA)",
        html.Div(
            [
                graph("cmp-cka", figures.empty_figure("…")),
                html.Div(id="cmp-cka-caption", className="lens-faint"),
            ]
        ),
        "Linear CKA compares what two layers make of the same 500 test images: 1 means they "
        "arrange the images alike (up to a rotation and scale), 0 that they have nothing in "
        "common. Even unrelated wide layers score well above 0, so compare cells with each other "
        "rather than with 0.",
        tools=control,
    )


def body(store: RunStore, runs: list[dict[str, Any]]) -> list[Any]:
    """Everything below the input chooser, for two to four runs."""
    infos = [run_data.layer_infos(run) for run in runs]
    return [
        *overview(runs),
        ui.section(
            "Predictions",
            _row("cmp-preds"),
            "Each model's class probabilities for the input; the tallest bar is its answer "
            "(green when right, red when wrong, the true class outlined when known).",
        ),
        activations_card(infos),
        filters_card(store, runs),
        stats_card(),
        cka_card(runs),
        dcc.Store(id="cmp-body-runs", data=[run["id"] for run in runs]),
        dcc.Store(id="cmp-status"),
        dcc.Interval(id="cmp-poll", interval=POLL_MS, disabled=True),
    ]
