"""New run: the run settings, a layer editor with a live shape/parameter table, and submit."""

from __future__ import annotations

import secrets
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, callback, ctx, dcc, html, no_update

from dashboard.new_run.form import layers_card, preview_table, render_layers, settings_card
from dashboard.service import run_actions
from dashboard.state import get_store
from dashboard.ui import layer_editor, layer_preview
from dashboard.ui.components import BUSY, flash, tr
from dashboard.ui.i18n import t, tn
from dashboard.ui.messages import config_errors_text, message
from shared.config import ConfigError
from shared.housekeeping import QueueFull
from shared.idempotency import derived_key
from shared.store import RunStore

dash.register_page(
    __name__, path="/new", name="New run", title=lambda **_: t("new.tab_title"), order=1
)

FIELD = {"type": "new-field", "field": ALL}
PARAM = {"type": "new-param", "index": ALL, "param": ALL}


def initial_config(store: RunStore, clone: str | None) -> tuple[dict[str, Any], Any, str | None]:
    """The form's starting config, a note about where it came from, and the parent run id."""
    if not clone:
        return layer_editor.default_config(), None, None
    run = store.get_run(clone, with_history=False)
    if run is None:
        return (
            layer_editor.default_config(),
            dbc.Alert(
                t("new.clone_missing"),
                color="warning",
                class_name="lens-banner",
            ),
            None,
        )
    note = html.Div(
        [
            t("new.copy_of"),
            dcc.Link(run["name"], href=f"/run/{run['id']}"),
            t("new.copy_of_after"),
        ],
        className="lens-subtitle",
    )
    return layer_editor.clone_config(run["config"]), note, run["id"]


def layout(clone: str | None = None, **_query: Any) -> html.Div:
    config, note, parent = initial_config(get_store(), clone)
    preview = dbc.Card(
        dbc.CardBody(
            [
                html.H5(t("new.preview.title"), className="lens-card-title mb-2"),
                html.P(tr("new.preview.help"), className="lens-help"),
                html.Div(preview_table(config, {}), id="new-preview"),
                html.Div(id="new-errors", className="mt-2"),
                dbc.Button(
                    t("new.submit"),
                    id="new-submit",
                    color="primary",
                    size="lg",
                    class_name="w-100 mt-3",
                ),
                html.Div(id="new-submit-error", className="mt-2"),
            ]
        ),
        class_name="lens-card lens-sticky",
    )
    return html.Div(
        [
            html.Div(
                [
                    html.Div(
                        [
                            html.H2(t("new.title"), className="lens-title"),
                            note or html.P(tr("new.intro"), className="lens-subtitle"),
                        ]
                    )
                ],
                className="lens-page-head",
            ),
            dbc.Row(
                [
                    dbc.Col([settings_card(config), layers_card(config)], lg=7),
                    dbc.Col(preview, lg=5),
                ],
                class_name="g-3",
            ),
            dcc.Store(id="new-config", data=config),
            dcc.Store(id="new-parent", data=parent),
            # New per page view: with the config, the Idempotency-Key of "Start training".
            dcc.Store(id="new-submit-token", data=secrets.token_hex(16)),
            dcc.Location(id="new-location", refresh="callback-nav"),
        ]
    )


def preview_outputs(
    store: RunStore,
    config: dict[str, Any],
    field_ids: list[dict],
    error_ids: list[dict],
    layer_error_ids: list[dict],
    param_ids: list[dict],
) -> tuple:
    """Everything the preview callback shows, for the given component ids (pure; tests call it)."""
    errors = layer_preview.validation_errors(config, lambda data: run_actions.validate(data, store))
    fields, layers, params, other = layer_preview.errors_by_place(errors)
    messages = [
        dbc.Alert(msg, color="danger", class_name="lens-error-item py-1 px-2 mb-1") for msg in other
    ]
    if errors and not messages:
        messages = [
            html.Div(
                tn("new.fix_fields", len(errors)),
                className="text-danger small",
            )
        ]
    return (
        preview_table(config, layers),
        messages,
        [cid["field"] in fields for cid in field_ids],
        [fields.get(cid["field"]) for cid in error_ids],
        ["; ".join(layers.get(cid["index"], [])) or None for cid in layer_error_ids],
        [(cid["index"], cid["param"]) in params for cid in param_ids],
        bool(errors),
    )


