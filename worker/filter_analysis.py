"""Everything on one filter's page: what it responds to, what it is worth, and its twins.

For filter k of conv layer L of a run, one job on the analysis queue computes, on the run's test
set:
- its 9 most strongly activating test images (largest maximum over positions of its feature map),
  each with the receptive field of the strongest unit as a box of input pixels;
- its mean activation per class (class selectivity), and the selectivity index of Morcos et al.
  (2018): (largest class mean − mean of the others) / (their sum);
- the test accuracy, overall and per class, with its feature map zeroed (ablation): the layers
  after L run on L's output with channel k set to 0, so nothing in the stored model changes;
- whether it is dead (fires on no test image) and which filters of its layer it nearly duplicates
  (Pearson r of their feature maps over the probe batch ≥ DUPLICATE_R);
- its twin in every other succeeded run on the same dataset: the filter, in any conv layer, whose
  feature maps over the probe batch correlate best with this one's, after both are averaged onto
  a MATCH_GRID × MATCH_GRID grid of image regions (so layers of any depth and size compare);
- an activation-maximisation image: gradient ascent on the input, for the unit at the centre of
  the filter's map, from a dark, slightly noisy start, with jitter (random shifts), a light blur
  every few steps and decay towards black, so the picture stays smooth and sparse, like the
  digits the filter was trained on (`activation_max_box`: the receptive field it fills).

The model is loaded afresh for the job and its layers are called one by one; nothing is saved
but the analysis JSON and the picture, in `analysis/filters/` of the run. The job takes a few
seconds, so it writes its progress to its row (worker/progress.py): the passes over the test set,
the gradient ascent and the other runs each move it through their share (`STAGES`).
"""

from __future__ import annotations

import io
import logging
import time
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from PIL import Image

from shared import comparison, receptive_field
from shared.artifacts import METRICS, MODEL
from shared.config import RunConfig, activation_values
from shared.datasets import load_raw, to_model_input
from shared.store import FAILED, SUCCEEDED, RunStore
from worker.compare_jobs import (
    Refused,
    _trained_run,
    json_into_run,
    layer_outputs,
)
from worker.epoch_similarity import fresh_model
from worker.extraction import MODELS, ModelCache
from worker.progress import JobProgress, Progress, nothing, part

log = logging.getLogger(__name__)

TOP = 9
BATCH = 500  # test images per forward call
DUPLICATE_R = 0.9
MATCH_GRID = 7
MAX_MATCH_RUNS = 12  # the most recent other runs on the dataset
DIGITS = 6

# Activation maximisation, tuned on the notebook's model on MNIST: 160 steps of normalised
# gradient ascent, shifts of up to 2 pixels, a 3×3 blur every 4 steps, 2% decay per step.
ASCENT_STEPS = 160
ASCENT_RATE = 0.05
JITTER = 2
BLUR_EVERY = 4
DECAY = 0.02
SEED = 0

# Where each step of the job ends on its progress (0 to 1), from its share of the time on the
# default model and mnist-sample: the passes over the test set, the probe batch, the gradient
# ascent, the twins in other runs.
STAGES = {"test_set": 0.3, "probe": 0.35, "ascent": 0.8, "twins": 1.0}


def chain(model: keras.Model) -> list[keras.layers.Layer]:
    """The model's layers in order (every model CNN Lens builds is a chain)."""
    return [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]


def run_layers(layers: list[keras.layers.Layer], x: Any) -> Any:
    for layer in layers:
        x = layer(x, training=False)
    return x


def _fires(values: np.ndarray, relu_like: bool) -> np.ndarray:
    return np.greater(values, 0) if relu_like else np.not_equal(values, 0)


def forward(
    model: keras.Model, index: int, k: int, images: np.ndarray, progress: Progress = nothing
) -> dict[str, np.ndarray]:
    """Over `images`: filter k's feature maps (n, h, w), the predictions, and the predictions
    with that feature map zeroed, in batches (`progress` after each)."""
    layers = chain(model)
    before, after = layers[: index + 1], layers[index + 1 :]
    maps, predicted, predicted_without = [], [], []
    for start in range(0, len(images), BATCH):
        x = tf.constant(to_model_input(images[start : start + BATCH]))
        hidden = run_layers(before, x)
        mask = np.ones(hidden.shape[-1], dtype=np.float32)
        mask[k] = 0.0
        maps.append(np.asarray(hidden[..., k], dtype=np.float32))
        predicted.append(np.asarray(run_layers(after, hidden)).argmax(axis=-1))
        predicted_without.append(np.asarray(run_layers(after, hidden * mask)).argmax(axis=-1))
        progress(min(len(images), start + BATCH) / max(1, len(images)))
    return {
        "maps": np.concatenate(maps),
        "predicted": np.concatenate(predicted),
        "predicted_without": np.concatenate(predicted_without),
    }


