"""Comparison jobs: layer similarity (CKA) of two runs and per-filter statistics of one run.

Both look at the probe batch (`shared.comparison`): the first few hundred test images, pushed
through a run's saved model in a few batched forward passes with the extraction worker's model
cache, so a model compared again is already loaded. The numbers themselves come from
`shared.analysis`; results are written as JSON beside the run and as the job's result.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from shared import comparison
from shared.analysis import cka_matrix, filter_stats
from shared.artifacts import MODEL, is_run_id
from shared.config import LayerInfo, RunConfig, activation_values, infer_layers
from shared.datasets import DatasetUnavailable, load_raw, to_model_input
from shared.store import FAILED, RUNNING, SUCCEEDED, RunStore
from worker.extraction import MODELS, ExtractionError, ModelCache
from worker.similarity import full_test_set_cka

log = logging.getLogger(__name__)

FORWARD_BATCH = 100  # images per forward call: big enough to be efficient, small in memory
DIGITS = 6
PROBE_ESTIMATOR = "probe"


class Refused(ExtractionError):
    """The comparison cannot be made; the message says why, for the user."""


def _trained_run(store: RunStore, run_id: str) -> tuple[dict[str, Any], list[LayerInfo]]:
    run = store.get_run(run_id, with_history=False) if is_run_id(run_id) else None
    if run is None:
        raise Refused("the run no longer exists")
    if run["status"] != SUCCEEDED or not store.files.exists(run_id, MODEL):
        raise Refused(f"run {run['name']!r} has no trained model (it is {run['status']})")
    infos, _ = infer_layers(RunConfig.model_validate(run["config"]))
    return run, infos


def _test_images(dataset: str) -> np.ndarray:
    try:
        return load_raw(dataset)[2]
    except DatasetUnavailable as exc:
        raise Refused(f"the test images of {dataset} are not on this machine ({exc})") from None


def probe_images(dataset: str, count: int = comparison.PROBE_BATCH) -> np.ndarray:
    """The first `count` test images of the dataset (fewer if it has fewer), uint8 (n, 28, 28)."""
    return np.asarray(_test_images(dataset)[:count], dtype=np.uint8)


def layer_outputs(
    store: RunStore, run_id: str, images: np.ndarray, cache: ModelCache = MODELS
) -> dict[str, np.ndarray]:
    """Every layer's float32 output for `images`, in model order, one batched pass at a time."""
    loaded = cache.get(run_id, store.files.path(run_id, MODEL))
    parts: list[list[np.ndarray]] = [[] for _ in loaded.layer_names]
    for start in range(0, len(images), FORWARD_BATCH):
        batch = to_model_input(images[start : start + FORWARD_BATCH])
        for i, output in enumerate(loaded.forward(tf.constant(batch))):
            parts[i].append(np.asarray(output, dtype=np.float32))
    return {
        name: np.concatenate(chunks) for name, chunks in zip(loaded.layer_names, parts, strict=True)
    }


def stats_summary(
    run: dict[str, Any], infos: list[LayerInfo], outputs: dict[str, np.ndarray]
) -> dict[str, Any]:
    """Per-filter statistics of every conv layer, as stored in analysis/filter_stats.json."""
    config_layers = run["config"].get("layers") or []
    layers = []
    for info in infos:
        if info.type != "conv2d" or info.name not in outputs:
            continue
        activation = str((config_layers[info.index] or {}).get("activation", "relu"))
        relu_like = activation == "relu"
        rows = filter_stats(outputs[info.name], relu_like=relu_like)
        layers.append(
            {
                "name": info.name,
                "activation": activation,
                "relu_like": relu_like,
                "filters": [_rounded(row) for row in rows],
            }
        )
    images = len(next(iter(outputs.values()))) if outputs else 0
    return {
        "run_id": run["id"],
        "dataset": run["dataset"],
        "probe_images": images,
        "layers": layers,
    }


def _rounded(row: dict[str, Any]) -> dict[str, Any]:
    return {
        k: (round(v, DIGITS) if isinstance(v, float) and math.isfinite(v) else v)
        for k, v in row.items()
    }


def stats_batch_size(test_images: int, infos: list[LayerInfo]) -> int:
    """The probe batch of a statistics job: all of one run's layers are held at once."""
    return comparison.probe_batch_size(test_images, activation_values(infos))


def compute_stats(store: RunStore, run_id: str, cache: ModelCache = MODELS) -> dict[str, Any]:
    run, infos = _trained_run(store, run_id)
    count = stats_batch_size(len(_test_images(run["dataset"])), infos)
    images = probe_images(run["dataset"], count)
    conv_names = {i.name for i in infos if i.type == "conv2d"}
    outputs = layer_outputs(store, run_id, images, cache)
    return stats_summary(run, infos, {k: v for k, v in outputs.items() if k in conv_names})


