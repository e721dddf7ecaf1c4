"""How long the compare page waits for its jobs, and what it says when no worker answers.

The page polls while an extraction (the input through a model) or an analysis job (per-filter
statistics, layer similarity, ablation curves) is pending. As on the run page (`input_panel.poll_job`), it does not
poll forever: after PATIENCE seconds with a job still queued it asks whether the worker is
running; when nothing has started after STOP_QUEUED seconds, or the task queue is unreachable
that long, or something is still unfinished after STOP_RUNNING seconds, it stops polling, says in
words what seems wrong, and shows a button that asks again. Everything here is derived from the
status dict (`page_status.status`) and the job rows, like the rest of the page's bookkeeping.
"""

from __future__ import annotations

from typing import Any

from dash import html

from dashboard.compare import page_status
from dashboard.service import run_actions
from dashboard.ui.i18n import t
from shared import comparison, tasks
from shared.queue import BrokerUnavailable, send
from shared.store import RunStore

PATIENCE = 20.0  # seconds before asking whether a worker is running (the run page's figure)
STOP_QUEUED = 60.0  # seconds without any job starting: no worker is taking them
# A job that started is killed by its worker's hard time limit (300 s for analysis jobs); past
# that and a margin, the worker itself is gone.
STOP_RUNNING = 330.0
EXTRACTION, ANALYSIS = "extraction", "analysis"
RETRY_SHOWN, RETRY_HIDDEN = "lens-cmp-retry", "lens-cmp-retry d-none"


def pending_jobs(state: dict[str, Any] | None) -> list[tuple[str, str, str]]:
    """(worker kind, task name, job id) of every job the status still waits for."""
    if not state:
        return []
    jobs = [
        (EXTRACTION, tasks.EXTRACT, run_actions.extraction_job_id(run_id, src["pending"]))
        for run_id, src in state.get("sources", {}).items()
        if "pending" in src
    ]
    jobs += [
        (ANALYSIS, tasks.STATS, comparison.stats_job_id(run_id))
        for run_id, value in state.get("stats", {}).items()
        if value == page_status.PENDING
    ]
    for pair, value in state.get("cka", {}).items():
        if value == page_status.PENDING:
            a, _, b = pair.partition(":")
            jobs.append((ANALYSIS, tasks.CKA, comparison.cka_job_id(a, b)))
    for key, value in state.get("ablation", {}).items():
        if value == page_status.PENDING:
            run_id, _, layer = key.partition(":")
            jobs.append((ANALYSIS, tasks.ABLATION, comparison.ablation_job_id(run_id, layer)))
    return jobs


def _queued_kinds(store: RunStore, jobs: list[tuple[str, str, str]]) -> tuple[set[str], bool]:
    """Which workers have a job no one has started yet, and whether any job is running."""
    queued: set[str] = set()
    running = False
    for kind, _task, job_id in jobs:
        row = store.get_job(job_id)
        status = row["status"] if row else "queued"
        if status == "running":
            running = True
        elif status == "queued":
            queued.add(kind)
    return queued, running


def _words(kind: str, seconds: int) -> tuple[str, str, str]:
    """(still queued, stopped waiting, short reason for the views) about one kind of worker."""
    if kind == EXTRACTION:
        return (
            t("compare.wait.still_queued_extraction"),
            t("compare.wait.no_extraction_worker", seconds=seconds),
            t("compare.state.no_extraction_worker"),
        )
    return (
        t("compare.wait.still_queued_analysis"),
        t("compare.wait.no_analysis_worker", seconds=seconds),
        t("compare.state.no_analysis_worker"),
    )


def _note(lines: list[str], color: str) -> html.Div:
    return html.Div([html.Div(line) for line in lines], className=f"text-{color} small")


def _answer(stop: bool, note: Any = "", why: dict[str, str] | None = None) -> dict[str, Any]:
    return {"stop": stop, "note": note, "why": why or {}}


def verdict(
    store: RunStore, state: dict[str, Any] | None, since: Any, now: float, broker_ok: bool
) -> dict[str, Any]:
    """{"stop": bool, "note": component or "", "why": {kind: short reason}} for one poll."""
    jobs = pending_jobs(state)
    if not jobs:
        return _answer(True)
    try:
        waited = now - float(since)
    except (TypeError, ValueError):
        waited = 0.0
    if waited < PATIENCE:
        return _answer(False)
    queued, running = _queued_kinds(store, jobs)
    kinds = {kind for kind, _, _ in jobs}
    if not broker_ok:
        if waited < STOP_QUEUED:
            return _answer(False, _note([t("compare.wait.queue_waiting")], "warning"))
        why = dict.fromkeys(kinds, t("compare.state.queue_down"))
        return _answer(True, _note([t("compare.wait.queue_down")], "danger"), why)
    if waited >= STOP_RUNNING:
        why = dict.fromkeys(kinds, t("compare.state.gave_up"))
        note = _note([t("compare.wait.too_long", minutes=round(STOP_RUNNING / 60))], "danger")
        return _answer(True, note, why)
    if not queued:
        return _answer(False)
    words = {kind: _words(kind, round(waited)) for kind in sorted(queued, reverse=True)}
    if waited >= STOP_QUEUED and not running:
        why = {kind: short for kind, (_, _, short) in words.items()}
        return _answer(True, _note([stop for _, stop, _ in words.values()], "danger"), why)
    return _answer(False, _note([still for still, _, _ in words.values()], "warning"))


def stopped(state: dict[str, Any], why: dict[str, str]) -> dict[str, Any]:
    """The status with every pending part replaced by the reason the page stopped waiting, so the
    views say why instead of "computing…"."""
    extraction = why.get(EXTRACTION, t("compare.state.gave_up"))
    analysis = why.get(ANALYSIS, t("compare.state.gave_up"))
    return {
        "sources": {
            run_id: ({"error": extraction} if "pending" in src else src)
            for run_id, src in state.get("sources", {}).items()
        },
        "stats": {
            k: (analysis if v == page_status.PENDING else v)
            for k, v in state.get("stats", {}).items()
        },
        **{
            part: {
                k: (analysis if v == page_status.PENDING else v)
                for k, v in state.get(part, {}).items()
            }
            for part in ("cka", "ablation")
        },
    }


def resend_queued(store: RunStore, state: dict[str, Any]) -> bool:
    """Send again the jobs still queued when the user asks to try again: their message may have
    been lost with a flushed broker (asking again only re-sends failed jobs). A job delivered
    twice is computed once. False when the task queue is not reachable."""
    for _kind, task, job_id in pending_jobs(state):
        row = store.get_job(job_id)
        if row is not None and row["status"] == "queued":
            try:
                send(task, job_id)
            except BrokerUnavailable:
                return False
    return True


def retry_class(stop_with_reason: bool) -> str:
    return RETRY_SHOWN if stop_with_reason else RETRY_HIDDEN