def top_images(
    maps: np.ndarray, config: RunConfig, index: int, input_hw: tuple[int, int]
) -> list[dict[str, Any]]:
    """The TOP images with the largest maximum of the feature map, largest first (ties: lower
    test index first), each with the receptive field of its strongest unit."""
    peaks = maps.reshape(len(maps), -1).max(axis=1)
    order = np.argsort(-peaks, kind="stable")[:TOP]
    out = []
    for i in order:
        row, col = np.unravel_index(int(np.argmax(maps[i])), maps.shape[1:])
        box = receptive_field.box(int(row), int(col), config.layers, index, input_hw)
        out.append({"test_index": int(i), "value": round(float(peaks[i]), DIGITS), "box": box})
    return out


def selectivity(
    maps: np.ndarray, labels: np.ndarray, classes: list[str]
) -> tuple[list[dict[str, Any]], float | None]:
    """Mean activation per class (over its images and every position) and the selectivity
    index (None when the class means do not allow one: not all positive)."""
    per_image = maps.reshape(len(maps), -1).mean(axis=1, dtype=np.float64)
    rows, means = [], []
    for c, name in enumerate(classes):
        chosen = per_image[labels == c]
        mean = float(chosen.mean()) if chosen.size else float("nan")
        means.append(mean)
        rows.append({"class": name, "mean": round(mean, DIGITS), "images": int(chosen.size)})
    finite = np.asarray([m for m in means if np.isfinite(m)])
    index = None
    if finite.size > 1 and (finite >= 0).all():
        top = int(np.argmax(finite))
        rest = float(np.delete(finite, top).mean())
        total = float(finite[top]) + rest
        index = round((float(finite[top]) - rest) / total, DIGITS) if total > 0 else None
    return rows, index


def ablation(
    labels: np.ndarray, predicted: np.ndarray, predicted_without: np.ndarray, classes: list[str]
) -> dict[str, Any]:
    right, right_without = predicted == labels, predicted_without == labels
    per_class = []
    for c, name in enumerate(classes):
        chosen = labels == c
        if chosen.any():
            per_class.append(
                {
                    "class": name,
                    "accuracy": round(float(right[chosen].mean()), DIGITS),
                    "accuracy_without": round(float(right_without[chosen].mean()), DIGITS),
                }
            )
    return {
        "accuracy": round(float(right.mean()), DIGITS),
        "accuracy_without": round(float(right_without.mean()), DIGITS),
        "per_class": per_class,
    }


def _standardised(columns: np.ndarray) -> np.ndarray:
    """(rows, m) -> centred columns of unit norm (constant columns stay 0): dot = Pearson r."""
    c = columns.astype(np.float64) - columns.mean(axis=0, dtype=np.float64)
    norms = np.linalg.norm(c, axis=0)
    return np.divide(c, norms, out=np.zeros_like(c), where=norms > 0)


def duplicates(probe_maps: np.ndarray, k: int) -> list[dict[str, Any]]:
    """Filters of the same layer whose feature maps over the probe batch correlate with filter
    k's at r ≥ DUPLICATE_R, strongest first. `probe_maps` is (n, h, w, channels)."""
    flat = _standardised(probe_maps.reshape(-1, probe_maps.shape[-1]))
    r = flat.T @ flat[:, k]
    others = [j for j in np.argsort(-r, kind="stable") if j != k and r[j] >= DUPLICATE_R]
    return [{"filter": int(j), "correlation": round(float(r[j]), DIGITS)} for j in others]


def on_grid(maps: np.ndarray) -> np.ndarray:
    """(n, h, w, c) feature maps averaged onto (n, G, G, c) image regions, as (n·G·G, c)."""
    pooled = tf.image.resize(tf.constant(maps, tf.float32), (MATCH_GRID, MATCH_GRID), "area")
    return np.asarray(pooled).reshape(-1, maps.shape[-1])


