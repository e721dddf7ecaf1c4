"""Sweeps: one parameter of a base config over several values, as a group of runs. Pure.

`expand` turns (base config, parameter, values) into one named, validated config per value; the
sweep page previews them and submits the lot. The runs share the name prefix "sweep <param>", so
the runs list finds them by name, and the compare page shows up to four at once.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, get_args

from dashboard.service.variants import normalized
from dashboard.ui.i18n import t
from dashboard.ui.layer_editor import ACTIVATIONS
from shared.config import ConfigError, RunConfig, parse_config

MAX_RUNS = 8  # per sweep: each run is a training on a small shared machine
COMPARE_AT_ONCE = 4
NAME_LIMIT = 120
OPTIMIZERS = get_args(RunConfig.model_fields["optimizer"].annotation)


@dataclass(frozen=True)
class Param:
    label: str
    kind: type  # int, float or str
    per_layer: bool = False  # the value goes to one conv layer, chosen separately
    choices: tuple[str, ...] = ()
    example: str = ""


PARAMS: dict[str, Param] = {
    "epochs": Param("epochs", int, example="1, 3, 6"),
    "learning_rate": Param("learning rate", float, example="0.0001, 0.001, 0.01"),
    "batch_size": Param("batch size", int, example="16, 32, 128"),
    "filters": Param("filters", int, per_layer=True, example="8, 16, 32"),
    "kernel_size": Param("kernel size", int, per_layer=True, example="3, 5, 7"),
    "activation": Param(
        "conv activation",
        str,
        choices=tuple(a for a in ACTIVATIONS if a != "softmax"),
        example="relu, tanh, sigmoid",
    ),
    "optimizer": Param("optimizer", str, choices=OPTIMIZERS, example="adam, sgd, rmsprop"),
    "seed": Param("seed", int, example="1, 2, 3"),
}


@dataclass
class Planned:
    """One run of the sweep: its value, its config (None when invalid) and what is wrong."""

    value: Any
    name: str
    config: dict[str, Any] | None
    error: str | None = None
    params: int | None = None


def parse_values(param: str, text: str | None) -> tuple[list[Any], str | None]:
    """'1, 3, 6' → [1, 3, 6] for the parameter's type; (values, the first problem or None)."""
    spec = PARAMS[param]
    values: list[Any] = []
    for raw in (text or "").replace(";", ",").split(","):
        item = raw.strip()
        if not item:
            continue
        try:
            value: Any = spec.kind(float(item)) if spec.kind is int else spec.kind(item)
            if spec.kind is int and float(item) != int(float(item)):
                raise ValueError
        except ValueError:
            return values, f"“{item}” is not a {'whole ' if spec.kind is int else ''}number"
        if spec.choices and value not in spec.choices:
            return values, f"“{item}” is not one of: {', '.join(spec.choices)}"
        if value not in values:
            values.append(value)
    if not values:
        return values, f"give at least one value, e.g. {spec.example}"
    if len(values) > MAX_RUNS:
        return values[:MAX_RUNS], f"at most {MAX_RUNS} values per sweep"
    return values, None


def conv_layers(config: dict[str, Any]) -> list[tuple[int, str]]:
    """(index in the layer list, label) of each conv layer: what a per-layer sweep can target."""
    out = []
    for n, (i, layer) in enumerate(
        (
            (i, layer)
            for i, layer in enumerate(config.get("layers") or [])
            if layer["type"] == "conv2d"
        ),
        start=1,
    ):
        k = layer.get("kernel_size")
        described = t("describe.conv_short", n=layer.get("filters"), k=k)
        out.append((i, f"conv2d_{n} · {described}"))
    return out


def apply(config: dict[str, Any], param: str, value: Any, layer: int | None = None) -> dict:
    """The config with the parameter set to `value` (nothing else changes but the name)."""
    out = copy.deepcopy(config)
    if param == "activation":
        for item in out["layers"]:
            if item["type"] == "conv2d":
                item["activation"] = value
    elif PARAMS[param].per_layer:
        if layer is None or not 0 <= layer < len(out["layers"]):
            raise ValueError("choose the conv layer to change")
        out["layers"][layer][param] = value
    else:
        out[param] = value
    return out


def sweep_prefix(param: str, layer_label: str | None = None) -> str:
    label = PARAMS[param].label
    return f"sweep {label}" + (f" of {layer_label.split(' · ')[0]}" if layer_label else "")


def run_name(prefix: str, value: Any, base_name: str) -> str:
    name = f"{prefix} = {value}"
    base = (base_name or "").strip()
    return (f"{name} · {base}" if base else name)[:NAME_LIMIT]


def expand(
    base: dict[str, Any],
    param: str,
    values: list[Any],
    layer: int | None = None,
    validate: Callable[[dict[str, Any]], Any] = parse_config,
) -> list[Planned]:
    """One planned run per value, each validated by `validate` (raising ConfigError)."""
    base = normalized(base)
    layer_label = dict(conv_layers(base)).get(layer) if layer is not None else None
    prefix = sweep_prefix(param, layer_label if PARAMS[param].per_layer else None)
    out = []
    for value in values:
        name = run_name(prefix, value, base["name"])
        try:
            config = apply(base, param, value, layer) | {"name": name}
        except ValueError as exc:
            out.append(Planned(value, name, None, str(exc)))
            continue
        try:
            result = validate(config)
        except ConfigError as exc:
            message = "; ".join(f"{e['field']}: {e['message']}" for e in exc.errors)
            out.append(Planned(value, name, None, message))
            continue
        layers = result[1] if isinstance(result, tuple) and len(result) == 2 else []
        out.append(Planned(value, name, config, None, sum(i.params for i in layers) or None))
    return out


def compare_href(run_ids: list[str]) -> str:
    return "/compare?runs=" + ",".join(run_ids[:COMPARE_AT_ONCE])
