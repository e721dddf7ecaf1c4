"""Runs: every run with its live progress, filterable by status, dataset and name."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, dcc, html, no_update

from dashboard.run.manage import tag_badges
from dashboard.service import datasets as dataset_service
from dashboard.state import broker_ok, get_store
from dashboard.ui import components
from dashboard.ui.i18n import t, tn
from shared.store import STATUSES, RunStore

dash.register_page(__name__, path="/", name="Runs", title=lambda **_: t("runs.tab_title"), order=0)

REFRESH_MS = 1500
# Rows in the table. Each costs ~17 components to build and ~2 KB to send on every change, so 500
# rows took ~0.3-0.8 s per poll on two busy cores (benchmarks/bench_store.py); filters reach the rest.
MAX_ROWS = 100
ALL = "all"  # the filter value meaning "any"
COLUMNS = (  # catalogue keys of the table's headings
    "runs.col.name",
    "runs.col.dataset",
    "runs.col.status",
    "runs.col.progress",
    "runs.col.val_acc",
    "runs.col.test_acc",
    "runs.col.architecture",
    "runs.col.created",
)


def run_row(
    run: dict[str, Any], now: float, dataset_names: dict[str, str] | None = None
) -> html.Tr:
    href = f"/run/{run['id']}"
    test_acc = (run.get("test") or {}).get("accuracy")
    imported = run.get("origin") == "imported"
    # The name is user text: it goes into the page as a text node, never as markup.
    return html.Tr(
        [
            html.Td(
                [
                    dcc.Link(run["name"], href=href, className="lens-run-name stretched-link"),
                    html.Div(
                        [run["id"][:8], f" · {t('runs.imported')}" if imported else ""],
                        className="lens-mono lens-faint",
                    ),
                    html.Div(tag_badges(run["tags"])) if run.get("tags") else None,
                ]
            ),
            # An imported dataset by its name (the id is in its title), a built-in one by its key.
            html.Td(
                (dataset_names or {}).get(run["dataset"], run["dataset"]),
                title=run["dataset"],
                className="text-nowrap",
            ),
            html.Td(components.status_badge(run["status"], run.get("cancel_requested", False))),
            html.Td(
                [
                    components.progress_bar(run),
                    html.Div(components.progress_text(run), className="lens-faint"),
                ],
                className="lens-progress-cell",
            ),
            html.Td(components.fmt_pct(run.get("val_accuracy")), className="lens-num"),
            html.Td(components.fmt_pct(test_acc), className="lens-num fw-semibold"),
            html.Td(
                [
                    html.Div(run.get("architecture") or "", className="lens-mono"),
                    html.Div(
                        t("common.n_parameters", n=components.fmt_int(run.get("params"))),
                        className="lens-faint",
                    ),
                ]
            ),
            html.Td(
                html.Span(
                    components.fmt_ago(run.get("created_at"), now),
                    title=components.fmt_time(run.get("created_at")),
                ),
                className="text-nowrap",
            ),
        ],
        className="lens-row",
    )


def empty_state(filtered: bool) -> html.Div:
    if filtered:
        return html.Div(
            [
                html.H5(t("runs.empty.filtered")),
                html.P(t("runs.empty.filtered_help"), className="text-muted mb-0"),
            ],
            className="lens-empty",
        )
    return html.Div(
        [
            html.H5(t("runs.empty.title")),
            html.P(t("runs.empty.help"), className="text-muted"),
            dcc.Link(t("runs.empty.start"), href="/new", className="btn btn-primary"),
        ],
        className="lens-empty",
    )


def runs_signature(runs: list[dict[str, Any]], now: float) -> str:
    """A digest of everything the table shows, so an unchanged poll sends nothing."""
    source = [
        (
            r["id"],
            r["name"],
            r["status"],
            r["progress"],
            r["val_accuracy"],
            r["test"],
            r["cancel_requested"],
            r["tags"],
            components.fmt_ago(r["created_at"], now),
        )
        for r in runs
    ]
    return hashlib.sha1(json.dumps(source, default=str).encode()).hexdigest()


def count_label(count: int, more: bool) -> str:
    if more:
        return t("runs.count.newest", count=count)
    return tn("runs.count", count)


def runs_view(
    store: RunStore,
    status: str | None = None,
    dataset: str | None = None,
    name: str | None = None,
    now: float | None = None,
    last_signature: str | None = None,
) -> tuple[Any, str, str]:
    """The table (or empty state), a signature of what it shows, and a count label.

    The table is None when the signature equals `last_signature`: building hundreds of rows of
    components is what a poll costs, so an unchanged poll skips it.
    """
    now = now or time.time()
    status = None if status in (None, "", ALL) else status
    dataset = None if dataset in (None, "", ALL) else dataset
    runs = store.list_runs(
        status=status or None,
        dataset=dataset or None,
        name=(name or "").strip() or None,
        limit=MAX_ROWS + 1,
    )
    more = len(runs) > MAX_ROWS
    runs = runs[:MAX_ROWS]
    signature = runs_signature(runs, now)
    label = count_label(len(runs), more)
    if signature == last_signature:
        return None, signature, label
    if not runs:
        return empty_state(bool(status or dataset or (name or "").strip())), signature, label
    names = dataset_service.imported_names(store)
    rows = [run_row(run, now, names) for run in runs]
    if more:
        rows.append(
            html.Tr(
                html.Td(
                    t("runs.only_newest", n=MAX_ROWS),
                    colSpan=len(COLUMNS),
                    className="lens-faint text-center",
                )
            )
        )
    table = dbc.Table(
        [html.Thead(html.Tr([html.Th(t(c)) for c in COLUMNS])), html.Tbody(rows)],
        hover=True,
        responsive=True,
        class_name="lens-table mb-0",
    )
    return table, signature, label


def broker_banner(ok: bool):
    if ok:
        return None
    return dbc.Alert(
        [
            html.Strong(t("runs.broker.title") + " "),
            t("runs.broker.text"),
        ],
        color="warning",
        class_name="lens-banner",
    )


def layout(**_query: Any) -> html.Div:
    status_opts = [
        {"label": t("runs.filter.all_statuses"), "value": ALL}
    ] + components.select_options(list(STATUSES), [components.status_word(s) for s in STATUSES])
    store = get_store()
    dataset_opts = [{"label": t("runs.filter.all_datasets"), "value": ALL}] + [
        {"label": label, "value": key} for key, label in dataset_service.filter_choices(store)
    ]
    table, signature, count = runs_view(store)
    return html.Div(
        [
            html.Div(
                [
                    html.Div(
                        [
                            html.H2(t("runs.title"), className="lens-title"),
                            html.P(components.tr("runs.intro"), className="lens-subtitle"),
                        ]
                    ),
                    dcc.Link(t("runs.new_button"), href="/new", className="btn btn-primary"),
                ],
                className="lens-page-head",
            ),
            html.Div(broker_banner(broker_ok()), id="runs-banner"),
            dbc.Card(
                dbc.CardBody(
                    [
                        dbc.Row(
                            [
                                dbc.Col(
                                    dbc.Input(
                                        id="runs-filter-name",
                                        type="search",
                                        placeholder=t("runs.filter.name"),
                                        value="",
                                    ),
                                    md=5,
                                ),
                                dbc.Col(
                                    dbc.Select(
                                        id="runs-filter-status", options=status_opts, value=ALL
                                    ),
                                    md=3,
                                ),
                                dbc.Col(
                                    dbc.Select(
                                        id="runs-filter-dataset", options=dataset_opts, value=ALL
                                    ),
                                    md=3,
                                ),
                                dbc.Col(
                                    html.Div(count, id="runs-count", className="lens-faint"),
                                    md=1,
                                    class_name="d-flex align-items-center justify-content-end",
                                ),
                            ],
                            class_name="g-2 mb-3",
                        ),
                        html.Div(table, id="runs-table"),
                    ]
                ),
                class_name="lens-card",
            ),
            dcc.Store(id="runs-signature", data=signature),
            dcc.Interval(id="runs-interval", interval=REFRESH_MS),
        ]
    )


@callback(
    Output("runs-table", "children"),
    Output("runs-signature", "data"),
    Output("runs-count", "children"),
    Output("runs-banner", "children"),
    Input("runs-interval", "n_intervals"),
    Input("runs-filter-status", "value"),
    Input("runs-filter-dataset", "value"),
    Input("runs-filter-name", "value"),
    State("runs-signature", "data"),
)
def refresh(_n, status, dataset, name, last_signature):
    table, signature, count = runs_view(get_store(), status, dataset, name, None, last_signature)
    banner = broker_banner(broker_ok())
    if table is None:
        return no_update, no_update, no_update, banner
    return table, signature, count, banner