def submit_config(
    store: RunStore, config: dict[str, Any], parent: str | None, token: str | None = None
) -> tuple:
    """Submit the run: (path to go to, flash message, error shown next to the button).

    The key is this page view's `token` and the config: a double click on "Start training" queues
    one run, while a config edited after a first submit is a new run, not a conflict.
    """
    key = derived_key("new", token, parent, config) if token else None
    try:
        run = run_actions.submit_run(store, config, parent_id=parent, idempotency_key=key)
    except ConfigError as exc:
        text = config_errors_text(exc.errors)
        return no_update, no_update, dbc.Alert(text, color="danger", class_name="py-2")
    except QueueFull as exc:
        alert = dbc.Alert(message(str(exc)), color="warning", class_name="py-2")
        return no_update, no_update, alert
    text = message(run["warning"]) if run.get("warning") else t("new.queued", name=run["name"])
    color = "warning" if run.get("warning") else "success"
    return f"/run/{run['id']}", flash(text, color), None


@callback(
    Output("new-config", "data"),
    Output("new-layers", "children"),
    Output(FIELD, "value"),
    Input("new-add", "n_clicks"),
    Input({"type": "new-layer-action", "index": ALL, "action": ALL}, "n_clicks"),
    Input({"type": "new-preset", "name": ALL}, "n_clicks"),
    Input(PARAM, "value"),
    Input(FIELD, "value"),
    State("new-add-type", "value"),
    State("new-config", "data"),
    prevent_initial_call=True,
)
def edit(_add, _actions, _presets, param_values, field_vals, add_type, config):
    param_ids = [item["id"] for item in ctx.inputs_list[3]]
    field_ids = [item["id"] for item in ctx.inputs_list[4]]
    clicked = ctx.triggered[0]["value"] if ctx.triggered else None
    config, rerender, rewrite = layer_editor.editor_step(
        config, ctx.triggered_id, clicked, add_type, param_ids, param_values, field_ids, field_vals
    )
    return (
        config,
        render_layers(config) if rerender else no_update,
        layer_editor.field_values(config, field_ids) if rewrite else [no_update] * len(field_ids),
    )


@callback(
    Output("new-preview", "children"),
    Output("new-errors", "children"),
    Output(FIELD, "invalid"),
    Output({"type": "new-field-error", "field": ALL}, "children"),
    Output({"type": "new-layer-error", "index": ALL}, "children"),
    Output(PARAM, "invalid"),
    Output("new-submit", "disabled"),
    Input("new-config", "data"),
)
def preview(config):
    ids = [[item["id"] for item in group] for group in ctx.outputs_list[2:6]]
    return preview_outputs(get_store(), config, *ids)


@callback(
    Output("new-location", "href"),
    Output("app-flash", "data", allow_duplicate=True),
    Output("new-submit-error", "children"),
    Input("new-submit", "n_clicks"),
    State("new-config", "data"),
    State("new-parent", "data"),
    State(PARAM, "value"),
    State(FIELD, "value"),
    State("new-submit-token", "data"),
    running=[(Output("new-submit", "style"), BUSY, {})],
    prevent_initial_call=True,
)
def submit(n_clicks, config, parent, param_values, field_vals, token=None):
    if not n_clicks:
        return no_update, no_update, no_update
    # A value typed just before the click may not have reached new-config yet (the edit callback
    # is still in flight): merge what the inputs show now, so the run is what the form says.
    param_ids = [item["id"] for item in ctx.states_list[2]]
    field_ids = [item["id"] for item in ctx.states_list[3]]
    config = layer_editor.set_layer_params(
        config or layer_editor.default_config(), param_ids, param_values
    )
    config = layer_editor.set_fields(config, field_ids, field_vals)
    return submit_config(get_store(), config, parent, token)
