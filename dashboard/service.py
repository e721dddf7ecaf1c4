"""What the pages and the API both do to runs: submit, cancel, delete, ask for activations.

Callbacks and API views stay thin and call these; tests call them directly.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import numpy as np

from dashboard.variants import VariantError, variant
from shared import tasks
from shared.artifacts import CACHE_DIR
from shared.config import ConfigError, RunConfig, parse_config
from shared.datasets import DATASETS, load_raw, unavailable_reason
from shared.extraction_result import cache_rel, summarize
from shared.queue import BrokerUnavailable, send
from shared.store import RUNNING, RunStore

log = logging.getLogger(__name__)


def validate(data: Any, store: RunStore) -> tuple[RunConfig, list]:
    """parse_config plus the checks that depend on this machine (is the dataset here?)."""
    config, layers = parse_config(data, store.settings.param_budget)
    reason = unavailable_reason(config.dataset)
    if reason:
        raise ConfigError([{"field": "dataset", "message": reason}])
    if config.train_limit is not None and config.validation_split > 0:
        held_out = int(config.train_limit * config.validation_split)
        if held_out < 1:
            raise ConfigError(
                [
                    {
                        "field": "train_limit",
                        "message": "too few images to hold any out for validation; raise train_limit "
                        "or set validation_split to 0",
                    }
                ]
            )
    return config, layers


def submit_run(store: RunStore, data: Any, parent_id: str | None = None) -> dict[str, Any]:
    """Validate, record the run as queued, and enqueue its training. Raises ConfigError.

    The run is in the store before the message is sent: if the broker is down, the run stays
    queued and the recovery sweep enqueues it again when the broker is back.
    """
    config, layers = validate(data, store)
    run = store.create_run(config, layers, parent_id=parent_id)
    try:
        send(tasks.TRAIN, run["id"])
    except BrokerUnavailable as exc:
        log.warning("run %s stays queued: %s", run["id"], exc)
        run["warning"] = "the task queue is not reachable now; the run will start when it is back"
    return run


def submit_variant(store: RunStore, run_id: str, kind: str) -> dict[str, Any]:
    """Queue a one-click variant of a run (dashboard/variants.py), with the run as its parent.

    Raises VariantError when the variant does not apply, ConfigError when this machine refuses it.
    """
    run = store.get_run(run_id, with_history=False)
    if run is None:
        raise VariantError("the run was not found; it may have been deleted")
    return submit_run(store, variant(run["config"], kind), parent_id=run_id)


def cancel_run(store: RunStore, run_id: str) -> str | None:
    return store.request_cancel(run_id)


def delete_run(store: RunStore, run_id: str) -> bool:
    """Delete a run. A running one is asked to stop first, so its worker finds it gone and quits."""
    run = store.get_run(run_id, with_history=False)
    if run is None:
        return False
    if run["status"] == RUNNING:
        store.request_cancel(run_id)
    return store.delete_run(run_id)


class InputError(ValueError):
    """The chosen input cannot be used; the message says why."""


def test_image(dataset: str, index: int) -> tuple[np.ndarray, int]:
    """A test-set image (uint8 28×28) and its label."""
    _, _, x_test, y_test = load_raw(dataset)
    if not 0 <= index < len(x_test):
        raise InputError(f"test_index must be between 0 and {len(x_test) - 1} for {dataset}")
    return x_test[index], int(y_test[index])


def input_hash(image: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(image, dtype=np.uint8).tobytes()).hexdigest()[:32]


def request_activations(store: RunStore, run_id: str, image: np.ndarray) -> dict[str, Any]:
    """Ask for every layer's activations of `image` (uint8 28×28) through the run's model.

    Returns {"status": "cached", "result": ...} when the store already holds them, else
    {"status": "queued", "job_id": ...} after enqueueing an extraction job.
    """
    image = np.asarray(image, dtype=np.uint8)
    if image.shape != (28, 28):
        raise InputError("the input must be a 28×28 grayscale image")
    digest = input_hash(image)
    cached = store.files.load_arrays(run_id, cache_rel(digest))
    if cached is not None:
        return {"status": "cached", "result": summarize_cached(run_id, digest, cached)}
    store.files.save_array(run_id, f"{CACHE_DIR}/{digest}.input.npy", image)
    job_id = hashlib.sha256(f"{run_id}:{digest}".encode()).hexdigest()[:32]
    existing = store.get_job(job_id)
    if existing and existing["status"] in ("queued", "running"):
        return {"status": "queued", "job_id": job_id}
    if existing:  # a finished job whose cache file is gone, or a failed one: run it again
        store.set_job(job_id, "queued")
    else:
        store.create_job("extract", run_id, {"run_id": run_id, "input_hash": digest}, job_id)
    try:
        send(tasks.EXTRACT, job_id)
    except BrokerUnavailable:  # not left "queued" forever: the next request sends it again
        store.set_job(job_id, "failed", error="the task queue was not reachable; ask again")
        raise
    return {"status": "queued", "job_id": job_id}


def summarize_cached(run_id: str, digest: str, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    return summarize(run_id, digest, arrays)


def dataset_classes(dataset: str) -> tuple[str, ...]:
    return DATASETS[dataset].classes
