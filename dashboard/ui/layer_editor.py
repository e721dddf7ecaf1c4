"""The new-run form's logic as pure functions on the config dict (no Dash context, no I/O).

The page keeps the whole run config in a dcc.Store; these functions edit it (add, remove, move,
change a parameter, apply a preset). The preview of what they make (shapes, parameters,
messages per field) is in ui/layer_preview.py.
"""

from __future__ import annotations

import copy
from typing import Any, get_args

from pydantic import TypeAdapter

from shared.config import (
    Activation,
    ActivationLayer,
    AvgPool2D,
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAvgPool2D,
    GlobalMaxPool2D,
    LayerSpec,
    MaxPool2D,
    RunConfig,
)
from shared.datasets import describe as describe_dataset

ACTIVATIONS = list(get_args(Activation))
LAYER_MODELS: dict[str, Any] = {
    "conv2d": Conv2D,
    "maxpool2d": MaxPool2D,
    "avgpool2d": AvgPool2D,
    "dropout": Dropout,
    "flatten": Flatten,
    "dense": Dense,
    "batchnorm": BatchNorm,
    "globalavgpool2d": GlobalAvgPool2D,
    "globalmaxpool2d": GlobalMaxPool2D,
    "activation": ActivationLayer,
}
LAYER_TITLES = {
    "conv2d": "Conv2D",
    "maxpool2d": "MaxPooling2D",
    "avgpool2d": "AveragePooling2D",
    "dropout": "Dropout",
    "flatten": "Flatten",
    "dense": "Dense",
    "batchnorm": "BatchNormalization",
    "globalavgpool2d": "GlobalAveragePooling2D",
    "globalmaxpool2d": "GlobalMaxPooling2D",
    "activation": "Activation",
}
# (parameter, label, kind, options-or-(min, max, step))
LAYER_PARAMS: dict[str, list[tuple[str, str, str, Any]]] = {
    "conv2d": [
        ("filters", "filters", "number", (1, 512, 1)),
        ("kernel_size", "kernel", "number", (1, 11, 1)),
        ("activation", "activation", "select", ACTIVATIONS),
        ("padding", "padding", "select", ["valid", "same"]),
        ("strides", "stride", "number", (1, 4, 1)),
    ],
    "maxpool2d": [("pool_size", "pool", "number", (1, 8, 1))],
    "avgpool2d": [("pool_size", "pool", "number", (1, 8, 1))],
    "dropout": [("rate", "rate", "number", (0, 0.95, 0.05))],
    "flatten": [],
    "dense": [
        ("units", "units", "number", (1, 4096, 1)),
        ("activation", "activation", "select", ACTIVATIONS),
    ],
    "batchnorm": [
        ("momentum", "momentum", "number", (0, 0.999, 0.01)),
        ("epsilon", "epsilon", "number", (0.00001, 1, 0.0001)),
    ],
    "globalavgpool2d": [],
    "globalmaxpool2d": [],
    "activation": [("activation", "activation", "select", ACTIVATIONS)],
}
# Layers that read feature maps: they go before the first flatten, global pooling or dense.
IMAGE_LAYERS = ("conv2d", "maxpool2d", "avgpool2d")
HEAD_STARTS = ("flatten", "globalavgpool2d", "globalmaxpool2d")
FIELDS = (
    "name",
    "dataset",
    "epochs",
    "batch_size",
    "optimizer",
    "learning_rate",
    "validation_split",
    "seed",
    "train_limit",
)
LAYER_ADAPTER: TypeAdapter[Any] = TypeAdapter(LayerSpec)


def default_config() -> dict[str, Any]:
    return RunConfig.model_validate({}).model_dump(mode="json")


def new_layer(kind: str) -> dict[str, Any]:
    return LAYER_MODELS[kind].model_validate({}).model_dump(mode="json")


def _conv(filters: int = 16, kernel: int = 3, activation: str = "relu") -> dict[str, Any]:
    spec = {"filters": filters, "kernel_size": kernel, "activation": activation}
    return Conv2D.model_validate(spec).model_dump(mode="json")


def _head() -> list[dict[str, Any]]:
    return [
        new_layer("flatten"),
        Dense.model_validate({"units": 10, "activation": "softmax"}).model_dump(),
    ]


# The notebook's exercises, each one click away. A preset changes the layers (and epochs for
# "more epochs"); the dataset, name and other settings stay as the user left them.
PRESETS: dict[str, dict[str, Any]] = {
    "notebook": {
        "title": "Notebook model",
        "about": "Conv 16 → pool → conv 32 → dense 10, 3 epochs",
        "layers": [_conv(16), new_layer("maxpool2d"), _conv(32), *_head()],
    },
    "more-conv": {
        "title": "More conv layers",
        "about": "A third conv layer and a second pooling",
        "layers": [
            _conv(16),
            new_layer("maxpool2d"),
            _conv(32),
            new_layer("maxpool2d"),
            _conv(64),
            *_head(),
        ],
    },
    "64-filters": {
        "title": "64 filters",
        "about": "The second conv layer with 64 filters",
        "layers": [_conv(16), new_layer("maxpool2d"), _conv(64), *_head()],
    },
    "5x5": {
        "title": "5×5 kernels",
        "about": "Both conv layers with 5×5 kernels",
        "layers": [_conv(16, 5), new_layer("maxpool2d"), _conv(32, 5), *_head()],
    },
    "tanh": {
        "title": "tanh",
        "about": "tanh instead of relu in the conv layers",
        "layers": [_conv(16, 3, "tanh"), new_layer("maxpool2d"), _conv(32, 3, "tanh"), *_head()],
    },
    "sigmoid": {
        "title": "sigmoid",
        "about": "sigmoid instead of relu in the conv layers",
        "layers": [
            _conv(16, 3, "sigmoid"),
            new_layer("maxpool2d"),
            _conv(32, 3, "sigmoid"),
            *_head(),
        ],
    },
    "more-epochs": {
        "title": "More epochs",
        "about": "The notebook model trained for 10 epochs",
        "layers": [_conv(16), new_layer("maxpool2d"), _conv(32), *_head()],
        "epochs": 10,
    },
}


