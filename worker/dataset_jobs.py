"""Import one uploaded dataset: the `import_dataset` job, run on the analysis worker.

The dashboard has saved the upload in `<data dir>/datasets/<id>/upload.bin`, created the dataset's
row (`importing`) and a job; this reads the upload with `shared.dataset_import` (bounded memory,
nothing executed), writes the four arrays (`x_train.npy` … `y_test.npy`) and then `meta.json`,
each atomically, and marks the dataset ready. Any
refusal or error fails the dataset with a sentence and removes its folder, so a bad archive
leaves nothing behind. No TensorFlow here: it is numpy and Pillow.
"""

from __future__ import annotations

import logging
import time

import numpy as np
from billiard.exceptions import SoftTimeLimitExceeded

from shared.dataset_import import (
    DEFAULT_TEST_FRACTION,
    DatasetRejected,
    Imported,
    Limits,
    read_upload,
)
from shared.store import FAILED, RUNNING, SUCCEEDED, RunStore
from shared.store_datasets import IMPORTING, DatasetCatalogue

log = logging.getLogger(__name__)

KIND = "import_dataset"  # jobs.kind
PROGRESS_EVERY = 0.5  # seconds between progress writes


def arrays_of(data: Imported) -> dict[str, np.ndarray]:
    """The dataset's arrays on disk: uint8 images and labels (the class names go in meta.json)."""
    return {
        "x_train": data.x_train,
        "y_train": data.y_train.astype(np.uint8),
        "x_test": data.x_test,
        "y_test": data.y_test.astype(np.uint8),
    }


def import_job(store: RunStore, job_id: str) -> str | None:
    """Run one import job; returns its final status (None when the job does not exist)."""
    job = store.get_job(job_id)
    if job is None:
        log.info("job %s does not exist", job_id)
        return None
    catalogue = DatasetCatalogue.of(store)
    dataset_id = str(job["params"].get("dataset_id", ""))
    dataset = catalogue.get(dataset_id)
    if dataset is None:
        store.set_job(job_id, FAILED, error="the dataset was deleted before it was imported")
        return FAILED
    if dataset["status"] != IMPORTING:  # a duplicate delivery after the import ended
        return SUCCEEDED if dataset["status"] == "ready" else FAILED
    if job["status"] != RUNNING:
        store.set_job(job_id, RUNNING)
    last = [0.0]

    def progress(fraction: float, _what: str) -> None:
        now = time.monotonic()
        if now - last[0] >= PROGRESS_EVERY:
            last[0] = now
            catalogue.progress(dataset_id, 0.05 + 0.85 * fraction)

    settings = store.settings
    limits = Limits(settings.dataset_max_bytes, settings.dataset_max_images)
    fraction = float(job["params"].get("test_fraction", DEFAULT_TEST_FRACTION))
    try:
        path = catalogue.upload_path(dataset_id)
        if not path.exists():
            raise DatasetRejected("the uploaded file is gone (deleted?); upload it again")
        with open(path, "rb") as fh:
            data = read_upload(fh, limits, fraction, progress)
        catalogue.progress(dataset_id, 0.92)
        meta = data.meta(dataset["name"])
        if not catalogue.write_ready(dataset_id, arrays_of(data), meta):
            store.set_job(job_id, FAILED, error="the dataset was deleted while it was imported")
            return FAILED
    except DatasetRejected as exc:
        return _failed(store, catalogue, job_id, dataset_id, str(exc))
    except SoftTimeLimitExceeded:
        return _failed(
            store,
            catalogue,
            job_id,
            dataset_id,
            "the import took longer than its time limit; send a smaller dataset",
        )
    except MemoryError:
        return _failed(
            store,
            catalogue,
            job_id,
            dataset_id,
            "the worker ran out of memory reading this dataset; send a smaller one",
        )
    except Exception as exc:
        log.exception("dataset import job %s failed", job_id)
        return _failed(
            store,
            catalogue,
            job_id,
            dataset_id,
            f"the dataset could not be imported ({type(exc).__name__}); the worker log has the "
            "details",
        )
    store.set_job(job_id, SUCCEEDED, result={"dataset_id": dataset_id, **meta})
    log.info("dataset %s imported: %s", dataset_id, meta["counts"])
    return SUCCEEDED


def _failed(
    store: RunStore, catalogue: DatasetCatalogue, job_id: str, dataset_id: str, error: str
) -> str:
    catalogue.fail(dataset_id, error)
    store.set_job(job_id, FAILED, error=error)
    log.info("dataset %s refused: %s", dataset_id, error)
    return FAILED


def settle_refused_start(store: RunStore, job_id: str) -> None:
    """A delivery the attempt count refused: if that failed the job (it was started too often),
    the dataset fails with the job's sentence and its files go; otherwise nothing changes."""
    job = store.get_job(job_id)
    if job is None or job["status"] != FAILED:
        return
    catalogue = DatasetCatalogue.of(store)
    dataset_id = str(job["params"].get("dataset_id", ""))
    dataset = catalogue.get(dataset_id)
    if dataset is not None and dataset["status"] == IMPORTING:
        catalogue.fail(dataset_id, job.get("error") or "the import job failed")
