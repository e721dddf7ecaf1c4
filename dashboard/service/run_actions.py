"""What the pages and the API both do to runs: submit, cancel, delete, retry, annotate (name,
tags, notes), ask for activations.

Callbacks and API views stay thin and call these; tests call them directly.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from typing import Any

import numpy as np

from dashboard.service.variants import VariantError, variant
from shared import housekeeping, tasks
from shared.artifacts import CACHE_DIR
from shared.config import CONTROL_CHARS, MAX_NAME, ConfigError, RunConfig, parse_config
from shared.datasets import class_names, image_shape, load_raw, unavailable_reason
from shared.extraction_result import cache_rel, summarize
from shared.queue import BrokerUnavailable, send
from shared.run_states import IMPORTED
from shared.store import CANCELLED, FAILED, INTERRUPTED, RUNNING, RunStore

log = logging.getLogger(__name__)


def validate(data: Any, store: RunStore) -> tuple[RunConfig, list]:
    """parse_config plus the checks that depend on this machine (is the dataset here?)."""
    settings = store.settings
    config, layers = parse_config(
        data, settings.param_budget, settings.activation_budget, settings.batch_activation_budget
    )
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


def submit_run(
    store: RunStore,
    data: Any,
    parent_id: str | None = None,
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    """Validate, record the run as queued, and enqueue its training. Raises ConfigError,
    IdempotencyConflict when `idempotency_key` was used for another config, and QueueFull when
    too many runs already wait (shared/housekeeping.py).

    The run is in the store before the message is sent: if the broker is down, the run stays
    queued and the recovery sweep enqueues it again when the broker is back. A request repeated
    with the same key gets the first run back (`"replayed": True`) and sends nothing.
    """
    config, layers = validate(data, store)
    if not (idempotency_key and housekeeping.key_in_use(store, idempotency_key)):
        housekeeping.check_queue_room(store)  # QueueFull past CNNLENS_MAX_QUEUED_RUNS
    run = store.create_run(config, layers, parent_id=parent_id, idempotency_key=idempotency_key)
    if run.get("replayed"):
        return run
    try:
        send(tasks.TRAIN, run["id"])
    except BrokerUnavailable as exc:
        log.warning("run %s stays queued: %s", run["id"], exc)
        run["warning"] = "the task queue is not reachable now; the run will start when it is back"
    return run


def submit_variant(
    store: RunStore, run_id: str, kind: str, idempotency_key: str | None = None
) -> dict[str, Any]:
    """Queue a one-click variant of a run (dashboard/service/variants.py), with the run as its parent.

    Raises VariantError when the variant does not apply, ConfigError when this machine refuses it.
    """
    run = store.get_run(run_id, with_history=False)
    if run is None:
        raise VariantError("the run was not found; it may have been deleted")
    config = variant(run["config"], kind)
    return submit_run(store, config, parent_id=run_id, idempotency_key=idempotency_key)


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


RETRYABLE = (FAILED, CANCELLED, INTERRUPTED)


class RunStateError(ValueError):
    """The run's status does not allow this action; the message says why."""


def retry_run(
    store: RunStore, run_id: str, idempotency_key: str | None = None
) -> dict[str, Any] | None:
    """A new run with the same config (and current name), its parent the run retried.

    An interrupted run would also resume by itself once a worker is back, so it is cancelled:
    retrying means starting over, once. None when there is no such run; RunStateError for a run
    that is queued, running or succeeded; ConfigError when the config no longer validates here
    (its dataset is gone, say).
    """
    run = store.get_run(run_id, with_history=False)
    if run is None:
        return None
    if run["status"] not in RETRYABLE:
        raise RunStateError(
            f"run {run_id} is {run['status']}; only a failed, cancelled or interrupted run can be "
            "retried (clone it to start a copy of any run)"
        )
    if run.get("origin") == IMPORTED:  # its weights came from a file, which is gone once it ends
        raise RunStateError(
            f"run {run_id} was imported from a .keras file; import the file again to evaluate "
            "it again (clone it to train the same layers here)"
        )
    config = {**run["config"], "name": run["name"]}
    new = submit_run(store, config, parent_id=run_id, idempotency_key=idempotency_key)
    if run["status"] == INTERRUPTED:
        store.request_cancel(run_id)
    return new


MAX_TAGS = 20
MAX_NOTES = 5000
TAG_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:+-]{0,31}")
TAG_RULE = (
    "up to 32 letters, digits and _ . : + - (starting with a letter or digit), such as "
    "'baseline' or 'lr:0.01'"
)
NOTES_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # newlines and tabs are fine
ANNOTATIONS = ("name", "tags", "notes")


def parse_tags(text: str | None) -> list[str]:
    """Tags typed as one line, separated by commas or spaces."""
    return [t for t in re.split(r"[,\s]+", text or "") if t]


