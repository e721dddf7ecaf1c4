"""The run config: what a user may ask for, validated before anything is queued.

`RunConfig` is a pydantic model with a default for every field (the teaching notebook's model on
`mnist-sample`), so `{}` is a valid config. `check_config` adds the checks that need the whole
model: every layer's output shape and the parameter count are computed here, without TensorFlow,
and whatever would fail later in Keras is reported now, per field.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shared.datasets import DATASETS, describe, input_shape, is_dataset_id
from shared.layer_specs import (  # re-exported: the layers are part of the config's vocabulary
    LAYER_TYPES,
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
    LayerType,
    MaxPool2D,
    default_layers,
)
from shared.validation_messages import field_path, friendly

__all__ = [
    "ACTIVATION_BUDGET",
    "Activation",
    "ActivationLayer",
    "AvgPool2D",
    "BATCH_ACTIVATION_BUDGET",
    "BatchNorm",
    "CONTROL_CHARS",
    "ConfigError",
    "Conv2D",
    "Dense",
    "Dropout",
    "Flatten",
    "GlobalAvgPool2D",
    "GlobalMaxPool2D",
    "INPUT_SHAPE",
    "LAYER_TYPES",
    "LayerInfo",
    "LayerSpec",
    "LayerType",
    "MAX_EPOCHS",
    "MAX_NAME",
    "MaxPool2D",
    "NAME_PATTERN",
    "PARAM_BUDGET",
    "RunConfig",
    "activation_values",
    "architecture_summary",
    "check_config",
    "default_layers",
    "field_path",
    "friendly",
    "infer_layers",
    "parse_config",
    "training_batch",
]

INPUT_SHAPE = (28, 28, 1)
MAX_NAME = 120  # characters of a run's name (also the width of its SQL column)
MAX_EPOCHS = 200
# Names are shown everywhere and stored in SQL (PostgreSQL refuses NUL): no control characters.
CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
NAME_PATTERN = f"^[^{CONTROL_CHARS.pattern[1:-1]}]*$"  # the same rule, as a JSON Schema pattern
PARAM_BUDGET = 5_000_000
# Activation values a model may produce for one image, summed over its layers. Extraction holds
# all of them for an input (float32: 4 MB at this budget), the probe set stores them, and analysis
# jobs hold them for a batch of images (shared/comparison.py sizes that batch from this sum).
ACTIVATION_BUDGET = 1_000_000
# The same sum times the training batch: the forward pass Keras keeps for the backward pass
# (float32: 400 MB at this budget; the default model fits at the largest batch, 4,096).
BATCH_ACTIVATION_BUDGET = 100_000_000


class RunConfig(BaseModel):
    """A run config. Every field has a default (the teaching notebook's model on mnist-sample),
    so {} is valid. Beyond these field rules, the whole model is checked: every feature map at
    least 1×1, at least one conv2d layer, a last layer of dense softmax with one unit per class,
    and a parameter budget."""

    model_config = ConfigDict(extra="forbid")

    # NAME_PATTERN is checked by the validator below, which says so in a sentence of its own.
    name: str = Field("", max_length=MAX_NAME, json_schema_extra={"pattern": NAME_PATTERN})
    # A built-in dataset's name, or an imported dataset's id (32 hex digits, see shared/datasets.py).
    dataset: str = Field(
        "mnist-sample",
        max_length=32,
        json_schema_extra={"pattern": f"^({'|'.join(DATASETS)}|[0-9a-f]{{32}})$"},
    )
    layers: list[LayerSpec] = Field(default_factory=default_layers, min_length=1, max_length=24)
    optimizer: Literal["adam", "sgd", "rmsprop", "adagrad", "nadam"] = "adam"
    learning_rate: float = Field(0.001, gt=0.0, le=1.0)
    epochs: int = Field(3, ge=1, le=MAX_EPOCHS)
    batch_size: int = Field(32, ge=1, le=4096)
    validation_split: float = Field(0.1, ge=0.0, le=0.5)
    seed: int = Field(42, ge=0, le=2**31 - 1)
    train_limit: int | None = Field(None, ge=10, le=10_000_000)

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, value: str) -> str:
        if value not in DATASETS and not is_dataset_id(value):
            names = ", ".join(f"'{name}'" for name in DATASETS)
            raise ValueError(f"must be one of {names}, or the id of an imported dataset")
        return value

    @field_validator("name")
    @classmethod
    def _printable_name(cls, value: str) -> str:
        if CONTROL_CHARS.search(value):
            raise ValueError("the name may not contain control characters such as tabs or newlines")
        return value.strip()

    @model_validator(mode="after")
    def _default_layers_follow_the_dataset(self) -> RunConfig:
        """Without `layers`, the notebook's model ends in one unit per class of the dataset, so
        `{"dataset": "shapes-rgb"}` is a valid config as `{}` is (layers that are given are kept
        as they are, and checked)."""
        info = describe(self.dataset) if "layers" not in self.model_fields_set else None
        last = self.layers[-1]
        if info is not None and isinstance(last, Dense) and last.units != info.num_classes:
            self.layers[-1] = last.model_copy(update={"units": info.num_classes})
        return self


@dataclass(frozen=True)
class LayerInfo:
    """One layer as the model will have it: its Keras name, output shape and parameter count."""

    index: int
    name: str
    type: LayerType
    output_shape: tuple[int, ...]
    params: int
    kernel_shape: tuple[int, ...] | None = None  # conv2d only: (kh, kw, cin, cout)

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "name": self.name,
            "type": self.type,
            "output_shape": list(self.output_shape),
            "params": self.params,
            "kernel_shape": list(self.kernel_shape) if self.kernel_shape else None,
        }


class ConfigError(Exception):
    """Raised with a list of per-field messages: [{"field": ..., "message": ...}]."""

    def __init__(self, errors: list[dict[str, str]]):
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))
        self.errors = errors


def _spatial(n: int, k: int, stride: int, padding: str) -> int:
    if padding == "same":
        return math.ceil(n / stride)
    return (n - k) // stride + 1 if n >= k else 0


def infer_layers(config: RunConfig) -> tuple[list[LayerInfo], list[dict[str, str]]]:
    """Walk the layers computing shapes and parameters; return them and any structural errors."""
    errors: list[dict[str, str]] = []
    infos: list[LayerInfo] = []
    shape: tuple[int, ...] = input_shape(config.dataset)
    counters: dict[str, int] = {}
    for i, layer in enumerate(config.layers):
        counters[layer.type] = counters.get(layer.type, 0) + 1
        name = f"{layer.type}_{counters[layer.type]}"
        field = f"layers.{i}"
        params = 0
        kernel_shape = None
        image_layers = Conv2D | MaxPool2D | AvgPool2D | GlobalAvgPool2D | GlobalMaxPool2D
        if isinstance(layer, image_layers) and len(shape) != 3:
            errors.append(
                {
                    "field": field,
                    "message": f"a {layer.type} layer needs an image-shaped input, "
                    "but it comes after flatten, global pooling or dense; move it before them",
                }
            )
            return infos, errors
        if isinstance(layer, Conv2D):
            h, w, cin = shape
            oh = _spatial(h, layer.kernel_size, layer.strides, layer.padding)
            ow = _spatial(w, layer.kernel_size, layer.strides, layer.padding)
            if oh < 1 or ow < 1:
                errors.append(
                    {
                        "field": f"{field}.kernel_size",
                        "message": f"a {layer.kernel_size}×{layer.kernel_size} kernel does not fit the "
                        f"{h}×{w} input it gets here; use a smaller kernel, padding 'same', "
                        "or fewer pooling layers before it",
                    }
                )
                return infos, errors
            kernel_shape = (layer.kernel_size, layer.kernel_size, cin, layer.filters)
            params = layer.kernel_size * layer.kernel_size * cin * layer.filters + layer.filters
            shape = (oh, ow, layer.filters)
        elif isinstance(layer, MaxPool2D | AvgPool2D):
            h, w, c = shape
            if h < layer.pool_size or w < layer.pool_size:
                errors.append(
                    {
                        "field": f"{field}.pool_size",
                        "message": f"pooling {layer.pool_size}×{layer.pool_size} needs at least that "
                        f"much input, but the feature map here is only {h}×{w}",
                    }
                )
                return infos, errors
            shape = (h // layer.pool_size, w // layer.pool_size, c)
        elif isinstance(layer, GlobalAvgPool2D | GlobalMaxPool2D):
            shape = (shape[2],)  # one value per channel
        elif isinstance(layer, BatchNorm):
            params = 4 * shape[-1]  # gamma, beta (trained), moving mean and variance (not)
        elif isinstance(layer, Flatten):
            shape = (math.prod(shape),)
        elif isinstance(layer, Dense):
            if len(shape) != 1:
                errors.append(
                    {
                        "field": field,
                        "message": "a dense layer needs a flat input: add a flatten layer before it",
                    }
                )
                return infos, errors
            params = shape[0] * layer.units + layer.units
            shape = (layer.units,)
        infos.append(LayerInfo(i, name, layer.type, shape, params, kernel_shape))
    return infos, errors


def activation_values(infos: list[LayerInfo]) -> int:
    """Activation values of one image through every layer (what extraction and probes hold)."""
    return sum(math.prod(info.output_shape) for info in infos)


def training_batch(config: RunConfig) -> int:
    """The largest batch training can see: the batch size, or fewer when train_limit is smaller."""
    if config.train_limit is None:
        return config.batch_size
    return min(config.batch_size, config.train_limit)


def _activation_error(
    infos: list[LayerInfo], per_image: int, batch: int, budget: int, batch_budget: int
) -> dict[str, str] | None:
    """The first layer at which the running sum of activations crosses a budget, as an error."""
    running = 0
    for info in infos:
        running += math.prod(info.output_shape)
        if running > budget:
            return {
                "field": f"layers.{info.index}",
                "message": f"the activations of one image reach {running:,} values at "
                f"{info.name} (layer {info.index + 1}; {per_image:,} in all), over the budget "
                f"of {budget:,}; use fewer filters, padding 'valid', strides or pooling earlier, "
                "or fewer layers",
            }
        if running * batch > batch_budget:
            return {
                "field": f"layers.{info.index}",
                "message": f"a training batch of {batch} images reaches {running * batch:,} "
                f"activation values at {info.name} (layer {info.index + 1}), over the budget of "
                f"{batch_budget:,}; use a smaller batch_size, or fewer filters or layers",
            }
    return None


def check_config(
    config: RunConfig,
    param_budget: int = PARAM_BUDGET,
    activation_budget: int = ACTIVATION_BUDGET,
    batch_activation_budget: int = BATCH_ACTIVATION_BUDGET,
) -> list[LayerInfo]:
    """Full validation beyond field ranges. Returns the layer table or raises ConfigError."""
    infos, errors = infer_layers(config)
    if not errors:
        if not any(layer.type == "conv2d" for layer in config.layers):
            errors.append(
                {
                    "field": "layers",
                    "message": "the model has no conv2d layer; CNN Lens needs at least one to show "
                    "filters and feature maps",
                }
            )
        dataset = describe(config.dataset)
        if dataset is None:
            errors.append(
                {
                    "field": "dataset",
                    "message": f"there is no ready imported dataset with id '{config.dataset}'",
                }
            )
        n_classes = dataset.num_classes if dataset else 10
        last = config.layers[-1]
        if not (
            isinstance(last, Dense) and last.units == n_classes and last.activation == "softmax"
        ):
            errors.append(
                {
                    "field": f"layers.{len(config.layers) - 1}",
                    "message": f"the last layer must be dense with {n_classes} units and softmax "
                    f"activation, one output per class of {config.dataset}",
                }
            )
        total = sum(info.params for info in infos)
        if total > param_budget:
            errors.append(
                {
                    "field": "layers",
                    "message": f"the model has {total:,} parameters, over the budget of "
                    f"{param_budget:,}; use fewer filters or units, or pool before flatten",
                }
            )
        too_big = _activation_error(
            infos,
            activation_values(infos),
            training_batch(config),
            activation_budget,
            batch_activation_budget,
        )
        if too_big:
            errors.append(too_big)
    if errors:
        raise ConfigError(errors)
    return infos


def parse_config(
    data: Any,
    param_budget: int = PARAM_BUDGET,
    activation_budget: int = ACTIVATION_BUDGET,
    batch_activation_budget: int = BATCH_ACTIVATION_BUDGET,
) -> tuple[RunConfig, list[LayerInfo]]:
    """Validate raw JSON data into a RunConfig and its layer table, or raise ConfigError."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([{"field": "config", "message": "the run config must be a JSON object"}])
    try:
        config = RunConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(
            [
                {"field": field_path(e["loc"]), "message": friendly(dict(e))}
                for e in exc.errors(include_url=False)
            ]
        ) from None
    return config, check_config(config, param_budget, activation_budget, batch_activation_budget)


def architecture_summary(config: RunConfig) -> str:
    """A one-line description such as `C16k3 → MP2 → C32k3 → F → D10`."""
    parts = []
    for layer in config.layers:
        if isinstance(layer, Conv2D):
            extra = "" if layer.activation == "relu" else f" {layer.activation}"
            parts.append(f"C{layer.filters}k{layer.kernel_size}{extra}")
        elif isinstance(layer, MaxPool2D):
            parts.append(f"MP{layer.pool_size}")
        elif isinstance(layer, AvgPool2D):
            parts.append(f"AP{layer.pool_size}")
        elif isinstance(layer, Dropout):
            parts.append(f"DO{layer.rate:g}")
        elif isinstance(layer, Flatten):
            parts.append("F")
        elif isinstance(layer, Dense):
            parts.append(f"D{layer.units}")
        elif isinstance(layer, BatchNorm):
            parts.append("BN")
        elif isinstance(layer, GlobalAvgPool2D):
            parts.append("GAP")
        elif isinstance(layer, GlobalMaxPool2D):
            parts.append("GMP")
        elif isinstance(layer, ActivationLayer):
            parts.append(f"A {layer.activation}")
    return " → ".join(parts)
