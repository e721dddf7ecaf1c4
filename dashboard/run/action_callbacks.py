"""The run page's action callbacks: cancel, delete, rename / tags / notes, retry, try a variant.

Their bodies are in service/run_actions.py, run/manage.py and run/variant_bar.py; these callbacks read the
page's run id and submit token and pass them on. Registered by pages/run.py (see
ui/page_callbacks.py for why not at import).
"""

from __future__ import annotations

from dash import ALL, Input, Output, State, ctx, no_update

from dashboard.run import manage, variant_bar
from dashboard.service import run_actions
from dashboard.state import get_store
from dashboard.ui import components
from dashboard.ui.i18n import t
from dashboard.ui.page_callbacks import PageCallbacks
from shared.store import FINISHED

callbacks = PageCallbacks()


@callbacks(
    Output("run-cancel", "children"),
    Output("run-cancel", "disabled"),
    Input("run-cancel", "n_clicks"),
    State("run-id", "data"),
    prevent_initial_call=True,
)
def cancel(n_clicks, run_id):
    if not n_clicks:
        return no_update, no_update
    status = run_actions.cancel_run(get_store(), run_id)
    return (t("run.cancelling") if status not in FINISHED else t("run.cancelled")), True


@callbacks(
    Output("run-delete-modal", "is_open"),
    Input("run-delete", "n_clicks"),
    Input("run-delete-dismiss", "n_clicks"),
    prevent_initial_call=True,
)
def toggle_delete(_open, _dismiss):
    return ctx.triggered_id == "run-delete"


@callbacks(
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
    run_actions.delete_run(store, run_id)
    if run is None:
        return "/", components.flash(t("run.deleted"), "secondary")
    return "/", components.flash(t("run.was_deleted", name=run["name"]), "secondary")


@callbacks(
    Output("run-variant-location", "href"),
    Output("app-flash", "data", allow_duplicate=True),
    Output("run-variant-error", "children"),
    Input({"type": "run-variant", "kind": ALL}, "n_clicks"),
    State("run-id", "data"),
    State("run-submit-token", "data"),
    running=[(Output("run-variant-buttons", "style"), components.BUSY, {})],
    prevent_initial_call=True,
)
def try_variant(_clicks, run_id, token=None):
    clicked = ctx.triggered[0]["value"] if ctx.triggered else None
    if not clicked or not isinstance(ctx.triggered_id, dict):
        return no_update, no_update, no_update
    return variant_bar.submit(get_store(), run_id, ctx.triggered_id["kind"], token)


@callbacks(
    Output("run-edit", "is_open"),
    Input("run-rename", "n_clicks"),
    State("run-edit", "is_open"),
    prevent_initial_call=True,
)
def toggle_editor(_n, is_open):
    return not is_open


@callbacks(
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


@callbacks(Output("run-retry", "className"), Input("run-sig", "data"))
def show_retry(sig):
    return manage.retry_class((sig or {}).get("status"))


@callbacks(
    Output("run-location", "href", allow_duplicate=True),
    Output("app-flash", "data", allow_duplicate=True),
    Input("run-retry", "n_clicks"),
    State("run-id", "data"),
    State("run-submit-token", "data"),
    running=[(Output("run-retry", "style"), components.BUSY, {})],
    prevent_initial_call=True,
)
def retry(n_clicks, run_id, token=None):
    if not n_clicks:
        return no_update, no_update
    return manage.retry(get_store(), run_id, token)