def twins(
    store: RunStore,
    run: dict[str, Any],
    own: np.ndarray,
    probe: np.ndarray,
    cache: ModelCache,
    progress: Progress = nothing,
) -> list[dict[str, Any]]:
    """The best-matching filter in each other succeeded run on the dataset, best first
    (`progress` after each run).

    `own` is this filter's feature maps over the probe images `probe`, (n, h, w)."""
    mine = _standardised(on_grid(own[..., None]))[:, 0]
    out = []
    others = [
        r
        for r in store.list_runs(status=SUCCEEDED, dataset=run["dataset"])
        if r["id"] != run["id"] and store.files.exists(r["id"], MODEL)
    ][:MAX_MATCH_RUNS]
    for done, other in enumerate(others):
        progress(done / len(others))
        try:
            _, infos = _trained_run(store, other["id"])
            convs = [i.name for i in infos if i.type == "conv2d"]
            count = min(
                len(probe), comparison.probe_batch_size(len(probe), activation_values(infos))
            )
            outputs = layer_outputs(store, other["id"], probe[:count], cache)
        except Exception:  # a run that cannot be read is left out, not the whole page
            log.warning("filter twins: run %s skipped", other["id"], exc_info=True)
            continue
        target = (
            mine if count == len(probe) else _standardised(on_grid(own[:count, ..., None]))[:, 0]
        )
        best: tuple[float, str, int] | None = None
        for name in convs:
            r = _standardised(on_grid(outputs[name])).T @ target
            j = int(np.argmax(r))
            if best is None or float(r[j]) > best[0]:
                best = (float(r[j]), name, j)
        if best is not None:
            out.append(
                {
                    "run_id": other["id"],
                    "name": other["name"],
                    "layer": best[1],
                    "filter": best[2],
                    "correlation": round(best[0], DIGITS),
                }
            )
    progress(1.0)
    return sorted(out, key=lambda m: -m["correlation"])


def _blur_kernel(channels: int) -> tf.Tensor:
    g = np.array([1.0, 2.0, 1.0])
    k = np.outer(g, g) / 16.0
    return tf.constant(np.repeat(k[:, :, None, None], channels, axis=2), tf.float32)


