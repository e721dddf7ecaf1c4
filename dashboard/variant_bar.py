"""The run page's "Try a variant" card: the notebook's exercises as one-click new runs."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html, no_update

from dashboard import components as ui
from dashboard import service, variants
from shared.config import ConfigError
from shared.store import RunStore


def variants_card(run: dict[str, Any]) -> dbc.Card:
    reasons = variants.available(run.get("config") or {})
    buttons = [
        dbc.Button(
            label,
            id={"type": "run-variant", "kind": kind},
            color="primary",
            outline=True,
            size="sm",
            disabled=bool(reasons.get(kind)),
            title=reasons.get(kind) or f"A new run: {about}",
        )
        for kind, (label, about) in variants.KINDS.items()
    ]
    body = html.Div(
        [
            html.Div(
                [
                    dbc.ButtonGroup(buttons, size="sm"),
                    html.Div(
                        dcc.Link(
                            "Sweep a setting…",
                            href=f"/sweep?from={run['id']}",
                        ),
                        className="lens-variant-links",
                    ),
                ],
                className="lens-variants",
            ),
            html.Div(id="run-variant-error", className="mt-2"),
            dcc.Location(id="run-variant-location", refresh="callback-nav"),
        ]
    )
    return ui.section(
        "Try a variant",
        body,
        [
            "The teaching notebook's exercises, one click each: a new run with this run's "
            "settings and exactly one change (",
            ui.term_link("filters", "filter"),
            ", kernel size, ",
            ui.term_link("epochs", "epoch"),
            " or ",
            ui.term_link("activation", "activation"),
            "). It opens when queued; once both have finished, compare them side by side.",
        ],
        class_name="lens-no-print",
    )


def submit(store: RunStore, run_id: str, kind: str) -> tuple[Any, Any, Any]:
    """Queue the variant: (address of the new run, flash message, error shown on this page)."""
    try:
        run = service.submit_variant(store, run_id, kind)
    except (variants.VariantError, ConfigError) as exc:
        return no_update, no_update, dbc.Alert(str(exc), color="danger", class_name="py-2 mb-0")
    label = variants.KINDS[kind][0]
    message = f"Variant “{label}” is queued as “{run['name']}”."
    if run.get("warning"):
        message = f"Variant “{label}” is saved, but {run['warning']}."
    color = "warning" if run.get("warning") else "success"
    return f"/run/{run['id']}", ui.flash(message, color), None
