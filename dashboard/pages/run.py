"""One run: live progress and curves, results, filters and feature maps, cancel/delete/clone."""

from __future__ import annotations

import secrets
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, callback, ctx, dcc, html, no_update

from dashboard import components as ui
from dashboard import explanations, figures, run_data, run_input, run_inspect, service
from dashboard import run_manage as manage
from dashboard import run_views as views
from dashboard import variant_bar as vbar
from dashboard.i18n import t
from dashboard.state import get_store
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
        run_inspect.filters_card(store, run, infos),
        run_inspect.activations_card(store, run, infos, probe) if probe else views.placeholder(run),
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
        return ui.message_page(t("run.not_found"), t("run.not_found_text"))
    metrics = run_data.load_metrics(store, run["id"])
    curves = ui.section(
        t("run.curves"),
        views.graph("run-curves", figures.training_curves(run["history"])),
        explanations.curves(),
    )
    cfg = run["config"]
    model = ui.section(
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
    confirm = dbc.Modal(
        [
            dbc.ModalHeader(dbc.ModalTitle(t("run.delete.title"))),
            dbc.ModalBody(
                [
                    t("run.delete.quote_open"),
                    run["name"],
                    t("run.delete.text"),
                ]
            ),
            dbc.ModalFooter(
                [
                    dbc.Button(t("run.delete.keep"), id="run-delete-dismiss", color="light"),
                    dbc.Button(t("run.delete.confirm"), id="run-delete-confirm", color="danger"),
                ]
            ),
        ],
        id="run-delete-modal",
        is_open=False,
        centered=True,
    )
    return html.Div(
        [
            views.header(run, store.get_run(run["parent_id"] or "", with_history=False)),
            manage.editor(run),
            html.Div(live(run, metrics), id="run-live"),
            dbc.Row([dbc.Col(curves, lg=8), dbc.Col(model, lg=4)], class_name="g-3"),
            vbar.variants_card(run),
            html.Div(artifact_sections(store, run, metrics), id="run-artifacts"),
            confirm,
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
        ui.status_badge(run["status"], bool(run.get("cancel_requested"))),
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


@callback(
    Output("run-cancel", "children"),
    Output("run-cancel", "disabled"),
    Input("run-cancel", "n_clicks"),
    State("run-id", "data"),
    prevent_initial_call=True,
)
def cancel(n_clicks, run_id):
    if not n_clicks:
        return no_update, no_update
    status = service.cancel_run(get_store(), run_id)
    return (t("run.cancelling") if status not in FINISHED else t("run.cancelled")), True


@callback(
    Output("run-delete-modal", "is_open"),
    Input("run-delete", "n_clicks"),
    Input("run-delete-dismiss", "n_clicks"),
    prevent_initial_call=True,
)
def toggle_delete(_open, _dismiss):
    return ctx.triggered_id == "run-delete"


@callback(
    Output("run-location", "href"),
    Output("app-flash", "data", allow_duplicate=True),
    Input("run-delete-confirm", "n_clicks"),
    State("run-id", "data"),
    prevent_initial_call=True,
)
def delete(n_clicks, run_id):
    if not n_clicks:
        return no_update, no_update
    store = get_store()
    run = store.get_run(run_id, with_history=False)
    service.delete_run(store, run_id)
    if run is None:
        return "/", ui.flash(t("run.deleted"), "secondary")
    return "/", ui.flash(t("run.was_deleted", name=run["name"]), "secondary")


def _run(run_id: str) -> dict[str, Any] | None:
    return get_store().get_run(run_id, with_history=False)


@callback(
    Output("run-filters", "figure"),
    Output("run-filter-channel", "options"),
    Output("run-filter-channel", "disabled"),
    Output("run-filter-caption", "children"),
    Input("run-filter-layer", "value"),
    Input("run-filter-channel", "value"),
    Input("run-filter-epoch", "value"),
    Input("run-filter-scale", "value"),
    State("run-id", "data"),
    prevent_initial_call=True,
)
def show_filters(layer, channel, epoch, scale, run_id):
    run = _run(run_id)
    if run is None:
        return no_update, no_update, no_update, no_update
    return run_inspect.filter_view(get_store(), run, layer, channel, epoch, scale)


@callback(
    Output("run-filter-detail", "figure"),
    Input("run-filters", "clickData"),
    State("run-filter-layer", "value"),
    State("run-filter-channel", "value"),
    State("run-filter-epoch", "value"),
    State("run-id", "data"),
    prevent_initial_call=True,
)
def show_filter_detail(click, layer, channel, epoch, run_id):
    run = _run(run_id)
    return (
        run_inspect.filter_detail(get_store(), run, layer, channel, epoch, click)
        if run
        else no_update
    )


def pick_probe(trigger: Any, clicked: Any, current: Any) -> Any:
    """The probe image a thumbnail click selects (a freshly rendered thumbnail is no click)."""
    return trigger["index"] if isinstance(trigger, dict) and clicked else current


@callback(
    Output("run-probe", "data"),
    Input({"type": "run-probe", "index": ALL}, "n_clicks"),
    State("run-probe", "data"),
    prevent_initial_call=True,
)
def select_probe(_clicks, current):
    clicked = ctx.triggered[0]["value"] if ctx.triggered else None
    return pick_probe(ctx.triggered_id, clicked, current)


@callback(
    Output({"type": "run-probe", "index": ALL}, "className"),
    Input("run-probe", "data"),
    State({"type": "run-probe", "index": ALL}, "n_clicks"),
)
def mark_probe(selection, clicks):
    return run_input.thumb_classes(selection, len(clicks))


@callback(
    Output("run-probe", "data", allow_duplicate=True),
    Output("run-job", "data"),
    Output("run-job-interval", "disabled"),
    Output("run-test-status", "children"),
    Input("run-test-show", "n_clicks"),
    Input("run-test-index", "n_submit"),
    State("run-test-index", "value"),
    State("run-id", "data"),
    prevent_initial_call=True,
)
def ask_test_image(_clicks, _submit, index, run_id):
    run = _run(run_id)
    if run is None:
        return no_update, no_update, no_update, no_update
    return run_input.request_test_input(get_store(), run, index)


@callback(
    Output("run-probe", "data", allow_duplicate=True),
    Output("run-job", "data", allow_duplicate=True),
    Output("run-job-interval", "disabled", allow_duplicate=True),
    Output("run-test-status", "children", allow_duplicate=True),
    Input("run-job-interval", "n_intervals"),
    State("run-job", "data"),
    State("run-id", "data"),
    prevent_initial_call=True,
)
def wait_for_job(_n, job, run_id):
    run = _run(run_id)
    if run is None:
        return no_update, None, True, no_update
    return run_input.poll_job(get_store(), run, job)


@callback(
    Output("run-act", "figure"),
    Output("run-act-probs", "figure"),
    Output("run-act-caption", "children"),
    Input("run-probe", "data"),
    Input("run-act-layer", "value"),
    Input("run-act-scale", "value"),
    State("run-id", "data"),
    prevent_initial_call=True,
)
def show_activations(selection, layer, scale, run_id):
    run = _run(run_id)
    if run is None:
        return no_update, no_update, no_update
    store = get_store()
    return run_inspect.activation_view(
        store,
        run,
        run_data.layer_infos(run),
        run_data.load_probe(store, run_id),
        selection,
        layer,
        scale,
    )


@callback(
    Output("run-act-detail", "figure"),
    Input("run-act", "clickData"),
    Input("run-probe", "data"),
    Input("run-act-layer", "value"),
    State("run-id", "data"),
    prevent_initial_call=True,
)
def show_activation_detail(click, selection, layer, run_id):
    run = _run(run_id)
    if run is None:
        return no_update
    return run_inspect.activation_detail(get_store(), run, selection, layer, click)


@callback(
    Output("run-variant-location", "href"),
    Output("app-flash", "data", allow_duplicate=True),
    Output("run-variant-error", "children"),
    Input({"type": "run-variant", "kind": ALL}, "n_clicks"),
    State("run-id", "data"),
    State("run-submit-token", "data"),
    running=[(Output("run-variant-buttons", "style"), vbar.BUSY, {})],
    prevent_initial_call=True,
)
def try_variant(_clicks, run_id, token=None):
    clicked = ctx.triggered[0]["value"] if ctx.triggered else None
    if not clicked or not isinstance(ctx.triggered_id, dict):
        return no_update, no_update, no_update
    return vbar.submit(get_store(), run_id, ctx.triggered_id["kind"], token)


# --- rename, tags and notes; retry (dashboard/run_manage.py) -----------------------------------
@callback(
    Output("run-edit", "is_open"),
    Input("run-rename", "n_clicks"),
    State("run-edit", "is_open"),
    prevent_initial_call=True,
)
def toggle_editor(_n, is_open):
    return not is_open


@callback(
    Output("run-title", "children"),
    Output("run-tags", "children"),
    Output("run-notes", "children"),
    Output("run-edit-message", "children"),
    Input("run-edit-save", "n_clicks"),
    State("run-edit-name", "value"),
    State("run-edit-tags", "value"),
    State("run-edit-notes", "value"),
    State("run-id", "data"),
    prevent_initial_call=True,
)
def save_annotations(n_clicks, name, tags, notes, run_id):
    if not n_clicks:
        return (no_update,) * 4
    return manage.save(get_store(), run_id, name, tags, notes)


@callback(Output("run-retry", "className"), Input("run-sig", "data"))
def show_retry(sig):
    return manage.retry_class((sig or {}).get("status"))


@callback(
    Output("run-location", "href", allow_duplicate=True),
    Output("app-flash", "data", allow_duplicate=True),
    Input("run-retry", "n_clicks"),
    State("run-id", "data"),
    State("run-submit-token", "data"),
    running=[(Output("run-retry", "style"), vbar.BUSY, {})],
    prevent_initial_call=True,
)
def retry(n_clicks, run_id, token=None):
    if not n_clicks:
        return no_update, no_update
    return manage.retry(get_store(), run_id, token)
