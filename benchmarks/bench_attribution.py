"""Attribution of one input, warm, through the API: POST /api/runs/{id}/attributions (202 with a
job), the extraction worker computes it, then the result from GET /api/jobs/{id} — as a client sees
it, for each method on the default model.

Warm means the run's model is already loaded in the extraction worker and each method's
`tf.function` traced (one request per method first); every timed request is a new input (another
test image), so nothing comes from the run folder. Cold is the first request for the run (the
worker loads the model and traces). The sanity check is timed warm too (the randomised copy is
built by its first request). Issue 13's target: one input warm in at most 100 ms.
"""

from __future__ import annotations

import time
from typing import Any

import requests

from benchmarks.rows import median, percentile, row
from benchmarks.services import Services
from shared.attribution_result import METHODS
from shared.store import FINISHED, RunStore

POLL_SECONDS = 0.002  # reading the job row costs ~0.2 ms
FIRST_INPUT = 400


def attribute(
    http: requests.Session, base: str, store: RunStore, run_id: str, body: dict[str, Any]
) -> float:
    """Milliseconds from the request to its result being in the client's hands."""
    started = time.perf_counter()
    res = http.post(f"{base}/api/runs/{run_id}/attributions", json=body, timeout=30)
    if res.status_code == 202:
        job_id = res.json()["job_id"]
        deadline = time.monotonic() + 120
        while (job := store.get_job(job_id)) is None or job["status"] not in FINISHED:
            if time.monotonic() > deadline:
                raise RuntimeError(f"attribution job still {job and job['status']} after 120 s")
            time.sleep(POLL_SECONDS)
        job = http.get(f"{base}{res.json()['job_url']}", timeout=30).json()
        if job["status"] != "succeeded":
            raise RuntimeError(f"attribution job ended {job['status']}: {job.get('error')}")
    elif res.status_code != 200:
        raise RuntimeError(f"POST attributions answered {res.status_code}: {res.text[:300]}")
    return (time.perf_counter() - started) * 1000


def measure(services: Services, quick: bool) -> dict[str, list[float]]:
    count = 3 if quick else 20
    dashboard = services.start_dashboard()
    trainer = services.start_worker("training")
    services.start_worker("extraction")
    run_id = services.submit({"epochs": 1, "train_limit": 300 if quick else 2000})
    if services.wait_status(run_id, FINISHED)["status"] != "succeeded":
        raise RuntimeError(f"run {run_id} did not train")
    services.stop(trainer)  # measure on a quiet machine
    base, http, store = dashboard.url, requests.Session(), services.store
    out: dict[str, list[float]] = {
        "cold": [attribute(http, base, store, run_id, _body(0, "saliency"))]
    }
    index = FIRST_INPUT
    for method in (*METHODS, "sanity"):
        attribute(http, base, store, run_id, _body(index, method))  # trace (or build the copy)
        index += 1
        times = []
        for _ in range(count):
            times.append(attribute(http, base, store, run_id, _body(index, method)))
            index += 1
        out[method] = times
    return out


def _body(index: int, method: str) -> dict[str, Any]:
    if method == "sanity":
        return {"test_index": index, "method": "saliency", "sanity_check": True}
    return {"test_index": index, "method": method}


def run(quick: bool) -> list[dict[str, Any]]:
    with Services("attribution") as services:
        try:
            m = measure(services, quick)
        except (requests.RequestException, RuntimeError) as exc:
            log = services.dashboard.log_text()[-1500:] if services.dashboard else ""
            raise RuntimeError(f"{exc}; the dashboard's log ends with:\n{log}") from exc
    rows = []
    for method in METHODS:
        times = m[method]
        rows.append(
            row(
                f"attribution: {method}, one input, warm, through the API p50",
                median(times),
                "ms",
                target="<= 100 ms",
                note=f"{len(times)} inputs: POST → job done → GET result; "
                f"p95 {percentile(times, 95):.1f} ms",
            )
        )
    rows.append(
        row(
            "attribution: saliency with the sanity check (randomised copy), warm p50",
            median(m["sanity"]),
            "ms",
            note="the method twice (trained and re-initialised weights) and the similarity",
        )
    )
    rows.append(
        row(
            "attribution: cold (model loaded and traced by the worker)",
            m["cold"][0],
            "ms",
            note="the run's first attribution request",
        )
    )
    return rows
