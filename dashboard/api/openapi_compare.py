"""The comparison endpoints in the OpenAPI document: paths (`dashboard/api/compare.py`) and schemas.

`openapi.paths()` and `schemas.components()` merge these in, so the served document stays one.
"""

from __future__ import annotations

from typing import Any

from dashboard.api.schemas import array, nullable, obj, ref

INTS = array({"type": "integer"})
RUN_ID_SCHEMA = {"type": "string", "pattern": "^[0-9a-f]{32}$"}


def _run_query(name: str, which: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": True,
        "schema": RUN_ID_SCHEMA,
        "description": f"The id of {which} run (32 lowercase hex digits).",
    }


def _queued() -> dict[str, Any]:
    from dashboard.api.openapi import json_body

    return json_body(
        "ActivationsQueued",
        "A worker job computes it; poll /api/jobs/{job_id}, whose `result` is this answer's "
        "`result` once it succeeded.",
        links={
            "GetJob": {"operationId": "getJob", "parameters": {"job_id": "$response.body#/job_id"}}
        },
        headers={"Location": {"schema": {"type": "string"}, "description": "The job's URL."}},
    )


def compare_paths() -> dict[str, Any]:
    from dashboard.api.openapi import NO_RUN, RUN_ID, error, json_body, operation, query

    busy = error("The task queue is not reachable; try again.")
    untrained = error("A run has no trained model yet, or its test images are not on this machine.")
    return {
        "/api/runs/{run_id}/filter-stats": {
            "get": operation(
                "getFilterStats",
                "Per-filter statistics of every conv layer on the probe batch.",
                {
                    "200": json_body("FilterStatsCached", "Computed before: the statistics."),
                    "202": _queued(),
                    "404": NO_RUN,
                    "409": untrained,
                    "503": busy,
                },
                parameters=[RUN_ID],
                description="Mean, spread and peak of each filter's activations on the first "
                "500 test images, how often it stays silent, and whether it is dead (never fires).",
            )
        },
        "/api/compare/filters": {
            "get": operation(
                "compareFilters",
                "Match the filters of a conv layer of run a to those of run b.",
                {
                    "200": json_body("FilterAlignment", "The matched pairs, in a's filter order."),
                    "404": error("No run with one of these ids."),
                    "409": error("The filters of a run are not stored yet."),
                    "422": json_body(
                        "ValidationErrors",
                        "A missing or malformed parameter, a layer a run does not have, or "
                        "kernels of different shapes (the message says which).",
                    ),
                },
                parameters=[
                    _run_query("a", "the first"),
                    _run_query("b", "the second"),
                    {
                        "name": "layer",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string", "minLength": 1, "maxLength": 64},
                        "description": "A conv layer of run a, e.g. conv2d_1.",
                    },
                    query(
                        "layer_b",
                        {"type": "string", "minLength": 1, "maxLength": 64},
                        "The conv layer of run b (default: the same name as `layer`).",
                    ),
                    query(
                        "epoch",
                        {"type": "integer", "minimum": 0, "maximum": 200},
                        "Match the filters after this epoch (0: initial weights) instead of the "
                        "final ones; a run with fewer epochs uses its last.",
                    ),
                    query(
                        "absolute",
                        {"type": "boolean"},
                        "Match on |correlation|, so a sign-flipped filter counts as similar.",
                    ),
                ],
                description="Filter order is an arbitrary permutation: each filter of a is "
                "paired with a distinct filter of b so that the total correlation is largest "
                "(Hungarian assignment).",
            )
        },
        "/api/compare/cka": {
            "get": operation(
                "compareCka",
                "Linear CKA between every layer of run a and every layer of run b.",
                {
                    "200": json_body("CkaCached", "Computed before: the matrix."),
                    "202": _queued(),
                    "404": error("No run with one of these ids."),
                    "409": untrained,
                    "422": json_body(
                        "ValidationErrors", "A missing parameter, or runs on different datasets."
                    ),
                    "503": busy,
                },
                parameters=[_run_query("a", "the first"), _run_query("b", "the second")],
                description="Measured on the probe batch (the first 500 test images of the "
                "runs' shared dataset); 1 means two layers represent the images alike up to a "
                "rotation and scale.",
            )
        },
    }


def compare_components() -> dict[str, Any]:
    number = {"type": "number"}
    filter_row = obj(
        {
            "channel": {"type": "integer"},
            "mean": number,
            "std": number,
            "max": number,
            "silent_fraction": {"type": "number", "minimum": 0, "maximum": 1},
            "sparsity": {"type": "number", "minimum": 0, "maximum": 1},
            "dead": {"type": "boolean"},
        }
    )
    stats = obj(
        {
            "run_id": RUN_ID_SCHEMA,
            "dataset": {"type": "string"},
            "probe_images": {"type": "integer"},
            "layers": array(
                obj(
                    {
                        "name": {"type": "string"},
                        "activation": {"type": "string"},
                        "relu_like": {"type": "boolean"},
                        "filters": array(filter_row),
                    }
                )
            ),
        }
    )
    cka = obj(
        {
            "a": RUN_ID_SCHEMA,
            "b": RUN_ID_SCHEMA,
            "dataset": {"type": "string"},
            "probe_images": {"type": "integer"},
            "layers_a": array({"type": "string"}),
            "layers_b": array({"type": "string"}),
            "matrix": array(array({"type": "number", "minimum": 0, "maximum": 1})),
        },
        description="matrix[i][j] is the CKA of layers_a[i] and layers_b[j].",
    )
    alignment = obj(
        {
            "a": RUN_ID_SCHEMA,
            "b": RUN_ID_SCHEMA,
            "layer_a": {"type": "string"},
            "layer_b": {"type": "string"},
            "epoch": nullable("integer"),
            "kernel_shape": INTS,
            "pairs": array(
                obj(
                    {
                        "a": {"type": "integer"},
                        "b": {"type": "integer"},
                        "correlation": {"type": "number", "minimum": -1, "maximum": 1},
                    }
                )
            ),
            "order_b": INTS,
            "mean_correlation": number,
            "absolute": {"type": "boolean"},
        },
        description="pairs[i] matches filter a of run a with filter b of run b (Pearson r); "
        "order_b lists b's filters in a's order.",
    )
    return {
        "FilterStats": stats,
        "FilterStatsCached": obj({"status": {"const": "cached"}, "result": ref("FilterStats")}),
        "CkaResult": cka,
        "CkaCached": obj({"status": {"const": "cached"}, "result": ref("CkaResult")}),
        "FilterAlignment": alignment,
    }
