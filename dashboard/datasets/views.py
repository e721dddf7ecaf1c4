"""Pure builders of the Datasets page: rows of the service's dataset dicts in, components out."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboard.service import datasets as service
from dashboard.ui import components, figures, map_figures
from dashboard.ui.components import graph
from dashboard.ui.i18n import t
from shared.store import RunStore

POLL_MS = 1500
PAGE = "/datasets"


def href(dataset_id: str) -> str:
    return f"{PAGE}?id={dataset_id}"


def title(row: dict[str, Any]) -> str:
    return components.dataset_title(row["id"]) if row.get("builtin") else str(row["name"])


def size_text(row: dict[str, Any]) -> str:
    shape = row.get("shape")
    if not shape:
        return "—"
    h, w, c = shape
    return t("datasets.size", h=h, w=w, kind=t("datasets.rgb" if c == 3 else "datasets.gray"))


def status_text(row: dict[str, Any]) -> Any:
    status = row.get("status")
    if status == "importing":
        share = figures.fmt_share(float(row.get("progress") or 0.0))
        return html.Span(t("datasets.status.importing", share=share), className="text-primary")
    if status == "failed":
        return html.Span(t("datasets.status.failed"), className="text-danger")
    if status == "unavailable":
        return html.Span(t("datasets.status.unavailable"), className="text-warning")
    return html.Span(t("datasets.status.ready"), className="text-success")


def counts_text(row: dict[str, Any]) -> str:
    counts = row.get("counts") or {}
    if not counts:
        return "—"
    return t("datasets.counts", train=f"{counts['train']:,}", test=f"{counts['test']:,}")


def table(rows: list[dict[str, Any]]) -> Any:
    head = html.Thead(
        html.Tr(
            [
                html.Th(t(key))
                for key in (
                    "datasets.col.name",
                    "datasets.col.kind",
                    "datasets.col.status",
                    "datasets.col.size",
                    "datasets.col.classes",
                    "datasets.col.images",
                )
            ]
        )
    )
    body = html.Tbody(
        [
            html.Tr(
                [
                    html.Td(dcc.Link(title(row), href=href(row["id"]))),
                    html.Td(t("datasets.builtin" if row.get("builtin") else "datasets.imported")),
                    html.Td(status_text(row)),
                    html.Td(size_text(row)),
                    html.Td(str(row.get("num_classes") or "—")),
                    html.Td(counts_text(row)),
                ]
            )
            for row in rows
        ]
    )
    return dbc.Table([head, body], size="sm", hover=True, class_name="lens-table mb-0")


def importing(rows: list[dict[str, Any]]) -> bool:
    return any(row.get("status") == "importing" for row in rows)


def import_form(max_mb: int, max_images: int) -> dbc.Card:
    body = html.Div(
        [
            dbc.Row(
                [
                    dbc.Col(
                        [
                            dbc.Label(t("datasets.form.name"), class_name="lens-label"),
                            dbc.Input(id="ds-name", maxLength=120, size="sm"),
                        ],
                        md=5,
                    ),
                    dbc.Col(
                        [
                            dbc.Label(t("datasets.form.fraction"), class_name="lens-label"),
                            dbc.Input(
                                id="ds-fraction", type="number", value=0.2, step=0.05, size="sm"
                            ),
                        ],
                        md=2,
                    ),
                    dbc.Col(
                        dbc.Button(
                            t("datasets.form.import"), id="ds-import", color="primary", size="sm"
                        ),
                        md=4,
                        class_name="d-flex align-items-end",
                    ),
                ],
                class_name="g-2",
            ),
            html.Div(id="ds-status", className="small mt-2"),
        ]
    )
    return components.section(
        t("datasets.form.title"),
        body,
        components.tr("datasets.form.help", mb=f"{max_mb:,}", images=f"{max_images:,}"),
    )


def detail(store: RunStore, row: dict[str, Any] | None) -> Any:
    """One dataset: what it holds, why it failed, a sample of each class, and its delete button."""
    if row is None:
        return html.Div(t("datasets.none_such"), className="lens-empty lens-card")
    facts = [
        components.stat(t("datasets.col.status"), status_text(row)),
        components.stat(t("datasets.col.size"), size_text(row)),
        components.stat(t("datasets.col.classes"), str(row.get("num_classes") or "—")),
        components.stat(t("datasets.col.images"), counts_text(row)),
    ]
    parts: list[Any] = [dbc.Row([dbc.Col(f, md=3) for f in facts], class_name="g-2 mb-2")]
    if row.get("error"):
        parts.append(dbc.Alert(row["error"], color="danger", class_name="py-2"))
    if row.get("classes"):
        parts.append(
            html.P(
                [html.Span(t("datasets.classes"), className="lens-label me-2")]
                + [", ".join(str(c) for c in row["classes"])],
                className="small",
            )
        )
    for note in row.get("notes") or []:
        parts.append(html.P(note, className="lens-faint small mb-1"))
    if row.get("status") == "ready":
        picked = service.sample(store, row["id"])
        if picked is not None:
            classes = tuple(str(c) for c in row.get("classes") or ())
            parts.append(
                graph("ds-samples", map_figures.sample_images(picked[0], picked[1], classes, 8))
            )
    if not row.get("builtin"):
        parts.append(
            html.Div(
                [
                    dbc.Button(
                        t("datasets.delete"),
                        id="ds-delete",
                        color="danger",
                        outline=True,
                        size="sm",
                    ),
                    html.Span(t("datasets.id", id=row["id"]), className="lens-faint small ms-2"),
                ],
                className="mt-2",
            )
        )
    return components.section(title(row), html.Div(parts))
