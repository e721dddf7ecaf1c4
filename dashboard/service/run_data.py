"""Reading one run's artifacts for the run page. Missing files mean "not there yet", never an error.

Probe activations are float16 `.npy` files opened memory-mapped, so showing one image's maps reads
a few kilobytes, not the whole (probes × h × w × c) array.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import numpy as np
from pydantic import ValidationError

from dashboard.ui.i18n import has, t
from shared.artifacts import CACHE_DIR, FILTERS_DIR, METRICS, PROBE_DIR
from shared.config import LayerInfo, RunConfig, infer_layers
from shared.datasets import DatasetUnavailable, describe, load_raw
from shared.store import RunStore

DIGEST_RE = re.compile(r"^[0-9a-f]{32}$")


def layer_infos(run: dict[str, Any]) -> list[LayerInfo]:
    """The run's layers with Keras names, output shapes and parameters (from its saved config)."""
    try:
        infos, _ = infer_layers(RunConfig.model_validate(run.get("config") or {}))
    except ValidationError:
        return []
    return infos


def class_names(run: dict[str, Any]) -> tuple[str, ...]:
    """The run's class names in the page's language (digits stay digits; an imported dataset's
    names as they were given)."""
    dataset = run.get("dataset", "")
    info = describe(dataset)
    if not info:
        return ()
    if info.imported:
        return info.classes
    keys = [f"class.{dataset}.{i}" for i in range(len(info.classes))]
    return tuple(t(k) if has(k) else name for k, name in zip(keys, info.classes, strict=True))


def load_metrics(store: RunStore, run_id: str) -> dict[str, Any] | None:
    return store.files.read_json(run_id, METRICS)


def load_filters(
    store: RunStore, run_id: str, layer: str, epoch: int | None = None
) -> np.ndarray | None:
    """A conv layer's kernel (kh, kw, cin, cout): final, or after `epoch` (0 = initial weights)."""
    if epoch is None:
        return store.files.load_array(run_id, f"{FILTERS_DIR}/{layer}.npy")
    stack = store.files.load_array(run_id, f"{FILTERS_DIR}/epochs/{layer}.npy", mmap=True)
    if stack is None or stack.ndim != 5 or not 0 <= epoch < stack.shape[0]:
        return None
    return np.asarray(stack[epoch], dtype=np.float32)


def filter_snapshots(store: RunStore, run_id: str, layer: str) -> int:
    """How many per-epoch kernel snapshots exist (E + 1 with the initial weights), or 0."""
    stack = store.files.load_array(run_id, f"{FILTERS_DIR}/epochs/{layer}.npy", mmap=True)
    return int(stack.shape[0]) if stack is not None and stack.ndim == 5 else 0


def load_probe(store: RunStore, run_id: str) -> dict[str, np.ndarray] | None:
    """The probe set: inputs (P, H, W) or (P, H, W, 3) uint8, labels, indices and predictions
    (P, classes)."""
    out = {}
    for key in ("inputs", "labels", "predictions", "indices"):
        arr = store.files.load_array(run_id, f"{PROBE_DIR}/{key}.npy")
        if arr is None and key in ("inputs", "labels"):
            return None
        if arr is not None:
            out[key] = arr
    if len(out["inputs"]) != len(out["labels"]):
        return None
    return out


def probe_activation(store: RunStore, run_id: str, layer: str, k: int) -> np.ndarray | None:
    """Layer `layer`'s output for probe image k, as float32."""
    arr = store.files.load_array(run_id, f"{PROBE_DIR}/{layer}.npy", mmap=True)
    if arr is None or not 0 <= k < arr.shape[0]:
        return None
    return np.asarray(arr[k], dtype=np.float32)


def has_artifacts(store: RunStore, run_id: str) -> bool:
    return store.files.exists(run_id, METRICS) or store.files.exists(
        run_id, f"{PROBE_DIR}/inputs.npy"
    )


@lru_cache(maxsize=8)
def training_samples(dataset: str, count: int = 16) -> tuple[np.ndarray, np.ndarray] | None:
    """The first training images and labels of a dataset (None when it is not on this machine)."""
    try:
        x_train, y_train, _, _ = load_raw(dataset)
    except (DatasetUnavailable, OSError, ValueError):
        return None
    return np.array(x_train[:count]), np.array(y_train[:count])


def cached_arrays(store: RunStore, run_id: str, digest: str) -> dict[str, np.ndarray] | None:
    """An extraction result (`input`, `probabilities`, `layer:<name>`) from the run's cache."""
    if not DIGEST_RE.match(str(digest or "")):
        return None
    return store.files.load_arrays(run_id, f"{CACHE_DIR}/{digest}.npz")


def selected_activation(
    store: RunStore, run_id: str, selection: Any, layer: str
) -> np.ndarray | None:
    """A layer's output for the selected input: probe k (an int) or a cached test image (a dict)."""
    if isinstance(selection, dict):
        arrays = cached_arrays(store, run_id, selection.get("digest", ""))
        act = (arrays or {}).get(f"layer:{layer}")
        return None if act is None else np.asarray(act, dtype=np.float32)
    return probe_activation(store, run_id, layer, int(selection or 0))


def selected_prediction(
    store: RunStore, run_id: str, selection: Any, probe: dict[str, np.ndarray] | None
) -> tuple[np.ndarray | None, int | None]:
    """(class probabilities, true label) of the selected input."""
    if isinstance(selection, dict):
        arrays = cached_arrays(store, run_id, selection.get("digest", ""))
        label = selection.get("label")
        return (arrays or {}).get("probabilities"), None if label is None else int(label)
    k = int(selection or 0)
    if probe is None or not 0 <= k < len(probe["labels"]):
        return None, None
    preds = probe.get("predictions")
    return (preds[k] if preds is not None and k < len(preds) else None), int(probe["labels"][k])
