"""The training ladder: the notebook's fit, then with CNN Lens' levers pulled one by one.

Each lever is cumulative on the ones before it (see LADDER), so consecutive rows show what one
lever adds. The model, batch 32, adam and the data are the notebook's throughout; only how the
inputs are prepared and fed, and how much work one call to TensorFlow does, change. All rungs
run in one process, one after the other, `--repeats` times over: on a shared machine, rungs a
few seconds apart see nearly the same load, which separate processes minutes apart do not.

    python -m benchmarks.training_levers --levers notebook,quiet,spe16 [--repeats 2]
                                         [--epochs 1] [--threads 1,1]

Prints one JSON object, for each lever the list of its runs: images/s = training images ×
epochs / wall seconds of `model.fit` (validation included), like notebook_baseline.py, the same
per CPU-second, and the test accuracy.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# lever → (title, what it adds); cumulative in this order.
LADDER = {
    "notebook": ("notebook's fit", "float64 inputs, validation_split=0.1, Keras' progress bar"),
    "quiet": (
        "+ no progress bar",
        "verbose=0: Keras' console progress bar off (CNN Lens reports its own)",
    ),
    "float32": ("+ float32 inputs prepared once", "uint8 → float32 once; no float64 copy"),
    "split": (
        "+ validation split once, evaluated at batch 1024",
        "the last 10% kept aside up front (Keras' own split), scored in big batches",
    ),
    "spe16": ("+ steps_per_execution=16", "16 batches per call into TensorFlow"),
    "spe64": ("+ steps_per_execution=64", "64 batches per call into TensorFlow"),
    "tfdata": (
        "+ tf.data feed (shuffled indices, gathered batches, prefetch)",
        "worker.inputs.fit_arguments instead of Keras' array adapter",
    ),
}
# Not a rung: exactly how the worker feeds and compiles (worker.inputs, worker.model), without
# its callbacks, on the threads given.
WORKER = "worker"


def build(steps_per_execution: int):
    import keras

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
    model.compile(
        optimizer="adam",
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=steps_per_execution,
    )
    return model


def measure_worker(epochs: int, train_limit: int | None, seed: int) -> dict:
    import keras

    from shared.config import parse_config
    from shared.datasets import load_raw, to_model_input
    from worker import inputs
    from worker.model import build_model, compile_model, steps_per_execution

    config, infos = parse_config({"dataset": "fashion_mnist", "epochs": epochs, "seed": seed})
    keras.utils.set_random_seed(seed)
    x_raw, y_raw, x_test_raw, y_test = load_raw("fashion_mnist")
    if train_limit:
        x_raw, y_raw = x_raw[:train_limit], y_raw[:train_limit]
    data = inputs.prepare(x_raw, y_raw, config.validation_split)
    spe = steps_per_execution(infos, config.batch_size)
    model = compile_model(build_model(config, infos), config, spe)
    cpu_started, started = time.process_time(), time.perf_counter()
    model.fit(**inputs.fit_arguments(data, config.batch_size, seed), epochs=epochs, verbose=0)
    fit_seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    _, test_accuracy = model.evaluate(
        to_model_input(x_test_raw), y_test, batch_size=1024, verbose=0
    )
    return {
        "lever": WORKER,
        "steps_per_execution": spe,
        "train_images": data.n_train,
        "epochs": epochs,
        "fit_seconds": round(fit_seconds, 3),
        "images_per_second": round(data.n_train * epochs / fit_seconds, 1),
        "images_per_cpu_second": round(data.n_train * epochs / cpu_seconds, 1),
        "test_accuracy": float(test_accuracy),
    }


def measure(lever: str, epochs: int, train_limit: int | None, seed: int) -> dict:
    if lever == WORKER:
        return measure_worker(epochs, train_limit, seed)
    import keras
    import numpy as np

    from shared.datasets import load_raw, to_model_input
    from worker import inputs

    pulled = list(LADDER)[: list(LADDER).index(lever) + 1]
    keras.utils.set_random_seed(seed)
    x_raw, y_raw, x_test_raw, y_test = load_raw("fashion_mnist")
    if train_limit:
        x_raw, y_raw = x_raw[:train_limit], y_raw[:train_limit]
    if "float32" in pulled:
        x, y = to_model_input(x_raw), y_raw.astype(np.int32)
    else:  # the notebook's float64
        x, y = np.expand_dims(x_raw / 255.0, -1), y_raw
    n_train = int(np.floor(len(x) * 0.9))  # what validation_split=0.1 keeps for training
    spe = 64 if "spe64" in pulled else 16 if "spe16" in pulled else 1
    model = build(spe)

    fit_args: dict = {"epochs": epochs, "verbose": "auto" if lever == "notebook" else 0}
    if "tfdata" in pulled:  # the worker's own feed (it splits the same way as the rung above)
        data = inputs.TrainingInputs(x[:n_train], y[:n_train], x[n_train:], y[n_train:])
        fit_args |= inputs.fit_arguments(data, 32, seed)
    elif "split" in pulled:
        fit_args |= {
            "x": x[:n_train],
            "y": y[:n_train],
            "batch_size": 32,
            "validation_data": (x[n_train:], y[n_train:]),
            "validation_batch_size": 1024,
        }
    else:
        fit_args |= {"x": x, "y": y, "batch_size": 32, "validation_split": 0.1}

    cpu_started, started = time.process_time(), time.perf_counter()
    real_stdout, sys.stdout = sys.stdout, sys.stderr  # the progress bar; stdout is for JSON
    try:
        model.fit(**fit_args)
    finally:
        sys.stdout = real_stdout
    fit_seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    _, test_accuracy = model.evaluate(
        to_model_input(x_test_raw), y_test, batch_size=1024, verbose=0
    )
    return {
        "lever": lever,
        "train_images": n_train,
        "epochs": epochs,
        "fit_seconds": round(fit_seconds, 3),
        "images_per_second": round(n_train * epochs / fit_seconds, 1),
        "images_per_cpu_second": round(n_train * epochs / cpu_seconds, 1),
        "test_accuracy": float(test_accuracy),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--levers", required=True, help="comma-separated, from: " + ", ".join([*LADDER, WORKER])
    )
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--train-limit", type=int, default=None)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--threads", help="intra,inter op threads (default: TensorFlow's own choice)"
    )
    args = parser.parse_args()
    levers = args.levers.split(",")
    unknown = set(levers) - {*LADDER, WORKER}
    if unknown:
        parser.error(f"unknown levers: {', '.join(sorted(unknown))}")
    if args.threads:
        import tensorflow as tf

        intra, inter = (int(n) for n in args.threads.split(","))
        tf.config.threading.set_intra_op_parallelism_threads(intra)
        tf.config.threading.set_inter_op_parallelism_threads(inter)
    results: dict[str, list[dict]] = {lever: [] for lever in levers}
    for _ in range(args.repeats):
        for lever in levers:
            results[lever].append(measure(lever, args.epochs, args.train_limit, args.seed))
    print(json.dumps(results | {"threads": args.threads or "default"}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
