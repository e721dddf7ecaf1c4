"""The new-run form's preview, as pure functions on the config dict: every layer's output shape
and parameter count from shared.config (without TensorFlow), and the validation messages placed
at the field, layer or parameter they are about."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from dashboard.ui.i18n import t
from dashboard.ui.layer_editor import FIELDS, LAYER_ADAPTER
from dashboard.ui.messages import field_label, message
from shared.config import ConfigError, LayerInfo, RunConfig, infer_layers
from shared.datasets import input_shape


def layer_shapes(config: dict[str, Any]) -> list[LayerInfo | None]:
    """Shapes and parameters of the layers up to the first one that cannot be computed.

    Layers after an invalid one get None: their shapes depend on it.
    """
    raw = config.get("layers") or []
    valid = []
    for layer in raw:
        try:
            valid.append(LAYER_ADAPTER.validate_python(layer))
        except ValidationError:
            break
    infos: list[LayerInfo] = []
    if valid:
        try:
            infos, _ = infer_layers(RunConfig.model_validate({"layers": valid}))
        except ValidationError:
            infos = []
    return [*infos, *([None] * (len(raw) - len(infos)))]


def errors_by_place(
    errors: list[dict[str, str]],
) -> tuple[dict[str, str], dict[int, list[str]], dict[tuple[int, str], str], list[str]]:
    """Split ConfigError messages: per top-level field, per layer, per layer parameter, other."""
    fields: dict[str, str] = {}
    layers: dict[int, list[str]] = {}
    params: dict[tuple[int, str], str] = {}
    other: list[str] = []
    for err in errors:
        parts = str(err.get("field", "")).split(".")
        msg = message(err.get("message", "is not valid"))
        if parts[0] == "layers" and len(parts) >= 2 and parts[1].isdigit():
            i = int(parts[1])
            if len(parts) >= 3:
                params[(i, parts[2])] = msg
                layers.setdefault(i, []).append(f"{t(f'layer.param.{parts[2]}')}: {msg}")
            else:
                layers.setdefault(i, []).append(msg)
        elif parts[0] in FIELDS and parts[0] not in fields:
            fields[parts[0]] = msg
        else:
            where = field_label(str(err.get("field")))
            other.append(msg if parts[0] in ("layers", "config") else f"{where}: {msg}")
    return fields, layers, params, other


def describe(layer: dict[str, Any]) -> str:
    kind = layer.get("type")
    if kind == "conv2d":
        k = layer.get("kernel_size")
        return t("describe.conv", n=layer.get("filters"), k=k, activation=layer.get("activation"))
    if kind in ("maxpool2d", "avgpool2d"):
        p = layer.get("pool_size")
        return f"{p}×{p}"
    if kind == "dropout":
        return t("describe.dropout", rate=layer.get("rate"))
    if kind == "dense":
        return t("describe.dense", n=layer.get("units"), activation=layer.get("activation"))
    if kind == "activation":
        return str(layer.get("activation", ""))
    if kind == "batchnorm":
        return t("describe.batchnorm", momentum=layer.get("momentum"))
    return ""


def preview_rows(config: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per layer for the preview table (input first): name, what, shape, params."""
    rows = [
        {
            "index": None,
            "name": t("describe.input"),
            "what": t("describe.input_what"),
            "shape": str(input_shape(str(config.get("dataset") or ""))),
            "params": 0,
        }
    ]
    counters: dict[str, int] = {}
    for i, (layer, info) in enumerate(
        zip(config.get("layers") or [], layer_shapes(config), strict=False)
    ):
        kind = str(layer.get("type", "layer"))
        counters[kind] = counters.get(kind, 0) + 1
        rows.append(
            {
                "index": i,
                "name": info.name if info else f"{kind}_{counters[kind]}",
                "what": describe(layer),
                "shape": str(tuple(info.output_shape)) if info else "—",
                "params": info.params if info else None,
            }
        )
    return rows


def total_params(config: dict[str, Any]) -> int | None:
    shapes = layer_shapes(config)
    if not shapes or any(s is None for s in shapes):
        return None
    return sum(s.params for s in shapes if s is not None)


def validation_errors(config: dict[str, Any], validate) -> list[dict[str, str]]:
    """Run the service's validation (`validate(data)` raising ConfigError); [] when it passes."""
    try:
        validate(config)
    except ConfigError as exc:
        return exc.errors
    return []
