"""Components of the new-run form: fields, the layer editor rows and the preview table.

Ids are pattern-matching dicts so one callback serves every field and every layer:
{"type": "new-field", "field": f}, {"type": "new-param", "index": i, "param": p},
{"type": "new-layer-action", "index": i, "action": "up" | "down" | "remove"}.
"""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import html

from dashboard.service import datasets as dataset_service
from dashboard.state import get_store
from dashboard.ui import components, layer_editor, layer_preview
from dashboard.ui.i18n import t
from shared.datasets import DATASETS, unavailable_reason

OPTIMIZERS = ["adam", "sgd", "rmsprop", "adagrad", "nadam"]


def field_error(field: str) -> html.Div:
    return html.Div(id={"type": "new-field-error", "field": field}, className="lens-field-error")


def number_field(
    field: str, label: str, value: Any, help_text: str | None = None, **limits: Any
) -> html.Div:
    # Only the step goes to the browser: with min/max it would turn an out-of-range number into
    # None, and the user would read "must be a number" instead of the real limit.
    return html.Div(
        [
            dbc.Label(label, class_name="lens-label"),
            dbc.Input(
                id={"type": "new-field", "field": field},
                type="number",
                value=value,
                debounce=300,
                size="sm",
                step=limits.get("step", "any"),
            ),
            field_error(field),
            dbc.FormText(help_text) if help_text else None,
        ],
        className="lens-field",
    )


def dataset_options() -> tuple[list[dict[str, Any]], list[Any]]:
    options, notes = [], []
    for key, info in DATASETS.items():
        reason = unavailable_reason(key)
        title = components.dataset_title(key)
        label = title if not reason else t("form.dataset_missing", title=title)
        options.append({"label": label, "value": key, "disabled": bool(reason)})
        if reason:
            notes.append(
                html.Details(
                    [html.Summary(t("form.dataset_why", name=info.name)), html.Div(reason)],
                    className="lens-faint lens-why",
                )
            )
    # Imported datasets that are ready, by name (their id is the config's value).
    for row in dataset_service.ready_imported(get_store()):
        h, w, c = row["shape"]
        kind = t("datasets.rgb" if c == 3 else "datasets.gray")
        label = t("form.dataset_imported", name=row["name"], h=h, w=w, kind=kind)
        options.append({"label": label, "value": row["id"], "disabled": False})
    return options, notes


def settings_card(config: dict[str, Any]) -> dbc.Card:
    options, notes = dataset_options()
    name = html.Div(
        [
            dbc.Label(t("form.name"), class_name="lens-label"),
            dbc.Input(
                id={"type": "new-field", "field": "name"},
                value=config.get("name", ""),
                placeholder=t("form.name_placeholder"),
                maxlength=120,
                debounce=300,
                size="sm",
            ),
            field_error("name"),
        ],
        className="lens-field",
    )
    dataset = html.Div(
        [
            dbc.Label(t("form.dataset"), class_name="lens-label"),
            dbc.Select(
                id={"type": "new-field", "field": "dataset"},
                options=options,
                value=config.get("dataset"),
                size="sm",
            ),
            field_error("dataset"),
            html.Div(notes, className="mt-1") if notes else None,
        ],
        className="lens-field",
    )
    optimizer = html.Div(
        [
            dbc.Label(t("form.optimizer"), class_name="lens-label"),
            dbc.Select(
                id={"type": "new-field", "field": "optimizer"},
                options=components.select_options(OPTIMIZERS),
                value=config.get("optimizer"),
                size="sm",
            ),
            field_error("optimizer"),
        ],
        className="lens-field",
    )
    grid = [
        (name, 6),
        (dataset, 6),
        (number_field("epochs", t("form.epochs"), config.get("epochs"), min=1, max=200, step=1), 3),
        (
            number_field(
                "batch_size",
                t("form.batch_size"),
                config.get("batch_size"),
                min=1,
                max=4096,
                step=1,
            ),
            3,
        ),
        (optimizer, 3),
        (
            number_field(
                "learning_rate",
                t("form.learning_rate"),
                config.get("learning_rate"),
                min=0,
                max=1,
                step="any",
            ),
            3,
        ),
        (
            number_field(
                "validation_split",
                t("form.validation_split"),
                config.get("validation_split"),
                t("form.validation_split_help"),
                min=0,
                max=0.5,
                step=0.05,
            ),
            4,
        ),
        (
            number_field(
                "seed", t("form.seed"), config.get("seed"), t("form.seed_help"), min=0, step=1
            ),
            4,
        ),
        (
            number_field(
                "train_limit",
                t("form.train_limit"),
                config.get("train_limit"),
                t("form.train_limit_help"),
                min=10,
                step=1,
            ),
            4,
        ),
    ]
    return components.section(
        t("form.settings"), dbc.Row([dbc.Col(c, md=w) for c, w in grid], class_name="g-3")
    )


