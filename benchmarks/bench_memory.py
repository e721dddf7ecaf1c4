"""Row 8, memory: the training worker over consecutive trainings, and the dashboard process after
it has served every page.

The training worker recycles its pool child after each task, so its footprint is the long-lived
parent plus whichever child is training. Both are sampled while each run trains (the peak) and
the 2nd run is compared with the last: growth would mean something survives the recycling. The
1st run is left out of the comparison because the parent allocates once on its first task.
The dashboard must not load TensorFlow: its memory map is checked for it too.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import requests

from benchmarks.dash_client import Callback
from benchmarks.rows import row
from benchmarks.services import Services, Worker, rss_mib
from shared.store import FINISHED, SUCCEEDED

TINY = {"epochs": 1, "train_limit": 1000, "batch_size": 32}


def train_and_sample(
    services: Services, worker: Worker, name: str
) -> tuple[float, float, float, str]:
    """(peak parent + child MiB, parent MiB, seconds, run id) while one tiny run trains."""
    run_id = services.submit(TINY | {"name": name})
    started = time.monotonic()
    peak = parent = 0.0
    while True:
        peak = max(peak, worker.rss_mib())
        parent = max(parent, rss_mib(worker.pid) or 0.0)
        run = services.store.get_run(run_id, with_history=False)
        if run is not None and run["status"] in FINISHED:
            break
        worker.check_alive()
        time.sleep(0.1)
    if run["status"] != SUCCEEDED:
        raise RuntimeError(f"run {name} ended {run['status']}: {run.get('error')}")
    return peak, parent, time.monotonic() - started, run_id


def load_pages(services: Services, run_ids: list[str]) -> None:
    """What a user's visit makes the dashboard do: every page, and a finished run's figures."""
    assert services.dashboard is not None
    base = services.dashboard.url
    http = requests.Session()
    page = Callback.find(http, base, "_pages_content.children")
    for path in ["/", "/new", "/compare", *[f"/run/{run_id}" for run_id in run_ids]]:
        http.get(f"{base}{path}", timeout=30)
        page.call(http, {"_pages_location.pathname": path, "_pages_location.search": ""})
    for run_id in run_ids:
        for suffix in ("", "/filters", "/activations/probe/0"):
            http.get(f"{base}/api/runs/{run_id}{suffix}", timeout=30)


def has_tensorflow(pid: int) -> bool:
    try:
        return "tensorflow" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


def run(quick: bool) -> list[dict[str, Any]]:
    count = 5 if quick else 20
    with Services("memory") as services:
        dashboard = services.start_dashboard()
        started_mib = rss_mib(dashboard.pid) or 0.0
        worker = services.start_worker("training")
        samples = []
        for i in range(count):
            samples.append(train_and_sample(services, worker, f"memory {i + 1}"))
        load_pages(services, [s[3] for s in samples[-3:]])
        served_mib = rss_mib(dashboard.pid) or 0.0
        tf_in_dashboard = has_tensorflow(dashboard.pid)
    second, last = samples[1], samples[-1]
    seconds = sum(s[2] for s in samples)
    return [
        row(
            "memory: dashboard RSS after serving every page",
            served_mib,
            "MiB",
            baseline=started_mib,
            target="< 250 MiB",
            note=(
                f"{started_mib:.0f} MiB just started (baseline); TensorFlow "
                f"{'LOADED' if tf_in_dashboard else 'not loaded'} in the dashboard process"
            ),
        ),
        row(
            f"memory: training worker peak RSS, run {count} vs run 2",
            last[0],
            "MiB",
            baseline=second[0],
            target="<= 1.05×",
            note=(
                f"parent + training child while the run trains; {count} consecutive runs of "
                f"{TINY['train_limit']} images in {seconds:.0f} s (mostly TensorFlow warm-ups "
                f"of recycled children); run 1 peaked at {samples[0][0]:.0f} MiB"
            ),
        ),
        row(
            f"memory: training worker parent RSS, run {count} vs run 2",
            last[1],
            "MiB",
            baseline=second[1],
            target="<= 1.05×",
            note="the long-lived Celery parent, which must not import TensorFlow",
        ),
    ]
