"""What the dashboard and the workers share about comparing runs: the probe batch, file names, job ids.

Comparisons that look at many images (layer similarity, per-filter statistics) use the *probe
batch*: the first `PROBE_BATCH` images of the run's test set, the same for every run on a dataset.
It is not the *probe set* of `activations/probe/` (one image per class, kept for the run page).

Results are cached as JSON in the run's folder (see docs/CONTRACTS.md, "Comparisons"), and the job
that computes one has an id derived from what it computes, so asking twice queues one job.
"""

from __future__ import annotations

import hashlib
from typing import Any

PROBE_BATCH = 500
# A job holds every layer's float32 output for the whole probe batch (both runs' for CKA) before
# it compares them: cap the batch so that this total stays under so many values (100 MB). The
# notebook's model has 21,474 values per image, so two of them still get all 500 images; a model
# at the activation budget (shared/config.py, 1,000,000 per image) gets MIN_PROBE_BATCH.
MAX_PROBE_VALUES = 25_000_000
MIN_PROBE_BATCH = 50

ANALYSIS_DIR = "analysis"
FILTER_STATS = f"{ANALYSIS_DIR}/filter_stats.json"  # per-filter statistics of every conv layer
CKA_DIR = f"{ANALYSIS_DIR}/cka"  # <other run id>.json: CKA of this run's layers against another's

EPOCH_CKA = f"{ANALYSIS_DIR}/cka_epochs.json"  # each layer after every epoch vs. the final one
FILTERS_DIR = f"{ANALYSIS_DIR}/filters"  # <layer>-<k>.json and .png: one filter's page
ABLATION_DIR = f"{ANALYSIS_DIR}/ablation"  # <layer>.json: accuracy as the layer's filters go

CKA_KIND = "cka"
STATS_KIND = "stats"
EPOCH_CKA_KIND = "cka_epochs"
FILTER_KIND = "filter"
ABLATION_KIND = "ablation"


def cka_rel(other_id: str) -> str:
    """Where run A keeps its CKA matrix against run B (rows: A's layers, columns: B's)."""
    return f"{CKA_DIR}/{other_id}.json"


def cka_complete(result: dict[str, Any] | None) -> bool:
    """Whether a stored CKA answer is the final one: minibatch CKA over the whole test set with
    its confidence interval (`lower`, `upper`). The probe-batch answer a job writes first, and
    files from before intervals existed, have none."""
    return isinstance(result, dict) and result.get("lower") is not None


def _job_id(*parts: str) -> str:
    return hashlib.sha256(":".join(parts).encode()).hexdigest()[:32]


def cka_job_id(run_a: str, run_b: str) -> str:
    """One job per ordered pair (A, B); (B, A) is read from it transposed."""
    return _job_id(CKA_KIND, run_a, run_b)


def stats_job_id(run_id: str) -> str:
    return _job_id(STATS_KIND, run_id)


def epoch_cka_job_id(run_id: str) -> str:
    return _job_id(EPOCH_CKA_KIND, run_id)


def filter_rel(layer: str, k: int, ext: str = "json") -> str:
    """Where a run keeps the analysis of filter k of a conv layer (json) and its activation-
    maximisation image (png)."""
    return f"{FILTERS_DIR}/{layer}-{k}.{ext}"


def filter_job_id(run_id: str, layer: str, k: int) -> str:
    return _job_id(FILTER_KIND, run_id, layer, str(k))


def ablation_rel(layer: str) -> str:
    """Where a run keeps the ablation curve of one of its conv layers."""
    return f"{ABLATION_DIR}/{layer}.json"


def ablation_job_id(run_id: str, layer: str) -> str:
    return _job_id(ABLATION_KIND, run_id, layer)


def probe_batch_size(test_images: int, values_per_image: int) -> int:
    """How many probe images to use, given the test set size and the activation values one image
    makes in every layer held at once (summed over all layers, and over both runs for CKA)."""
    fitting = MAX_PROBE_VALUES // max(1, values_per_image)
    return max(1, min(PROBE_BATCH, test_images, max(MIN_PROBE_BATCH, fitting)))
