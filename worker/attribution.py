"""Attribution of one input through a run's saved model: which pixels counted for a class.

Methods (names in `shared.attribution_result.METHODS`), all with `tf.GradientTape` on the run's
saved model:

- saliency: ∂p_c/∂x, the gradient of the target class's probability at the input;
- SmoothGrad (Smilkov et al. 2017): that gradient averaged over noisy copies of the input;
- Integrated Gradients (Sundararajan et al. 2017): (x − x′) × the mean gradient on the straight
  path from a baseline x′ (black by default, or the blurred input, or the dataset's mean image) to
  x, with the midpoint rule; the steps double until the pixels sum to p_c(x) − p_c(x′) within 1 %;
- Grad-CAM (Selvaraju et al. 2017) on any conv layer: ReLU(Σ_k α_k A_k) with α_k the spatial mean
  of ∂z_c/∂A_k (z_c the class score before the softmax), placed on the input's pixels by the
  layer's receptive-field centres and interpolated bilinearly;
- occlusion (Zeiler and Fergus 2014): the drop of p_c when a black patch covers the pixel,
  averaged over every patch position covering it.

The sanity check (Adebayo et al. 2018) runs the same method on a copy of the model whose weights
are re-initialised (seeded, so the result is reproducible); the stored model is never touched.

It runs in the extraction worker's warm process, on the extraction queue. The model comes from the
extraction worker's one LRU of loaded models (`worker.extraction.MODELS`, keyed by run id and the
model file's mtime), so a model is loaded once for activations and attributions alike; its
`Attributor` (the traced `tf.function`s and, once asked for, the randomised copy) is attached to
that entry and dropped with it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from scipy import ndimage

from shared import attribution_result as ar
from shared.artifacts import MODEL, is_run_id
from shared.datasets import load_raw, to_model_input
from shared.store import SUCCEEDED, RunStore
from worker.extraction import MODELS, ExtractionError, ModelCache, compute_into_run
from worker.progress import JobProgress, Progress, nothing, part

log = logging.getLogger(__name__)

IG_CHUNK = 128  # path points per gradient call
ATTRIBUTOR = "attributor"  # its name among what is attached to a cached model
CLASS_SPEC = tf.TensorSpec((), tf.int32)
ALPHA_SPEC = tf.TensorSpec((None,), tf.float32)
OCCLUSION_CHUNK = 64  # occluded copies per forward call (progress is reported between calls)


class AttributionError(ExtractionError):
    """The job cannot be done; the message is shown to the user as is."""


# --- the compiled pieces of one model -----------------------------------------------------------


class Attributor:
    """A Keras model's probability, gradients, Grad-CAM and occlusion as traced functions."""

    def __init__(self, model: keras.Model):
        self.model = model
        self.last = model.layers[-1]
        self.input_shape = tuple(int(v) for v in model.input_shape[1:])  # (h, w, c)
        self._gradcam: dict[str, Callable[..., Any]] = {}
        self._random: Attributor | None = None
        image_spec = tf.TensorSpec((None, *self.input_shape), tf.float32)
        self.image_spec = image_spec

        @tf.function(input_signature=[image_spec])
        def probabilities(images: tf.Tensor) -> tf.Tensor:
            return model(images, training=False)

        @tf.function(input_signature=[image_spec, CLASS_SPEC])
        def gradients(images: tf.Tensor, target: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            with tf.GradientTape() as tape:
                tape.watch(images)
                probs = model(images, training=False)
                score = tf.reduce_sum(probs[:, target])  # the samples are independent
            return tape.gradient(score, images), probs

        point_spec = tf.TensorSpec(self.input_shape, tf.float32)

        def batch_gradients(images: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
            with tf.GradientTape() as tape:
                tape.watch(images)
                score = tf.reduce_sum(model(images, training=False)[:, target])
            return tape.gradient(score, images)

        @tf.function(input_signature=[point_spec, image_spec, CLASS_SPEC])
        def noisy_mean_gradient(x: tf.Tensor, noise: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
            """SmoothGrad's mean of ∂p_c/∂x over the copies x + noise_i, in one batched call."""
            return tf.reduce_mean(batch_gradients(x[None] + noise, target), axis=0)

        @tf.function(input_signature=[point_spec, point_spec, ALPHA_SPEC, CLASS_SPEC])
        def path_gradient_sum(
            x: tf.Tensor, base: tf.Tensor, alphas: tf.Tensor, target: tf.Tensor
        ) -> tf.Tensor:
            """Integrated Gradients' Σ_i ∂p_c/∂x at base + α_i (x − base), in one batched call
            (summed in float64)."""
            points = base[None] + alphas[:, None, None, None] * (x - base)[None]
            return tf.reduce_sum(tf.cast(batch_gradients(points, target), tf.float64), axis=0)

        self.probabilities = probabilities
        self.gradients = gradients
        self.noisy_mean_gradient = noisy_mean_gradient
        self.path_gradient_sum = path_gradient_sum

    def conv_layers(self) -> list[str]:
        return [layer.name for layer in self.model.layers if isinstance(layer, keras.layers.Conv2D)]

    def gradcam(self, layer: str) -> Callable[..., Any]:
        """(feature maps (h, w, k), ∂z_c/∂maps (h, w, k)) of `layer` for one image and a class."""
        if layer not in self._gradcam:
            conv = self.model.get_layer(layer)
            last = self.last
            inner = keras.Model(self.model.input, [conv.output, last.input])
            softmax = getattr(last, "activation", None) is keras.activations.softmax

            @tf.function(input_signature=[self.image_spec, CLASS_SPEC])
            def cam(images: tf.Tensor, target: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
                with tf.GradientTape() as tape:
                    maps, hidden = inner(images, training=False)
                    if softmax:  # the class score before the softmax
                        scores = tf.matmul(hidden, last.kernel) + last.bias
                    else:
                        scores = last(hidden, training=False)
                    score = tf.reduce_sum(scores[:, target])
                return maps[0], tape.gradient(score, maps)[0]

            self._gradcam[layer] = cam
        return self._gradcam[layer]


def randomised_copy(model: keras.Model, seed: int = ar.RANDOM_SEED) -> keras.Model:
    """A copy of `model` with re-initialised weights: kernels Glorot-uniform from a seeded
    generator, everything else (biases, batch-norm statistics) as the layers initialise it.
    The model given is only read."""
    copy = keras.models.clone_model(model)
    rng = np.random.default_rng(seed)
    weights = []
    for variable in copy.weights:
        shape = tuple(variable.shape)
        if len(shape) >= 2:
            receptive = math.prod(shape[:-2]) if len(shape) > 2 else 1
            fan_in, fan_out = shape[-2] * receptive, shape[-1] * receptive
            limit = math.sqrt(6.0 / (fan_in + fan_out))
            weights.append(rng.uniform(-limit, limit, size=shape).astype(np.float32))
        else:
            weights.append(np.asarray(variable.numpy(), dtype=np.float32))
    copy.set_weights(weights)
    return copy


def randomised(att: Attributor) -> Attributor:
    """The sanity check's model: built once per loaded model, then kept beside it."""
    if att._random is None:
        att._random = Attributor(randomised_copy(att.model))
    return att._random


def attributor(cache: ModelCache, run_id: str, path: Path) -> Attributor:
    """The Attributor of the run's model, from the process's one model cache: built on the
    cached model the first time, then kept beside it."""
    loaded = cache.get(run_id, path)
    model = loaded.model
    if model is None:  # every LoadedModel that _load makes has it
        raise AttributionError("the model could not be loaded for attribution")
    return loaded.attached(ATTRIBUTOR, lambda: Attributor(model))


# --- the methods, on model inputs x of shape (28, 28, 1) in [0, 1] ------------------------------


def _channels_summed(values: np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=np.float32).sum(axis=-1)


def saliency(att: Attributor, x: np.ndarray, target: int) -> np.ndarray:
    grads, _ = att.gradients(tf.constant(x[None]), tf.constant(target, tf.int32))
    return _channels_summed(grads.numpy()[0])


def smoothgrad(
    att: Attributor,
    x: np.ndarray,
    target: int,
    samples: int = ar.SMOOTHGRAD_SAMPLES,
    noise: float = ar.SMOOTHGRAD_NOISE,
    seed: int = ar.SMOOTHGRAD_SEED,
) -> np.ndarray:
    """The mean gradient over `samples` noisy copies of x: one batched gradient call of the
    model's traced `noisy_mean_gradient` (the noise is seeded, so a result means one thing)."""
    grads = att.noisy_mean_gradient(
        tf.constant(x, tf.float32),
        tf.constant(smoothgrad_noise(x.shape, samples, noise, seed)),
        tf.constant(target, tf.int32),
    )
    return _channels_summed(grads.numpy())


def smoothgrad_noise(shape: tuple[int, ...], samples: int, noise: float, seed: int) -> np.ndarray:
    """SmoothGrad's noise: the same for every input of a shape, so it is drawn once."""
    key = (tuple(shape), samples, noise, seed)
    if key not in _NOISE:
        rng = np.random.default_rng(seed)
        _NOISE[key] = rng.normal(0.0, noise, size=(samples, *shape)).astype(np.float32)
        _NOISE[key].setflags(write=False)
    return _NOISE[key]


_NOISE: dict[tuple[Any, ...], np.ndarray] = {}


def baseline_image(x: np.ndarray, kind: str, dataset: str | None = None) -> np.ndarray:
    """Integrated Gradients' starting point for model input `x`."""
    if kind == "black":
        return np.zeros_like(x)
    if kind == "blur":
        return ndimage.gaussian_filter(x, sigma=(ar.BLUR_SIGMA, ar.BLUR_SIGMA, 0)).astype(
            np.float32
        )
    if kind == "mean":
        if dataset is None:
            raise AttributionError("the mean-image baseline needs the run's dataset")
        x_train = load_raw(dataset)[0]
        return to_model_input(x_train.mean(axis=0, keepdims=True).round().astype(np.uint8))[0]
    raise AttributionError(f"unknown baseline {kind!r}; use one of {', '.join(ar.BASELINES)}")


def _path_gradients(
    att: Attributor,
    x: np.ndarray,
    base: np.ndarray,
    target: int,
    steps: int,
    progress: Progress = nothing,
) -> np.ndarray:
    """The mean gradient at the midpoints of `steps` equal pieces of the path base → x, in
    batched calls of IG_CHUNK points (`progress` after each)."""
    alphas = (np.arange(steps, dtype=np.float32) + 0.5) / steps
    total = np.zeros_like(x, dtype=np.float64)
    xs, bs, c = tf.constant(x, tf.float32), tf.constant(base, tf.float32), tf.constant(target)
    for start in range(0, steps, IG_CHUNK):
        chunk = tf.constant(alphas[start : start + IG_CHUNK])
        total += att.path_gradient_sum(xs, bs, chunk, c).numpy()
        progress(min(steps, start + IG_CHUNK) / steps)
    return total / steps


def integrated_gradients(
    att: Attributor,
    x: np.ndarray,
    target: int,
    base: np.ndarray,
    steps: tuple[int, ...] = ar.IG_STEPS,
    tolerance: float = ar.IG_TOLERANCE,
    progress: Progress = nothing,
) -> tuple[np.ndarray, dict[str, Any]]:
    """The map and its completeness check, with the fewest steps that meet `tolerance`
    (`progress`: the share of the most points it might take, all of `steps`)."""
    ends = att.probabilities(tf.constant(np.stack([x, base]))).numpy()
    expected = float(ends[0, target] - ends[1, target])
    attribution = np.zeros(x.shape[:2], dtype=np.float32)
    used, error = 0, math.inf
    most, before = sum(steps), 0
    for count in steps:
        grads = _path_gradients(
            att, x, base, target, count, part(progress, before / most, (before + count) / most)
        )
        before += count
        attribution = _channels_summed((x - base) * grads)
        used = count
        error = abs(float(attribution.sum()) - expected) / max(abs(expected), 1e-12)
        if error <= tolerance or abs(float(attribution.sum()) - expected) < 1e-6:
            break
    check = {
        "total": float(attribution.sum()),
        "expected": expected,
        "relative_error": error if math.isfinite(error) else 0.0,
        "steps": used,
    }
    progress(1.0)
    return attribution, check


def _pair(value: Any) -> tuple[int, int]:
    return (int(value), int(value)) if isinstance(value, int) else (int(value[0]), int(value[1]))


def receptive_grid(model: keras.Model, layer: str) -> tuple[np.ndarray, np.ndarray]:
    """Where the centres of `layer`'s output cells fall on the input, per axis: (offset, jump)
    in input pixels, so cell i is centred on pixel offset + i × jump. Convolutions and poolings
    move and spread the grid; every other layer keeps it."""
    offset, jump = np.zeros(2), np.ones(2)
    for item in model.layers:
        window = None
        if isinstance(item, keras.layers.Conv2D):
            window = _pair(item.kernel_size)
        elif isinstance(item, keras.layers.MaxPooling2D | keras.layers.AveragePooling2D):
            window = _pair(item.pool_size)
        if window is not None:
            k, stride = np.array(window, float), np.array(_pair(item.strides), float)
            before = (
                np.floor(np.maximum(k - stride, 0) / 2) if item.padding == "same" else np.zeros(2)
            )
            offset = offset + ((k - 1) / 2 - before) * jump
            jump = jump * stride
        if item.name == layer:
            break
    return offset, jump


def cam_cells(
    att: Attributor, x: np.ndarray, target: int, layer: str, method: str = "gradcam"
) -> np.ndarray:
    """The layer-sized map: Grad-CAM, ReLU(Σ_k mean_ij(∂z_c/∂A_k) A_k), or HiResCAM,
    Σ_k ∂z_c/∂A_k ⊙ A_k (signed)."""
    maps, grads = att.gradcam(layer)(tf.constant(x[None]), tf.constant(target, tf.int32))
    a, g = maps.numpy().astype(np.float64), grads.numpy().astype(np.float64)
    if method == "hirescam":
        return (a * g).sum(axis=-1)
    return np.maximum((a * g.mean(axis=(0, 1))).sum(axis=-1), 0.0)


def gradcam(
    att: Attributor, x: np.ndarray, target: int, layer: str, method: str = "gradcam"
) -> np.ndarray:
    """Grad-CAM (or HiResCAM) of `layer`, brought to the input's pixels: each pixel reads the map
    bilinearly at its place on the layer's grid of receptive-field centres (clamped at the
    edges), so a cell stays over the pixels it looked at (a plain resize would stretch an 11×11
    map past them)."""
    cam = cam_cells(att, x, target, layer, method)
    offset, jump = receptive_grid(att.model, layer)
    h, w = att.input_shape[:2]
    rows = (np.arange(h) - offset[0]) / jump[0]
    cols = (np.arange(w) - offset[1]) / jump[1]
    grid = np.meshgrid(rows, cols, indexing="ij")
    placed = ndimage.map_coordinates(cam, grid, order=1, mode="nearest")
    return placed.astype(np.float32)


def occlusion_images(
    x: np.ndarray, patch: int = ar.OCCLUSION_PATCH, stride: int = ar.OCCLUSION_STRIDE
) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Copies of x with a black patch at every position (rows, then columns), and the positions."""
    h, w = x.shape[:2]
    rows = list(range(0, h - patch + 1, stride))
    cols = list(range(0, w - patch + 1, stride))
    if rows[-1] != h - patch:
        rows.append(h - patch)
    if cols[-1] != w - patch:
        cols.append(w - patch)
    where = [(r, c) for r in rows for c in cols]
    images = np.repeat(x[None], len(where), axis=0)
    for i, (r, c) in enumerate(where):
        images[i, r : r + patch, c : c + patch, :] = 0.0
    return images, where


def _occluded_probabilities(
    att: Attributor, images: np.ndarray, start: int, target: int, progress: Progress
) -> np.ndarray:
    chunk = images[start : start + OCCLUSION_CHUNK]
    probs = att.probabilities(tf.constant(chunk)).numpy()[:, target]
    progress((start + len(chunk)) / len(images))
    return probs


def occlusion(
    att: Attributor,
    x: np.ndarray,
    target: int,
    patch: int = ar.OCCLUSION_PATCH,
    stride: int = ar.OCCLUSION_STRIDE,
    progress: Progress = nothing,
) -> np.ndarray:
    images, where = occlusion_images(x, patch, stride)
    everything = np.concatenate([x[None], images])
    probs = np.concatenate(
        [
            _occluded_probabilities(att, everything, start, target, progress)
            for start in range(0, len(everything), OCCLUSION_CHUNK)
        ]
    )
    drops = probs[0] - probs[1:]
    total = np.zeros(x.shape[:2], dtype=np.float64)
    count = np.zeros(x.shape[:2], dtype=np.float64)
    for drop, (r, c) in zip(drops, where, strict=True):
        total[r : r + patch, c : c + patch] += drop
        count[r : r + patch, c : c + patch] += 1
    return (total / np.maximum(count, 1)).astype(np.float32)


def attribute(
    att: Attributor,
    x: np.ndarray,
    method: str,
    target: int,
    layer: str | None = None,
    baseline: str = ar.DEFAULT_BASELINE,
    dataset: str | None = None,
    progress: Progress = nothing,
) -> tuple[np.ndarray, dict[str, Any]]:
    """((h, w) float32 attribution, extra facts such as IG's completeness) of one method;
    `progress` goes from 0 to 1 (in steps for Integrated Gradients and occlusion)."""
    extra: dict[str, Any] = {}
    if method == "saliency":
        values = saliency(att, x, target)
    elif method == "smoothgrad":
        values = smoothgrad(att, x, target)
    elif method == "integrated_gradients":
        values, extra["completeness"] = integrated_gradients(
            att, x, target, baseline_image(x, baseline, dataset), progress=progress
        )
    elif method in ar.LAYER_METHODS:
        if layer is None:
            raise AttributionError(f"{method} needs a conv layer")
        values = gradcam(att, x, target, layer, method)
    elif method == "occlusion":
        values = occlusion(att, x, target, progress=progress)
    else:
        raise AttributionError(f"unknown method {method!r}; use one of {', '.join(ar.METHODS)}")
    progress(1.0)
    return np.asarray(values, dtype=np.float32), extra


# --- the job ------------------------------------------------------------------------------------


def compute_attribution(
    store: RunStore,
    run_id: str,
    digest: str,
    params: dict[str, Any],
    cache: ModelCache = MODELS,
    progress: Progress = nothing,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The arrays to store and the facts (`meta`) the summary needs, for one request; with the
    sanity check, the method on the trained model is the first half of `progress`, building
    the randomised copy and the method on it the second."""
    run = store.get_run(run_id, with_history=False)
    if run is None:
        raise AttributionError("the run no longer exists")
    model_path = store.files.path(run_id, MODEL)
    if not model_path.exists():
        raise AttributionError(f"the run has no trained model yet (it is {run['status']})")
    image = store.files.load_array(run_id, ar.input_rel(digest))
    if image is None:
        raise AttributionError("the input image is missing; ask for the attribution again")
    method = str(params.get("method"))
    if method not in ar.METHODS:
        raise AttributionError(f"unknown method {method!r}; use one of {', '.join(ar.METHODS)}")
    att = attributor(cache, run_id, model_path)
    h, w, c = att.input_shape
    if image.shape not in ((h, w, c), (h, w) if c == 1 else ()):
        raise AttributionError(f"the stored input is not a {h}×{w} image with {c} channel(s)")
    image = np.asarray(image, dtype=np.uint8)
    x = to_model_input(image[np.newaxis]).reshape(h, w, c)
    probs = att.probabilities(tf.constant(x[None])).numpy()[0].astype(np.float32)
    classes = probs.shape[0]
    target = params.get("target")
    target = int(np.argmax(probs)) if target is None else int(target)
    if not 0 <= target < classes:
        raise AttributionError(f"target must be a class from 0 to {classes - 1}")
    layer = params.get("layer")
    if method in ar.LAYER_METHODS:
        convs = att.conv_layers()
        layer = layer or (convs[-1] if convs else None)
        if layer not in convs:
            raise AttributionError(f"Grad-CAM needs a conv layer of this model: {', '.join(convs)}")
    baseline = params.get("baseline") or ar.DEFAULT_BASELINE
    sanity = bool(params.get("sanity"))
    first = part(progress, 0.0, 0.5) if sanity else progress
    values, extra = attribute(att, x, method, target, layer, baseline, run.get("dataset"), first)
    arrays: dict[str, np.ndarray] = {"input": image, "attribution": values, "probabilities": probs}
    meta: dict[str, Any] = {
        "target": target,
        "layer": layer if method in ar.LAYER_METHODS else None,
    }
    meta |= extra
    if sanity:
        random_att = randomised(att)
        progress(0.6)  # the copy is built (the first time, most of the second half)
        random_probs = random_att.probabilities(tf.constant(x[None])).numpy()[0]
        random_values, _ = attribute(
            random_att,
            x,
            method,
            target,
            layer,
            baseline,
            run.get("dataset"),
            part(progress, 0.6, 1.0),
        )
        arrays["randomised"] = random_values
        arrays["randomised_probabilities"] = random_probs.astype(np.float32)
        meta["sanity"] = ar.sanity_summary(values, random_values, int(np.argmax(random_probs)))
    return arrays, meta


def attribute_job(store: RunStore, job_id: str) -> str | None:
    """Run one attribution job; returns its final status (None when the job does not exist)."""
    job = store.get_job(job_id)
    if job is None:
        log.info("job %s does not exist (deleted with its run?)", job_id)
        return None
    params = dict(job["params"])
    run_id = str(params.pop("run_id", ""))
    digest = str(params.pop("input_hash", ""))
    key = str(params.pop("key", ""))
    valid = is_run_id(run_id) and is_run_id(digest) and is_run_id(key)
    if job["status"] == SUCCEEDED and valid and store.files.exists(run_id, ar.result_rel(key)):
        return SUCCEEDED  # a duplicate delivery: the result is already there
    meta: dict[str, Any] = {}

    def compute() -> dict[str, np.ndarray]:
        if not valid:
            raise AttributionError("the job does not name a run, an input and a result")
        arrays, found = compute_attribution(
            store, run_id, digest, params, progress=JobProgress(store, job_id)
        )
        meta.update(found)
        return {**arrays, **ar.meta_arrays(found)}  # the meta goes into the file too

    status, saved = compute_into_run(
        store, job_id, run_id, ar.result_rel(key), "attribution", compute
    )
    if status != SUCCEEDED or saved is None:
        return status
    arrays = {name: value for name, value in saved.items() if name != "meta"}
    result = ar.summarize(run_id, digest, key, params, arrays, meta)
    store.set_job(job_id, SUCCEEDED, result=result)
    return SUCCEEDED
