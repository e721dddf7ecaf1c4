"""A run compared with itself across epochs: which layers settle first.

For every epoch e whose full weights the training kept (`worker.epoch_weights`), the probe batch
goes through the run's model with those weights, and each layer is compared with the same layer
of the finished model by minibatch CKA with the unbiased HSIC estimator (`shared.cka`), with
its bootstrap interval. A layer that has settled early reaches ~1 after few epochs; one still
changing stays lower until the end. The stored model is never changed: the weights are set on a
copy loaded for this job alone.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from shared import cka, comparison
from shared.artifacts import MODEL
from shared.config import activation_values
from shared.datasets import to_model_input
from shared.store import RunStore
from worker import epoch_weights
from worker.compare_jobs import FORWARD_BATCH, Refused, _test_images, _trained_run
from worker.model import layer_outputs_model, output_layer_names

SETTLED = 0.9  # a layer has settled from the first epoch after which its CKA stays at least this


def fresh_model(store: RunStore, run_id: str) -> keras.Model:
    """A copy of the run's stored model, loaded for one job: never the shared cache's copy, and
    never saved, so whatever the job does to its weights stays in this process."""
    path = store.files.path(run_id, MODEL)
    return keras.saving.load_model(path, compile=False, safe_mode=True)


def outputs_of(lens: keras.Model, names: list[str], images: np.ndarray) -> dict[str, np.ndarray]:
    parts: list[list[np.ndarray]] = [[] for _ in names]
    for start in range(0, len(images), FORWARD_BATCH):
        batch = tf.constant(to_model_input(images[start : start + FORWARD_BATCH]))
        outputs = lens(batch, training=False)
        outputs = list(outputs) if isinstance(outputs, list | tuple) else [outputs]
        for i, output in enumerate(outputs):
            parts[i].append(np.asarray(output, dtype=np.float32))
    return {name: np.concatenate(chunks) for name, chunks in zip(names, parts, strict=True)}


def settled_epoch(values: list[float], threshold: float = SETTLED) -> int | None:
    """The first index from which every value is at least `threshold` (None: never)."""
    first: int | None = None
    for i, value in enumerate(values):
        if value < threshold:
            first = None
        elif first is None:
            first = i
    return first


def compute_epoch_cka(store: RunStore, run_id: str) -> dict[str, Any]:
    run, infos = _trained_run(store, run_id)
    epochs = epoch_weights.stored_epochs(store, run_id)
    if len(epochs) < 2 or epochs != list(range(len(epochs))):
        raise Refused(
            f"run {run['name']!r} did not keep every epoch's weights (it was trained before "
            "CNN Lens kept them, or its model is too big to keep them all); train it again"
        )
    test_images = len(_test_images(run["dataset"]))
    count = comparison.probe_batch_size(test_images, 2 * activation_values(infos))
    images = np.asarray(_test_images(run["dataset"])[:count])
    model = fresh_model(store, run_id)
    lens, names = layer_outputs_model(model), output_layer_names(model)
    final_weights = epoch_weights.load(store, run_id, epochs[-1])
    assert final_weights is not None
    model.set_weights(final_weights)
    final = outputs_of(lens, names, images)
    bounds = cka.batch_bounds(count)
    rows: dict[str, list[list[float]]] = {"matrix": [], "lower": [], "upper": []}
    for epoch in epochs:
        weights = epoch_weights.load(store, run_id, epoch)
        if weights is None:
            raise Refused(f"the weights after epoch {epoch} could not be read")
        model.set_weights(weights)
        now = final if epoch == epochs[-1] else outputs_of(lens, names, images)
        acc = cka.MinibatchCka()
        for start, stop in bounds:
            acc.add(
                {n: now[n][start:stop] for n in names}, {n: final[n][start:stop] for n in names}
            )
        point = np.diag(acc.estimate())
        lower, upper = (np.diag(m) for m in acc.bootstrap())
        for key, values in (("matrix", point), ("lower", lower), ("upper", upper)):
            rows[key].append([round(min(1.0, max(0.0, float(v))), 6) for v in values])
    by_layer = {key: [list(col) for col in zip(*m, strict=True)] for key, m in rows.items()}
    return {
        "run_id": run_id,
        "dataset": run["dataset"],
        "probe_images": count,
        "batches": len(bounds),
        "level": cka.LEVEL,
        "layers": names,
        "epochs": epochs,
        **by_layer,  # [layer][epoch]: CKA of the layer after that epoch with the finished layer
        "threshold": SETTLED,
        "settled": [settled_epoch(values) for values in by_layer["matrix"]],
    }


def epoch_cka_job(store: RunStore, job_id: str) -> str | None:
    """Epoch-by-epoch CKA of one run, cached as analysis/cka_epochs.json; the final status."""
    from worker.compare_jobs import json_into_run

    job = store.get_job(job_id)
    if job is None:
        return None
    run_id = str(job["params"].get("run_id", ""))
    return json_into_run(
        store, job_id, run_id, comparison.EPOCH_CKA, lambda: compute_epoch_cka(store, run_id)
    )
