"""How much a conv layer relies on its filters: test accuracy as they are removed, most important
first (the compare page overlays one curve per run).

For conv layer L of a run, one job on the analysis queue computes, on the run's whole test set:
- the importance of each filter: the test accuracy lost when that filter alone is zeroed (its
  feature map set to 0, as on the filter page). Equal losses, common on a test set of a few
  thousand images, are ordered by the mean probability of the true class lost, then by filter
  number. A layer wider than MAX_RANKED filters would need too many passes for that, so its
  filters are ranked by a cheaper proxy instead, their mean absolute activation over the test
  set; the result says which (`importance.method`);
- the order: the filters by importance, most important first;
- the curve: the test accuracy with the first k filters of that order zeroed together, for every
  k from 0 (the model as trained) to n (the whole layer's output zero). A layer wider than
  MAX_STEPS filters gets MAX_STEPS + 1 values of k spread evenly instead, 0 and n included.

Zeroing is a 0/1 mask on the channels of L's output: the layers after L run on that product in
this process, on a copy of the model loaded for the job, so nothing in the stored model changes.
The job takes seconds (2.5 s for the notebook model's first conv layer on mnist-sample's 2,000
test images, here), so it reports its progress after every pass over a batch, which
`worker.progress.JobProgress` writes to its row about twice a second.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from shared import comparison
from shared.artifacts import is_run_id
from shared.config import LayerInfo
from shared.datasets import load_raw, to_model_input
from shared.store import FAILED, SUCCEEDED, RunStore
from worker.compare_jobs import Refused, _trained_run, json_into_run
from worker.epoch_similarity import fresh_model
from worker.filter_analysis import chain, run_layers
from worker.progress import JobProgress, Progress, nothing

MAX_RANKED = 128  # filters ranked by their own accuracy drop; a wider layer uses the proxy
MAX_STEPS = 64  # every k up to this many filters; a wider layer gets MAX_STEPS + 1 values of k
BATCH = 500  # test images per forward call, fewer for wide layers (BATCH_VALUES)
BATCH_VALUES = 25_000_000  # activation values of one batch from L to the output (100 MB)
DIGITS = 6
LAYER_RE = re.compile(r"[A-Za-z0-9_]{1,64}")  # layer names as shared/config.py makes them
ACCURACY_DROP, MEAN_ABS = "accuracy_drop", "mean_abs_activation"


def steps(n: int, most: int = MAX_STEPS) -> list[int]:
    """The numbers of filters removed on the curve: all of 0..n, or `most` + 1 of them spread
    evenly, always with 0 and n."""
    if n <= most:
        return list(range(n + 1))
    return sorted({round(i * n / most) for i in range(most + 1)})


def ranking(primary: np.ndarray, secondary: np.ndarray | None = None) -> list[int]:
    """Filter indices by importance, largest first: `primary`, then `secondary` on ties, then
    the lower index."""
    index = np.arange(len(primary))
    keys = [index, -np.asarray(primary, dtype=np.float64)]
    if secondary is not None:
        keys.insert(1, -np.asarray(secondary, dtype=np.float64))
    return [int(i) for i in np.lexsort(keys)]


class Masked:
    """Layer L's output over the test set, and the rest of the network run on it times a mask."""

    def __init__(self, model: keras.Model, index: int, images: np.ndarray, labels: np.ndarray):
        layers = chain(model)
        self.before, self.after = layers[: index + 1], layers[index + 1 :]
        self.images, self.labels = images, np.asarray(labels, dtype=np.int64)
        shape = tuple(int(v) for v in layers[index].output.shape[1:])
        self.channels = shape[-1]
        per_image = sum(int(np.prod(layer.output.shape[1:])) for layer in layers[index:])
        self.batch = max(1, min(BATCH, BATCH_VALUES // max(1, per_image)))
        spec = tf.TensorSpec((None, *shape), tf.float32)

        @tf.function(input_signature=[spec, tf.TensorSpec((self.channels,), tf.float32)])
        def tail(hidden: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
            return run_layers(self.after, hidden * mask)

        self.tail = tail

    def hidden(self) -> Iterator[tuple[np.ndarray, tf.Tensor]]:
        """(labels, L's output) per batch of test images, computed again on every call."""
        for start in range(0, len(self.images), self.batch):
            x = tf.constant(to_model_input(self.images[start : start + self.batch]))
            yield self.labels[start : start + self.batch], run_layers(self.before, x)

    def scores(self, masks: np.ndarray, done: Callable[[int], None]) -> tuple[np.ndarray, ...]:
        """Per mask (rows of `masks`): the test accuracy and the mean probability of the true
        class. `done(m)` is told after each mask's pass over a batch."""
        right = np.zeros(len(masks), dtype=np.int64)
        true_prob = np.zeros(len(masks), dtype=np.float64)
        for labels, hidden in self.hidden():
            rows = np.arange(len(labels))
            for m, mask in enumerate(masks):
                probs = np.asarray(self.tail(hidden, tf.constant(mask, tf.float32)))
                right[m] += int((probs.argmax(axis=-1) == labels).sum())
                true_prob[m] += float(probs[rows, labels].astype(np.float64).sum())
                done(1)
        count = max(1, len(self.labels))
        return right / count, true_prob / count

    def mean_abs(self) -> np.ndarray:
        """Each filter's mean absolute activation over the test images and positions."""
        total, rows = np.zeros(self.channels, dtype=np.float64), 0
        for _, hidden in self.hidden():
            flat = np.abs(np.asarray(hidden, dtype=np.float64)).reshape(-1, self.channels)
            total, rows = total + flat.sum(axis=0), rows + len(flat)
        return total / max(1, rows)


def curve(
    model: keras.Model,
    index: int,
    images: np.ndarray,
    labels: np.ndarray,
    progress: Progress = nothing,
    max_ranked: int = MAX_RANKED,
) -> dict[str, Any]:
    """The importances, the order and the curve of the conv layer at chain position `index`,
    with `progress` after every pass of the network's end over a batch."""
    net = Masked(model, index, images, labels)
    n = net.channels
    ks = steps(n)
    batches = -(-len(images) // net.batch)
    ranked = n <= max_ranked
    singles = np.ones((n + 1, n), dtype=np.float32)  # row 0: nothing zeroed; row f+1: filter f
    singles[np.arange(1, n + 1), np.arange(n)] = 0.0
    # passes over a batch: the singles (or the plain model and the proxy's pass), then every k
    # whose accuracy is not known yet (k = 0 always is; so is k = 1 after the singles)
    total = batches * ((n + 1) if ranked else 2) + batches * (len(ks) - (2 if ranked else 1))
    passes = [0]

    def done(count: int) -> None:
        passes[0] += count
        progress(passes[0] / max(1, total))

    importance: dict[str, Any]
    if ranked:
        accuracy, true_prob = net.scores(singles, done)
        drop = accuracy[0] - accuracy[1:]
        prob_drop = true_prob[0] - true_prob[1:]
        order = ranking(drop, prob_drop)
        importance = {
            "method": ACCURACY_DROP,
            "values": [round(float(v), DIGITS) for v in drop],
            "probability_drop": [round(float(v), DIGITS) for v in prob_drop],
        }
        known = {0: float(accuracy[0]), 1: float(accuracy[1 + order[0]])}
    else:
        plain, _ = net.scores(singles[:1], done)
        values = net.mean_abs()
        done(batches)
        order = ranking(values)
        importance = {
            "method": MEAN_ABS,
            "values": [round(float(v), DIGITS) for v in values],
            "probability_drop": None,
        }
        known = {0: float(plain[0])}
    todo = [k for k in ks if k not in known]
    masks = np.ones((len(todo), n), dtype=np.float32)
    for row, k in enumerate(todo):
        masks[row, order[:k]] = 0.0
    if todo:
        accuracy, _ = net.scores(masks, done)
        known |= {k: float(a) for k, a in zip(todo, accuracy, strict=True)}
    progress(1.0)
    return {
        "filters": n,
        "test_images": int(len(images)),
        "importance": importance,
        "order": order,
        "points": [
            {"removed": k, "fraction": round(k / n, DIGITS), "accuracy": round(known[k], DIGITS)}
            for k in ks
        ],
        "every_k": len(ks) == n + 1,
    }


def conv_layer(run: dict[str, Any], infos: list[LayerInfo], layer: str) -> int:
    """The chain position of the run's conv layer `layer`; Refused with a sentence otherwise."""
    names = [i.name for i in infos]
    if layer not in names or infos[names.index(layer)].type != "conv2d":
        convs = [i.name for i in infos if i.type == "conv2d"]
        raise Refused(
            f"run {run['name']!r} has no conv layer {layer!r}; its conv layers are: "
            f"{', '.join(convs) or 'none'}"
        )
    return names.index(layer)


def compute_curve(
    store: RunStore, run_id: str, layer: str, progress: Progress = nothing
) -> dict[str, Any]:
    started = time.perf_counter()
    run, infos = _trained_run(store, run_id)
    index = conv_layer(run, infos, layer)
    _, _, x_test, y_test = load_raw(run["dataset"])
    labels = np.asarray(y_test, dtype=np.int64)
    model = fresh_model(store, run_id)  # a copy for this job alone: the file is only read
    result = curve(model, index, np.asarray(x_test), labels, progress)
    return {
        "run_id": run_id,
        "layer": layer,
        "dataset": run["dataset"],
        "classes": int(model.output_shape[-1]),
        **result,
        "seconds": round(time.perf_counter() - started, 3),
    }


def ablation_job(store: RunStore, job_id: str) -> str | None:
    """One layer's ablation curve, cached as analysis/ablation/<layer>.json; the final status."""
    job = store.get_job(job_id)
    if job is None:
        return None
    run_id, layer = (str(job["params"].get(k, "")) for k in ("run_id", "layer"))
    if not (is_run_id(run_id) and LAYER_RE.fullmatch(layer)):
        store.set_job(job_id, FAILED, error="the job does not name a run and a conv layer")
        return FAILED
    rel = comparison.ablation_rel(layer)
    if job["status"] == SUCCEEDED and store.files.exists(run_id, rel):
        return SUCCEEDED  # a duplicate delivery
    return json_into_run(
        store,
        job_id,
        run_id,
        rel,
        lambda: compute_curve(store, run_id, layer, JobProgress(store, job_id)),
    )
