"""Sweep: one setting over several values, as a group of runs to compare side by side."""

from __future__ import annotations

import re
import secrets
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, dcc, html, no_update

from dashboard.service import run_actions
from dashboard.state import get_store
from dashboard.sweep import params
from dashboard.ui import layer_editor
from dashboard.ui.components import BUSY, fmt_int, section, select_options, tr
from dashboard.ui.i18n import t, tn
from dashboard.ui.messages import field_label, message
from shared import housekeeping
from shared.config import ConfigError, RunConfig, architecture_summary
from shared.idempotency import derived_key
from shared.numbers import whole_number
from shared.store import RunStore

dash.register_page(
    __name__, path="/sweep", name="Sweep", title=lambda **_: t("sweep.tab_title"), order=2
)


def value_problem(problem: str) -> str:
    """sweep.parse_values' English sentence in the page's language."""
    patterns = (
        (r"“(?P<item>.*)” is not a whole number", "sweep.bad.whole"),
        (r"“(?P<item>.*)” is not a number", "sweep.bad.number"),
        (r"“(?P<item>.*)” is not one of: (?P<choices>.+)", "sweep.bad.choice"),
        (r"give at least one value, e.g. (?P<example>.+)", "sweep.bad.empty"),
        (r"at most (?P<n>\d+) values per sweep", "sweep.bad.too_many"),
        (r"choose a setting to sweep", "sweep.bad.no_param"),
        (r"choose the conv layer to change", "sweep.bad.no_layer"),
    )
    for pattern, key in patterns:
        match = re.fullmatch(pattern, problem)
        if match:
            return t(key, **match.groupdict())
    parts = []
    for part in problem.split("; "):
        field, sep, text = part.partition(": ")
        parts.append(
            f"{field_label(field)}: {message(text)}" if sep and " " not in field else message(part)
        )
    return "; ".join(parts)


def base_of(store: RunStore, run_id: str | None) -> tuple[dict[str, Any], dict | None]:
    """The sweep's starting config and the run it comes from (None: the notebook's model)."""
    run = store.get_run(run_id, with_history=False) if run_id else None
    if run is None:
        return layer_editor.default_config(), None
    return params.normalized(run["config"]), run


def plan(
    store: RunStore, base: dict[str, Any], param: str, layer: Any, text: str | None
) -> tuple[list[params.Planned], str | None]:
    if param not in params.PARAMS:
        return [], "choose a setting to sweep"
    values, problem = params.parse_values(param, text)
    if problem:
        return [], problem
    index = whole_number(layer, text=True) if params.PARAMS[param].per_layer else None
    return params.expand(base, param, values, index, lambda c: run_actions.validate(c, store)), None


def preview_view(planned: list[params.Planned], problem: str | None) -> tuple[Any, bool, str]:
    """(the preview table or message, submit disabled, submit label)."""
    if problem:
        return html.Div(value_problem(problem), className="lens-sweep-bad"), True, t("sweep.start")
    rows = [
        html.Tr(
            [
                html.Td(str(i + 1), className="lens-faint"),
                html.Td(p.name, className="lens-mono"),
                html.Td(fmt_int(p.params), className="lens-num"),
                html.Td(
                    html.Span(value_problem(p.error), className="lens-sweep-bad")
                    if p.error
                    else html.Span(t("sweep.valid"), className="text-success small")
                ),
            ]
        )
        for i, p in enumerate(planned)
    ]
    head = html.Thead(
        html.Tr(
            [
                html.Th("#"),
                html.Th(t("sweep.col.run")),
                html.Th(t("common.params"), className="lens-num"),
                html.Th(""),
            ]
        )
    )
    table = dbc.Table(
        [head, html.Tbody(rows)], size="sm", class_name="lens-table lens-sweep-table mb-0"
    )
    bad = sum(1 for p in planned if p.error)
    label = tn("sweep.start_n", len(planned))
    note = (
        html.Div(
            tn("sweep.fix_values", bad),
            className="lens-sweep-bad mt-2",
        )
        if bad
        else None
    )
    return html.Div([table, note]), bool(bad) or not planned, label


