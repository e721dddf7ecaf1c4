"""What the compare page and the API both do with several runs: similarity jobs, filter alignment,
per-filter statistics, and the differences between their configs.

Cheap things (aligning two layers' filters, a config diff) are computed here with numpy/scipy.
Things that need the models (CKA on the probe batch, per-filter statistics) are worker jobs with
deterministic ids: the answer is {"status": "cached", "result": ...} when the store has it, else
{"status": "queued", "job_id": ...}, and asking again while it runs queues nothing new.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dashboard.service import run_data
from shared import comparison, tasks
from shared.analysis import align_filters
from shared.datasets import unavailable_reason
from shared.queue import BrokerUnavailable, send
from shared.store import FAILED, QUEUED, RUNNING, SUCCEEDED, RunStore

MISSING = "—"
# Config fields that identify a run rather than describe how it was trained.
NOT_COMPARED = ("name",)


class NotComparable(ValueError):
    """The runs cannot be compared this way; the message says why, `field` which input (a 422)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


class NotReady(ValueError):
    """A run has no trained model or no stored arrays yet (an API 409)."""


# --- jobs ------------------------------------------------------------------------------------------


def _trained(run: dict[str, Any]) -> None:
    if run["status"] != SUCCEEDED:
        raise NotReady(f"run {run['name']!r} has no trained model yet (it is {run['status']})")
    reason = unavailable_reason(run["dataset"])
    if reason:
        raise NotReady(f"the test images of {run['dataset']} are not on this machine: {reason}")


def _job(
    store: RunStore, job_id: str, kind: str, run_id: str, params: dict[str, Any], task: str
) -> dict[str, Any]:
    """Queue the job unless it is already queued or running; a failed or stale one runs again."""
    existing = store.get_job(job_id)
    if existing and existing["status"] in (QUEUED, RUNNING):
        return {"status": "queued", "job_id": job_id}
    if existing:
        store.set_job(job_id, QUEUED)
    else:
        store.create_job(kind, run_id, params, job_id)
    try:
        send(task, job_id)
    except BrokerUnavailable:  # not left "queued" forever: the next request sends it again
        store.set_job(job_id, FAILED, error="the task queue was not reachable; ask again")
        raise
    return {"status": "queued", "job_id": job_id}


def stored_or_job(
    store: RunStore,
    run: dict[str, Any],
    stored: dict[str, Any] | None,
    job: tuple[str, str, dict[str, Any], str],
) -> dict[str, Any]:
    """A run's analysis: the stored result when there is one, else, once the run is trained and
    its test images are here, its job (job_id, kind, params, task), queued unless it already is."""
    if stored is not None:
        return {"status": "cached", "result": stored}
    _trained(run)
    job_id, kind, params, task = job
    return _job(store, job_id, kind, run["id"], params, task)


def load_stats(store: RunStore, run_id: str) -> dict[str, Any] | None:
    return store.files.read_json(run_id, comparison.FILTER_STATS)


def request_stats(store: RunStore, run: dict[str, Any]) -> dict[str, Any]:
    """Per-filter statistics of a run's conv layers on the probe batch: cached, or a job."""
    job = (
        comparison.stats_job_id(run["id"]),
        comparison.STATS_KIND,
        {"run_id": run["id"]},
        tasks.STATS,
    )
    return stored_or_job(store, run, load_stats(store, run["id"]), job)


def _transposed_matrix(matrix: list[list[Any]]) -> list[list[Any]]:
    return [list(col) for col in zip(*matrix, strict=True)]


def transposed(result: dict[str, Any]) -> dict[str, Any]:
    """A CKA result of (B, A) read as (A, B): every matrix in it (the estimate, its interval's
    bounds, the probe-batch estimate) turned over."""
    matrices = {
        key: _transposed_matrix(result[key])
        for key in ("matrix", "lower", "upper", "probe_matrix")
        if result.get(key) is not None
    }
    return result | {
        "a": result["b"],
        "b": result["a"],
        "layers_a": result["layers_b"],
        "layers_b": result["layers_a"],
        **matrices,
    }


def load_cka(store: RunStore, run_a: str, run_b: str) -> dict[str, Any] | None:
    """The cached CKA matrix of (A, B), also when only (B, A) was computed; a final answer
    (`comparison.cka_complete`) is preferred to a probe-batch one."""
    direct = store.files.read_json(run_a, comparison.cka_rel(run_b))
    if comparison.cka_complete(direct):
        return direct
    reverse = store.files.read_json(run_b, comparison.cka_rel(run_a))
    if reverse is not None and (direct is None or comparison.cka_complete(reverse)):
        return transposed(reverse)
    return direct


def check_cka(run_a: dict[str, Any], run_b: dict[str, Any]) -> None:
    """Raise NotComparable or NotReady when CKA of these two runs cannot be computed."""
    if run_a["dataset"] != run_b["dataset"]:
        raise NotComparable(
            "b",
            f"the runs were trained on different datasets ({run_a['dataset']} and "
            f"{run_b['dataset']}); layer similarity is measured on the same test images, so "
            "choose two runs on one dataset",
        )
    _trained(run_a)
    _trained(run_b)


