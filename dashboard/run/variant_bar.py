"""The run page's "Try a variant" card: the notebook's exercises as one-click new runs."""

from __future__ import annotations

import re
from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html, no_update

from dashboard.service import run_actions, variants
from dashboard.ui import components
from dashboard.ui.i18n import t
from dashboard.ui.messages import message
from shared.config import ConfigError
from shared.housekeeping import QueueFull
from shared.idempotency import IdempotencyConflict, derived_key
from shared.store import RunStore


def variants_card(run: dict[str, Any]) -> dbc.Card:
    reasons = variants.available(run.get("config") or {})
    buttons = [
        dbc.Button(
            t(f"variant.{kind}.label"),
            id={"type": "run-variant", "kind": kind},
            color="primary",
            outline=True,
            size="sm",
            disabled=bool(reasons.get(kind)),
            title=variant_reason(reasons.get(kind))
            or t("variant.new_run", about=t(f"variant.{kind}.about")),
        )
        for kind in variants.KINDS
    ]
    body = html.Div(
        [
            html.Div(
                [
                    dbc.ButtonGroup(buttons, size="sm", id="run-variant-buttons"),
                    html.Div(
                        dcc.Link(
                            t("variant.sweep_link"),
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
    return components.section(
        t("variant.title"),
        body,
        components.tr("variant.help"),
        class_name="lens-no-print",
    )


def submit(
    store: RunStore, run_id: str, kind: str, token: str | None = None
) -> tuple[Any, Any, Any]:
    """Queue the variant: (address of the new run, flash message, error shown on this page).

    `token` is the page view's (run.py): clicks on one variant from one page view share an
    Idempotency-Key, so a double click queues one run and the second click lands on it.
    """
    key = derived_key("variant", token, run_id, kind) if token else None
    try:
        run = run_actions.submit_variant(store, run_id, kind, idempotency_key=key)
    except (variants.VariantError, ConfigError, IdempotencyConflict) as exc:
        text = variant_reason(str(exc))
        return no_update, no_update, dbc.Alert(text, color="danger", class_name="py-2 mb-0")
    except QueueFull as exc:
        alert = dbc.Alert(message(str(exc)), color="warning", class_name="py-2 mb-0")
        return no_update, no_update, alert
    label = t(f"variant.{kind}.label")
    text = t("variant.queued", label=label, name=run["name"])
    if run.get("warning"):
        text = t("variant.saved_but", label=label, warning=message(run["warning"]))
    color = "warning" if run.get("warning") else "success"
    return f"/run/{run['id']}", components.flash(text, color), None


# The reasons service/variants.py gives (in English, as its tests expect), by pattern.
_REASONS = (
    (
        r"the model needs a conv layer and a flatten layer to add a conv layer",
        "variant.why.no_flatten",
    ),
    (r"another conv layer does not fit this model: (?P<problem>.+)", "variant.why.no_fit"),
    (r"every conv layer already has the maximum of (?P<n>\d+) filters", "variant.why.max_filters"),
    (r"every conv layer already has 5×5 kernels", "variant.why.already_5x5"),
    (r"the run already trains for the maximum of (?P<n>\d+) epochs", "variant.why.max_epochs"),
    (r"the conv and hidden dense layers already use (?P<name>\w+)", "variant.why.already_uses"),
    (r"the (?P<label>.+) variant is not a valid model: (?P<problem>.+)", "variant.why.invalid"),
)


def variant_reason(reason: str | None) -> str | None:
    """Why a variant cannot be made, in the page's language."""
    if not reason:
        return reason
    for pattern, key in _REASONS:
        match = re.fullmatch(pattern, reason)
        if match:
            parts = {k: message(v) if k == "problem" else v for k, v in match.groupdict().items()}
            return t(key, **parts)
    return message(reason)
