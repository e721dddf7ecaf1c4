"""The layers a run config may list: one pydantic model per Keras layer, with its parameters and
their bounds, and the notebook's default stack. shared/config.py validates a whole config of them."""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

# Keras' own names for these functions (keras.activations); "swish" is Keras' alias of "silu".
Activation = Literal[
    "relu",
    "sigmoid",
    "tanh",
    "elu",
    "selu",
    "gelu",
    "leaky_relu",
    "swish",
    "linear",
    "softmax",
]


class _Layer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Conv2D(_Layer):
    type: Literal["conv2d"] = "conv2d"
    filters: int = Field(16, ge=1, le=512)
    kernel_size: int = Field(3, ge=1, le=11)
    activation: Activation = "relu"
    padding: Literal["valid", "same"] = "valid"
    strides: int = Field(1, ge=1, le=4)


class MaxPool2D(_Layer):
    type: Literal["maxpool2d"] = "maxpool2d"
    pool_size: int = Field(2, ge=1, le=8)


class AvgPool2D(_Layer):
    type: Literal["avgpool2d"] = "avgpool2d"
    pool_size: int = Field(2, ge=1, le=8)


class Dropout(_Layer):
    type: Literal["dropout"] = "dropout"
    rate: float = Field(0.25, ge=0.0, lt=1.0)


class Flatten(_Layer):
    type: Literal["flatten"] = "flatten"


class Dense(_Layer):
    type: Literal["dense"] = "dense"
    units: int = Field(10, ge=1, le=4096)
    activation: Activation = "softmax"


class BatchNorm(_Layer):
    """Keras' BatchNormalization over the last axis (the channels): 4 values per channel, of
    which gamma and beta are trained and the moving mean and variance are not."""

    type: Literal["batchnorm"] = "batchnorm"
    momentum: float = Field(0.99, ge=0.0, lt=1.0)
    epsilon: float = Field(0.001, gt=0.0, le=1.0)


class GlobalAvgPool2D(_Layer):
    type: Literal["globalavgpool2d"] = "globalavgpool2d"


class GlobalMaxPool2D(_Layer):
    type: Literal["globalmaxpool2d"] = "globalmaxpool2d"


class ActivationLayer(_Layer):
    """An activation on its own (Keras' Activation layer), e.g. after a batchnorm."""

    type: Literal["activation"] = "activation"
    activation: Activation = "relu"


LayerSpec = Annotated[
    Conv2D
    | MaxPool2D
    | AvgPool2D
    | Dropout
    | Flatten
    | Dense
    | BatchNorm
    | GlobalAvgPool2D
    | GlobalMaxPool2D
    | ActivationLayer,
    Field(discriminator="type"),
]
LayerType = Literal[
    "conv2d",
    "maxpool2d",
    "avgpool2d",
    "dropout",
    "flatten",
    "dense",
    "batchnorm",
    "globalavgpool2d",
    "globalmaxpool2d",
    "activation",
]
LAYER_TYPES: tuple[str, ...] = get_args(LayerType)


def default_layers() -> list[Any]:
    return [
        Conv2D(filters=16, kernel_size=3, activation="relu"),
        MaxPool2D(pool_size=2),
        Conv2D(filters=32, kernel_size=3, activation="relu"),
        Flatten(),
        Dense(units=10, activation="softmax"),
    ]
