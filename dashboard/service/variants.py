"""The notebook's exercises as one-click variants of a run: its config with one thing changed.

`variant(config, kind)` is pure: a config dict in, a new config dict out, valid for
shared.config.parse_config and named "<original> · <variant label>". It raises VariantError (with
a sentence a student understands) when the change does not apply, e.g. doubling 512 filters.
"""

from __future__ import annotations

import copy
from typing import Any

from shared.config import MAX_EPOCHS, MAX_NAME, ConfigError, RunConfig, parse_config

MAX_FILTERS = 512
NAME_LIMIT = MAX_NAME

# kind → (button label, what it changes, for the button's tooltip)
KINDS: dict[str, tuple[str, str]] = {
    "more_conv": (
        "more conv layers",
        "another conv layer (and pooling when it fits) before flatten",
    ),
    "double_filters": ("double the filters", "every conv layer with twice as many filters"),
    "kernel_5x5": ("5×5 kernels", "every conv layer with 5×5 kernels instead of its own size"),
    "more_epochs": ("more epochs", "the same model trained for twice as many epochs"),
    "tanh": ("tanh", "tanh instead of the current activation in conv and hidden dense layers"),
    "sigmoid": ("sigmoid", "sigmoid instead of the current activation in conv and hidden dense"),
}


class VariantError(ValueError):
    """This variant cannot be made from this config; the message says why."""


def normalized(config: dict[str, Any] | None) -> dict[str, Any]:
    """The config with every default filled in, as JSON-ready data."""
    return RunConfig.model_validate(config or {}).model_dump(mode="json")


def _convs(layers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [layer for layer in layers if layer.get("type") == "conv2d"]


def _errors(config: dict[str, Any]) -> list[dict[str, str]]:
    try:
        parse_config(config)
    except ConfigError as exc:
        return exc.errors
    return []


def _first_error(config: dict[str, Any]) -> str | None:
    errors = _errors(config)
    return errors[0]["message"] if errors else None


def _more_conv(cfg: dict[str, Any]) -> None:
    layers = cfg["layers"]
    at = next((i for i, layer in enumerate(layers) if layer.get("type") == "flatten"), None)
    if at is None or not _convs(layers):
        raise VariantError("the model needs a conv layer and a flatten layer to add a conv layer")
    last = _convs(layers)[-1]
    conv = {
        "type": "conv2d",
        "filters": min(2 * int(last["filters"]), MAX_FILTERS),
        "kernel_size": 3,
        "activation": last["activation"],
        "padding": "valid",
        "strides": 1,
    }
    for block in ([conv, {"type": "maxpool2d", "pool_size": 2}], [conv | {"padding": "same"}]):
        cfg["layers"] = layers[:at] + copy.deepcopy(block) + layers[at:]
        if not _errors(cfg):
            return
    raise VariantError(f"another conv layer does not fit this model: {_first_error(cfg)}")


def _double_filters(cfg: dict[str, Any]) -> None:
    convs = _convs(cfg["layers"])
    if all(int(c["filters"]) >= MAX_FILTERS for c in convs):
        raise VariantError(f"every conv layer already has the maximum of {MAX_FILTERS} filters")
    for conv in convs:
        conv["filters"] = min(2 * int(conv["filters"]), MAX_FILTERS)


def _layer_index(field: str) -> int | None:
    parts = field.split(".")
    return int(parts[1]) if parts[0] == "layers" and len(parts) > 1 and parts[1].isdigit() else None


def _kernel_5x5(cfg: dict[str, Any]) -> None:
    layers = cfg["layers"]
    if all(int(c["kernel_size"]) == 5 for c in _convs(layers)):
        raise VariantError("every conv layer already has 5×5 kernels")
    for conv in _convs(layers):
        conv["kernel_size"] = 5
    # A bigger kernel shrinks the maps more: where a shape no longer fits, give the conv layer
    # at or before the failing layer 'same' padding, and check again.
    for _ in layers:
        failing = [i for e in _errors(cfg) if (i := _layer_index(e["field"])) is not None]
        if not failing:
            return
        shrinking = [
            i
            for i, layer in enumerate(layers[: failing[0] + 1])
            if layer.get("type") == "conv2d" and layer.get("padding") != "same"
        ]
        if not shrinking:
            return
        layers[shrinking[-1]]["padding"] = "same"


def _more_epochs(cfg: dict[str, Any]) -> None:
    if int(cfg["epochs"]) >= MAX_EPOCHS:
        raise VariantError(f"the run already trains for the maximum of {MAX_EPOCHS} epochs")
    cfg["epochs"] = min(2 * int(cfg["epochs"]), MAX_EPOCHS)


def _activation(cfg: dict[str, Any], name: str) -> None:
    layers = cfg["layers"]
    hidden = [
        layer
        for i, layer in enumerate(layers)
        if layer.get("type") == "conv2d" or (layer.get("type") == "dense" and i < len(layers) - 1)
    ]
    if all(layer["activation"] == name for layer in hidden):
        raise VariantError(f"the conv and hidden dense layers already use {name}")
    for layer in hidden:
        layer["activation"] = name


CHANGES = {
    "more_conv": _more_conv,
    "double_filters": _double_filters,
    "kernel_5x5": _kernel_5x5,
    "more_epochs": _more_epochs,
    "tanh": lambda cfg: _activation(cfg, "tanh"),
    "sigmoid": lambda cfg: _activation(cfg, "sigmoid"),
}


def variant_name(name: str, label: str) -> str:
    suffix = f" · {label}"
    base = (name or "run").strip()[: NAME_LIMIT - len(suffix)].rstrip()
    return base + suffix


def variant(config: dict[str, Any], kind: str) -> dict[str, Any]:
    """`config` with the one change `kind` names; raises VariantError when it cannot apply."""
    if kind not in CHANGES:
        raise VariantError(f"unknown variant {kind!r}; choose one of {', '.join(KINDS)}")
    try:
        cfg = normalized(config)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise VariantError(f"the run's config is not valid: {exc}") from None
    original_name = cfg["name"]
    CHANGES[kind](cfg)
    cfg["name"] = variant_name(original_name, KINDS[kind][0])
    problem = _first_error(cfg)
    if problem:
        raise VariantError(f"the {KINDS[kind][0]} variant is not a valid model: {problem}")
    return cfg


def available(config: dict[str, Any]) -> dict[str, str | None]:
    """kind → None when the variant can be made, else the reason it cannot."""
    out: dict[str, str | None] = {}
    for kind in KINDS:
        try:
            variant(config, kind)
            out[kind] = None
        except VariantError as exc:
            out[kind] = str(exc)
    return out
