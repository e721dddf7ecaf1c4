"""Artifact files of a run: fixed names under `<data dir>/runs/<run id>/`, written atomically.

Every write goes to a temporary file in the same folder and is renamed into place, so a reader
sees either the old file or the new one, never half of one. Readers treat a missing file as
"not there yet" rather than an error.
"""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

# Run and job ids: 32 lowercase hex digits (`new_id`). The pattern is also the API document's.
RUN_ID_PATTERN = "^[0-9a-f]{32}$"
RUN_ID_RE = re.compile(RUN_ID_PATTERN)
# Relative artifact paths a caller may ask for: plain names in known sub-folders, no '..'.
SAFE_REL_RE = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")

CONFIG = "config.json"
MODEL = "model.keras"
HISTORY = "history.jsonl"
METRICS = "metrics.json"  # test loss/accuracy, confusion matrix
FILTERS_DIR = "filters"  # <layer>.npy final kernels; epochs/<layer>.npy stacked per epoch
PROBE_DIR = "activations/probe"  # <layer>.npy float16 (n_probe, ...), inputs.npy, labels.npy
CACHE_DIR = "activations/cache"  # <input hash>.npz for extraction results
CHECKPOINT_DIR = "checkpoint"  # Keras BackupAndRestore state while training
IMPORT_DIR = "upload"  # an imported run's .keras file, until its evaluation finished
IMPORT_ARCHIVE = f"{IMPORT_DIR}/model.keras"
WEIGHTS_DIR = "weights"  # epoch-<e>.npz: every epoch's full weights, small models only


def new_id() -> str:
    """A random run or job id: 32 hex digits, the form `is_run_id` accepts."""
    return secrets.token_hex(16)


def is_run_id(value: str) -> bool:
    return bool(RUN_ID_RE.match(value or ""))


def safe_rel(rel: str) -> bool:
    return bool(SAFE_REL_RE.match(rel)) and ".." not in rel.split("/")


class Artifacts:
    """File layout of the runs folder; knows nothing about SQL."""

    def __init__(self, runs_dir: Path):
        self.runs_dir = Path(runs_dir)

    def run_dir(self, run_id: str) -> Path:
        if not is_run_id(run_id):
            raise ValueError(f"not a run id: {run_id!r}")
        return self.runs_dir / run_id

    def path(self, run_id: str, rel: str) -> Path:
        if not safe_rel(rel):
            raise ValueError(f"not an artifact name: {rel!r}")
        return self.run_dir(run_id) / rel

    # --- writing -------------------------------------------------------------------------
    def write_bytes(self, run_id: str, rel: str, data: bytes) -> Path:
        return atomic_write_bytes(self.path(run_id, rel), data)

    def write_json(self, run_id: str, rel: str, obj: Any) -> Path:
        return self.write_bytes(run_id, rel, json.dumps(obj, indent=1).encode())

    def save_array(self, run_id: str, rel: str, array: np.ndarray) -> Path:
        buf = io.BytesIO()
        np.save(buf, np.asarray(array), allow_pickle=False)
        return self.write_bytes(run_id, rel, buf.getvalue())

    def save_arrays(self, run_id: str, rel: str, **arrays: np.ndarray) -> Path:
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)  # type: ignore[arg-type]
        return self.write_bytes(run_id, rel, buf.getvalue())

    # --- reading -------------------------------------------------------------------------
    def exists(self, run_id: str, rel: str) -> bool:
        return self.path(run_id, rel).exists()

    def read_json(self, run_id: str, rel: str) -> Any | None:
        try:
            return json.loads(self.path(run_id, rel).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def load_array(self, run_id: str, rel: str, mmap: bool = False) -> np.ndarray | None:
        try:
            return np.load(
                self.path(run_id, rel), mmap_mode="r" if mmap else None, allow_pickle=False
            )
        except (FileNotFoundError, ValueError, EOFError):
            return None

    def load_arrays(self, run_id: str, rel: str) -> dict[str, np.ndarray] | None:
        try:
            with np.load(self.path(run_id, rel), allow_pickle=False) as npz:
                return {k: npz[k] for k in npz.files}
        except (FileNotFoundError, ValueError, EOFError, OSError):
            return None

    def list(self, run_id: str, rel_dir: str) -> list[str]:
        folder = self.path(run_id, rel_dir)
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))

    def remove_run(self, run_id: str) -> None:
        shutil.rmtree(self.run_dir(run_id), ignore_errors=True)

    def remove(self, run_id: str, rel: str) -> None:
        target = self.path(run_id, rel)
        if target.is_dir():
            shutil.rmtree(target, ignore_errors=True)
        else:
            target.unlink(missing_ok=True)


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write `data` to `path` through a temporary file in the same folder and os.replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