def submit_plan(
    store: RunStore, planned: list[params.Planned], parent: str | None, token: str | None = None
) -> Any:
    """Queue every planned run; the links to them and to the comparison of the first four.

    Each run's Idempotency-Key is the page view's `token`, its place and its config: a double
    click queues the sweep once, and the second click shows the same runs.
    """
    runs: list[dict[str, Any]] = []
    try:  # the whole sweep fits in the queue, or none of it is queued
        housekeeping.check_queue_room(store, adding=sum(p.config is not None for p in planned))
    except housekeeping.QueueFull as exc:
        return dbc.Alert(message(str(exc)), color="warning")
    try:
        for i, p in enumerate(planned):
            if p.config is not None:
                key = derived_key("sweep", token, parent, i, p.config) if token else None
                runs.append(
                    run_actions.submit_run(store, p.config, parent_id=parent, idempotency_key=key)
                )
    except (ConfigError, housekeeping.QueueFull) as exc:
        return dbc.Alert(t("sweep.stopped", n=len(runs), problem=exc), color="danger")
    ids = [r["id"] for r in runs]
    first, rest = runs[: params.COMPARE_AT_ONCE], runs[params.COMPARE_AT_ONCE :]
    items = [html.Li(dcc.Link(r["name"], href=f"/run/{r['id']}")) for r in runs]
    return dbc.Alert(
        [
            html.Strong(tn("sweep.queued", len(runs)) + " "),
            t("sweep.one_after_another"),
            dcc.Link(
                t("sweep.compare_them") if not rest else t("sweep.compare_first", n=len(first)),
                href=params.compare_href(ids),
                id="sweep-compare-link",
            ),
            t("sweep.up_to_four") + (t("sweep.others_below", n=len(rest)) if rest else "."),
            html.Ul(items, className="mb-0 mt-2"),
        ],
        color="success",
    )


def layout(**query: Any) -> html.Div:
    store = get_store()
    base, run = base_of(store, query.get("from"))
    layer_options = [{"label": label, "value": str(i)} for i, label in params.conv_layers(base)]
    arch = architecture_summary(RunConfig.model_validate(base))
    origin: list[Any] = (
        [t("sweep.from_run"), dcc.Link(run["name"], href=f"/run/{run['id']}"), f": {arch}."]
        if run
        else [t("sweep.from_notebook", arch=arch)]
    )
    planned, problem = plan(store, base, "epochs", None, params.PARAMS["epochs"].example)
    table, disabled, label = preview_view(planned, problem)
    form = section(
        t("sweep.what"),
        dbc.Row(
            [
                dbc.Col(
                    [
                        dbc.Label(t("sweep.setting"), class_name="lens-label"),
                        dbc.Select(
                            id="sweep-param",
                            value="epochs",
                            size="sm",
                            options=select_options(
                                list(params.PARAMS), [t(f"sweep.param.{p}") for p in params.PARAMS]
                            ),
                        ),
                    ],
                    md=6,
                ),
                dbc.Col(
                    [
                        dbc.Label(t("sweep.conv_layer"), class_name="lens-label"),
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
                        dbc.Label(t("sweep.values"), class_name="lens-label"),
                        dbc.Input(
                            id="sweep-values",
                            value=params.PARAMS["epochs"].example,
                            debounce=400,
                            size="sm",
                        ),
                        dbc.FormText(
                            t(
                                "sweep.hint",
                                example=params.PARAMS["epochs"].example,
                                n=params.MAX_RUNS,
                            ),
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
        t("sweep.runs_to_create"),
        html.Div(
            [
                html.Div(table, id="sweep-preview"),
                dbc.Button(
                    label, id="sweep-submit", color="primary", disabled=disabled, class_name="mt-3"
                ),
                html.Div(id="sweep-result", className="mt-3"),
            ]
        ),
        t("sweep.runs_help"),
    )
    intro = tr("sweep.intro")
    return html.Div(
        [
            html.Div(
                html.Div(
                    [
                        html.H2(t("sweep.title"), className="lens-title"),
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
            # New per page view: with each run's config, the Idempotency-Keys of the sweep.
            dcc.Store(id="sweep-submit-token", data=secrets.token_hex(16)),
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
    spec = params.PARAMS.get(param)
    if spec is None:
        return no_update, no_update, no_update
    hint = t("sweep.hint", example=spec.example, n=params.MAX_RUNS)
    if spec.choices:
        hint = t("sweep.any_of", choices=", ".join(spec.choices))
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
    State("sweep-submit-token", "data"),
    running=[(Output("sweep-submit", "style"), BUSY, {})],
    prevent_initial_call=True,
)
def submit(n_clicks, param, layer, text, base, token=None):
    if not n_clicks:
        return no_update, no_update
    store = get_store()
    planned, problem = plan(store, base["config"], param, layer, text)
    if problem or not planned or any(p.error for p in planned):
        text = value_problem(problem) if problem else t("sweep.some_invalid")
        return dbc.Alert(text, color="danger"), False
    return submit_plan(store, planned, base.get("id"), token), True
