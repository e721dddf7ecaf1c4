"""Sweep: one setting over several values, as a group of runs to compare side by side."""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, dcc, html, no_update

from dashboard import layer_editor as le
from dashboard import service
from dashboard import sweep as sw
from dashboard.components import fmt_int, section, select_options, term_link
from dashboard.state import get_store
from shared.config import ConfigError, RunConfig, architecture_summary
from shared.store import RunStore

dash.register_page(__name__, path="/sweep", name="Sweep", title="Sweep · CNN Lens", order=2)


def base_of(store: RunStore, run_id: str | None) -> tuple[dict[str, Any], dict | None]:
    """The sweep's starting config and the run it comes from (None: the notebook's model)."""
    run = store.get_run(run_id, with_history=False) if run_id else None
    if run is None:
        return le.default_config(), None
    return sw.normalized(run["config"]), run


def plan(
    store: RunStore, base: dict[str, Any], param: str, layer: Any, text: str | None
) -> tuple[list[sw.Planned], str | None]:
    if param not in sw.PARAMS:
        return [], "choose a setting to sweep"
    values, problem = sw.parse_values(param, text)
    if problem:
        return [], problem
    index = int(layer) if sw.PARAMS[param].per_layer and str(layer).isdigit() else None
    return sw.expand(base, param, values, index, lambda c: service.validate(c, store)), None


def preview_view(planned: list[sw.Planned], problem: str | None) -> tuple[Any, bool, str]:
    """(the preview table or message, submit disabled, submit label)."""
    if problem:
        return html.Div(problem, className="lens-sweep-bad"), True, "Start the runs"
    rows = [
        html.Tr(
            [
                html.Td(str(i + 1), className="lens-faint"),
                html.Td(p.name, className="lens-mono"),
                html.Td(fmt_int(p.params), className="lens-num"),
                html.Td(
                    html.Span(p.error, className="lens-sweep-bad")
                    if p.error
                    else html.Span("✓ valid", className="text-success small")
                ),
            ]
        )
        for i, p in enumerate(planned)
    ]
    head = html.Thead(
        html.Tr(
            [html.Th("#"), html.Th("Run"), html.Th("Params", className="lens-num"), html.Th("")]
        )
    )
    table = dbc.Table(
        [head, html.Tbody(rows)], size="sm", class_name="lens-table lens-sweep-table mb-0"
    )
    bad = sum(1 for p in planned if p.error)
    label = f"Start {len(planned)} run{'s' if len(planned) != 1 else ''}"
    note = (
        html.Div(
            f"Fix or remove the {bad} invalid value{'s' if bad > 1 else ''} to start.",
            className="lens-sweep-bad mt-2",
        )
        if bad
        else None
    )
    return html.Div([table, note]), bool(bad) or not planned, label


def submit_plan(store: RunStore, planned: list[sw.Planned], parent: str | None) -> Any:
    """Queue every planned run; the links to them and to the comparison of the first four."""
    runs: list[dict[str, Any]] = []
    try:
        for p in planned:
            if p.config is not None:
                runs.append(service.submit_run(store, p.config, parent_id=parent))
    except ConfigError as exc:
        return dbc.Alert(f"Stopped after {len(runs)} runs: {exc}", color="danger")
    ids = [r["id"] for r in runs]
    first, rest = runs[: sw.COMPARE_AT_ONCE], runs[sw.COMPARE_AT_ONCE :]
    items = [html.Li(dcc.Link(r["name"], href=f"/run/{r['id']}")) for r in runs]
    return dbc.Alert(
        [
            html.Strong(f"{len(runs)} runs queued. "),
            "They train one after another; ",
            dcc.Link(
                f"compare {'them' if not rest else f'the first {len(first)}'} side by side",
                href=sw.compare_href(ids),
                id="sweep-compare-link",
            ),
            " (the compare page shows up to four runs at once)"
            + (f"; the other {len(rest)} are listed below." if rest else "."),
            html.Ul(items, className="mb-0 mt-2"),
        ],
        color="success",
    )