def activation_maximisation(
    model: keras.Model, index: int, k: int, field: int = 8, progress: Progress = nothing
) -> tuple[np.ndarray, float]:
    """An input that makes filter k of layer `index` respond strongly: (uint8 image, the
    pre-activation it reaches). The objective is the pre-activation (before ReLU, so a filter
    silent on the start image still has a gradient) of the unit at the centre of its map: the
    mean over the whole map would, for a first layer, be maximised by a uniform white or black
    image, which says nothing. Pixels outside the unit's receptive field (`field` pixels a side)
    get no gradient and decay to black. Jitter and blur scale with the field: a 3×3 first-layer
    field gets neither, as they would smear the few pixels it has."""
    jitter = min(JITTER, field // 4)
    blur_every = BLUR_EVERY if field >= 5 else 0
    layers = chain(model)
    before, conv = layers[:index], layers[index]
    h, w, c = (int(v) for v in model.input_shape[1:])
    rng = np.random.default_rng(SEED)
    x = tf.Variable((0.1 + 0.02 * rng.standard_normal((1, h, w, c))).astype(np.float32))
    blur = _blur_kernel(c)

    @tf.function
    def gradient(image: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        with tf.GradientTape() as tape:
            tape.watch(image)
            hidden = run_layers(before, image)
            pre = conv.convolution_op(hidden, conv.kernel)
            if conv.use_bias:
                pre = pre + conv.bias
            objective = tf.reduce_mean(pre[:, pre.shape[1] // 2, pre.shape[2] // 2, k])
        return objective, tape.gradient(objective, image)

    for step in range(ASCENT_STEPS):
        dy, dx = (int(v) for v in rng.integers(-jitter, jitter + 1, size=2))
        shifted = tf.roll(x, shift=(dy, dx), axis=(1, 2))
        _, grad = gradient(shifted)
        grad = tf.roll(grad, shift=(-dy, -dx), axis=(1, 2))
        grad = grad / (tf.math.reduce_std(grad) + 1e-8)
        value = (x + ASCENT_RATE * grad) * (1.0 - DECAY)
        if blur_every and step % blur_every == blur_every - 1:
            value = tf.nn.depthwise_conv2d(value, blur, (1, 1, 1, 1), "SAME")
        x.assign(tf.clip_by_value(value, 0.0, 1.0))
        progress((step + 1) / ASCENT_STEPS)
    objective, _ = gradient(tf.convert_to_tensor(x))
    image = np.asarray(x[0].numpy() * 255.0).round().clip(0, 255).astype(np.uint8)
    return (image[..., 0] if c == 1 else image), float(objective)


def png_bytes(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


def analyse(
    store: RunStore,
    run_id: str,
    layer: str,
    k: int,
    cache: ModelCache = MODELS,
    progress: Progress = nothing,
) -> dict[str, Any]:
    """Everything on filter k's page (the module's docstring says what), with `progress` from
    0 to 1 as it goes."""
    started = time.perf_counter()
    run, infos = _trained_run(store, run_id)
    names = [i.name for i in infos]
    info = infos[names.index(layer)] if layer in names else None
    if info is None or info.type != "conv2d":
        raise Refused(f"run {run['name']!r} has no conv layer {layer!r}")
    channels = int(info.output_shape[-1])
    if not 0 <= k < channels:
        raise Refused(f"{layer} has filters 0 to {channels - 1}; there is no filter {k}")
    config = RunConfig.model_validate(run["config"])
    activation = str(getattr(config.layers[info.index], "activation", "relu"))
    relu_like = activation == "relu"
    metrics = store.files.read_json(run_id, METRICS) or {}
    _, _, x_test, y_test = load_raw(run["dataset"])
    labels = np.asarray(y_test, dtype=np.int64)
    classes = [str(c) for c in metrics.get("classes") or range(int(labels.max()) + 1)]

    model = fresh_model(store, run_id)
    index = names.index(layer)  # position in the chain: Keras layers follow the config's
    input_hw = (int(model.input_shape[1]), int(model.input_shape[2]))
    passes = forward(model, index, k, np.asarray(x_test), part(progress, 0.0, STAGES["test_set"]))
    maps = passes["maps"]
    rows, selectivity_index = selectivity(maps, labels, classes)

    probe_count = comparison.probe_batch_size(len(x_test), activation_values(infos))
    probe = np.asarray(x_test[:probe_count])
    layer_maps = layer_outputs(store, run_id, probe, cache)[layer]
    progress(STAGES["probe"])
    field = receptive_field.size(config.layers, info.index, input_hw)
    ascent = part(progress, STAGES["probe"], STAGES["ascent"])
    picture, reached = activation_maximisation(model, index, k, field, ascent)
    centre = (int(info.output_shape[0]) // 2, int(info.output_shape[1]) // 2)
    picture_box = receptive_field.box(*centre, config.layers, info.index, input_hw)
    picture_rel = comparison.filter_rel(layer, k, "png")
    store.files.write_bytes(run_id, picture_rel, png_bytes(picture))
    return {
        "run_id": run_id,
        "layer": layer,
        "filter": k,
        "filters": channels,
        "dataset": run["dataset"],
        "activation": activation,
        "test_images": int(len(maps)),
        "probe_images": int(probe_count),
        "receptive_field": field,
        "top_images": top_images(maps, config, info.index, input_hw),
        "selectivity": rows,
        "selectivity_index": selectivity_index,
        "ablation": ablation(labels, passes["predicted"], passes["predicted_without"], classes),
        "dead": not bool(_fires(maps, relu_like).any()),
        "duplicates": duplicates(layer_maps, k),
        "matches": twins(
            store,
            run,
            maps[:probe_count],
            probe,
            cache,
            part(progress, STAGES["ascent"], STAGES["twins"]),
        ),
        "activation_max": f"/api/runs/{run_id}/artifacts/{picture_rel}",
        "activation_max_objective": round(reached, DIGITS),
        "activation_max_box": picture_box,
        "seconds": round(time.perf_counter() - started, 3),
    }


def filter_job(store: RunStore, job_id: str, cache: ModelCache = MODELS) -> str | None:
    """One filter's analysis, cached as analysis/filters/<layer>-<k>.json; the final status."""
    job = store.get_job(job_id)
    if job is None:
        return None
    params = job["params"]
    run_id, layer = str(params.get("run_id", "")), str(params.get("layer", ""))
    try:
        k = int(params.get("k", -1))
    except (TypeError, ValueError):
        store.set_job(job_id, FAILED, error="the job does not name a filter")
        return FAILED

    def compute() -> dict[str, Any]:
        result = analyse(store, run_id, layer, k, cache, JobProgress(store, job_id))
        return result | {"near_duplicate": bool(result["duplicates"])}

    return json_into_run(store, job_id, run_id, comparison.filter_rel(layer, k), compute)
