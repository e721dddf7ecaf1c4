"""The 404 page: Dash pages shows it for any path no page claims."""

from __future__ import annotations

from typing import Any

import dash

from dashboard.ui.components import message_page
from dashboard.ui.i18n import t

dash.register_page(
    __name__, path="/404", name="Not found", title=lambda **_: t("notfound.tab_title")
)


def layout(**_query: Any):
    return message_page(t("notfound.title"), t("notfound.text"))
