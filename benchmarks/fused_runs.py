"""The fused-runs prototype that benchmarks/bench_fused.py measures, in its own process.

Runs of a sweep that share an architecture and differ only in seed could train side by side as
one Keras model: N copies of the model, each with its own input (its run's own shuffled batches)
and its own output and loss. The copies share no weight, so the gradient of the summed loss with
respect to one copy's weights is that run's own gradient, and Adam's state is per weight: each
copy trains as its run would alone, in one call into TensorFlow for all N.

    python -m benchmarks.fused_runs --runs 4 --threads 1 [--fused] [--check]

trains the default model on fashion_mnist for one epoch of IMAGES images per run at batch 32 and
64 steps per call, timing the steps alone (first batch to last), and prints one JSON object:
`images_per_second` over all runs. Without `--fused` the N runs train one after the other, each
its own model, in the same process. `--check` trains two runs both ways for a few steps and
reports how far a fused copy's weights are from its run's weights trained alone.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

IMAGES = 20_000
BATCH = 32
STEPS_PER_CALL = 64
# Steps each model trains before the timed epoch, in both ways alike: its train function's trace
# and oneDNN's first calls stay out of the timing.
WARM = STEPS_PER_CALL * BATCH


def _data(n_images: int) -> tuple[Any, Any]:
    import numpy as np

    from shared.datasets import load_raw

    x_train, y_train, _x, _y = load_raw("fashion_mnist")
    x = np.expand_dims(x_train[:n_images].astype(np.float32) / 255.0, -1)
    return x, y_train[:n_images].astype(np.int32)


def _orders(runs: int, n: int) -> list[Any]:
    import numpy as np

    return [np.random.default_rng(seed).permutation(n) for seed in range(runs)]


def _model(seed: int, shape: tuple[int, ...]) -> Any:
    import keras

    from benchmarks.notebook_sweep import model_of
    from shared.config import RunConfig

    keras.utils.set_random_seed(seed)
    return model_of(RunConfig(name="fused").model_dump(mode="json"), shape)


def _train(model: Any, xs: Any, ys: Any, losses: Any, steps: int | None) -> float:
    """Compile, warm up on the first WARM images, then time one epoch's steps: their seconds.
    `xs`/`ys` are one run's arrays, or a list of them for the fused model."""
    import keras

    from benchmarks.notebook_sweep import _StepClock

    model.compile(
        optimizer=keras.optimizers.Adam(1e-3), loss=losses, steps_per_execution=STEPS_PER_CALL
    )
    head = (lambda a: [v[:WARM] for v in a]) if isinstance(xs, list) else (lambda a: a[:WARM])
    model.fit(head(xs), head(ys), batch_size=BATCH, verbose=0, shuffle=False)
    clock = _StepClock()
    model.fit(
        xs, ys, batch_size=BATCH, epochs=1, verbose=0, shuffle=False, steps_per_epoch=steps,
        callbacks=[clock],
    )  # fmt: skip
    return clock.seconds


def _images(runs: int, n: int, steps: int | None) -> int:
    """Images trained over all runs in the timed epoch."""
    return runs * min(n, (steps or -(-n // BATCH)) * BATCH)


def separate(runs: int, x: Any, y: Any, steps: int | None = None) -> tuple[float, list[Any]]:
    """(images/s of the steps over all runs, each run's final weights), one run after another."""
    import keras

    seconds, weights = 0.0, []
    for seed, order in enumerate(_orders(runs, len(x))):
        model = _model(seed, x.shape[1:])
        seconds += _train(model, x[order], y[order], "sparse_categorical_crossentropy", steps)
        weights.append([w.copy() for w in model.get_weights()])
        keras.backend.clear_session()
    return _images(runs, len(x), steps) / seconds, weights


def fused(runs: int, x: Any, y: Any, steps: int | None = None) -> tuple[float, list[Any]]:
    """(images/s of the steps over all runs, each copy's final weights), all runs in one model."""
    import keras

    orders = _orders(runs, len(x))
    inputs = [keras.Input(x.shape[1:]) for _ in range(runs)]
    copies = [_model(seed, x.shape[1:]) for seed in range(runs)]
    model = keras.Model(inputs, [copy(i) for copy, i in zip(copies, inputs, strict=True)])
    xs, ys = [x[o] for o in orders], [y[o] for o in orders]
    seconds = _train(model, xs, ys, ["sparse_categorical_crossentropy"] * runs, steps)
    weights = [[w.copy() for w in copy.get_weights()] for copy in copies]
    keras.backend.clear_session()
    return _images(runs, len(x), steps) / seconds, weights


def check(steps: int = 2 * STEPS_PER_CALL) -> dict[str, float]:
    """Two runs trained fused and alone on the same batches: the largest absolute difference
    between a fused copy's weights and its run's alone (0: the same training), and, so that the
    comparison cannot pass by comparing nothing, between the two runs' own weights."""
    import numpy as np

    def largest(a: list[Any], b: list[Any]) -> float:
        return max(float(np.abs(u - v).max()) for u, v in zip(a, b, strict=True))

    x, y = _data(max(steps * BATCH, WARM))
    _, alone = separate(2, x, y, steps)
    _, together = fused(2, x, y, steps)
    return {
        "fused_vs_alone": max(largest(a, b) for a, b in zip(alone, together, strict=True)),
        "between_runs": largest(alone[0], alone[1]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1, help="TensorFlow's op threads")
    parser.add_argument("--images", type=int, default=IMAGES)
    parser.add_argument("--fused", action="store_true")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    import tensorflow as tf  # this process only: the benchmark's own stays free of TensorFlow

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    out: dict[str, Any] = {"runs": args.runs, "threads": args.threads, "fused": args.fused}
    if args.check:
        out |= check()
    else:
        x, y = _data(args.images)
        train = fused if args.fused else separate
        out["images_per_second"] = round(train(args.runs, x, y)[0], 1)
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
