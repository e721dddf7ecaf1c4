"""One run: live progress and curves, results, filters and feature maps, cancel/delete/clone.

This module holds the layout and the live polling; the inspection callbacks (filters, feature
maps, test images) are in run/inspect_callbacks.py, the buttons' (cancel, delete, retry, edit,
variants) in run/action_callbacks.py.
"""

from __future__ import annotations

import secrets
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, dcc, html, no_update

from dashboard.run import (
    action_callbacks,
    attribution,
    filter_page,
    inspection,
    inspection_callbacks,
    manage,
    settling,
    variant_bar,
    views,
)
from dashboard.service import run_data
from dashboard.state import get_store
from dashboard.ui import components, explanations, figures
from dashboard.ui.i18n import t
from shared.store import FINISHED, SUCCEEDED, RunStore

dash.register_page(
    __name__,
    path_template="/run/<run_id>",
    name="Run",
    title=lambda **_: t("run.tab_title"),
)

POLL_MS = 1500


def live(run: dict[str, Any], metrics: dict[str, Any] | None) -> Any:
    if run["status"] == SUCCEEDED:
        return dbc.Card(dbc.CardBody(views.summary(run, metrics)), class_name="lens-card")
    return views.live_panel(run)


def artifact_sections(
    store: RunStore, run: dict[str, Any], metrics: dict[str, Any] | None
) -> list[Any]:
    samples = views.training_images_card(run)
    if not run_data.has_artifacts(store, run["id"]):
        return [views.placeholder(run), samples]
    infos = run_data.layer_infos(run)
    probe = run_data.load_probe(store, run["id"])
    return [
        dbc.Row(
            [dbc.Col(views.confusion_card(run, metrics), lg=6), dbc.Col(samples, lg=6)],
            class_name="g-3",
        ),
        inspection.filters_card(store, run, infos),
        inspection.activations_card(store, run, infos, probe) if probe else views.placeholder(run),
        *([attribution.card(run)] if probe else []),
        settling.card(store, run),
    ]


def signature(run: dict[str, Any]) -> dict[str, Any]:
    return {
        "status": run["status"],
        "epochs": len(run["history"].get("loss") or []),
        "progress": run["progress"],
        "cancel": run.get("cancel_requested"),
    }


def layout(run_id: str | None = None, **_query: Any) -> html.Div:
    store = get_store()
    run = store.get_run(run_id or "")
    if run is None:
        return components.message_page(t("run.not_found"), t("run.not_found_text"))
    metrics = run_data.load_metrics(store, run["id"])
    curves = components.section(
        t("run.curves"),
        components.graph("run-curves", figures.training_curves(run["history"])),
        explanations.curves(),
    )
    cfg = run["config"]
    model = components.section(
        t("run.model"),
        views.model_table(run_data.layer_infos(run)),
        [
            *explanations.model(),
            html.Br(),
            t(
                "run.model.settings",
                optimizer=cfg.get("optimizer"),
                lr=cfg.get("learning_rate"),
                batch=cfg.get("batch_size"),
                epochs=cfg.get("epochs"),
                seed=cfg.get("seed"),
            ),
        ],
    )
    return html.Div(
        [
            views.header(run, store.get_run(run["parent_id"] or "", with_history=False)),
            manage.editor(run),
            html.Div(live(run, metrics), id="run-live"),
            dbc.Row([dbc.Col(curves, lg=8), dbc.Col(model, lg=4)], class_name="g-3"),
            variant_bar.variants_card(run),
            html.Div(artifact_sections(store, run, metrics), id="run-artifacts"),
            manage.delete_modal(run),
            dcc.Store(id="run-id", data=run["id"]),
            dcc.Store(id="run-sig", data=signature(run)),
            # New per page view: the Idempotency-Key of this view's variant and retry clicks.
            dcc.Store(id="run-submit-token", data=secrets.token_hex(16)),
            dcc.Interval(id="run-interval", interval=POLL_MS, disabled=run["status"] in FINISHED),
            dcc.Location(id="run-location", refresh="callback-nav"),
        ],
        className="lens-run",
    )


def poll_outputs(store: RunStore, run_id: str, last: dict[str, Any] | None) -> tuple:
    """What the polling callback changes; only the parts whose data changed (pure otherwise)."""
    keep = (no_update,) * 8
    run = store.get_run(run_id)
    if run is None:
        gone = dbc.Alert(t("run.deleted"), color="secondary")
        return no_update, gone, no_update, no_update, True, None, "d-none", "d-none"
    sig = signature(run)
    if sig == last:
        return keep
    last = last or {}
    finished = run["status"] in FINISHED
    status_changed = sig["status"] != last.get("status")
    metrics = run_data.load_metrics(store, run_id) if run["status"] == SUCCEEDED else None
    return (
        components.status_badge(run["status"], bool(run.get("cancel_requested"))),
        live(run, metrics),
        figures.training_curves(run["history"])
        if sig["epochs"] != last.get("epochs") or status_changed
        else no_update,
        artifact_sections(store, run, metrics) if status_changed and finished else no_update,
        finished,
        sig,
        "" if run["status"] not in FINISHED else "d-none",
        "d-inline-block" if run["status"] == SUCCEEDED else "d-none",
    )


@callback(
    Output("run-status-badge", "children"),
    Output("run-live", "children"),
    Output("run-curves", "figure"),
    Output("run-artifacts", "children"),
    Output("run-interval", "disabled"),
    Output("run-sig", "data"),
    Output("run-cancel", "className"),
    Output("run-downloads", "class_name"),
    Input("run-interval", "n_intervals"),
    State("run-id", "data"),
    State("run-sig", "data"),
    prevent_initial_call=True,
)
def poll(_n, run_id, last):
    return poll_outputs(get_store(), run_id, last)


# Dash imports this page again for every app it builds: register the moved callbacks with it.
inspection_callbacks.callbacks.register()
action_callbacks.callbacks.register()
attribution.callbacks.register()
filter_page.links.register()
settling.callbacks.register()
