"""Runs: every run with its live progress, filterable by status, dataset and name."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, dcc, html, no_update

from dashboard import components as ui
from dashboard.run_manage import tag_badges
from dashboard.state import broker_ok, get_store
from shared.datasets import DATASETS
from shared.store import STATUSES, RunStore

dash.register_page(__name__, path="/", name="Runs", title="Runs · CNN Lens", order=0)

REFRESH_MS = 1500
# Rows in the table. Each costs ~17 components to build and ~2 KB to send on every change, so 500
# rows took ~0.3-0.8 s per poll on two busy cores (benchmarks/bench_store.py); filters reach the rest.
MAX_ROWS = 100
ALL = "all"  # the filter value meaning "any"
COLUMNS = (
    "Name",
    "Dataset",
    "Status",
    "Progress",
    "Val acc.",
    "Test acc.",
    "Architecture",
    "Created",
)


def run_row(run: dict[str, Any], now: float) -> html.Tr:
    href = f"/run/{run['id']}"
    test_acc = (run.get("test") or {}).get("accuracy")
    # The name is user text: it goes into the page as a text node, never as markup.
    return html.Tr(
        [
            html.Td(
                [
                    dcc.Link(run["name"], href=href, className="lens-run-name stretched-link"),
                    html.Div(run["id"][:8], className="lens-mono lens-faint"),
                    html.Div(tag_badges(run["tags"])) if run.get("tags") else None,
                ]
            ),
            html.Td(run["dataset"], className="text-nowrap"),
            html.Td(ui.status_badge(run["status"], run.get("cancel_requested", False))),
            html.Td(
                [ui.progress_bar(run), html.Div(ui.progress_text(run), className="lens-faint")],
                className="lens-progress-cell",
            ),
            html.Td(ui.fmt_pct(run.get("val_accuracy")), className="lens-num"),
            html.Td(ui.fmt_pct(test_acc), className="lens-num fw-semibold"),
            html.Td(
                [
                    html.Div(run.get("architecture") or "", className="lens-mono"),
                    html.Div(f"{ui.fmt_int(run.get('params'))} parameters", className="lens-faint"),
                ]
            ),
            html.Td(
                html.Span(
                    ui.fmt_ago(run.get("created_at"), now), title=ui.fmt_time(run.get("created_at"))
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
                html.H5("No runs match these filters"),
                html.P("Clear the filters above to see every run.", className="text-muted mb-0"),
            ],
            className="lens-empty",
        )
    return html.Div(
        [
            html.H5("No runs yet — start one"),
            html.P(
                "Train the teaching notebook's model in a few clicks, then look inside it.",
                className="text-muted",
            ),
            dcc.Link("Start a run", href="/new", className="btn btn-primary"),
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
            ui.fmt_ago(r["created_at"], now),
        )
        for r in runs
    ]
    return hashlib.sha1(json.dumps(source, default=str).encode()).hexdigest()


def count_label(count: int, more: bool) -> str:
    if more:
        return f"newest {count} shown"
    return f"{count} run{'' if count == 1 else 's'}"


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
    rows = [run_row(run, now) for run in runs]
    if more:
        rows.append(
            html.Tr(
                html.Td(
                    f"Only the newest {MAX_ROWS} runs are listed: filter by name, status or "
                    "dataset to find older ones.",
                    colSpan=len(COLUMNS),
                    className="lens-faint text-center",
                )
            )
        )
    table = dbc.Table(
        [html.Thead(html.Tr([html.Th(c) for c in COLUMNS])), html.Tbody(rows)],
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
            html.Strong("The task queue is not reachable. "),
            "New runs are saved as queued and start when it is back; "
            "runs in progress keep training.",
        ],
        color="warning",
        class_name="lens-banner",
    )


def layout(**_query: Any) -> html.Div:
    status_opts = [{"label": "All statuses", "value": ALL}] + ui.select_options(list(STATUSES))
    dataset_opts = [{"label": "All datasets", "value": ALL}] + [
        {"label": info.name, "value": key} for key, info in DATASETS.items()
    ]
    table, signature, count = runs_view(get_store())
    return html.Div(
        [
            html.Div(
                [
                    html.Div(
                        [
                            html.H2("Runs", className="lens-title"),
                            html.P(
                                [
                                    "Every training run, newest first. A run trains one small ",
                                    ui.term_link("CNN", "cnn"),
                                    " to recognise images (handwritten digits from ",
                                    ui.term_link("MNIST", "mnist"),
                                    " by default). Click one to see how it learned, what its ",
                                    ui.term_link("filters", "filter"),
                                    " look for and what its layers make of an image.",
                                ],
                                className="lens-subtitle",
                            ),
                        ]
                    ),
                    dcc.Link("+ New run", href="/new", className="btn btn-primary"),
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
                                        placeholder="Filter by name",
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