def validate_annotations(data: Any) -> dict[str, Any]:
    """The store columns for a change of name, tags or notes; ConfigError naming each bad field."""
    if not isinstance(data, dict):
        raise ConfigError(
            [{"field": "body", "message": "must be a JSON object with any of: name, tags, notes"}]
        )
    errors = [
        {"field": key[:80], "message": "unknown field; only name, tags and notes can be changed"}
        for key in data
        if key not in ANNOTATIONS
    ]
    values: dict[str, Any] = {}
    if "name" in data:
        name = data["name"]
        if not isinstance(name, str):
            errors.append({"field": "name", "message": "must be text (a JSON string)"})
        elif CONTROL_CHARS.search(name):
            errors.append(
                {
                    "field": "name",
                    "message": "must not contain control characters (such as "
                    "newlines, tabs or NUL)",
                }
            )
        elif not name.strip():
            errors.append({"field": "name", "message": "must not be empty"})
        elif len(name.strip()) > MAX_NAME:
            errors.append({"field": "name", "message": f"must be at most {MAX_NAME} characters"})
        else:
            values["name"] = name.strip()
    if "tags" in data:
        tags = data["tags"]
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            errors.append({"field": "tags", "message": "must be a list of texts (JSON strings)"})
        else:
            unique = list(dict.fromkeys(t.strip() for t in tags))
            bad = [t for t in unique if not TAG_RE.fullmatch(t)]
            if bad:
                shown = repr(bad[0] if len(bad[0]) <= 40 else bad[0][:40] + "…")
                errors.append({"field": "tags", "message": f"tag {shown} is not valid: {TAG_RULE}"})
            elif len(unique) > MAX_TAGS:
                errors.append({"field": "tags", "message": f"at most {MAX_TAGS} tags"})
            else:
                values["tags"] = json.dumps(unique)
    if "notes" in data:
        notes = data["notes"]
        if not isinstance(notes, str):
            errors.append({"field": "notes", "message": "must be text (a JSON string)"})
        elif NOTES_CONTROL.search(notes):
            errors.append(
                {
                    "field": "notes",
                    "message": "must not contain control characters other than newlines and tabs",
                }
            )
        elif len(notes) > MAX_NOTES:
            errors.append({"field": "notes", "message": f"must be at most {MAX_NOTES} characters"})
        else:
            values["notes"] = notes
    if errors:
        raise ConfigError(errors)
    return values


def annotate_run(store: RunStore, run_id: str, data: Any) -> dict[str, Any] | None:
    """Rename a run, set its tags or notes (any status); None when there is no such run."""
    values = validate_annotations(data)
    if store.get_run(run_id, with_history=False) is None:
        return None
    if values:
        store.update_fields(run_id, **values)
    return store.get_run(run_id)


class InputError(ValueError):
    """The chosen input cannot be used; the message says why."""


def test_image(dataset: str, index: int) -> tuple[np.ndarray, int]:
    """A test-set image (uint8 (h, w) or (h, w, 3)) and its label."""
    _, _, x_test, y_test = load_raw(dataset)
    if not 0 <= index < len(x_test):
        raise InputError(f"test_index must be between 0 and {len(x_test) - 1} for {dataset}")
    return x_test[index], int(y_test[index])


def input_hash(image: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(image, dtype=np.uint8).tobytes()).hexdigest()[:32]


def extraction_job_id(run_id: str, digest: str) -> str:
    """One extraction job per (run, input): asking twice while it runs queues nothing new."""
    return hashlib.sha256(f"{run_id}:{digest}".encode()).hexdigest()[:32]


def request_activations(store: RunStore, run_id: str, image: np.ndarray) -> dict[str, Any]:
    """Ask for every layer's activations of `image` (uint8, the shape of one image of the run's
    dataset: (h, w) grayscale or (h, w, 3)) through the run's model.

    Returns {"status": "cached", "result": ...} when the store already holds them, else
    {"status": "queued", "job_id": ...} after enqueueing an extraction job.
    """
    image = np.asarray(image, dtype=np.uint8)
    run = store.get_run(run_id, with_history=False)
    expected = image_shape(run["dataset"]) if run else (28, 28)
    if image.shape != expected:
        kind = "grayscale" if len(expected) == 2 else "colour"
        raise InputError(f"the input must be a {expected[0]}×{expected[1]} {kind} image")
    digest = input_hash(image)
    cached = store.files.load_arrays(run_id, cache_rel(digest))
    if cached is not None:
        housekeeping.touch_cache(store, run_id, digest)  # recently used: evicted last
        return {"status": "cached", "result": summarize_cached(run_id, digest, cached)}
    store.files.save_array(run_id, f"{CACHE_DIR}/{digest}.input.npy", image)
    # Room for the new result: the run's least recently used extractions go past the limit.
    housekeeping.evict_cache(store, run_id, keep=(digest,))
    housekeeping.maybe_prune_jobs(store)
    job_id = extraction_job_id(run_id, digest)
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
    return class_names(dataset)
