"""The comparison below the picker: its cards, their controls, and the stores the views share.

Built when the page opens and again whenever the chosen runs change. The views' contents are
filled by the page's callbacks (`compare/panels`), which fire as soon as these controls appear.
"""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboard.compare import ablation, analysis, attribution, panels
from dashboard.compare.overview import overview
from dashboard.compare.wait import RETRY_HIDDEN
from dashboard.service import run_data
from dashboard.ui import components, figures, grid
from dashboard.ui.components import graph
from dashboard.ui.i18n import t
from shared.store import RunStore

POLL_MS = 700


def stats_columns() -> list[dict[str, Any]]:
    """The statistics grid's columns, headed in the page's language."""
    return [
        grid.column("run", t("compare.col.run"), minWidth=140),
        grid.column("layer", t("compare.col.layer")),
        grid.column("filter", t("compare.col.filter"), grid.INTEGER),
        grid.column("mean", t("compare.col.mean"), grid.DECIMAL),
        grid.column("std", t("compare.col.std"), grid.DECIMAL),
        grid.column("max", t("compare.col.max"), grid.DECIMAL),
        grid.column("silent", t("compare.col.silent"), grid.PERCENT),
        grid.column("sparsity", t("compare.col.sparsity"), grid.PERCENT),
        grid.column("dead", t("compare.col.dead")),
    ]


def _control(label: str, control: Any, md: int) -> dbc.Col:
    return dbc.Col([html.Span(label, className="lens-label"), control], md=md)


def _row(row_id: str) -> dbc.Row:
    return dbc.Row(id=row_id, class_name="g-3")


def activations_card(infos: list[list[Any]]) -> dbc.Card:
    controls = dbc.Row(
        [
            _control(
                t("compare.maps.depth"),
                dbc.Select(id="cmp-depth", options=panels.depth_options(infos), value="0"),
                6,
            ),
            _control(
                t("inspect.colour_per"),
                dbc.RadioItems(
                    id="cmp-scale",
                    options=panels.scales(),
                    value=panels.SCALE_RUN,
                    inline=True,
                    class_name="lens-radio",
                ),
                6,
            ),
        ],
        class_name="g-2 mb-2",
    )
    return components.section(
        t("compare.maps.title"),
        html.Div([controls, _row("cmp-acts")]),
        components.tr("compare.maps.help"),
    )


def filters_card(store: RunStore, runs: list[dict[str, Any]]) -> dbc.Card:
    last = panels.max_epoch(store, runs)
    controls = dbc.Row(
        [
            _control(
                t("compare.filters.conv"),
                dbc.Select(id="cmp-conv", options=panels.conv_options(runs), value="0"),
                5,
            ),
            _control(
                t("compare.filters.order"),
                dbc.RadioItems(
                    id="cmp-align",
                    options=[
                        {"label": t("compare.filters.matched"), "value": panels.ALIGNED},
                        {"label": t("compare.filters.as_trained"), "value": panels.RAW},
                    ],
                    value=panels.ALIGNED,
                    inline=True,
                    class_name="lens-radio",
                ),
                3,
            ),
            _control(
                t("inspect.after_epoch"),
                dcc.Slider(
                    id="cmp-epoch",
                    min=0,
                    max=max(last, 1),
                    step=1,
                    value=max(last, 1),
                    marks={e: t("inspect.init") if e == 0 else str(e) for e in range(last + 1)},
                    included=False,
                ),
                4,
            ),
        ],
        class_name="g-2 mb-2",
    )
    return components.section(
        t("compare.filters.title"),
        html.Div([controls, _row("cmp-filters")]),
        components.tr("compare.filters.help"),
    )


def stats_card() -> dbc.Card:
    table = grid.grid(
        "cmp-stats-table",
        stats_columns(),
        [],
        getRowStyle={
            "styleConditions": [
                {
                    "condition": "params.data.dead !== ''",
                    "style": {"backgroundColor": "#fee2e2", "color": "#991b1b"},
                }
            ]
        },
        dashGridOptions={
            "pagination": True,
            "paginationPageSize": 16,
            "paginationPageSizeSelector": False,
        },
        style={"height": "560px"},
    )
    return components.section(
        t("compare.stats.title"),
        html.Div([html.Ul(id="cmp-stats-summary", className="lens-cmp-summary"), table]),
        components.tr("compare.stats.help"),
    )


def cka_card(runs: list[dict[str, Any]]) -> dbc.Card:
    pairs = analysis.pair_options(runs)
    # In a Div: a component without children is falsy, and the card header drops falsy tools.
    control = html.Div(
        dbc.Select(
            id="cmp-pair", options=pairs, value=pairs[0]["value"], size="sm", class_name="w-auto"
        )
    )
    return components.section(
        t("compare.cka.title"),
        html.Div(
            [
                graph("cmp-cka", figures.empty_figure("…")),
                html.Div(id="cmp-cka-caption", className="lens-faint"),
            ]
        ),
        components.tr("compare.cka.help"),
        tools=control,
    )


def body(store: RunStore, runs: list[dict[str, Any]]) -> list[Any]:
    """Everything below the input chooser, for two to four runs."""
    infos = [run_data.layer_infos(run) for run in runs]
    return [
        html.Div(  # what the page says when no worker answers, and a button that asks again
            [
                html.Div(id="cmp-wait-note"),
                dbc.Button(
                    t("compare.wait.retry"),
                    id="cmp-retry",
                    size="sm",
                    color="primary",
                    outline=True,
                    className=RETRY_HIDDEN,
                ),
            ],
            className="lens-cmp-waitbar",
        ),
        *overview(runs),
        components.section(
            t("compare.preds.title"), _row("cmp-preds"), components.tr("compare.preds.help")
        ),
        activations_card(infos),
        attribution.card(runs),
        filters_card(store, runs),
        stats_card(),
        cka_card(runs),
        ablation.card(runs),
        dcc.Store(id="cmp-body-runs", data=[run["id"] for run in runs]),
        dcc.Store(id="cmp-status"),
        dcc.Store(id="cmp-wait"),  # when the page started waiting (server clock, seconds)
        dcc.Interval(id="cmp-poll", interval=POLL_MS, disabled=True),
    ]
