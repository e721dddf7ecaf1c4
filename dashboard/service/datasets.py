"""Datasets for pages and API alike: the built-in ones and the imported ones, importing, deleting.

An import is never done in the request: the upload is saved in its dataset's folder, checked for
being a readable archive (its directory only, cheap), and an `import_dataset` job on the analysis
queue does the rest (worker/dataset_jobs.py). A refusal at any step leaves nothing behind.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import IO, Any

from shared import tasks
from shared.config import CONTROL_CHARS, MAX_NAME
from shared.dataset_import import DEFAULT_TEST_FRACTION, DatasetRejected, Limits, quick_check
from shared.datasets import DATASETS, describe, is_dataset_id, unavailable_reason
from shared.queue import BrokerUnavailable, send
from shared.store import RunStore
from shared.store_datasets import FAILED, DatasetCatalogue, DatasetInUse

__all__ = ["DatasetInUse", "ImportRefused"]

SUFFIXES = (".npz", ".zip")
JOB_KIND = "import_dataset"
SUFFIX_RE = re.compile(r"\.(npz|zip)$", re.IGNORECASE)


class ImportRefused(ValueError):
    """The upload is refused before any job: `status` is the HTTP status, str() the sentence."""

    def __init__(self, status: int, message: str, field: str | None = None):
        super().__init__(message)
        self.status = status
        self.field = field


def catalogue(store: RunStore) -> DatasetCatalogue:
    return DatasetCatalogue.of(store)


def limits(store: RunStore) -> Limits:
    return Limits(store.settings.dataset_max_bytes, store.settings.dataset_max_images)


def builtin_row(key: str) -> dict[str, Any]:
    info = DATASETS[key]
    reason = unavailable_reason(key)
    return {
        "id": key,
        "name": info.title,
        "builtin": True,
        "status": "ready" if reason is None else "unavailable",
        "error": reason,
        "shape": list(info.shape),
        "classes": list(info.classes),
        "num_classes": info.num_classes,
        "counts": None,
        "notes": [info.description],
        "progress": 1.0,
        "job_id": None,
        "source": "builtin",
        "created_at": None,
        "finished_at": None,
    }


def list_datasets(store: RunStore) -> list[dict[str, Any]]:
    """The built-in datasets, then the imported ones, newest first."""
    imported = [row | {"builtin": False} for row in catalogue(store).list()]
    return [builtin_row(key) for key in DATASETS] + imported


def get_dataset(store: RunStore, key: str) -> dict[str, Any] | None:
    if key in DATASETS:
        return builtin_row(key)
    row = catalogue(store).get(key) if is_dataset_id(key) else None
    return None if row is None else row | {"builtin": False}


def ready_imported(store: RunStore) -> list[dict[str, Any]]:
    """Imported datasets a run can use now (ready, and their files are here)."""
    return [
        row | {"builtin": False}
        for row in catalogue(store).list(status="ready")
        if describe(row["id"]) is not None
    ]


def filter_choices(store: RunStore) -> list[tuple[str, str]]:
    """(value, label) of every dataset a run can be on, for the runs filters of the Runs and
    Compare pages: the built-in ones by their short name, then the ready imported ones by the name
    they were given (their id is the value; a name two of them share gets the id's start too).
    Importing and failed datasets have no runs; one in use cannot be deleted."""
    imported = ready_imported(store)
    seen = Counter(row["name"] for row in imported)
    return [(key, info.name) for key, info in DATASETS.items()] + [
        (row["id"], row["name"] if seen[row["name"]] == 1 else f"{row['name']} ({row['id'][:8]})")
        for row in imported
    ]


def imported_names(store: RunStore) -> dict[str, str]:
    """Imported datasets' names by id, to show a run's dataset by name rather than by id."""
    return {row["id"]: row["name"] for row in catalogue(store).list()}


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ImportRefused(422, "give the dataset a name (1 to 120 characters)", "name")
    name = name.strip()
    if len(name) > MAX_NAME:
        raise ImportRefused(422, f"the name must be at most {MAX_NAME} characters", "name")
    if CONTROL_CHARS.search(name):
        raise ImportRefused(
            422, "the name may not contain control characters such as tabs or newlines", "name"
        )
    return name


def check_fraction(value: Any) -> float:
    if value in (None, ""):
        return DEFAULT_TEST_FRACTION
    try:
        fraction = float(value)
    except (TypeError, ValueError):
        fraction = -1.0
    if not 0.05 <= fraction <= 0.5:
        raise ImportRefused(
            422,
            "must be a number from 0.05 to 0.5 (the share of each class kept for testing)",
            "test_fraction",
        )
    return fraction


def start_import(
    store: RunStore,
    name: Any,
    filename: str,
    stream: IO[bytes],
    test_fraction: Any = None,
) -> dict[str, Any]:
    """Save the upload, check it is an archive, queue its import job: the new dataset's row.

    Raises ImportRefused (a 4xx and a sentence, nothing left behind) or BrokerUnavailable (the
    dataset is then removed too, so the user simply sends it again)."""
    name = check_name(name)
    fraction = check_fraction(test_fraction)
    if not SUFFIX_RE.search(filename or ""):
        raise ImportRefused(
            422, "send a .npz file or a .zip of class folders (the file name says which)", "file"
        )
    cat = catalogue(store)
    bounds = limits(store)
    dataset_id = cat.create(name, SUFFIX_RE.search(filename).group(1).lower())  # type: ignore[union-attr]
    try:
        try:
            cat.save_upload(dataset_id, stream, bounds.max_bytes)
        except ValueError:
            raise ImportRefused(
                413, f"the file is over {bounds.max_bytes / 2**20:,.0f} MB, the largest accepted"
            ) from None
        with open(cat.upload_path(dataset_id), "rb") as fh:
            quick_check(fh, bounds)
        job_id = store.create_job(
            JOB_KIND, None, {"dataset_id": dataset_id, "test_fraction": fraction}
        )
        cat.set_job(dataset_id, job_id)
        try:
            send(tasks.IMPORT_DATASET, job_id)
        except BrokerUnavailable:
            store.set_job(job_id, FAILED, error="the task queue was not reachable")
            raise
    except DatasetRejected as exc:
        _forget(cat, dataset_id)
        raise ImportRefused(422, str(exc), "file") from None
    except BaseException:
        _forget(cat, dataset_id)
        raise
    row = cat.get(dataset_id)
    assert row is not None
    return row | {"builtin": False}


def _forget(cat: DatasetCatalogue, dataset_id: str) -> None:
    """A refused upload: no row, no files."""
    try:
        cat.delete(dataset_id)
    except DatasetInUse:  # cannot happen for a dataset that never was ready
        cat.remove_files(dataset_id)


def delete_dataset(store: RunStore, key: str) -> bool:
    """Delete an imported dataset; False when there is none by that id. Raises DatasetInUse
    while runs name it, and ImportRefused(409) for a built-in dataset."""
    if key in DATASETS:
        raise ImportRefused(409, f"'{key}' is built in and cannot be deleted")
    if not is_dataset_id(key):
        return False
    return catalogue(store).delete(key)


def sample(store: RunStore, key: str, per_class: int = 4, classes: int = 10) -> tuple | None:
    """A few training images of each class, for the dataset's page: (images, labels) or None."""
    from shared.datasets import DatasetUnavailable, load_raw
    from shared.store_datasets import sample_grid

    try:
        x_train, y_train, _, _ = load_raw(key)
    except (DatasetUnavailable, OSError, ValueError, KeyError):
        return None
    return sample_grid(x_train, y_train, per_class, classes)
