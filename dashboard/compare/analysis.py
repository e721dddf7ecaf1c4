"""The compare page's analysis views: per-filter statistics and layer similarity (CKA) of the chosen
runs, read from what the comparison jobs cached. Pure: store and arguments in, rows and figures out.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from dash import html

from dashboard.compare import charts, page_status
from dashboard.service import comparisons
from dashboard.ui import components, figures
from dashboard.ui.i18n import t
from dashboard.ui.messages import message
from shared import comparison

# --- per-filter statistics -------------------------------------------------------------------------


def stats_rows(
    store: Any, runs: list[dict[str, Any]], depth: int, state: dict[str, Any] | None
) -> tuple[list[dict[str, Any]], list[Any]]:
    """Rows of the statistics table (k-th conv layer of every run) and one summary per run."""
    rows: list[dict[str, Any]] = []
    summary: list[Any] = []
    dead_word = t("compare.stats.dead_word")
    for i, run in enumerate(runs):
        who = f"{charts.letter(i)} · {run['name']}"
        ready = (state or {}).get("stats", {}).get(run["id"])
        convs = comparisons.conv_layers(run)
        if depth >= len(convs):
            summary.append(html.Li(t("compare.stats.no_layer", who=who)))
            continue
        if ready != page_status.READY:
            pending = ready in (None, page_status.PENDING)
            wait = t("compare.stats.computing") if pending else message(str(ready))
            summary.append(html.Li(f"{who}: {wait}"))
            continue
        stats = comparisons.load_stats(store, run["id"]) or {}
        entry = next((e for e in stats.get("layers", []) if e["name"] == convs[depth].name), None)
        if entry is None:
            summary.append(html.Li(t("compare.stats.no_stats", who=who, layer=convs[depth].name)))
            continue
        for row in entry["filters"]:
            rows.append(
                {
                    "run": who,
                    "layer": entry["name"],
                    "filter": row["channel"],
                    "mean": row["mean"],
                    "std": row["std"],
                    "max": row["max"],
                    "silent": row["silent_fraction"],
                    "sparsity": row["sparsity"],
                    "dead": dead_word if row["dead"] else "",
                }
            )
        dead = sum(row["dead"] for row in entry["filters"])
        sparsity = float(np.mean([row["sparsity"] for row in entry["filters"]]))
        key = "compare.stats.summary." + ("zero" if entry["relu_like"] else "exact")
        summary.append(
            html.Li(
                t(
                    key,
                    who=who,
                    activation=entry["activation"],
                    dead=dead,
                    n=len(entry["filters"]),
                    pct=components.fmt_pct(sparsity, 0),
                )
            )
        )
    return rows, summary


# --- layer similarity ------------------------------------------------------------------------------


def pair_options(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "label": t("compare.cka.pair", a=charts.letter(i), b=charts.letter(j)),
            "value": f"{i}-{j}",
        }
        for i in range(len(runs))
        for j in range(i + 1, len(runs))
    ]


def parse_pair(value: Any, count: int) -> tuple[int, int] | None:
    try:
        i, j = (int(p) for p in str(value).split("-"))
    except ValueError:
        return None
    return (i, j) if 0 <= i < count and 0 <= j < count and i != j else None


def cka(
    store: Any, runs: list[dict[str, Any]], pair: tuple[int, int] | None, state: dict | None
) -> tuple[Any, str]:
    if pair is None:
        return figures.empty_figure(t("compare.cka.choose")), ""
    a, b = runs[pair[0]], runs[pair[1]]
    la, lb = charts.letter(pair[0]), charts.letter(pair[1])
    ready = (state or {}).get("cka", {}).get(f"{a['id']}:{b['id']}")
    pending = ready in (None, page_status.PENDING)
    result = (
        comparisons.load_cka(store, a["id"], b["id"])
        if pending or ready == page_status.READY
        else None
    )
    if result is None:  # nothing yet, or the job failed (then the state is its sentence)
        wait = t("compare.cka.computing") if pending else message(str(ready))
        return figures.empty_figure(wait), ""
    words = {"dataset": result.get("dataset"), "a": la, "name_a": a["name"], "b": lb}
    if comparison.cka_complete(result):
        level = round(100 * float(result.get("level", 0.95)))
        caption = t(
            "compare.cka.caption_full",
            n=result.get("test_images"),
            batches=result.get("batches"),
            level=level,
            name_b=b["name"],
            **words,
        )
    else:  # the probe-batch answer, shown while the whole test set is measured
        key = "compare.cka.caption_partial" if pending else "compare.cka.caption"
        caption = t(key, n=result.get("probe_images"), name_b=b["name"], **words)
    return charts.cka_heatmap(result, la, lb), caption
