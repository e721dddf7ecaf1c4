"""What the compare page waits for, read from the store: for each run, where its answer to the
input comes from (dashboard/compare/inputs.py, `source`), its filter statistics, the chosen pair's
CKA and the ablation card's curves. The page keeps no job bookkeeping: `status()` derives
everything from the store and the deterministic job ids, so a poll is just a call to it, and
with ask=True it queues the jobs still missing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dashboard.compare.inputs import input_image, not_trained, queue_down, source
from dashboard.service import analysis_jobs, comparisons
from dashboard.ui.i18n import t
from shared import comparison
from shared.queue import BrokerUnavailable
from shared.store import FAILED, SUCCEEDED, RunStore

READY, PENDING = "ready", "pending"


def _job_state(store: RunStore, job_id: str) -> str:
    job = store.get_job(job_id)
    if job is not None and job["status"] == FAILED:
        return str(job.get("error") or t("compare.state.job_failed"))
    return PENDING


def _analysis_state(
    store: RunStore,
    run: dict[str, Any],
    ask: bool,
    cached: Any,
    job_id: str,
    request: Callable[[], Any],
) -> str:
    """A one-run analysis (filter statistics, an ablation curve): READY when its answer is
    stored, else why it cannot be had, else PENDING, queueing its job first when `ask`."""
    if cached is not None:
        return READY
    if run["status"] != SUCCEEDED:
        return not_trained(run)
    if not ask:
        return _job_state(store, job_id)
    try:
        request()
    except (comparisons.NotComparable, comparisons.NotReady) as exc:
        return str(exc)
    except BrokerUnavailable:
        return queue_down()
    return PENDING


def stats_state(store: RunStore, run: dict[str, Any], ask: bool) -> str:
    return _analysis_state(
        store,
        run,
        ask,
        comparisons.load_stats(store, run["id"]),
        comparison.stats_job_id(run["id"]),
        lambda: comparisons.request_stats(store, run),
    )


def cka_state(store: RunStore, run_a: dict[str, Any], run_b: dict[str, Any], ask: bool) -> str:
    if comparison.cka_complete(comparisons.load_cka(store, run_a["id"], run_b["id"])):
        return READY  # a probe-batch answer alone is shown while the job goes on: pending
    try:
        comparisons.check_cka(run_a, run_b)
    except (comparisons.NotComparable, comparisons.NotReady) as exc:
        return str(exc)
    if not ask:
        return _job_state(store, comparison.cka_job_id(run_a["id"], run_b["id"]))
    try:
        answer = comparisons.request_cka(store, run_a, run_b)
    except BrokerUnavailable:
        return queue_down()
    return READY if answer["status"] == "cached" else PENDING


def ablation_state(store: RunStore, run: dict[str, Any], layer: str, ask: bool) -> str:
    """The ablation curve of a conv layer the run has (the caller checks the name)."""
    return _analysis_state(
        store,
        run,
        ask,
        analysis_jobs.load_ablation(store, run["id"], layer),
        comparison.ablation_job_id(run["id"], layer),
        lambda: analysis_jobs.request_ablation(store, run, layer),
    )


def status(
    store: RunStore,
    runs: list[dict[str, Any]],
    desc: dict[str, Any] | None,
    pair: tuple[int, int] | None,
    ask: bool = False,
    layer: str | None = None,
) -> dict[str, Any]:
    """Everything the page waits for, read from the store; with ask=True, missing jobs are queued.

    The extraction of the input goes first, so it is not stuck behind the longer analysis jobs.
    `layer` is the ablation card's conv layer: a curve is asked for each run that has it.
    """
    image = input_image(desc)
    sources = {
        run["id"]: source(store, run, desc, image, ask) if desc and image is not None else {}
        for run in runs
    }
    stats = {run["id"]: stats_state(store, run, ask) for run in runs}
    cka = {}
    if pair is not None and max(pair) < len(runs):
        a, b = runs[pair[0]], runs[pair[1]]
        cka[f"{a['id']}:{b['id']}"] = cka_state(store, a, b, ask)
    ablation = {
        f"{run['id']}:{layer}": ablation_state(store, run, layer, ask)
        for run in runs
        if layer is not None and layer in [i.name for i in comparisons.conv_layers(run)]
    }
    return {"sources": sources, "stats": stats, "cka": cka, "ablation": ablation}


def waiting(state: dict[str, Any] | None) -> bool:
    """Whether anything in a status is still being computed."""
    if not state:
        return False
    return (
        any("pending" in s for s in state["sources"].values())
        or PENDING in state["stats"].values()
        or PENDING in state["cka"].values()
        or PENDING in state.get("ablation", {}).values()
    )
