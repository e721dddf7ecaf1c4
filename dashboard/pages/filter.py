"""One filter of a run (/run/<id>/filter/<layer>/<k>): its weights over the epochs, what it
responds to, what it is worth, and its twins in other runs. The parts are in
run/filter_page.py."""

from __future__ import annotations

from typing import Any

import dash
from dash import html

from dashboard.run import filter_page
from dashboard.state import get_store
from dashboard.ui.i18n import t

dash.register_page(
    __name__,
    path_template="/run/<run_id>/filter/<layer>/<k>",
    name="Filter",
    title=lambda **_: t("filter.tab_title"),
)


def layout(
    run_id: str | None = None, layer: str | None = None, k: str | None = None, **_query: Any
) -> html.Div:
    return html.Div(filter_page.layout(get_store(), run_id, layer, k))


filter_page.callbacks.register()
