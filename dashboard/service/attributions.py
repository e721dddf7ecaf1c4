"""Ask for an attribution (which pixels counted for a class) of one input through a run's model.

Like activations (run_actions.request_activations): the input is stored in the run folder, a job
with an id derived from the run, the input and the parameters is created and `cnnlens.attribute`
sent to the extraction queue; a result already in the run folder is answered at once. Pages and
the API both validate with `validate`, which names the field at fault.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

import numpy as np

from dashboard.service.run_actions import InputError, input_hash
from dashboard.service.run_data import layer_infos
from shared import attribution_result as ar
from shared import housekeeping, tasks
from shared.datasets import image_shape
from shared.numbers import whole_number
from shared.queue import BrokerUnavailable, send
from shared.store import SUCCEEDED, RunStore

METHODS = ar.METHODS
FIELDS = ("method", "target", "layer", "baseline", "sanity_check")


class AttributionInvalid(ValueError):
    """A request's parameter cannot be used: `field` names it, the message says why."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def conv_layers(run: dict[str, Any]) -> list[str]:
    return [info.name for info in layer_infos(run) if info.type == "conv2d"]


def class_count(run: dict[str, Any]) -> int:
    infos = layer_infos(run)
    return int(infos[-1].output_shape[0]) if infos and len(infos[-1].output_shape) == 1 else 0


def validate(run: dict[str, Any], body: dict[str, Any], label: int | None = None) -> dict[str, Any]:
    """The canonical parameters (shared.attribution_result.canonical) of a request's `method`,
    `target` (a class, "predicted", or "true" when the input's `label` is known), `layer`
    (Grad-CAM; default its last conv layer), `baseline` (Integrated Gradients) and
    `sanity_check`; AttributionInvalid naming the field otherwise."""
    method = body.get("method")
    if method not in ar.METHODS:
        raise AttributionInvalid("method", f"must be one of: {', '.join(ar.METHODS)}")
    target = body.get("target")
    classes = class_count(run)
    if target in (None, "predicted"):
        target = None
    elif target == "true":
        if label is None:
            raise AttributionInvalid(
                "target", '"true" needs a test image (test_index); send a class number instead'
            )
        target = int(label)
    elif whole_number(target) is None or not 0 <= target < classes:
        raise AttributionInvalid(
            "target",
            f'must be a class from 0 to {classes - 1}, "predicted" (the default) or "true"',
        )
    layer = body.get("layer")
    convs = conv_layers(run)
    if method in ar.LAYER_METHODS:
        if layer is None:
            layer = convs[-1] if convs else None
        if layer not in convs:
            raise AttributionInvalid(
                "layer", f"must be a conv layer of this run: {', '.join(convs) or 'it has none'}"
            )
    elif layer is not None:
        raise AttributionInvalid("layer", "only gradcam and hirescam take a layer")
    baseline = body.get("baseline")
    if baseline is not None and (method != "integrated_gradients" or baseline not in ar.BASELINES):
        message = (
            f"must be one of: {', '.join(ar.BASELINES)}"
            if method == "integrated_gradients"
            else "only integrated_gradients takes a baseline"
        )
        raise AttributionInvalid("baseline", message)
    sanity = body.get("sanity_check", False)
    if not isinstance(sanity, bool):
        raise AttributionInvalid("sanity_check", "must be true or false")
    return ar.canonical(str(method), target, layer, baseline, sanity)


def cached_arrays(
    store: RunStore, run_id: str, digest: str, params: dict[str, Any]
) -> dict[str, np.ndarray] | None:
    return store.files.load_arrays(run_id, ar.result_rel(ar.attribution_key(digest, params)))


def cached_result(
    store: RunStore, run: dict[str, Any], digest: str, params: dict[str, Any]
) -> dict[str, Any] | None:
    key = ar.attribution_key(digest, params)
    arrays = store.files.load_arrays(run["id"], ar.result_rel(key))
    if arrays is None or "attribution" not in arrays:
        return None
    return ar.summarize(run["id"], digest, key, params, arrays, ar.read_meta(arrays))


def _evict(store: RunStore, run_id: str, keep: str, limit: int = ar.MAX_FILES) -> None:
    """At most `limit` results per run: the least recently written go first."""
    folder = store.files.path(run_id, ar.ATTRIBUTION_DIR)
    try:
        names = [n for n in os.listdir(folder) if n.endswith(".npz") and not n.startswith(".")]
    except OSError:
        return
    if len(names) < limit:
        return
    dated = []
    for name in names:
        with contextlib.suppress(OSError):
            dated.append((os.stat(folder / name).st_mtime, name))
    for _when, name in sorted(dated)[: len(dated) - limit + 1]:
        if name != f"{keep}.npz":
            store.files.remove(run_id, f"{ar.ATTRIBUTION_DIR}/{name}")


def request_attribution(
    store: RunStore, run: dict[str, Any], image: np.ndarray, params: dict[str, Any]
) -> dict[str, Any]:
    """{"status": "cached", "result": ...} when the run folder holds it, else
    {"status": "queued", "job_id": ...} after enqueueing an attribution job. `params` come from
    `validate`. Raises InputError for an unusable image and BrokerUnavailable (the job is then
    marked failed, so asking again sends it again)."""
    if run["status"] != SUCCEEDED:
        raise InputError(f"the run has no trained model yet (it is {run['status']})")
    image = np.asarray(image, dtype=np.uint8)
    expected = image_shape(run["dataset"])
    if image.shape != expected:
        kind = "grayscale" if len(expected) == 2 else "colour"
        raise InputError(f"the input must be a {expected[0]}×{expected[1]} {kind} image")
    digest = input_hash(image)
    cached = cached_result(store, run, digest, params)
    if cached is not None:
        return {"status": "cached", "result": cached}
    run_id = run["id"]
    key = ar.attribution_key(digest, params)
    if not store.files.exists(run_id, ar.input_rel(digest)):
        store.files.save_array(run_id, ar.input_rel(digest), image)
    _evict(store, run_id, key)
    housekeeping.maybe_prune_jobs(store)
    job_id = ar.attribution_job_id(run_id, key)
    existing = store.get_job(job_id)
    if existing and existing["status"] in ("queued", "running"):
        return {"status": "queued", "job_id": job_id}
    if existing:  # failed, or succeeded with its file gone: run it again
        store.set_job(job_id, "queued")
    else:
        job_params = {"run_id": run_id, "input_hash": digest, "key": key, **params}
        store.create_job("attribute", run_id, job_params, job_id)
    try:
        send(tasks.ATTRIBUTE, job_id)
    except BrokerUnavailable:
        store.set_job(job_id, "failed", error="the task queue was not reachable; ask again")
        raise
    return {"status": "queued", "job_id": job_id}


def job_progress(store: RunStore, job_id: str) -> float | None:
    """How far a running job has got (0 to 1); None when it is not running or says nothing
    (it is short: worker/progress.py writes nothing in a job's first half second)."""
    job = store.get_job(job_id)
    if job is None or job["status"] != "running" or job.get("progress") is None:
        return None
    return float(job["progress"])


def job_result(store: RunStore, job_id: str) -> tuple[str, Any]:
    """("succeeded", result) | ("failed", error sentence) | ("queued"/"running", None) |
    ("gone", None) for a job the page follows."""
    job = store.get_job(job_id)
    if job is None:
        return "gone", None
    if job["status"] == SUCCEEDED:
        return SUCCEEDED, job.get("result")
    if job["status"] == "failed":
        return "failed", job.get("error")
    return str(job["status"]), None
