"""The sweep benchmark's two references, as plain Keras scripts (benchmarks/bench_sweep.py).

`run` trains one config the way the teaching notebook does: inputs as `x / 255.0` (float64) with
a channel axis, a Sequential model of the config's layers, adam, `fit(batch_size=32,
validation_split=0.1)` with Keras' default verbosity, then `evaluate`. The benchmark starts it
once per config, each in its own `python` process, in sequence: what a student does.

`limit` measures the machine's compute ceiling for each config: plain Keras on float32 inputs
prepared once, timed over one epoch of up to 20,000 images after a warm-up, at batch 1,024 and at
batch 32 with 64 steps per call; the faster of the two is the model's rate (on an AVX2-only CPU
a batch of 1,024 was the slower: its activations no longer fit the caches). It prints each
model's images/s; images × epochs / that rate is the least time the model's training takes here.

    python -m benchmarks.notebook_sweep run --dataset mnist-sample --config '{"epochs": 3, ...}'
    python -m benchmarks.notebook_sweep limit --dataset fashion_mnist --configs configs.json

Each prints one JSON object on its last line of stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from shared.datasets import load_raw  # noqa: E402

LIMIT_BATCHES = (1024, 32)
LIMIT_STEPS_PER_CALL = 64
LIMIT_IMAGES = 20_000


def layer(spec: dict[str, Any]) -> keras.layers.Layer:
    """One layer of a CNN Lens config as the Keras layer a notebook would write."""
    kind = spec["type"]
    if kind == "conv2d":
        return keras.layers.Conv2D(
            spec["filters"],
            spec["kernel_size"],
            strides=spec.get("strides", 1),
            padding=spec.get("padding", "valid"),
            activation=spec.get("activation", "relu"),
        )
    if kind == "maxpool2d":
        return keras.layers.MaxPooling2D(spec.get("pool_size", 2))
    if kind == "avgpool2d":
        return keras.layers.AveragePooling2D(spec.get("pool_size", 2))
    if kind == "dropout":
        return keras.layers.Dropout(spec["rate"])
    if kind == "flatten":
        return keras.layers.Flatten()
    if kind == "dense":
        return keras.layers.Dense(spec["units"], activation=spec.get("activation", "relu"))
    raise ValueError(f"the sweep's notebook script has no {kind!r} layer")


def model_of(config: dict[str, Any], shape: tuple[int, ...]) -> keras.Model:
    model = keras.Sequential([keras.Input(shape=shape), *(layer(s) for s in config["layers"])])
    model.compile(
        optimizer=keras.optimizers.Adam(config.get("learning_rate", 0.001)),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def run(dataset: str, config: dict[str, Any]) -> dict[str, Any]:
    keras.utils.set_random_seed(config.get("seed", 42))
    x_train, y_train, x_test, y_test = load_raw(dataset)
    if config.get("train_limit"):
        x_train, y_train = x_train[: config["train_limit"]], y_train[: config["train_limit"]]
    x_train = np.expand_dims(x_train / 255.0, -1)  # the notebook's float64 inputs
    x_test = np.expand_dims(x_test / 255.0, -1)
    model = model_of(config, x_train.shape[1:])
    epochs = int(config.get("epochs", 3))
    real_stdout, sys.stdout = sys.stdout, sys.stderr  # Keras' progress bar; stdout is the JSON
    try:
        started = time.perf_counter()
        model.fit(x_train, y_train, batch_size=32, epochs=epochs, validation_split=0.1)
        fit_seconds = time.perf_counter() - started
        _loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    finally:
        sys.stdout = real_stdout
    return {
        "train_images": int(len(x_train) * 0.9),
        "epochs": epochs,
        "fit_seconds": round(fit_seconds, 3),
        "test_accuracy": float(accuracy),
    }


def _rate(config: dict[str, Any], x: np.ndarray, y: np.ndarray, batch: int) -> float:
    """Images/s of one epoch of plain Keras on prepared float32 inputs, after a warm-up."""
    keras.utils.set_random_seed(config.get("seed", 42))
    model = model_of(config, x.shape[1:])
    model.compile(
        optimizer=keras.optimizers.Adam(config.get("learning_rate", 0.001)),
        loss="sparse_categorical_crossentropy",
        steps_per_execution=LIMIT_STEPS_PER_CALL,
    )
    warm = min(len(x), max(4 * batch, LIMIT_STEPS_PER_CALL * batch))
    model.fit(x[:warm], y[:warm], batch_size=batch, epochs=1, verbose=0)
    steps = _StepClock()
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0, callbacks=[steps])
    keras.backend.clear_session()
    return len(x) / steps.seconds


class _StepClock(keras.callbacks.Callback):
    """Seconds from the start of the epoch's first call of batches to the end of its last: the
    arithmetic alone, without making and destroying the epoch's input iterator around it (with
    tf.data's autotuning, which Keras' array adapter leaves on, destroying it could wait up to a
    second or more for the autotuner's thread; see worker/inputs.py)."""

    def __init__(self) -> None:
        super().__init__()
        self.first: float | None = None
        self.last = 0.0

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        if self.first is None:
            self.first = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.last = time.perf_counter()

    @property
    def seconds(self) -> float:
        assert self.first is not None, "the epoch ran no batch"
        return self.last - self.first


def limit(dataset: str, configs: list[dict[str, Any]]) -> dict[str, Any]:
    x_train, y_train, _x, _y = load_raw(dataset)
    x = np.expand_dims(x_train[:LIMIT_IMAGES].astype(np.float32) / 255.0, -1)
    y = y_train[:LIMIT_IMAGES].astype(np.int32)
    by_batch = {
        batch: [round(_rate(c, x, y, batch), 1) for c in configs] for batch in LIMIT_BATCHES
    }
    best = [max(rates) for rates in zip(*by_batch.values(), strict=True)]
    return {
        "images": int(len(x)),
        "images_per_second": best,
        "by_batch": {str(batch): rates for batch, rates in by_batch.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("run", "limit"))
    parser.add_argument("--dataset", default="mnist-sample")
    parser.add_argument("--config", help="run: one config as JSON (full, as CNN Lens stores it)")
    parser.add_argument("--configs", help="limit: a file holding a JSON list of configs")
    args = parser.parse_args(argv)
    if args.mode == "run":
        result = run(args.dataset, json.loads(args.config))
    else:
        with open(args.configs) as fh:
            result = limit(args.dataset, json.load(fh))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
