"""Import a model: a `.keras` file trained elsewhere becomes a run, evaluated on a dataset."""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, dcc, html, no_update

from dashboard.new_run.form import dataset_options
from dashboard.service import model_import
from dashboard.state import get_store
from dashboard.ui.components import tr
from dashboard.ui.i18n import t
from dashboard.ui.messages import message
from shared.housekeeping import QueueFull
from shared.idempotency import IdempotencyConflict, derived_key
from shared.settings import get_settings
from shared.store import RunStore

dash.register_page(
    __name__,
    path="/import",
    name="Import a model",
    title=lambda **_: t("import.tab_title"),
    order=2,
)


def upload_limit() -> int:
    """The largest file the page takes: the upload travels base64-encoded (4 bytes for 3) in a
    callback request, which the request body limit caps."""
    return get_settings().max_request_bytes * 3 // 4 - 64 * 1024


def layout(**_query: Any) -> html.Div:
    options, notes = dataset_options()
    form = dbc.Card(
        dbc.CardBody(
            [
                dbc.Label(t("import.file"), class_name="lens-label"),
                dcc.Upload(
                    html.Div([t("import.drop"), html.U(t("import.choose_file"))]),
                    id="imp-upload",
                    accept=".keras",
                    max_size=upload_limit(),
                    multiple=False,
                    className="lens-cmp-upload",
                ),
                html.Div(id="imp-file", className="lens-faint mt-1"),
                dbc.Label(t("import.dataset"), class_name="lens-label mt-3"),
                dcc.Dropdown(
                    id="imp-dataset",
                    options=options,
                    value="mnist-sample",
                    clearable=False,
                ),
                *notes,
                dbc.Label(t("import.name"), class_name="lens-label mt-3"),
                dbc.Input(id="imp-name", placeholder=t("import.name_placeholder"), size="sm"),
                dbc.Button(
                    t("import.submit"), id="imp-submit", color="primary", class_name="w-100 mt-3"
                ),
                html.Div(id="imp-result", className="mt-3"),
                # New per page view: with the file and the form, the import's Idempotency-Key.
                dcc.Store(id="imp-token", data=secrets.token_hex(16)),
            ]
        ),
        class_name="lens-card",
    )
    return html.Div(
        [
            html.Div(
                [
                    html.H2(t("import.title"), className="lens-title"),
                    html.P(tr("import.intro"), className="lens-subtitle"),
                ],
                className="lens-page-head",
            ),
            dbc.Row(
                [
                    dbc.Col(form, lg=6),
                    dbc.Col(html.Div(tr("import.rules"), className="lens-help"), lg=6),
                ],
                class_name="g-3",
            ),
        ]
    )


def decode(contents: Any) -> bytes | None:
    """The bytes of a dcc.Upload data URL, or None when it is not one."""
    if not isinstance(contents, str) or "," not in contents:
        return None
    try:
        return base64.b64decode(contents.split(",", 1)[1], validate=True)
    except (binascii.Error, ValueError):
        return None


def submit(
    store: RunStore,
    contents: Any,
    filename: Any,
    dataset: Any,
    name: Any,
    token: str | None = None,
) -> tuple[Any, bool]:
    """What pressing Import shows: the new run's link, or the sentence that refused the file
    (pure apart from the import itself; tests call it).

    The key is this page view's `token`, the file and the form: a double click on Import makes
    one run (the second click shows the first one's link)."""
    data = decode(contents)
    if data is None:
        return dbc.Alert(t("import.no_file"), color="warning"), False
    name = name if isinstance(name, str) else ""
    key = (
        derived_key("import", token, hashlib.sha256(data).hexdigest(), dataset, name)
        if token
        else None
    )
    try:
        run = model_import.import_model(
            store, data, str(filename or ""), dataset, name, idempotency_key=key
        )
    except IdempotencyConflict as exc:  # cannot happen: the key names the file and the form
        return dbc.Alert(message(str(exc)), color="danger"), False
    except model_import.ImportRefused as exc:
        return dbc.Alert(message(exc.message), color="danger", class_name="lens-error-item"), False
    except QueueFull as exc:
        return dbc.Alert(message(str(exc)), color="warning"), False
    link = dcc.Link(run["name"], href=f"/run/{run['id']}")
    body: list[Any] = [t("import.done"), " ", link]
    if run.get("warning"):
        body += [html.Br(), run["warning"]]
    return dbc.Alert(body, color="success"), True


@callback(
    Output("imp-file", "children"),
    Input("imp-upload", "filename"),
    prevent_initial_call=True,
)
def show_file(filename: Any) -> str:
    return str(filename or "")


@callback(
    Output("imp-result", "children"),
    Output("imp-upload", "contents"),
    Input("imp-submit", "n_clicks"),
    State("imp-upload", "contents"),
    State("imp-upload", "filename"),
    State("imp-dataset", "value"),
    State("imp-name", "value"),
    State("imp-token", "data"),
    prevent_initial_call=True,
)
def import_clicked(
    clicks: Any, contents: Any, filename: Any, dataset: Any, name: Any, token: Any = None
):
    if not clicks:
        return no_update, no_update
    token = token if isinstance(token, str) else None
    shown, done = submit(get_store(), contents, filename, dataset, name, token)
    # An accepted file is cleared, so a second click does not import it twice.
    return shown, None if done else no_update
