"""Importing a `.keras` model trained elsewhere (issue 12, item 5): what the page and the API do.

The upload is checked here, before anything is stored: it must be a .keras zip whose config.json
(read as data by `shared.keras_archive`) maps onto the layer schema, whose input is the chosen
dataset's images, whose last layer has one unit per class, and whose weights file is no larger
than its layers need. Then the run is recorded as queued with origin `imported`, the archive is
kept in its folder (`upload/model.keras`, never a download) and `cnnlens.train` is sent: the
training worker sees the origin and evaluates the model on the test set instead of training it
(`worker/model_import.py`), writing the files any trained run has. A refusal is an
`ImportRefused` with one sentence; it leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from shared import housekeeping, keras_archive, tasks
from shared.artifacts import IMPORT_ARCHIVE
from shared.config import ConfigError, parse_config
from shared.datasets import describe, input_shape, unavailable_reason
from shared.keras_archive import ArchiveRefused
from shared.queue import BrokerUnavailable, send
from shared.run_states import IMPORTED
from shared.store import RunStore

log = logging.getLogger(__name__)


@dataclass
class ImportRefused(Exception):
    """Why the upload was refused: a sentence, the form field it concerns, an HTTP status."""

    message: str
    field: str = "model"
    status: int = 422

    def __str__(self) -> str:
        return self.message


def import_model(
    store: RunStore,
    data: bytes,
    filename: str,
    dataset: Any,
    name: Any = "",
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    """Check the upload, record the run (queued, origin imported) and send its evaluation.
    Raises ImportRefused, or housekeeping.QueueFull when too many runs already wait.

    With an `idempotency_key` that an earlier import used for the same file, dataset and name,
    nothing is stored or sent: that run comes back marked `"replayed": True` (IdempotencyConflict
    when the key was used for another request)."""
    settings = store.settings
    if not isinstance(dataset, str) or not dataset:
        raise ImportRefused(
            "pick the dataset the model was trained on (e.g. mnist-sample)", "dataset"
        )
    if name is None:
        name = ""
    if not isinstance(name, str):
        raise ImportRefused("must be text", "name")
    try:
        plan = keras_archive.read_plan(data, filename)
    except ArchiveRefused as exc:
        raise ImportRefused(str(exc), "model", exc.status) from None
    if describe(dataset) is not None:  # the input first: it decides every shape after it
        mismatch = keras_archive.input_mismatch(plan, dataset, input_shape(dataset))
        if mismatch:
            raise ImportRefused(mismatch)
    try:
        config, layers = parse_config(
            keras_archive.run_config(plan, dataset, name.strip()),
            settings.param_budget,
            settings.activation_budget,
            settings.batch_activation_budget,
        )
    except ConfigError as exc:
        top = [e for e in exc.errors if e["field"] in ("name", "dataset")]
        if top:
            raise ImportRefused(top[0]["message"], top[0]["field"]) from None
        raise ImportRefused(keras_archive.describe_errors(plan, exc.errors)) from None
    reason = unavailable_reason(config.dataset)
    if reason:
        raise ImportRefused(reason, "dataset")
    try:
        keras_archive.check_weights_size(plan, sum(info.params for info in layers))
    except ArchiveRefused as exc:
        raise ImportRefused(str(exc), "model", exc.status) from None
    if not (idempotency_key and housekeeping.key_in_use(store, idempotency_key)):
        housekeeping.check_queue_room(store)
    run = store.create_run(
        config,
        layers,
        origin=IMPORTED,
        idempotency_key=idempotency_key,
        upload_sha256=hashlib.sha256(data).hexdigest() if idempotency_key else None,
    )
    if run.get("replayed"):  # its file was kept and its evaluation sent the first time
        return run
    try:
        store.files.write_bytes(run["id"], IMPORT_ARCHIVE, data)
    except OSError:
        store.delete_run(run["id"])
        raise
    try:
        send(tasks.TRAIN, run["id"])
    except BrokerUnavailable as exc:
        log.warning("imported run %s stays queued: %s", run["id"], exc)
        run["warning"] = (
            "the task queue is not reachable now; the model is evaluated when it is back"
        )
    return run
