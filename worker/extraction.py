"""Every layer's activations for one user-chosen input, through a run's saved model.

The extraction worker is long-lived, so recently used models stay loaded (an LRU keyed by run id
and the model file's mtime) with a compiled `tf.function` that returns all layer outputs in one
forward pass: ~1-2 ms warm, against ~60 ms for `model.predict` called per request.

That cache (`MODELS`) is the only one of the process: attributions (worker/attribution.py) and the
analysis jobs take their model from it too, and keep what they build on it (traced gradients, a
randomised copy) beside it with `LoadedModel.attached`, so a worker holds each model once and
drops everything built on it with it.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

import keras
import numpy as np
import tensorflow as tf

from shared.artifacts import CACHE_DIR, MODEL, is_run_id
from shared.config import INPUT_SHAPE
from shared.datasets import to_model_input
from shared.extraction_result import cache_rel, summarize
from shared.store import FAILED, RUNNING, SUCCEEDED, RunStore
from worker.model import layer_outputs_model, output_layer_names
from worker.results import to_float16

log = logging.getLogger(__name__)

MODEL_CACHE_SIZE = 8
T = TypeVar("T")


class ExtractionError(Exception):
    """The job cannot be done; the message is shown to the user as is."""


@dataclass
class LoadedModel:
    mtime_ns: int
    layer_names: list[str]
    forward: Callable[[tf.Tensor], list[tf.Tensor]]
    input_shape: tuple[int, int, int] = INPUT_SHAPE  # (h, w, c) of one image
    model: keras.Model | None = None  # the loaded model itself (forward reads its weights)
    # What other jobs built on this model (attribution's traced gradients, …), by name.
    extras: dict[str, Any] = field(default_factory=dict)

    def attached(self, name: str, make: Callable[[], T]) -> T:
        """The object `make` builds on this model, built on first use and kept (and dropped)
        with it."""
        if name not in self.extras:
            self.extras[name] = make()
        return cast(T, self.extras[name])

    @property
    def image_shape(self) -> tuple[int, ...]:
        """The shape of a stored input: (h, w) for grayscale, as the probe inputs are stored."""
        h, w, c = self.input_shape
        return (h, w) if c == 1 else (h, w, c)


def _load(path: Path, mtime_ns: int) -> LoadedModel:
    # safe_mode=True: a .keras file never gets to run arbitrary code (lambda layers) here.
    model = keras.saving.load_model(path, compile=False, safe_mode=True)
    lens = layer_outputs_model(model)
    h, w, c = (int(v) for v in model.input_shape[1:])

    @tf.function(input_signature=[tf.TensorSpec((None, h, w, c), tf.float32)])
    def forward(images: tf.Tensor) -> list[tf.Tensor]:
        outputs = lens(images, training=False)
        return list(outputs) if isinstance(outputs, list | tuple) else [outputs]

    forward(tf.zeros((1, h, w, c)))  # trace now, not on the user's request
    return LoadedModel(mtime_ns, output_layer_names(model), forward, (h, w, c), model)


class ModelCache:
    """The last few loaded models of this process, least recently used dropped first."""

    def __init__(self, size: int = MODEL_CACHE_SIZE):
        self.size = size
        self._models: OrderedDict[str, LoadedModel] = OrderedDict()

    def get(self, run_id: str, path: Path) -> LoadedModel:
        mtime_ns = path.stat().st_mtime_ns
        loaded = self._models.get(run_id)
        if loaded is None or loaded.mtime_ns != mtime_ns:  # a rewritten file is loaded again
            loaded = _load(path, mtime_ns)
            self._models[run_id] = loaded
        self._models.move_to_end(run_id)
        while len(self._models) > self.size:
            self._models.popitem(last=False)
        return loaded


MODELS = ModelCache()


def compute_activations(
    store: RunStore, run_id: str, digest: str, cache: ModelCache = MODELS
) -> dict[str, np.ndarray]:
    """input, probabilities and `layer:<name>` arrays (model order) for the stored input."""
    run = store.get_run(run_id, with_history=False)
    if run is None:
        raise ExtractionError("the run no longer exists")
    model_path = store.files.path(run_id, MODEL)
    if not model_path.exists():
        raise ExtractionError(f"the run has no trained model yet (it is {run['status']})")
    image = store.files.load_array(run_id, f"{CACHE_DIR}/{digest}.input.npy")
    if image is None:
        raise ExtractionError("the input image is missing; ask for the activations again")
    loaded = cache.get(run_id, model_path)
    if image.shape != loaded.image_shape:
        h, w, c = loaded.input_shape
        raise ExtractionError(
            f"the stored input is not a {h}×{w} {'grayscale' if c == 1 else 'colour'} image"
        )
    image = np.asarray(image, dtype=np.uint8)
    outputs = loaded.forward(tf.constant(to_model_input(image[np.newaxis])))
    arrays: dict[str, np.ndarray] = {
        "input": image,
        "probabilities": np.asarray(outputs[-1][0], dtype=np.float32),
    }
    for name, output in zip(loaded.layer_names, outputs, strict=True):
        arrays[f"layer:{name}"] = to_float16(output[0].numpy())
    return arrays


def extract_job(store: RunStore, job_id: str) -> str | None:
    """Run one extraction job; returns its final status (None when the job does not exist)."""
    job = store.get_job(job_id)
    if job is None:
        log.info("job %s does not exist (deleted with its run?)", job_id)
        return None
    run_id = str(job["params"].get("run_id", ""))
    digest = str(job["params"].get("input_hash", ""))
    if (
        job["status"] == SUCCEEDED
        and is_run_id(run_id)
        and is_run_id(digest)
        and store.files.exists(run_id, cache_rel(digest))
    ):
        return SUCCEEDED  # a duplicate delivery: the result is already there

    def compute() -> dict[str, np.ndarray]:
        if not (is_run_id(run_id) and is_run_id(digest)):
            raise ExtractionError("the job does not name a run and an input")
        return compute_activations(store, run_id, digest)

    status, arrays = compute_into_run(
        store, job_id, run_id, cache_rel(digest), "activations", compute
    )
    if status != SUCCEEDED or arrays is None:
        return status
    store.set_job(job_id, SUCCEEDED, result=summarize(run_id, digest, arrays))
    return SUCCEEDED


def compute_into_run(
    store: RunStore,
    job_id: str,
    run_id: str,
    rel: str,
    what: str,
    compute: Callable[[], dict[str, np.ndarray]],
) -> tuple[str | None, dict[str, np.ndarray] | None]:
    """The common part of a job that computes arrays and keeps them in the run's folder at `rel`:
    mark it running, compute, save, and end it failed with a sentence when that goes wrong.

    Returns (SUCCEEDED, the arrays) for the caller to record its result; (FAILED, None) once the
    job is marked failed; (None, None) when the run was deleted meanwhile (its folder goes too).
    """
    store.set_job(job_id, RUNNING)
    try:
        arrays = compute()
        store.files.save_arrays(run_id, rel, **arrays)
        if store.get_run(run_id, with_history=False) is None:  # deleted while we computed
            store.files.remove_run(run_id)
            return None, None
    except ExtractionError as exc:
        store.set_job(job_id, FAILED, error=str(exc))
        return FAILED, None
    except Exception as exc:
        log.exception("%s job %s failed", what, job_id)
        error = f"the {what} could not be computed ({type(exc).__name__}); the worker log has the details"
        store.set_job(job_id, FAILED, error=error)
        return FAILED, None
    return SUCCEEDED, arrays