def layout(**query: Any) -> html.Div:
    store = get_store()
    base, run = base_of(store, query.get("from"))
    layer_options = [{"label": label, "value": str(i)} for i, label in sw.conv_layers(base)]
    arch = architecture_summary(RunConfig.model_validate(base))
    origin: list[Any] = (
        ["Starting from ", dcc.Link(run["name"], href=f"/run/{run['id']}"), f": {arch}."]
        if run
        else [
            f"Starting from the teaching notebook's model ({arch}). ",
            "Open a run and choose “Sweep a setting…” to start from that run instead.",
        ]
    )
    planned, problem = plan(store, base, "epochs", None, sw.PARAMS["epochs"].example)
    table, disabled, label = preview_view(planned, problem)
    form = section(
        "What to vary",
        dbc.Row(
            [
                dbc.Col(
                    [
                        dbc.Label("Setting", class_name="lens-label"),
                        dbc.Select(
                            id="sweep-param",
                            value="epochs",
                            size="sm",
                            options=select_options(
                                list(sw.PARAMS), [p.label for p in sw.PARAMS.values()]
                            ),
                        ),
                    ],
                    md=6,
                ),
                dbc.Col(
                    [
                        dbc.Label("Conv layer", class_name="lens-label"),
                        dbc.Select(
                            id="sweep-layer",
                            options=layer_options,
                            value=layer_options[-1]["value"] if layer_options else None,
                            size="sm",
                        ),
                    ],
                    md=6,
                    id="sweep-layer-box",
                    class_name="d-none",
                ),
                dbc.Col(
                    [
                        dbc.Label("Values, separated by commas", class_name="lens-label"),
                        dbc.Input(
                            id="sweep-values",
                            value=sw.PARAMS["epochs"].example,
                            debounce=400,
                            size="sm",
                        ),
                        dbc.FormText(
                            f"e.g. {sw.PARAMS['epochs'].example}; at most {sw.MAX_RUNS} values",
                            id="sweep-hint",
                        ),
                    ],
                    md=12,
                ),
            ],
            class_name="g-3",
        ),
        html.Span(origin),
    )
    preview = section(
        "Runs to create",
        html.Div(
            [
                html.Div(table, id="sweep-preview"),
                dbc.Button(
                    label, id="sweep-submit", color="primary", disabled=disabled, class_name="mt-3"
                ),
                html.Div(id="sweep-result", className="mt-3"),
            ]
        ),
        "Each run is the starting model with only this setting changed, checked as you type.",
    )
    intro: list[Any] = [
        "Train the same model several times, changing one setting each time, to see what that "
        "setting does: e.g. more ",
        term_link("epochs", "epoch"),
        ", another ",
        term_link("learning rate", "learning-rate"),
        " or another ",
        term_link("activation", "activation"),
        ". Then compare the runs' curves, ",
        term_link("filters", "filter"),
        " and ",
        term_link("feature maps", "feature-map"),
        " side by side. Change one thing at a time, so that any difference has one cause.",
    ]
    return html.Div(
        [
            html.Div(
                html.Div(
                    [
                        html.H2("Sweep a setting", className="lens-title"),
                        html.P(intro, className="lens-subtitle"),
                    ]
                ),
                className="lens-page-head",
            ),
            dbc.Row(
                [dbc.Col(form, lg=5), dbc.Col(preview, lg=7)],
                class_name="g-3",
            ),
            dcc.Store(id="sweep-base", data={"config": base, "id": run["id"] if run else None}),
        ]
    )


@callback(
    Output("sweep-values", "value"),
    Output("sweep-hint", "children"),
    Output("sweep-layer-box", "class_name"),
    Input("sweep-param", "value"),
    prevent_initial_call=True,
)
def choose_param(param):
    spec = sw.PARAMS.get(param)
    if spec is None:
        return no_update, no_update, no_update
    hint = f"e.g. {spec.example}; at most {sw.MAX_RUNS} values"
    if spec.choices:
        hint = f"any of: {', '.join(spec.choices)}"
    return spec.example, hint, "" if spec.per_layer else "d-none"


@callback(
    Output("sweep-preview", "children"),
    Output("sweep-submit", "disabled"),
    Output("sweep-submit", "children"),
    Output("sweep-result", "children"),
    Input("sweep-param", "value"),
    Input("sweep-layer", "value"),
    Input("sweep-values", "value"),
    State("sweep-base", "data"),
    prevent_initial_call=True,
)
def show_plan(param, layer, text, base):
    return (*preview_view(*plan(get_store(), base["config"], param, layer, text)), None)


@callback(
    Output("sweep-result", "children", allow_duplicate=True),
    Output("sweep-submit", "disabled", allow_duplicate=True),
    Input("sweep-submit", "n_clicks"),
    State("sweep-param", "value"),
    State("sweep-layer", "value"),
    State("sweep-values", "value"),
    State("sweep-base", "data"),
    prevent_initial_call=True,
)
def submit(n_clicks, param, layer, text, base):
    if not n_clicks:
        return no_update, no_update
    store = get_store()
    planned, problem = plan(store, base["config"], param, layer, text)
    if problem or not planned or any(p.error for p in planned):
        return dbc.Alert(problem or "Some values are not valid.", color="danger"), False
    return submit_plan(store, planned, base.get("id")), True
