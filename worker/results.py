"""The files a finished training leaves behind (see docs/CONTRACTS.md, "Run artifacts").

Each file is written atomically; the caller marks the run `succeeded` only after `save_results`
returns, so a reader never sees a succeeded run with files missing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from shared.artifacts import FILTERS_DIR, METRICS, MODEL, PROBE_DIR
from shared.config import LayerInfo
from shared.datasets import probe_indices, to_model_input
from shared.store import RunStore
from worker.model import layer_outputs_model, output_layer_names, predict_eagerly

FLOAT16_MAX = float(np.finfo(np.float16).max)
# Keras' cross-entropy clips probabilities to [eps, 1 - eps]; the test loss here does the same.
EPSILON = 1e-7
PREDICT_BATCH = 512


@dataclass
class FitTime:
    """Wall time of this attempt's `model.fit` (validation and per-epoch saving included), the
    epochs it completed, and the CPU time it used: the figures benchmarks compare with a plain
    Keras script (CPU time is the steadier one on a machine that also runs other work)."""

    seconds: float
    epochs: int
    cpu_seconds: float = 0.0


@dataclass
class TestScore:
    loss: float
    accuracy: float
    confusion: np.ndarray  # rows: true class, columns: predicted class


def to_float16(array: np.ndarray) -> np.ndarray:
    """float16 without overflowing to inf: huge activations are clipped to the largest half."""
    return np.clip(np.asarray(array, dtype=np.float32), -FLOAT16_MAX, FLOAT16_MAX).astype(
        np.float16
    )


def score_test_set(
    model: keras.Model, x_test: np.ndarray, y_test: np.ndarray, num_classes: int
) -> TestScore:
    """Loss, accuracy and confusion matrix from one prediction pass over the test set."""
    probs = predict_eagerly(model, x_test, PREDICT_BATCH).astype(np.float64)
    truth = y_test.astype(np.int64)
    picked = np.clip(probs[np.arange(len(truth)), truth], EPSILON, 1.0 - EPSILON)
    predicted = probs.argmax(axis=1)
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(confusion, (truth, predicted), 1)
    return TestScore(float(-np.log(picked).mean()), float((predicted == truth).mean()), confusion)


def save_filters(store: RunStore, run_id: str, model: keras.Model, infos: list[LayerInfo]) -> None:
    for info in infos:
        if info.type == "conv2d":
            kernel = np.asarray(model.get_layer(info.name).kernel.numpy(), dtype=np.float32)
            store.files.save_array(run_id, f"{FILTERS_DIR}/{info.name}.npy", kernel)


def save_probe(
    store: RunStore,
    run_id: str,
    model: keras.Model,
    x_test_raw: np.ndarray,
    y_test: np.ndarray,
    num_classes: int,
) -> None:
    """Every layer's activations for the probe set (first test image of each class), one pass."""
    indices = np.asarray(probe_indices(y_test, num_classes), dtype=np.int32)
    images = np.asarray(x_test_raw[indices], dtype=np.uint8)
    outputs = layer_outputs_model(model)(to_model_input(images), training=False)
    if not isinstance(outputs, list | tuple):
        outputs = [outputs]
    for name, output in zip(output_layer_names(model), outputs, strict=True):
        store.files.save_array(run_id, f"{PROBE_DIR}/{name}.npy", to_float16(np.asarray(output)))
    store.files.save_array(run_id, f"{PROBE_DIR}/inputs.npy", images)
    store.files.save_array(run_id, f"{PROBE_DIR}/labels.npy", y_test[indices].astype(np.int32))
    store.files.save_array(run_id, f"{PROBE_DIR}/indices.npy", indices)
    store.files.save_array(
        run_id, f"{PROBE_DIR}/predictions.npy", np.asarray(outputs[-1], dtype=np.float32)
    )


def save_model(model: keras.Model, run_dir: Path) -> Path:
    """model.save() writes in place: save beside the target under a temporary name, then rename."""
    target = run_dir / MODEL
    tmp = run_dir / f".model.{os.getpid()}.tmp.keras"  # Keras insists on the .keras suffix
    try:
        model.save(tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def save_metrics(
    store: RunStore,
    run_id: str,
    score: TestScore,
    classes: tuple[str, ...],
    train_images: int,
    val_images: int,
    epoch_seconds: list[float],
    fit: FitTime | None = None,
) -> None:
    seconds = float(sum(epoch_seconds))
    images = train_images * len(epoch_seconds)
    fit_rate = train_images * fit.epochs / fit.seconds if fit and fit.seconds > 0 else None
    store.files.write_json(
        run_id,
        METRICS,
        {
            "test": {"loss": score.loss, "accuracy": score.accuracy},
            "confusion": score.confusion.tolist(),
            "classes": list(classes),
            "train_images": train_images,
            "val_images": val_images,
            "seconds": round(seconds, 3),
            "images_per_second": round(images / seconds, 1) if seconds > 0 else None,
            "fit_seconds": round(fit.seconds, 3) if fit else None,
            "fit_epochs": fit.epochs if fit else None,
            "fit_images_per_second": round(fit_rate, 1) if fit_rate else None,
            "fit_cpu_seconds": round(fit.cpu_seconds, 3) if fit else None,
        },
    )
