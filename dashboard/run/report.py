"""The printable report of one finished run: settings, results and what the model learned. Pure.

Figures come from dashboard/ui/figures.py, as on the run page, but nothing here needs a callback:
the page prints (or saves as PDF) exactly what it shows.
"""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
import numpy as np
from dash import dcc, html

from dashboard.run import views
from dashboard.service import run_data
from dashboard.ui import components, explanations, figures, map_figures
from dashboard.ui.i18n import t
from dashboard.ui.montage import png_data_uri
from shared.config import LayerInfo
from shared.store import RunStore

# Figures get a fixed width that fits a printed page (A4 or Letter, default margins): a figure
# sized for the screen would be cut off at the paper's edge.
PRINT_WIDTH = 700
SETTINGS = (  # config field, catalogue key of its label
    ("dataset", "form.dataset"),
    ("optimizer", "form.optimizer"),
    ("learning_rate", "form.learning_rate"),
    ("epochs", "form.epochs"),
    ("batch_size", "form.batch_size"),
    ("validation_split", "form.validation_split"),
    ("seed", "form.seed"),
    ("train_limit", "report.train_limit"),
)


def graph(gid: str, figure: Any) -> dcc.Graph:
    figure.update_layout(width=PRINT_WIDTH, autosize=False)
    config = components.graph_config(f"cnnlens-{gid}") | {"responsive": False}
    return dcc.Graph(id=gid, figure=figure, config=config, className="lens-graph")


def settings_table(config: dict[str, Any]) -> dbc.Table:
    rows = [
        html.Tr([html.Td(t(label)), html.Td(str(config.get(key, "—")), className="lens-mono")])
        for key, label in SETTINGS
        if key != "train_limit" or config.get(key) is not None
    ]
    return dbc.Table(html.Tbody(rows), size="sm", class_name="lens-table lens-report-config mb-0")


def config_section(run: dict[str, Any], infos: list[LayerInfo]) -> dbc.Card:
    return components.section(
        t("report.model"),
        dbc.Row(
            [
                dbc.Col(settings_table(run.get("config") or {}), md=5),
                dbc.Col(views.model_table(infos), md=7),
            ],
            class_name="g-3",
        ),
        explanations.model(),
    )


def filters_section(store: RunStore, run_id: str, infos: list[LayerInfo]) -> dbc.Card:
    blocks: list[Any] = []
    for info in infos:
        if info.type != "conv2d" or not info.kernel_shape:
            continue
        kh, kw, cin, cout = info.kernel_shape
        kernel = run_data.load_filters(store, run_id, info.name)
        colour = cin == 3 and not blocks  # the first conv layer, fed by colour images
        how = (
            ""
            if cin == 1
            else t("report.filters_rgb" if colour else "report.filters_mean", cin=cin)
        )
        blocks.append(
            html.Div(
                [
                    html.H6(
                        t("report.filters_head", name=info.name, n=cout, kh=kh, kw=kw, how=how)
                    ),
                    graph(
                        f"report-filters-{info.name}",
                        map_figures.filter_grid(kernel, map_figures.RGB if colour else None),
                    ),
                ],
                className="lens-report-layer",
            )
        )
    return components.section(
        t("inspect.filters"), html.Div(blocks), explanations.filters(interactive=False)
    )


def probe_section(store: RunStore, run: dict[str, Any], infos: list[LayerInfo]) -> dbc.Card:
    """Every layer's output for the first probe image, and the model's prediction for it."""
    probe = run_data.load_probe(store, run["id"])
    if probe is None:
        return components.section(t("inspect.maps"), html.Div(t("report.no_probe")))
    classes = run_data.class_names(run)
    label = int(probe["labels"][0])
    name = classes[label] if 0 <= label < len(classes) else str(label)
    probs, true = run_data.selected_prediction(store, run["id"], 0, probe)
    config_layers = (run.get("config") or {}).get("layers") or []
    blocks: list[Any] = [
        html.Div(
            [
                html.Img(
                    src=png_data_uri(np.asarray(probe["inputs"][0], dtype=np.uint8)),
                    alt=t("report.input_alt", name=name),
                    className="lens-report-input",
                    style={"width": "84px", "imageRendering": "pixelated"},
                ),
                html.Div(
                    [
                        html.H6(t("report.input", name=name)),
                        components.explain(explanations.probabilities()),
                        graph("report-probs", figures.class_probabilities(probs, classes, true)),
                    ],
                    className="flex-grow-1",
                ),
            ],
            className="d-flex gap-3 align-items-start lens-report-layer",
        )
    ]
    for info in infos:
        act = run_data.probe_activation(store, run["id"], info.name, 0)
        cfg = config_layers[info.index] if info.index < len(config_layers) else None
        blocks.append(
            html.Div(
                [
                    html.H6(f"{info.name} · {'×'.join(str(s) for s in info.output_shape)}"),
                    components.explain(
                        explanations.layer_caption(
                            info.type, tuple(info.output_shape), cfg or {}, interactive=False
                        )
                    ),
                    graph(
                        f"report-act-{info.name}",
                        map_figures.activation_grid(act, class_names=classes),
                    ),
                ],
                className="lens-report-layer",
            )
        )
    return components.section(
        t("report.maps"),
        html.Div(blocks),
        explanations.feature_maps(interactive=False),
    )


def report_sections(store: RunStore, run: dict[str, Any]) -> list[Any]:
    metrics = run_data.load_metrics(store, run["id"])
    infos = run_data.layer_infos(run)
    m = metrics or {}
    return [
        dbc.Card(dbc.CardBody(views.summary(run, metrics)), class_name="lens-card"),
        config_section(run, infos),
        components.section(
            t("run.curves"),
            graph("report-curves", figures.training_curves(run.get("history"))),
            explanations.curves(),
        ),
        components.section(
            t("run.confusion"),
            graph(
                "report-confusion",
                figures.confusion_matrix(
                    m.get("confusion"), run_data.class_names(run) or m.get("classes") or ()
                ),
            ),
            explanations.confusion(),
        ),
        filters_section(store, run["id"], infos),
        probe_section(store, run, infos),
    ]
