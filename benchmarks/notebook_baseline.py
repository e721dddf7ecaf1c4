"""The teaching notebook's training, as a plain script: the baseline of the training benchmark.

Its code is the notebook's, on Fashion-MNIST instead of MNIST: inputs made as `x / 255.0`
(float64) with a channel axis, the Sequential model, adam, `fit(batch_size=32, epochs=3,
validation_split=0.1)` with Keras' default verbosity, then `evaluate` on the test set. Two
additions that change nothing it computes: the data comes from the same Debian files CNN Lens
reads (shared.datasets, numpy only), and the seed is fixed so repeated runs are comparable.

Prints one JSON object: images/s = training images × epochs / wall seconds of `model.fit`
(validation included), per-epoch seconds, and the test accuracy.

    python -m benchmarks.notebook_baseline [--epochs 3] [--train-limit N] [--out result.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from shared.datasets import load_raw  # noqa: E402


class EpochClock(keras.callbacks.Callback):
    """Per-epoch wall time; epoch hooks only, so Keras' batch dispatch is unchanged."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []
        self._start = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train-limit", type=int, default=None)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", help="write the JSON here as well as to stdout")
    args = parser.parse_args()

    keras.utils.set_random_seed(args.seed)
    x_train, y_train, x_test, y_test = load_raw("fashion_mnist")
    if args.train_limit:
        x_train, y_train = x_train[: args.train_limit], y_train[: args.train_limit]

    # The notebook's preprocessing: float64 in [0, 1], then a channel axis.
    x_train = x_train / 255.0
    x_test = x_test / 255.0
    x_train = np.expand_dims(x_train, -1)
    x_test = np.expand_dims(x_test, -1)

    model = keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            keras.layers.Conv2D(16, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])

    clock = EpochClock()
    # Keras' progress bar goes to stdout; keep stdout for the JSON result.
    real_stdout, sys.stdout = sys.stdout, sys.stderr
    try:
        cpu_started = time.process_time()
        started = time.perf_counter()
        model.fit(
            x_train,
            y_train,
            batch_size=32,
            epochs=args.epochs,
            validation_split=0.1,
            callbacks=[clock],
        )
        fit_seconds = time.perf_counter() - started
        cpu_seconds = time.process_time() - cpu_started
        test_loss, test_accuracy = model.evaluate(x_test, y_test, verbose=0)
    finally:
        sys.stdout = real_stdout

    train_images = int(np.floor(len(x_train) * (1.0 - 0.1)))  # Keras keeps the last 10% aside
    result = {
        "train_images": train_images,
        "epochs": args.epochs,
        "fit_seconds": round(fit_seconds, 3),
        "epoch_seconds": [round(s, 3) for s in clock.seconds],
        "images_per_second": round(train_images * args.epochs / fit_seconds, 1),
        "images_per_cpu_second": round(train_images * args.epochs / cpu_seconds, 1),
        "test_accuracy": float(test_accuracy),
        "test_loss": float(test_loss),
    }
    text = json.dumps(result)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text)
    print(text, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
