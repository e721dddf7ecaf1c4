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

It runs in the extraction worker's warm process, on the extraction queue. Loaded models stay in an
LRU like the extraction worker's (`ModelCache`, keyed by run id and the model file's mtime), each
with its traced `tf.function`s and, once asked for, its randomised copy, all dropped together.
"""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
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
from worker.extraction import MODEL_CACHE_SIZE, ExtractionError, compute_into_run

log = logging.getLogger(__name__)

IG_CHUNK = 128  # path points per gradient call
CLASS_SPEC = tf.TensorSpec((), tf.int32)


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

        self.probabilities = probabilities
        self.gradients = gradients

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


class AttributorCache:
    """The last few loaded models of this process, least recently used dropped first; a model
    file rewritten since (another mtime) is loaded again."""

    def __init__(self, size: int = MODEL_CACHE_SIZE):
        self.size = size
        self._models: OrderedDict[str, tuple[int, Attributor]] = OrderedDict()

    def get(self, run_id: str, path: Path) -> Attributor:
        mtime_ns = path.stat().st_mtime_ns
        entry = self._models.get(run_id)
        if entry is None or entry[0] != mtime_ns:
            # safe_mode=True: a .keras file never gets to run arbitrary code (lambda layers).
            model = keras.saving.load_model(path, compile=False, safe_mode=True)
            entry = (mtime_ns, Attributor(model))
            self._models[run_id] = entry
        self._models.move_to_end(run_id)
        while len(self._models) > self.size:
            self._models.popitem(last=False)
        return entry[1]


MODELS = AttributorCache()


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
    rng = np.random.default_rng(seed)
    noisy = x[None] + rng.normal(0.0, noise, size=(samples, *x.shape)).astype(np.float32)
    grads, _ = att.gradients(tf.constant(noisy), tf.constant(target, tf.int32))
    return _channels_summed(grads.numpy().mean(axis=0))


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


def _path_gradients(att: Attributor, x: np.ndarray, base: np.ndarray, target: int, steps: int):
    """The mean gradient at the midpoints of `steps` equal pieces of the path base → x."""
    alphas = (np.arange(steps, dtype=np.float32) + 0.5) / steps
    total = np.zeros_like(x, dtype=np.float64)
    for start in range(0, steps, IG_CHUNK):
        a = alphas[start : start + IG_CHUNK, None, None, None]
        points = (base[None] + a * (x - base)[None]).astype(np.float32)
        grads, _ = att.gradients(tf.constant(points), tf.constant(target, tf.int32))
        total += grads.numpy().astype(np.float64).sum(axis=0)
    return total / steps


def integrated_gradients(
    att: Attributor,
    x: np.ndarray,
    target: int,
    base: np.ndarray,
    steps: tuple[int, ...] = ar.IG_STEPS,
    tolerance: float = ar.IG_TOLERANCE,
) -> tuple[np.ndarray, dict[str, Any]]:
    """The map and its completeness check, with the fewest steps that meet `tolerance`."""
    ends = att.probabilities(tf.constant(np.stack([x, base]))).numpy()
    expected = float(ends[0, target] - ends[1, target])
    attribution = np.zeros(x.shape[:2], dtype=np.float32)
    used, error = 0, math.inf
    for count in steps:
        grads = _path_gradients(att, x, base, target, count)
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


def occlusion(
    att: Attributor,
    x: np.ndarray,
    target: int,
    patch: int = ar.OCCLUSION_PATCH,
    stride: int = ar.OCCLUSION_STRIDE,
) -> np.ndarray:
    images, where = occlusion_images(x, patch, stride)
    probs = att.probabilities(tf.constant(np.concatenate([x[None], images]))).numpy()[:, target]
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
) -> tuple[np.ndarray, dict[str, Any]]:
    """(28×28 float32 attribution, extra facts such as IG's completeness) of one method."""
    extra: dict[str, Any] = {}
    if method == "saliency":
        values = saliency(att, x, target)
    elif method == "smoothgrad":
        values = smoothgrad(att, x, target)
    elif method == "integrated_gradients":
        values, extra["completeness"] = integrated_gradients(
            att, x, target, baseline_image(x, baseline, dataset)
        )
    elif method in ar.LAYER_METHODS:
        if layer is None:
            raise AttributionError(f"{method} needs a conv layer")
        values = gradcam(att, x, target, layer, method)
    elif method == "occlusion":
        values = occlusion(att, x, target)
    else:
        raise AttributionError(f"unknown method {method!r}; use one of {', '.join(ar.METHODS)}")
    return np.asarray(values, dtype=np.float32), extra


# --- the job ------------------------------------------------------------------------------------


def compute_attribution(
    store: RunStore,
    run_id: str,
    digest: str,
    params: dict[str, Any],
    cache: AttributorCache = MODELS,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The arrays to store and the facts (`meta`) the summary needs, for one request."""
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
    att = cache.get(run_id, model_path)
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
    values, extra = attribute(att, x, method, target, layer, baseline, run.get("dataset"))
    arrays: dict[str, np.ndarray] = {"input": image, "attribution": values, "probabilities": probs}
    meta: dict[str, Any] = {
        "target": target,
        "layer": layer if method in ar.LAYER_METHODS else None,
    }
    meta |= extra
    if params.get("sanity"):
        random_att = randomised(att)
        random_probs = random_att.probabilities(tf.constant(x[None])).numpy()[0]
        random_values, _ = attribute(
            random_att, x, method, target, layer, baseline, run.get("dataset")
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
        arrays, found = compute_attribution(store, run_id, digest, params)
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
