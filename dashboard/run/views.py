"""Sections of the run page (header, live progress, results, filters, feature maps), pure renders."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
import numpy as np
from dash import dcc, html

from dashboard.run import manage
from dashboard.service import run_data
from dashboard.ui import components, explanations, figures, map_figures
from dashboard.ui.components import graph
from dashboard.ui.i18n import t
from dashboard.ui.montage import png_data_uri
from shared.config import LayerInfo
from shared.store import FAILED, INTERRUPTED, RUNNING, SUCCEEDED, RunStore

GRAPH_CONFIG: Any = components.graph_config(interactive=True)
STATIC_GRAPH: Any = components.graph_config()
DOWNLOADS = (  # file name, catalogue key of its menu entry
    ("model.keras", "run.download.model"),
    ("metrics.csv", "run.download.metrics"),
    ("filters.npz", "run.download.filters"),
    ("activations.npz", "run.download.activations"),
)


def header(run: dict[str, Any], parent: dict[str, Any] | None = None) -> html.Div:
    run_id = run["id"]
    downloads = dbc.DropdownMenu(
        [
            dbc.DropdownMenuItem(t("run.download.report"), href=f"/run/{run_id}/report"),
            dbc.DropdownMenuItem(divider=True),
            *(
                dbc.DropdownMenuItem(
                    t(label),
                    href=f"/api/runs/{run_id}/artifacts/{name}",
                    external_link=True,
                    target="_blank",
                )
                for name, label in DOWNLOADS
            ),
        ],
        label=t("run.download"),
        color="light",
        size="sm",
        align_end=True,
        id="run-downloads",
        class_name="d-inline-block" if run["status"] == SUCCEEDED else "d-none",
    )
    meta = " · ".join(
        x
        for x in (
            components.dataset_name(run["dataset"]),
            run.get("architecture") or "",
            t("common.n_parameters", n=components.fmt_int(run.get("params"))),
            t("run.created", when=components.fmt_time(run.get("created_at"))),
            t("run.imported") if run.get("origin") == "imported" else "",
        )
        if x
    )
    return html.Div(
        [
            html.Div(
                [
                    html.Div(
                        [
                            *manage.title(run),
                            html.Span(
                                components.status_badge(
                                    run["status"], bool(run.get("cancel_requested"))
                                ),
                                id="run-status-badge",
                            ),
                        ],
                        className="d-flex align-items-center",
                    ),
                    html.Div(meta, className="lens-subtitle lens-mono-soft"),
                    manage.tags_and_notes(run),
                    html.Div(
                        [
                            t("run.copy_of"),
                            dcc.Link(parent["name"], href=f"/run/{parent['id']}"),
                            " · ",
                            dcc.Link(
                                t("run.compare_original"),
                                href=f"/compare?runs={parent['id']},{run_id}",
                                id="run-compare-parent",
                            ),
                        ],
                        className="lens-subtitle",
                    )
                    if parent
                    else None,
                ]
            ),
            html.Div(
                [
                    dbc.Button(
                        t("run.cancel"),
                        id="run-cancel",
                        color="warning",
                        outline=True,
                        size="sm",
                        class_name="" if run["status"] in components.ACTIVE else "d-none",
                    ),
                    dcc.Link(
                        t("run.clone"),
                        href=f"/new?clone={run_id}",
                        className="btn btn-light btn-sm",
                    ),
                    dcc.Link(
                        t("run.compare_with"),
                        href=f"/compare?runs={run_id}",
                        className="btn btn-light btn-sm",
                        title=t("run.compare_with_help"),
                    ),
                    downloads,
                    manage.retry_button(run),
                    dbc.Button(
                        t("run.delete"), id="run-delete", color="danger", outline=True, size="sm"
                    ),
                ],
                className="lens-actions",
            ),
        ],
        className="lens-page-head",
    )


def live_panel(run: dict[str, Any]) -> Any:
    """Progress while queued or running, the error of a failed run, the results of a finished one."""
    status, p = run["status"], run.get("progress") or {}
    if status == SUCCEEDED:
        return None
    children = []
    if status == FAILED:
        children.append(
            dbc.Alert(
                [
                    html.Strong(t("run.failed") + " "),
                    run.get("error") or t("run.failed_no_reason"),
                ],
                color="danger",
                class_name="mb-2 lens-error",
            )
        )
    elif status == INTERRUPTED:
        children.append(
            dbc.Alert(
                t("run.interrupted"),
                color="warning",
                class_name="mb-2",
            )
        )
    bar = html.Div(
        [
            components.progress_bar(run, height=12),
            html.Div(
                [
                    html.Span(
                        [
                            html.Span(components.progress_text(run), className="fw-semibold"),
                            html.Span(
                                f" · {eta}" if (eta := components.eta_text(run)) else "",
                                className="lens-faint",
                            ),
                        ]
                    ),
                    html.Span(
                        t(
                            "run.live_metrics",
                            loss=components.fmt_num(p.get("loss")),
                            accuracy=components.fmt_pct(p.get("accuracy")),
                        )
                        if status == RUNNING and p.get("loss") is not None
                        else "",
                        className="lens-faint",
                    ),
                ],
                className="d-flex justify-content-between mt-2",
            ),
        ]
    )
    children.append(bar)
    return dbc.Card(dbc.CardBody(children), class_name="lens-card")


def summary(run: dict[str, Any], metrics: dict[str, Any] | None) -> html.Div:
    m = metrics or {}
    test = m.get("test") or run.get("test") or {}
    rate = m.get("images_per_second")
    return html.Div(
        [
            components.stat(t("run.stat.test_acc"), components.fmt_pct(test.get("accuracy"), 2)),
            components.stat(t("run.stat.test_loss"), components.fmt_num(test.get("loss"))),
            components.stat(t("run.stat.val_acc"), components.fmt_pct(run.get("val_accuracy"), 2)),
            components.stat(
                t("run.stat.time"),
                components.fmt_duration(m.get("seconds")),
                t("run.stat.rate", rate=components.fmt_int(round(rate))) if rate else None,
            ),
            components.stat(
                t("run.stat.images"),
                components.fmt_int(m.get("train_images")),
                t("run.stat.val_images", n=components.fmt_int(m["val_images"]))
                if m.get("val_images")
                else None,
            ),
        ],
        className="lens-stats",
    )


def model_table(infos: list[LayerInfo]) -> dbc.Table:
    rows = [
        html.Tr(
            [
                html.Td(t("describe.input"), className="lens-mono"),
                html.Td("(28, 28, 1)", className="lens-mono"),
                html.Td("0", className="lens-num"),
            ]
        )
    ]
    rows += [
        html.Tr(
            [
                html.Td(i.name, className="lens-mono"),
                html.Td(str(tuple(i.output_shape)), className="lens-mono"),
                html.Td(components.fmt_int(i.params), className="lens-num"),
            ]
        )
        for i in infos
    ]
    rows.append(
        html.Tr(
            [
                html.Td(t("common.total"), colSpan=2, className="fw-semibold"),
                html.Td(
                    components.fmt_int(sum(i.params for i in infos)),
                    className="lens-num fw-semibold",
                ),
            ],
            className="lens-total",
        )
    )
    head = html.Thead(
        html.Tr(
            [
                html.Th(t("common.layer")),
                html.Th(t("common.output_shape")),
                html.Th(t("common.params"), className="lens-num"),
            ]
        )
    )
    return dbc.Table([head, html.Tbody(rows)], size="sm", class_name="lens-table mb-0")


def training_images_card(run: dict[str, Any]) -> dbc.Card:
    samples = run_data.training_samples(run["dataset"])
    fig = (
        map_figures.sample_images(samples[0], samples[1], run_data.class_names(run))
        if samples
        else figures.empty_figure(t("run.dataset_missing"))
    )
    return components.section(
        t("run.samples"),
        graph("run-samples", fig),
        explanations.samples(),
    )


def confusion_card(run: dict[str, Any], metrics: dict[str, Any] | None) -> dbc.Card:
    m = metrics or {}
    fig = figures.confusion_matrix(
        m.get("confusion"), run_data.class_names(run) or m.get("classes") or ()
    )
    return components.section(
        t("run.confusion"),
        graph("run-confusion", fig),
        explanations.confusion(),
    )


def thumbs(probe: dict[str, np.ndarray], classes: tuple[str, ...], selected: int) -> list:
    preds = probe.get("predictions")
    out = []
    for k, (img, label) in enumerate(zip(probe["inputs"], probe["labels"], strict=False)):
        true = classes[int(label)] if int(label) < len(classes) else str(int(label))
        pred = int(np.argmax(preds[k])) if preds is not None and k < len(preds) else None
        ok = pred == int(label)
        verdict = "" if pred is None else (classes[pred] if pred < len(classes) else str(pred))
        out.append(
            html.Button(
                [
                    html.Img(
                        src=png_data_uri(np.asarray(img, dtype=np.uint8)),
                        alt=t("run.thumb.alt", true=true),
                    ),
                    html.Div(true, className="lens-thumb-label"),
                    html.Div(
                        ("✓ " if ok else "✗ ") + verdict if pred is not None else "",
                        className="lens-thumb-pred " + ("text-success" if ok else "text-danger"),
                    ),
                ],
                id={"type": "run-probe", "index": k},
                n_clicks=0,
                title=t("run.thumb.title", true=true, pred=verdict),
                className="lens-thumb" + (" selected" if k == selected else ""),
            )
        )
    return out


def layer_caption(info: LayerInfo | None, config_layer: dict[str, Any] | None) -> Any:
    if info is None:
        return ""
    return explanations.layer_caption(info.type, tuple(info.output_shape), config_layer or {})


def select_layer_options(infos: list[LayerInfo]) -> list[dict[str, Any]]:
    return [
        {"label": f"{i.name} · {'×'.join(str(s) for s in i.output_shape)}", "value": i.name}
        for i in infos
    ]


def placeholder(run: dict[str, Any]) -> dbc.Card:
    key = {FAILED: "run.placeholder.failed", "cancelled": "run.placeholder.cancelled"}.get(
        run["status"], "run.placeholder"
    )
    text = t(key)
    return dbc.Card(
        dbc.CardBody(html.Div(text, className="lens-empty py-4")), class_name="lens-card"
    )


def store_check(store: RunStore, run_id: str) -> bool:
    return run_data.has_artifacts(store, run_id)
