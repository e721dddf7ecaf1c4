"""Analysis of one run that needs its model, asked for by the run, filter and compare pages and
the API: how each layer settled across epochs, everything on one filter's page, and how a conv
layer's accuracy falls as its filters are removed (the ablation curve).

Like the comparisons (`dashboard.service.comparisons`), each is a worker job on the analysis
queue with a deterministic id, answered {"status": "cached", "result": ...} when its file is in
the run's folder, else {"status": "queued", "job_id": ...}.
"""

from __future__ import annotations

from typing import Any

from dashboard.service import run_data
from dashboard.service.comparisons import NotComparable, stored_or_job
from shared import comparison, tasks
from shared.config import LayerInfo
from shared.store import RunStore

MAX_FILTER = 4096  # no conv layer has more filters (shared/config.py)
SHOWN = 80  # characters of a user-given layer name quoted in a sentence


def shown(value: str) -> str:
    """A layer name from an address, quoted for a sentence and cut short when it is long."""
    return repr(value if len(value) <= SHOWN else value[:SHOWN] + "…")


# --- layers across epochs ---------------------------------------------------------------------


def load_epoch_cka(store: RunStore, run_id: str) -> dict[str, Any] | None:
    return store.files.read_json(run_id, comparison.EPOCH_CKA)


def request_epoch_cka(store: RunStore, run: dict[str, Any]) -> dict[str, Any]:
    """Each layer after every epoch against the finished layer (CKA): cached, or a job."""
    job_id = comparison.epoch_cka_job_id(run["id"])
    job = (job_id, comparison.EPOCH_CKA_KIND, {"run_id": run["id"]}, tasks.CKA_EPOCHS)
    return stored_or_job(store, run, load_epoch_cka(store, run["id"]), job)


# --- one filter --------------------------------------------------------------------------------


def conv_layer(run: dict[str, Any], layer: str) -> LayerInfo:
    """The run's conv layer of that name; NotComparable (on `layer`) naming its conv layers."""
    convs = [info for info in run_data.layer_infos(run) if info.type == "conv2d"]
    names = [info.name for info in convs]
    if layer not in names:
        raise NotComparable(
            "layer",
            f"run {run['name']!r} has no conv layer {shown(layer)}; its conv layers are: "
            f"{', '.join(names) or 'none'}",
        )
    return convs[names.index(layer)]


def check_filter(run: dict[str, Any], layer: str, k: int) -> int:
    """The number of filters of `layer`; NotComparable when the run has no such filter."""
    count = int(conv_layer(run, layer).output_shape[-1])
    if not 0 <= k < count:
        raise NotComparable("k", f"{layer} has filters 0 to {count - 1}; there is no filter {k}")
    return count


def load_filter_analysis(store: RunStore, run_id: str, layer: str, k: int) -> dict[str, Any] | None:
    return store.files.read_json(run_id, comparison.filter_rel(layer, k))


def request_filter_analysis(
    store: RunStore, run: dict[str, Any], layer: str, k: int
) -> dict[str, Any]:
    """Top images, class selectivity, ablation, twins in other runs and the activation-
    maximisation picture of filter k of `layer`: cached, or a job."""
    check_filter(run, layer, k)
    job_id = comparison.filter_job_id(run["id"], layer, k)
    params = {"run_id": run["id"], "layer": layer, "k": k}
    stored = load_filter_analysis(store, run["id"], layer, k)
    return stored_or_job(store, run, stored, (job_id, comparison.FILTER_KIND, params, tasks.FILTER))


# --- one layer's ablation curve ----------------------------------------------------------------


def load_ablation(store: RunStore, run_id: str, layer: str) -> dict[str, Any] | None:
    return store.files.read_json(run_id, comparison.ablation_rel(layer))


def request_ablation(store: RunStore, run: dict[str, Any], layer: str) -> dict[str, Any]:
    """Test accuracy as the filters of the conv layer `layer` are zeroed, most important first
    (worker/ablation_curve.py): cached, or a job. The layer is checked before any path is made."""
    conv_layer(run, layer)
    job_id = comparison.ablation_job_id(run["id"], layer)
    params = {"run_id": run["id"], "layer": layer}
    job = (job_id, comparison.ABLATION_KIND, params, tasks.ABLATION)
    return stored_or_job(store, run, load_ablation(store, run["id"], layer), job)
