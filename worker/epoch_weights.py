"""Every epoch's full weights, for small models: `weights/epoch-<e>.npz` (index 0 = initial).

The kernel snapshots of `filters/epochs/` hold only conv kernels; comparing a run with itself
across epochs (which layers settle first) needs whole models. The models this tool trains are
small, so `RunMonitor` keeps each epoch's `model.get_weights()` as float32 arrays `w000`, `w001`,
… in that order, unless the run would need more than `BUDGET_BYTES` for all of them. Readers
load the final `model.keras` and set these weights on a fresh copy.
"""

from __future__ import annotations

import logging

import keras
import numpy as np

from shared.artifacts import WEIGHTS_DIR
from shared.store import RunStore

log = logging.getLogger(__name__)

BUDGET_BYTES = 64 * 1024 * 1024  # all epochs of a run together, uncompressed


def rel(epoch: int) -> str:
    return f"{WEIGHTS_DIR}/epoch-{epoch}.npz"


def kept(model: keras.Model, epochs: int) -> bool:
    """Whether a run of `epochs` epochs of this model keeps every epoch's weights."""
    return 4 * model.count_params() * (epochs + 1) <= BUDGET_BYTES


def save(store: RunStore, run_id: str, model: keras.Model, epoch: int) -> None:
    """The weights after `epoch` epochs (0: before training), written atomically."""
    arrays = {
        f"w{i:03d}": np.asarray(w, dtype=np.float32) for i, w in enumerate(model.get_weights())
    }
    store.files.save_arrays(run_id, rel(epoch), **arrays)


def load(store: RunStore, run_id: str, epoch: int) -> list[np.ndarray] | None:
    """The weights after `epoch` epochs in `model.get_weights()` order, or None if not kept."""
    arrays = store.files.load_arrays(run_id, rel(epoch))
    if not arrays:
        return None
    return [arrays[k] for k in sorted(arrays)]


def stored_epochs(store: RunStore, run_id: str) -> list[int]:
    """The epochs whose weights are kept, ascending."""
    found = []
    for name in store.files.list(run_id, WEIGHTS_DIR):
        stem = name.removeprefix("epoch-").removesuffix(".npz")
        if name.startswith("epoch-") and name.endswith(".npz") and stem.isdecimal():
            found.append(int(stem))
    return sorted(found)
