"""Keras models built from a validated RunConfig, with the layer names the shared schema computes.

The dashboard reads arrays by layer name (`conv2d_1`, `maxpool2d_1`, …) from the table that
`shared.config.infer_layers` produces without TensorFlow; naming each Keras layer from that same
table is what makes the stored files line up with it.
"""

from __future__ import annotations

import math

import keras
import numpy as np

from shared.config import (
    INPUT_SHAPE,
    ActivationLayer,
    AvgPool2D,
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAvgPool2D,
    GlobalMaxPool2D,
    LayerInfo,
    MaxPool2D,
    RunConfig,
    infer_layers,
)
from shared.datasets import input_shape

OPTIMIZERS = {
    "adam": keras.optimizers.Adam,
    "sgd": keras.optimizers.SGD,
    "rmsprop": keras.optimizers.RMSprop,
    "adagrad": keras.optimizers.Adagrad,
    "nadam": keras.optimizers.Nadam,
}

# Multiply-adds per second one training step sustains on two cores, set low on purpose: it only
# sizes steps_per_execution, and guessing too slow merely costs a little speed, while guessing too
# fast would leave the progress bar still for seconds.
CPU_MACS_PER_SECOND = 1e10
# Measured on full Fashion-MNIST, batch 32, the default model, two cores: 1 step per call ~5,300
# images/s; 64 (with the tf.data feed) beat 16 in five alternating 3-epoch pairs out of five, best
# 13,260 against 11,127 images/s, and 64 steps take ~0.15 s there, so progress stays well under a
# second apart on a machine several times busier.
MAX_STEPS_PER_EXECUTION = 64
# Aim for a progress callback about every half second by the (pessimistic) estimate below; real
# calls come about three times as often.
SECONDS_BETWEEN_CALLBACKS = 0.5


class ModelMismatch(RuntimeError):
    """Keras computed a different shape than the shared schema: the stored files would not fit."""


def layer_infos(config: RunConfig) -> list[LayerInfo]:
    infos, errors = infer_layers(config)
    if errors:
        raise ValueError("; ".join(e["message"] for e in errors))
    return infos


def _keras_layer(spec, name: str, seed: int) -> keras.layers.Layer:
    if isinstance(spec, Conv2D):
        return keras.layers.Conv2D(
            spec.filters,
            spec.kernel_size,
            strides=spec.strides,
            padding=spec.padding,
            activation=spec.activation,
            name=name,
        )
    if isinstance(spec, MaxPool2D):
        return keras.layers.MaxPooling2D(spec.pool_size, name=name)
    if isinstance(spec, AvgPool2D):
        return keras.layers.AveragePooling2D(spec.pool_size, name=name)
    if isinstance(spec, Dropout):
        return keras.layers.Dropout(spec.rate, seed=seed, name=name)
    if isinstance(spec, Flatten):
        return keras.layers.Flatten(name=name)
    if isinstance(spec, Dense):
        return keras.layers.Dense(spec.units, activation=spec.activation, name=name)
    if isinstance(spec, BatchNorm):
        return keras.layers.BatchNormalization(
            momentum=spec.momentum, epsilon=spec.epsilon, name=name
        )
    if isinstance(spec, GlobalAvgPool2D):
        return keras.layers.GlobalAveragePooling2D(name=name)
    if isinstance(spec, GlobalMaxPool2D):
        return keras.layers.GlobalMaxPooling2D(name=name)
    if isinstance(spec, ActivationLayer):
        return keras.layers.Activation(spec.activation, name=name)
    raise ValueError(f"unknown layer type {getattr(spec, 'type', spec)!r}")


def build_model(config: RunConfig, infos: list[LayerInfo] | None = None) -> keras.Model:
    """An uncompiled functional model whose layers carry the schema's names and shapes."""
    infos = infos or layer_infos(config)
    inputs = keras.Input(shape=input_shape(config.dataset), name="image")
    x = inputs
    for spec, info in zip(config.layers, infos, strict=True):
        x = _keras_layer(spec, info.name, config.seed + info.index)(x)
    model = keras.Model(inputs, x, name="cnnlens")
    for info in infos:
        shape = tuple(model.get_layer(info.name).output.shape[1:])
        if shape != info.output_shape:
            raise ModelMismatch(
                f"layer {info.name}: Keras gives {shape}, the schema says {info.output_shape}"
            )
    return model


def macs_per_image(infos: list[LayerInfo]) -> int:
    """Forward multiply-adds for one image: conv and dense layers dominate everything else."""
    total = 0
    for info in infos:
        if info.type == "conv2d" and info.kernel_shape:
            kh, kw, cin, cout = info.kernel_shape
            total += math.prod(info.output_shape[:2]) * kh * kw * cin * cout
        elif info.type == "dense":
            total += info.params
    return total


def steps_per_execution(infos: list[LayerInfo], batch_size: int) -> int:
    """How many batches one compiled call runs: more is faster, but callbacks fire only between
    calls, so keep each call near SECONDS_BETWEEN_CALLBACKS for a lively progress bar."""
    step_seconds = 3 * macs_per_image(infos) * batch_size / CPU_MACS_PER_SECOND  # fwd + bwd
    fitting = int(SECONDS_BETWEEN_CALLBACKS / max(step_seconds, 1e-9))
    steps = max(1, min(MAX_STEPS_PER_EXECUTION, fitting))
    return 1 << (steps.bit_length() - 1)  # a power of two: predictable, and as fast as any


def compile_model(model: keras.Model, config: RunConfig, steps: int = 1) -> keras.Model:
    optimizer = OPTIMIZERS[config.optimizer](learning_rate=config.learning_rate)
    model.compile(
        optimizer=optimizer,
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=steps,
    )
    return model


def layer_outputs_model(model: keras.Model) -> keras.Model:
    """The same weights, answering every layer's output in one forward pass (model order)."""
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    # model.input (one tensor, not a list) so callers can pass a plain batch without a warning.
    return keras.Model(model.input, [layer.output for layer in layers], name="cnnlens_lens")


def predict_eagerly(model: keras.Model, x: np.ndarray, batch_size: int) -> np.ndarray:
    """`model.predict(x)`'s numbers without its tf.function: the model called eagerly, a batch at
    a time. A run scores its test set once, and tracing a predict function for a model that is
    new to the process cost 0.5-1.4 s of CPU here against 0.2-0.35 s for the eager calls over
    2,000 images; in a sweep every run is such a model. Identical results (tests/test_worker.py).
    """
    if not len(x):
        return np.zeros((0, *model.output_shape[1:]), dtype=np.float32)
    parts = [
        np.asarray(model(x[start : start + batch_size], training=False))
        for start in range(0, len(x), batch_size)
    ]
    return np.concatenate(parts)


def output_layer_names(model: keras.Model) -> list[str]:
    return [layer.name for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]


def warm_up() -> None:
    """Train one tiny step and run one forward pass, so TensorFlow's runtime, its CPU kernels and
    Keras' fit/predict code are initialised before the first task arrives rather than during it."""
    config = RunConfig.model_validate({"epochs": 1, "batch_size": 8})
    model = compile_model(build_model(config), config)
    images = np.zeros((16, *INPUT_SHAPE), dtype=np.float32)
    labels = np.zeros((16,), dtype=np.int32)
    model.fit(images, labels, batch_size=8, epochs=1, validation_split=0.5, verbose=0)
    layer_outputs_model(model)(images[:1], training=False)