def request_cka(store: RunStore, run_a: dict[str, Any], run_b: dict[str, Any]) -> dict[str, Any]:
    """Linear CKA between every layer of A and every layer of B: cached, or a job.

    Only the final answer (whole test set, with intervals) counts as cached. While the job
    computes it, the answer is queued and carries the probe-batch matrix as `partial` once that
    fast first answer is written.
    """
    cached = load_cka(store, run_a["id"], run_b["id"])
    if comparison.cka_complete(cached):
        return {"status": "cached", "result": cached}
    check_cka(run_a, run_b)
    job_id = comparison.cka_job_id(run_a["id"], run_b["id"])
    params = {"a": run_a["id"], "b": run_b["id"]}
    answer = _job(store, job_id, comparison.CKA_KIND, run_a["id"], params, tasks.CKA)
    return answer | ({"partial": cached} if cached is not None else {})


# --- filter alignment ------------------------------------------------------------------------------


def conv_layers(run: dict[str, Any]) -> list[Any]:
    return [info for info in run_data.layer_infos(run) if info.type == "conv2d"]


def _kernel(
    store: RunStore, run: dict[str, Any], layer: str, epoch: int | None, field: str
) -> np.ndarray:
    names = [info.name for info in conv_layers(run)]
    if layer not in names:
        raise NotComparable(
            field,
            f"run {run['name']!r} has no conv layer {layer!r}; its conv layers are: "
            f"{', '.join(names) or 'none'}",
        )
    snapshots = run_data.filter_snapshots(store, run["id"], layer)
    at = None if epoch is None or (snapshots and epoch >= snapshots - 1) else epoch
    if at is not None and snapshots == 0:
        at = None  # a run without per-epoch snapshots only has its final filters
    kernel = run_data.load_filters(store, run["id"], layer, at)
    if kernel is None:
        raise NotReady(f"the filters of {layer} in run {run['name']!r} are not stored yet")
    return np.asarray(kernel, dtype=np.float32)


def align(
    store: RunStore,
    run_a: dict[str, Any],
    run_b: dict[str, Any],
    layer_a: str,
    layer_b: str | None = None,
    epoch: int | None = None,
    absolute: bool = False,
) -> dict[str, Any]:
    """Match every filter of A's layer to one of B's by maximal correlation (Hungarian).

    `epoch` picks the kernels after that epoch in both runs (0: initial weights; a run with fewer
    epochs shows its last); None means the final ones.
    """
    layer_b = layer_b or layer_a
    ka = _kernel(store, run_a, layer_a, epoch, "layer")
    kb = _kernel(store, run_b, layer_b, epoch, "layer_b" if layer_b != layer_a else "layer")
    if ka.shape != kb.shape:
        raise NotComparable(
            "layer_b" if layer_b != layer_a else "layer",
            f"{layer_a} of {run_a['name']!r} has kernels {_shape(ka)} and {layer_b} of "
            f"{run_b['name']!r} has {_shape(kb)}; filters can only be matched between layers "
            "with the same kernel size, input channels and number of filters",
        )
    result = align_filters(ka, kb, absolute=absolute)
    for pair in result["pairs"]:
        pair["correlation"] = round(pair["correlation"], 6)
    return {
        "a": run_a["id"],
        "b": run_b["id"],
        "layer_a": layer_a,
        "layer_b": layer_b,
        "epoch": epoch,
        "kernel_shape": list(ka.shape),
        **result,
        "mean_correlation": round(result["mean_correlation"], 6),
    }


def _shape(kernel: np.ndarray) -> str:
    return "×".join(str(s) for s in kernel.shape)


# --- config diff -----------------------------------------------------------------------------------


def _flat(config: dict[str, Any]) -> dict[str, Any]:
    """A config as ordered (field label -> value) pairs: top-level fields, then each layer's."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if key in NOT_COMPARED or key == "layers":
            continue
        out[key] = value
    for i, layer in enumerate(config.get("layers") or [], start=1):
        kind = layer.get("type", "?")
        out[f"layer {i}"] = kind
        for key, value in layer.items():
            if key != "type":
                out[f"layer {i} · {key}"] = value
    return out


def _shown(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, list | tuple):
        return "×".join(str(v) for v in value)
    return str(value)


def config_diff(configs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Only the fields whose values differ between the configs, in config order.

    Each row is {"field", "values": [text per config, "—" where a config has no such field],
    "differs": [True where the value differs from the first config's]}.
    """
    flats = [_flat(c or {}) for c in configs]
    fields: list[str] = []
    for flat in flats:
        fields += [f for f in flat if f not in fields]
    rows = []
    for field in fields:
        values = [_shown(flat[field]) if field in flat else MISSING for flat in flats]
        if len(set(values)) > 1:
            rows.append(
                {"field": field, "values": values, "differs": [v != values[0] for v in values]}
            )
    return rows
