"""Compare saved runs side by side: one input through every model, aligned filters, layer similarity.

The choice lives in the address (`/compare?runs=<id>,<id>&input=test:42`), so a link reproduces a
comparison. Choosing other runs rebuilds the comparison in place and rewrites the address without
reloading the page. The page's parts are in dashboard/compare/, its callbacks in
compare/callbacks.py.
"""

from __future__ import annotations

from typing import Any

import dash
from dash import dcc, html

from dashboard.compare import (
    attribution,
    callbacks,
    choice,
    inputs,
    overview,
    picker,
    sections,
)
from dashboard.service import datasets as dataset_service
from dashboard.state import get_store
from dashboard.ui.i18n import t
from shared.datasets import input_shape

dash.register_page(
    __name__, path="/compare", name="Compare", title=lambda **_: t("compare.tab_title"), order=2
)


def layout(runs: str | None = None, input: str | None = None, **_query: Any) -> html.Div:
    store = get_store()
    chosen = choice.chosen_runs(store, runs, with_history=True)
    desc = None
    if chosen:
        desc = inputs.from_ref(input, chosen[0]["dataset"]) or inputs.default_input(
            store, chosen[0]
        )
    src, caption = choice.preview(desc, chosen)
    ready = len(chosen) >= 2
    rows = choice.picker_data(store, "", choice.ALL_VALUE, "succeeded")
    return html.Div(
        [
            html.Div(
                html.Div(
                    [
                        html.H2(t("compare.title"), className="lens-title"),
                        html.P(t("compare.intro"), className="lens-subtitle"),
                    ]
                ),
                className="lens-page-head",
            ),
            picker.picker(rows, chosen, dataset_service.filter_choices(store)),
            html.Div(
                overview.input_card(
                    src,
                    caption,
                    drawable=not chosen or input_shape(chosen[0]["dataset"])[2] == 1,
                    shape=input_shape(chosen[0]["dataset"]) if chosen else (28, 28, 1),
                ),
                id="cmp-input-card",
                className="" if ready else "d-none",
            ),
            html.Div(
                sections.body(store, chosen) if ready else choice.waiting_message(len(chosen)),
                id="cmp-body",
            ),
            dcc.Store(id="cmp-runs", data=[run["id"] for run in chosen]),
            dcc.Store(id="cmp-input", data=desc),
            dcc.Store(id="cmp-url-sync"),
        ],
        className="lens-compare",
    )


callbacks.callbacks.register()
attribution.callbacks.register()