def compute_cka(
    store: RunStore, run_a: str, run_b: str, cache: ModelCache = MODELS
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """CKA between every layer of A and every layer of B; also both runs' filter statistics."""
    a, infos_a = _trained_run(store, run_a)
    b, infos_b = _trained_run(store, run_b)
    if a["dataset"] != b["dataset"]:
        raise Refused(
            f"the runs were trained on different datasets ({a['dataset']}, {b['dataset']}); "
            "layer similarity is measured on the same test images, so both must share one"
        )
    test_images = len(_test_images(a["dataset"]))
    per_image = activation_values(infos_a) + (0 if run_b == run_a else activation_values(infos_b))
    count = comparison.probe_batch_size(test_images, per_image)
    images = probe_images(a["dataset"], count)
    outputs_a = layer_outputs(store, run_a, images, cache)
    outputs_b = outputs_a if run_b == run_a else layer_outputs(store, run_b, images, cache)
    result = cka_matrix(outputs_a, outputs_b)
    matrix = [[round(v, DIGITS) for v in row] for row in result["matrix"]]
    summary = {
        "a": run_a,
        "b": run_b,
        "dataset": a["dataset"],
        "probe_images": count,
        "layers_a": result["layers_a"],
        "layers_b": result["layers_b"],
        "matrix": matrix,
        # the fast first answer: the whole test set's estimate and its interval replace it
        "estimator": PROBE_ESTIMATOR,
        "lower": None,
        "upper": None,
    }
    stats = {}
    if count == stats_batch_size(test_images, infos_a) == stats_batch_size(test_images, infos_b):
        # the batch a stats job would use for each run
        stats = {run_a: stats_summary(a, infos_a, outputs_a)}
        stats[run_b] = stats_summary(b, infos_b, outputs_b)
    return summary, stats


def _forget_deleted(store: RunStore, *run_ids: str) -> bool:
    """Remove what a job wrote for runs deleted while it computed; True if any was."""
    gone = [r for r in run_ids if store.get_run(r, with_history=False) is None]
    for run_id in gone:
        store.files.remove_run(run_id)
    return bool(gone)


def json_into_run(
    store: RunStore, job_id: str, run_id: str, rel: str, compute: Callable[[], dict[str, Any]]
) -> str | None:
    """The common end of a job whose answer is one JSON file in a run's folder: compute it, write
    it at `rel` and record it as the job's result, or end the job failed with a sentence. None,
    with nothing kept, when the run was deleted meanwhile."""
    try:
        result = compute()
        store.files.write_json(run_id, rel, result)
        if _forget_deleted(store, run_id):
            return None
    except Exception as exc:
        return _finish_failed(store, job_id, exc)
    store.set_job(job_id, SUCCEEDED, result=result)
    return SUCCEEDED


def _finish_failed(store: RunStore, job_id: str, exc: Exception) -> str:
    if isinstance(exc, ExtractionError):
        store.set_job(job_id, FAILED, error=str(exc))
    else:
        log.exception("comparison job %s failed", job_id)
        store.set_job(
            job_id,
            FAILED,
            error=(
                f"the comparison could not be computed ({type(exc).__name__}); "
                "the worker log has the details"
            ),
        )
    return FAILED


def stats_job(store: RunStore, job_id: str, cache: ModelCache = MODELS) -> str | None:
    """Per-filter statistics of one run; returns the job's final status (None: no such job)."""
    job = store.get_job(job_id)
    if job is None:
        return None
    run_id = str(job["params"].get("run_id", ""))
    if job["status"] == SUCCEEDED and store.files.exists(run_id, comparison.FILTER_STATS):
        return SUCCEEDED  # a duplicate delivery
    store.set_job(job_id, RUNNING)
    return json_into_run(
        store, job_id, run_id, comparison.FILTER_STATS, lambda: compute_stats(store, run_id, cache)
    )


def cka_job(store: RunStore, job_id: str, cache: ModelCache = MODELS) -> str | None:
    """CKA of runs (a, b), cached in a's folder as analysis/cka/<b>.json: first on the probe
    batch (written at once, the fast answer), then minibatch CKA over the whole test set with
    bootstrap intervals, which replaces it."""
    job = store.get_job(job_id)
    if job is None:
        return None
    run_a, run_b = (str(job["params"].get(k, "")) for k in ("a", "b"))
    if not (is_run_id(run_a) and is_run_id(run_b)):
        store.set_job(job_id, FAILED, error="the job does not name two runs")
        return FAILED
    rel = comparison.cka_rel(run_b)
    if job["status"] == SUCCEEDED and comparison.cka_complete(store.files.read_json(run_a, rel)):
        return SUCCEEDED
    store.set_job(job_id, RUNNING)
    try:
        summary, stats = compute_cka(store, run_a, run_b, cache)
        store.files.write_json(run_a, rel, summary)
        for run_id, run_stats in stats.items():
            if not store.files.exists(run_id, comparison.FILTER_STATS):
                store.files.write_json(run_id, comparison.FILTER_STATS, run_stats)
        if _forget_deleted(store, run_a, run_b):
            return None
        full = full_test_set_cka(store, run_a, run_b, _test_images(summary["dataset"]), cache)
        summary = summary | full | {"probe_matrix": summary["matrix"]}
        store.files.write_json(run_a, rel, summary)
        if _forget_deleted(store, run_a, run_b):
            return None
    except Exception as exc:
        return _finish_failed(store, job_id, exc)
    store.set_job(job_id, SUCCEEDED, result=summary)
    return SUCCEEDED
