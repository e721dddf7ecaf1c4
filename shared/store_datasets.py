"""Imported datasets in the store's catalogue: a row in SQL (`datasets`, migration 0005) and the
files in `<data dir>/datasets/<id>/` (see shared/datasets.py for the layout).

A dataset is `importing` from the moment its upload is accepted, then `ready` (its four arrays,
`x_train.npy` … `y_test.npy`, then `meta.json` written, each atomically) or `failed` (its folder
removed, the row keeps the sentence saying why). It can be deleted while no run names it.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import delete, func, insert, select
from sqlalchemy import update as sql_update

from shared import db
from shared.artifacts import atomic_write_bytes, new_id
from shared.datasets import ARRAYS, META, is_dataset_id

IMPORTING, READY, FAILED = "importing", "ready", "failed"
UPLOAD = "upload.bin"  # the uploaded file, kept until its import job ends

datasets = db.datasets


class DatasetInUse(Exception):
    """Runs name the dataset; the message says how many."""


class DatasetCatalogue:
    """The imported datasets of one store (its engine and data folder)."""

    def __init__(self, engine: Any, data_dir: Path):
        self.engine = engine
        self.root = Path(data_dir) / "datasets"

    @classmethod
    def of(cls, store: Any) -> DatasetCatalogue:
        return cls(store.engine, store.settings.data_dir)

    def folder(self, dataset_id: str) -> Path:
        if not is_dataset_id(dataset_id):
            raise ValueError(f"not a dataset id: {dataset_id!r}")
        return self.root / dataset_id

    # --- rows ------------------------------------------------------------------------------------
    def create(self, name: str, source: str) -> str:
        dataset_id = new_id()
        with self.engine.begin() as conn:
            conn.execute(
                insert(datasets).values(
                    id=dataset_id,
                    name=name,
                    status=IMPORTING,
                    source=source,
                    progress=0.0,
                    created_at=time.time(),
                )
            )
        return dataset_id

    def set_job(self, dataset_id: str, job_id: str) -> None:
        self._update(dataset_id, job_id=job_id)

    def get(self, dataset_id: str) -> dict[str, Any] | None:
        if not is_dataset_id(dataset_id):
            return None
        with self.engine.connect() as conn:
            row = (
                conn.execute(select(datasets).where(datasets.c.id == dataset_id)).mappings().first()
            )
        return _view(dict(row)) if row else None

    def list(self, status: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
        query = select(datasets).order_by(datasets.c.created_at.desc()).limit(limit)
        if status:
            query = query.where(datasets.c.status == status)
        with self.engine.connect() as conn:
            return [_view(dict(row)) for row in conn.execute(query).mappings()]

    def progress(self, dataset_id: str, fraction: float) -> None:
        self._update(dataset_id, progress=round(min(max(fraction, 0.0), 1.0), 3), only=IMPORTING)

    def runs_using(self, dataset_id: str) -> int:
        with self.engine.connect() as conn:
            count = conn.execute(
                select(func.count()).select_from(db.runs).where(db.runs.c.dataset == dataset_id)
            ).scalar()
        return int(count or 0)

    # --- files -----------------------------------------------------------------------------------
    def upload_path(self, dataset_id: str) -> Path:
        return self.folder(dataset_id) / UPLOAD

    def save_upload(self, dataset_id: str, stream: Any, limit: int) -> int:
        """Copy an uploaded file into the dataset's folder, at most `limit` bytes; returns its
        size, or raises ValueError past the limit (nothing is left then)."""
        folder = self.folder(dataset_id)
        folder.mkdir(parents=True, exist_ok=True)
        size = 0
        try:
            with open(folder / UPLOAD, "wb") as out:
                while chunk := stream.read(1 << 20):
                    size += len(chunk)
                    if size > limit:
                        raise ValueError("too large")
                    out.write(chunk)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return size

    def write_ready(self, dataset_id: str, arrays: dict[str, np.ndarray], meta: dict) -> bool:
        """Write the four arrays, then meta.json (each atomically), then mark the row ready.
        False when the dataset was deleted meanwhile (its files are then removed again)."""
        folder = self.folder(dataset_id)
        for key in ARRAYS:
            _save_npy(folder / f"{key}.npy", arrays[key])
        atomic_write_bytes(folder / META, json.dumps(meta, indent=1).encode())
        (folder / UPLOAD).unlink(missing_ok=True)
        done = self._update(
            dataset_id,
            status=READY,
            progress=1.0,
            meta=json.dumps(meta),
            finished_at=time.time(),
            only=IMPORTING,
        )
        if not done:
            self.remove_files(dataset_id)
        return done

    def fail(self, dataset_id: str, error: str) -> None:
        """The import ended without a dataset: nothing of it stays on disk, the row says why."""
        self.remove_files(dataset_id)
        self._update(
            dataset_id, status=FAILED, error=error, finished_at=time.time(), only=IMPORTING
        )

    def remove_files(self, dataset_id: str) -> None:
        folder = self.folder(dataset_id)
        (folder / META).unlink(missing_ok=True)  # first: the dataset stops being usable at once
        shutil.rmtree(folder, ignore_errors=True)

    def delete(self, dataset_id: str) -> bool:
        """Delete the row and its files; False when there is no such dataset. Raises
        DatasetInUse while runs name it."""
        if self.get(dataset_id) is None:
            return False
        used = self.runs_using(dataset_id)
        if used:
            raise DatasetInUse(
                f"{used} run{'s' if used != 1 else ''} use{'s' if used == 1 else ''} this dataset; "
                "delete them first"
            )
        with self.engine.begin() as conn:
            conn.execute(delete(datasets).where(datasets.c.id == dataset_id))
        self.remove_files(dataset_id)
        return True

    def _update(self, dataset_id: str, only: str | None = None, **values: Any) -> bool:
        query = sql_update(datasets).where(datasets.c.id == dataset_id)
        if only:
            query = query.where(datasets.c.status == only)
        with self.engine.begin() as conn:
            return bool(conn.execute(query.values(**values)).rowcount)


def _save_npy(path: Path, array: np.ndarray) -> None:
    """np.save through a temporary file beside `path`, flushed, then renamed over it."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, np.ascontiguousarray(array), allow_pickle=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _view(row: dict[str, Any]) -> dict[str, Any]:
    meta = json.loads(row.pop("meta") or "null") or {}
    counts = meta.get("counts") or {}
    return {
        "id": row["id"],
        "name": row["name"],
        "status": row["status"],
        "source": row["source"],
        "job_id": row["job_id"],
        "progress": row["progress"],
        "error": row["error"],
        "created_at": row["created_at"],
        "finished_at": row["finished_at"],
        "shape": meta.get("shape"),
        "classes": meta.get("classes"),
        "num_classes": len(meta["classes"]) if meta.get("classes") else None,
        "counts": counts or None,
        "notes": meta.get("notes") or [],
    }


def sample_grid(x: np.ndarray, y: np.ndarray, per_class: int = 4, classes: int = 10) -> tuple:
    """The first `per_class` training images of up to `classes` classes, with their labels."""
    picks: list[int] = []
    for cls in range(min(classes, int(y.max()) + 1 if len(y) else 0)):
        picks += np.flatnonzero(y == cls)[:per_class].tolist()
    index = np.asarray(picks, dtype=np.int64)
    return np.asarray(x[index]), np.asarray(y[index])