def _param_input(i: int, param: str, label: str, kind: str, spec: Any, value: Any):
    pid = {"type": "new-param", "index": i, "param": param}
    if kind == "select":
        control = dbc.Select(
            id=pid, options=components.select_options(list(spec)), value=value, size="sm"
        )
    else:
        _lo, _hi, step = spec  # limits are checked by the server, with their own message
        control = dbc.Input(
            id=pid,
            type="number",
            value=value,
            step=step,
            debounce=300,
            size="sm",
            class_name="lens-num-input",
        )
    return dbc.InputGroup([dbc.InputGroupText(label), control], size="sm", class_name="lens-param")


def layer_row(i: int, layer: dict[str, Any], count: int) -> html.Div:
    kind = layer.get("type", "?")
    params = [
        _param_input(i, p, t(f"layer.param.{p}"), kind_, spec, layer.get(p))
        for p, _label, kind_, spec in layer_editor.LAYER_PARAMS.get(kind, [])
    ]

    def action(name: str, symbol: str, title: str, disabled: bool = False):
        return dbc.Button(
            symbol,
            id={"type": "new-layer-action", "index": i, "action": name},
            color="light",
            size="sm",
            title=title,
            disabled=disabled,
            class_name="lens-icon-btn",
        )

    return html.Div(
        [
            html.Div(
                [
                    html.Span(str(i + 1), className="lens-layer-index"),
                    html.Span(
                        layer_editor.LAYER_TITLES.get(kind, kind), className="lens-layer-type"
                    ),
                ],
                className="lens-layer-head",
            ),
            html.Div(
                params or html.Span(t("form.no_parameters"), className="lens-faint"),
                className="lens-layer-params",
            ),
            html.Div(
                [
                    action("up", "↑", t("form.move_up"), i == 0),
                    action("down", "↓", t("form.move_down"), i == count - 1),
                    action("remove", "✕", t("form.remove_layer"), count <= 1),
                ],
                className="lens-layer-actions",
            ),
            html.Div(id={"type": "new-layer-error", "index": i}, className="lens-layer-error"),
        ],
        className="lens-layer",
    )


def render_layers(config: dict[str, Any]) -> list[html.Div]:
    layers = config.get("layers") or []
    return [layer_row(i, layer, len(layers)) for i, layer in enumerate(layers)]


def layers_card(config: dict[str, Any]) -> dbc.Card:
    presets = html.Div(
        [
            html.Span(t("form.start_from"), className="lens-label me-2"),
            *[
                dbc.Button(
                    t(f"preset.{key}.title"),
                    id={"type": "new-preset", "name": key},
                    title=t(f"preset.{key}.about"),
                    color="secondary",
                    outline=True,
                    size="sm",
                    class_name="me-1 mb-1",
                )
                for key in layer_editor.PRESETS
            ],
        ],
        className="mb-3",
    )
    add = dbc.InputGroup(
        [
            dbc.Select(
                id="new-add-type",
                value="conv2d",
                size="sm",
                options=[
                    {"label": layer_editor.LAYER_TITLES[k], "value": k}
                    for k in layer_editor.LAYER_MODELS
                ],
            ),
            dbc.Button(t("form.add_layer"), id="new-add", color="primary", outline=True, size="sm"),
        ],
        size="sm",
        class_name="lens-add",
    )
    return components.section(
        t("form.layers"),
        html.Div(
            [
                presets,
                html.Div(render_layers(config), id="new-layers"),
                html.Div(
                    [
                        add,
                        html.Span(
                            t("form.add_help"),
                            className="lens-faint ms-2",
                        ),
                    ],
                    className="d-flex align-items-center mt-2",
                ),
            ]
        ),
        help_text=components.tr("form.layers_help"),
    )


def preview_table(config: dict[str, Any], layer_errors: dict[int, list[str]]) -> html.Div:
    rows = []
    for row in layer_preview.preview_rows(config):
        bad = row["index"] is not None and row["index"] in layer_errors
        rows.append(
            html.Tr(
                [
                    html.Td(row["name"], className="lens-mono"),
                    html.Td(row["what"], className="lens-faint"),
                    html.Td(row["shape"], className="lens-mono text-nowrap"),
                    html.Td(components.fmt_int(row["params"]), className="lens-num"),
                ],
                className="table-danger" if bad else None,
            )
        )
    total = layer_preview.total_params(config)
    rows.append(
        html.Tr(
            [
                html.Td(t("common.total"), colSpan=3, className="fw-semibold"),
                html.Td(
                    components.fmt_int(total), className="lens-num fw-semibold", id="new-total"
                ),
            ],
            className="lens-total",
        )
    )
    head = html.Thead(
        html.Tr(
            [
                html.Th(t("common.layer")),
                html.Th(""),
                html.Th(t("common.output_shape")),
                html.Th(t("common.params"), className="lens-num"),
            ]
        )
    )
    return dbc.Table([head, html.Tbody(rows)], size="sm", class_name="lens-table mb-0")
