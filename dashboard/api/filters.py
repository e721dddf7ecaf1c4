"""API views of one run's analysis jobs: one filter's page, its layers across epochs, and a conv
layer's ablation curve.

All are worker jobs on the analysis queue: 200 with the cached result, or 202 with the job to
poll at /api/jobs/{id}, shaped like the comparisons' answers.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Response

from dashboard.api.common import load_run, shown, store
from dashboard.api.compare import _answer, _call, _layer_param
from dashboard.api.errors import ApiError
from dashboard.service import analysis_jobs, comparisons

FILTER_RE = re.compile(r"[0-9]{1,4}")


def _filter_index(run: dict[str, Any], layer: str, k: str) -> int:
    """Filter k of the layer, or a 404 saying which filters the run has."""
    index = int(k) if FILTER_RE.fullmatch(k) else None
    try:
        if index is None:
            count = analysis_jobs.check_filter(run, layer, 0)  # a bad layer is named first
            raise comparisons.NotComparable(
                "k", f"{shown(k)} is not a filter number; {layer} has filters 0 to {count - 1}"
            )
        analysis_jobs.check_filter(run, layer, index)
    except comparisons.NotComparable as exc:
        raise ApiError(404, str(exc)) from None
    return index


def filter_analysis(run_id: str, layer: str, k: str) -> Response:
    run = load_run(run_id, with_history=False)
    index = _filter_index(run, layer, k)
    return _answer(_call(lambda: analysis_jobs.request_filter_analysis(store(), run, layer, index)))


def epoch_cka(run_id: str) -> Response:
    run = load_run(run_id, with_history=False)
    return _answer(_call(lambda: analysis_jobs.request_epoch_cka(store(), run)))


def ablation_curve(run_id: str) -> Response:
    run = load_run(run_id, with_history=False)
    layer = _layer_param("layer", required=True)
    assert layer is not None
    return _answer(_call(lambda: analysis_jobs.request_ablation(store(), run, layer)))
