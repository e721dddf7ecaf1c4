"""Datasets: the built-in and imported datasets, importing one (.npz or .zip), one dataset's page.

`/datasets` lists them; `/datasets?id=<id>` shows one: its shape, classes, counts, a sample of each
class, and (for an imported one) a delete button. The import button opens a file chooser and sends
the file straight to `POST /api/datasets` from the browser (a clientside callback with fetch), so
a large upload never passes through a Dash callback; the table then follows the import job until it is ready or failed.
"""

from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output, State, callback, clientside_callback, dcc, html, no_update

from dashboard.datasets import views
from dashboard.service import datasets as service
from dashboard.state import get_store
from dashboard.ui.i18n import t
from dashboard.ui.messages import message

dash.register_page(
    __name__, path="/datasets", name="Datasets", title=lambda **_: t("datasets.tab_title"), order=3
)


def layout(id: str | None = None, **_query: Any) -> html.Div:
    store = get_store()
    rows = service.list_datasets(store)
    settings = store.settings
    chosen = service.get_dataset(store, id) if isinstance(id, str) and id else None
    return html.Div(
        [
            html.Div(
                html.Div(
                    [
                        html.H2(t("datasets.title"), className="lens-title"),
                        html.P(t("datasets.intro"), className="lens-subtitle"),
                    ]
                ),
                className="lens-page-head",
            ),
            views.detail(store, chosen) if id else None,
            views.import_form(settings.dataset_max_bytes // 2**20, settings.dataset_max_images),
            html.Div(views.table(rows), id="ds-table", className="lens-card p-2"),
            dcc.Interval(
                id="ds-interval", interval=views.POLL_MS, disabled=not views.importing(rows)
            ),
            dcc.Store(id="ds-result"),
            dcc.Store(id="ds-chosen", data=chosen["id"] if chosen else None),
            dcc.Location(id="ds-location", refresh="callback-nav"),
        ]
    )


# The file goes from the browser to the API as multipart (X-Requested-With marks it as the
# page's own write, as the API's guard asks); the answer comes back as {status, body}.
clientside_callback(
    """
    async function(n, name, fraction) {
        if (!n) { return window.dash_clientside.no_update; }
        // A file chooser opened by the click itself (Dash has no file input of its own).
        const input = document.createElement("input");
        input.type = "file";
        input.accept = ".npz,.zip";
        const file = await new Promise((resolve) => {
            input.addEventListener("change", () => resolve(input.files[0] || null));
            input.addEventListener("cancel", () => resolve(null));
            input.click();
        });
        if (!file) { return {status: 0, body: {error: "no file"}}; }
        const form = new FormData();
        form.append("file", file, file.name);
        form.append("name", name || "");
        if (fraction !== null && fraction !== undefined) { form.append("test_fraction", fraction); }
        try {
            const answer = await fetch("/api/datasets", {
                method: "POST",
                body: form,
                headers: {"X-Requested-With": "cnnlens-dashboard"},
                credentials: "same-origin",
            });
            let body = {};
            try { body = await answer.json(); } catch (e) { body = {}; }
            return {status: answer.status, body: body, t: Date.now()};
        } catch (e) {
            return {status: -1, body: {error: String(e)}, t: Date.now()};
        }
    }
    """,
    Output("ds-result", "data"),
    Input("ds-import", "n_clicks"),
    State("ds-name", "value"),
    State("ds-fraction", "value"),
    prevent_initial_call=True,
)


def result_message(result: Any) -> Any:
    """What the page says after the browser sent a dataset: queued, or why not."""
    if not isinstance(result, dict):
        return no_update
    status = result.get("status")
    body: dict[str, Any] = result["body"] if isinstance(result.get("body"), dict) else {}
    if status == 202:
        return html.Span(
            t("datasets.queued", name=str(body.get("name", ""))), className="text-success"
        )
    if status == 0:
        return html.Span(t("datasets.pick_file"), className="text-danger")
    if status == -1:
        return html.Span(t("datasets.network"), className="text-danger")
    errors = body.get("errors") or []
    text = (
        "; ".join(message(str(e.get("message", ""))) for e in errors if isinstance(e, dict))
        if errors
        else message(str(body.get("error") or t("datasets.refused")))
    )
    return html.Span(text, className="text-danger")


@callback(
    Output("ds-status", "children"),
    Output("ds-interval", "disabled", allow_duplicate=True),
    Input("ds-result", "data"),
    prevent_initial_call=True,
)
def show_result(result):
    accepted = isinstance(result, dict) and result.get("status") == 202
    return result_message(result), False if accepted else no_update


@callback(
    Output("ds-table", "children"),
    Output("ds-interval", "disabled"),
    Input("ds-interval", "n_intervals"),
    prevent_initial_call=True,
)
def refresh(_n):
    rows = service.list_datasets(get_store())
    return views.table(rows), not views.importing(rows)


@callback(
    Output("ds-location", "href"),
    Output("ds-status", "children", allow_duplicate=True),
    Input("ds-delete", "n_clicks"),
    State("ds-chosen", "data"),
    prevent_initial_call=True,
)
def delete(n_clicks, dataset_id):
    if not n_clicks or not isinstance(dataset_id, str):
        return no_update, no_update
    try:
        service.delete_dataset(get_store(), dataset_id)
    except (service.ImportRefused, service.DatasetInUse) as exc:
        return no_update, html.Span(message(str(exc)), className="text-danger")
    return views.PAGE, no_update