def apply_preset(config: dict[str, Any], name: str) -> dict[str, Any]:
    """The preset's layers; "notebook" also resets the training settings (not name or dataset)."""
    preset = PRESETS[name]
    out = copy.deepcopy(config)
    if name == "notebook":
        out = default_config() | {
            "name": config.get("name", ""),
            "dataset": config.get("dataset", "mnist-sample"),
        }
    out["layers"] = copy.deepcopy(preset["layers"])
    if "epochs" in preset:
        out["epochs"] = preset["epochs"]
    return out


def insert_position(layers: list[dict[str, Any]], kind: str) -> int:
    """Where a new layer of this type fits: image layers before flatten, dense before the output."""
    types = [layer.get("type") for layer in layers]
    if kind in IMAGE_LAYERS or kind in HEAD_STARTS:
        stops = (*HEAD_STARTS, "dense") if kind in IMAGE_LAYERS else ("dense",)
        found = [types.index(stop) for stop in stops if stop in types]
        return min(found) if found else len(layers)
    if types and types[-1] == "dense":
        return len(layers) - 1
    return len(layers)


def add_layer(config: dict[str, Any], kind: str) -> dict[str, Any]:
    if kind not in LAYER_MODELS:
        return config
    out = copy.deepcopy(config)
    layers = out.setdefault("layers", [])
    layers.insert(insert_position(layers, kind), new_layer(kind))
    return out


def remove_layer(config: dict[str, Any], index: int) -> dict[str, Any]:
    out = copy.deepcopy(config)
    if 0 <= index < len(out.get("layers", [])):
        del out["layers"][index]
    return out


def move_layer(config: dict[str, Any], index: int, delta: int) -> dict[str, Any]:
    out = copy.deepcopy(config)
    layers = out.get("layers", [])
    j = index + delta
    if 0 <= index < len(layers) and 0 <= j < len(layers):
        layers[index], layers[j] = layers[j], layers[index]
    return out


def set_layer_params(
    config: dict[str, Any], ids: list[dict[str, Any]], values: list[Any]
) -> dict[str, Any]:
    """Copy the per-layer inputs ({"index", "param"} ids and their values) into the config."""
    out = copy.deepcopy(config)
    layers = out.get("layers", [])
    for cid, value in zip(ids, values, strict=False):
        i, param = cid.get("index"), cid.get("param")
        if isinstance(i, int) and 0 <= i < len(layers) and param:
            layers[i][param] = value
    return out


def set_fields(
    config: dict[str, Any], ids: list[dict[str, Any]], values: list[Any]
) -> dict[str, Any]:
    out = copy.deepcopy(config)
    for cid, value in zip(ids, values, strict=False):
        field = cid.get("field")
        if field == "name":
            out["name"] = value or ""
        elif field == "train_limit":
            out["train_limit"] = value if value not in ("", None) else None
        elif field in FIELDS:
            out[field] = value
    return out


def field_values(config: dict[str, Any], ids: list[dict[str, Any]]) -> list[Any]:
    return [config.get(str(cid.get("field"))) for cid in ids]


def clone_config(run_config: dict[str, Any]) -> dict[str, Any]:
    out = default_config() | copy.deepcopy(run_config or {})
    name = (out.get("name") or "run").strip()
    out["name"] = f"{name} (copy)"[:120]
    return out


def follow_dataset(config: dict[str, Any]) -> dict[str, Any]:
    """A new dataset chosen: a last dense softmax layer gets one unit per class of it."""
    info = describe_dataset(str(config.get("dataset") or ""))
    layers = config.get("layers") or []
    last = layers[-1] if layers and isinstance(layers[-1], dict) else None
    if info is None or not last or last.get("type") != "dense":
        return config
    if last.get("activation", "softmax") != "softmax":
        return config
    out = copy.deepcopy(config)
    out["layers"][-1]["units"] = info.num_classes
    return out


def editor_step(
    config: dict[str, Any],
    trigger: Any,
    clicked: Any,
    add_type: str | None,
    param_ids: list[dict[str, Any]],
    param_values: list[Any],
    field_ids: list[dict[str, Any]],
    field_vals: list[Any],
) -> tuple[dict[str, Any], bool, bool]:
    """One editor event → (new config, re-render the layer rows?, rewrite the form fields?).

    The inputs' current values are merged first so that an action never loses an edit in progress.
    `trigger` is the id of what fired (Dash's ctx.triggered_id) and `clicked` its new value: a
    freshly rendered button fires with None, which is not a click.
    """
    before = (config or {}).get("dataset")
    config = set_fields(
        set_layer_params(config or default_config(), param_ids, param_values), field_ids, field_vals
    )
    if config.get("dataset") != before:
        return follow_dataset(config), True, False
    if trigger == "new-add" and clicked:
        return add_layer(config, add_type or "conv2d"), True, False
    if isinstance(trigger, dict) and clicked:
        if trigger.get("type") == "new-layer-action":
            i, action = trigger.get("index", -1), trigger.get("action")
            if action == "remove":
                return remove_layer(config, i), True, False
            if action in ("up", "down"):
                return move_layer(config, i, -1 if action == "up" else 1), True, False
        if trigger.get("type") == "new-preset" and trigger.get("name") in PRESETS:
            return apply_preset(config, trigger["name"]), True, True
    return config, False, False
