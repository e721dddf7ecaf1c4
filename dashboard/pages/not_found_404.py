"""The 404 page: Dash pages shows it for any path no page claims."""

from __future__ import annotations

from typing import Any

import dash

from dashboard.components import message_page

dash.register_page(__name__, path="/404", name="Not found", title="Not found · CNN Lens")


def layout(**_query: Any):
    return message_page(
        "Page not found", "Nothing lives at this address. The runs list is a good place to start."
    )
