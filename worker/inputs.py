"""A run's training inputs, prepared once, and the arguments that feed them to `model.fit`.

What the notebook does per call, done here once per run (benchmarks/bench_training.py measures
each step): uint8 images become float32 in [0, 1] once (the notebook's `x / 255.0` makes float64,
twice the bytes for every batch Keras gathers); the validation images are cut off once, exactly
where Keras' `validation_split` cuts (the LAST fraction, without shuffling), so accuracies stay
comparable with the notebook; and they are scored in large batches, which changes no result.
Batches come from a tf.data pipeline that shuffles indices and gathers each batch from one tensor,
prefetching the next batch while the current one trains.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from shared.datasets import to_model_input

# Images per validation step. Evaluation has no weights to update, so the batch size only decides
# how many calls into TensorFlow scoring the validation images takes (6,000 images: 6, not 188).
VALIDATION_BATCH = 1024
# Batches the feed keeps ready. A fixed buffer, and tf.data's autotuning off: with autotuning, every
# iterator gets a model thread that sleeps for ever longer periods between optimisations, and
# destroying the iterator at an epoch's end (Keras makes a new one per epoch, and one for
# validation) waited for that thread to wake up: 1-3 s with the whole process idle, at every epoch
# of every run (py-spy: ~IteratorResource -> UnboundedThreadPool::LogicalThreadWrapper). Gathering
# one batch takes microseconds, so two ready batches are all the training step can use.
PREFETCH_BATCHES = 2


def split_sizes(n: int, validation_split: float) -> tuple[int, int]:
    """(train, validation) image counts exactly as Keras' validation_split cuts them."""
    if not validation_split:
        return n, 0
    train = int(math.floor(n * (1.0 - validation_split)))
    return train, n - train


@dataclass
class TrainingInputs:
    x_train: np.ndarray  # float32 (n_train, 28, 28, 1)
    y_train: np.ndarray  # int32 (n_train,)
    x_val: np.ndarray  # float32 (n_val, 28, 28, 1), possibly empty
    y_val: np.ndarray

    @property
    def n_train(self) -> int:
        return len(self.x_train)

    @property
    def n_val(self) -> int:
        return len(self.x_val)


def prepare(x_raw: np.ndarray, y_raw: np.ndarray, validation_split: float) -> TrainingInputs:
    """uint8 images and labels → float32 training and validation arrays (views, no copies)."""
    x, y = to_model_input(x_raw), np.asarray(y_raw, dtype=np.int32)
    n_train, _ = split_sizes(len(x), validation_split)
    return TrainingInputs(x[:n_train], y[:n_train], x[n_train:], y[n_train:])


def _fixed_options(tf: Any) -> Any:
    """tf.data options without autotuning (see PREFETCH_BATCHES)."""
    options = tf.data.Options()
    options.autotune.enabled = False
    return options


def fit_arguments(inputs: TrainingInputs, batch_size: int, seed: int) -> dict[str, Any]:
    """The data arguments of `model.fit`: shuffled training batches, and validation when there is.

    The training pipeline shuffles only the image indices (a buffer of ints, not of images), then
    gathers each batch from the float32 tensor and prefetches the next one on tf.data's own
    thread while TensorFlow trains on the current one: 5-10 % faster than Keras' own array adapter
    in the training ladder (benchmarks/training_levers.py), with a fresh order every epoch that
    the seed fixes.
    """
    import tensorflow as tf  # the training process only (see worker/celery_app.py)

    x, y = tf.constant(inputs.x_train), tf.constant(inputs.y_train)
    train = (
        tf.data.Dataset.range(inputs.n_train)
        .shuffle(inputs.n_train, seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size)
        .map(lambda index: (tf.gather(x, index), tf.gather(y, index)))
        .prefetch(PREFETCH_BATCHES)
        .with_options(_fixed_options(tf))
    )
    # The pipeline shuffles; Keras' own shuffle flag only applies to arrays (and warns otherwise).
    args: dict[str, Any] = {"x": train, "shuffle": False}
    if inputs.n_val:
        args["validation_data"] = (
            tf.data.Dataset.from_tensor_slices((inputs.x_val, inputs.y_val))
            .batch(max(batch_size, VALIDATION_BATCH))
            .with_options(_fixed_options(tf))
        )
    return args
