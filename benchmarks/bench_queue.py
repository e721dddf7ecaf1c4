"""Row 3, queue latency: from a run submitted through the API to a worker having claimed it, with
an idle training worker whose pool child has already imported and warmed up TensorFlow.

The figure is `started_at − created_at` from the store: `created_at` is stamped by the API just
before it publishes the task, `started_at` by the worker's claim, both with the machine's clock.
The training worker recycles its child after every task (`--max-tasks-per-child 1`), so before
each sample we wait until the next child has logged that TensorFlow is warm: the latency of a
task that arrives while a child is still warming up is that warm-up (~5–15 s), reported in the
note, not here.
"""

from __future__ import annotations

import time
from typing import Any

import requests

from benchmarks.rows import median, percentile, row
from benchmarks.services import Services
from shared.store import FINISHED

TINY = {"epochs": 1, "train_limit": 64, "batch_size": 32}  # on mnist-sample, already loaded


def run(quick: bool) -> list[dict[str, Any]]:
    samples = 3 if quick else 12
    latencies: list[float] = []
    posts: list[float] = []
    warmups: list[float] = []
    with Services("queue") as services:
        services.start_dashboard()
        worker = services.start_worker("training")
        http = requests.Session()
        for i in range(samples):
            waited = time.monotonic()
            worker.wait_warm(count=i + 1)  # the child that will take this task is warm
            warmups.append(time.monotonic() - waited)
            time.sleep(0.5)  # let it finish reporting ready to the pool
            started = time.perf_counter()
            run_id = services.submit(TINY | {"name": f"queue {i}"}, http)
            posts.append((time.perf_counter() - started) * 1000)
            run = services.wait_status(run_id, ("running", *FINISHED), timeout=120, poll=0.01)
            latencies.append((run["started_at"] - run["created_at"]) * 1000)
            services.wait_status(run_id, FINISHED, timeout=120)
    p95 = percentile(latencies, 95)
    warm_note = (
        f"between samples the recycled child took up to {max(warmups[1:] or [0]):.0f} s "
        "to warm up again; a task sent meanwhile waits that long"
    )
    return [
        row(
            "queue: submit → running p50 (warm idle worker)",
            median(latencies),
            "ms",
            target="< 100 ms",
            note=f"{samples} runs; p95 {p95:.0f} ms, max {max(latencies):.0f} ms; {warm_note}",
        ),
        row(
            "queue: submit → running p95",
            p95,
            "ms",
            note="started_at − created_at in the store, both stamped on this machine",
        ),
        row(
            "queue: POST /api/runs p50",
            median(posts),
            "ms",
            note="validate, write config.json and the row, publish the task",
        ),
    ]
