"""Row 5, the dashboard under load: latency of the JSON API and of the pages' polling callbacks
with 10 concurrent pollers, first on an idle machine, then while two trainings run on the same
two cores (one training worker, concurrency 2), with the two levers that decide how worker and
web share the cores: the workers' CPU priority (nice) and TensorFlow threads per training.

Each poller is a thread with its own HTTP session, cycling through what open pages and scripts
ask for — GET /api/runs, GET /api/runs/{id}, the runs table's refresh callback and the run page's
poll callback (each carrying the signature of its last answer, as the browser does) — with
POLL_GAP seconds between its requests. The store holds 50 finished runs besides the two
trainings. The trainings' own speed in each window is reported too: priority is a trade.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import requests

from benchmarks.bench_store import fill
from benchmarks.dash_client import Callback, response_value
from benchmarks.rows import percentile, row
from benchmarks.services import Services
from shared.settings import Settings
from shared.store import FINISHED

POLLERS = 10
POLL_GAP = 0.5  # seconds between one poller's requests: ~20 requests/s in all
WARMUP = 3.0  # seconds of polling before latencies count
LONG_TRAINING = {"dataset": "fashion_mnist", "epochs": 20}
TARGET = "< 250 ms"
API_KINDS = ("GET /api/runs", "GET /api/runs/{id}")
CALLBACK_KINDS = ("runs table callback", "run page callback")


@dataclass
class Scenario:
    title: str
    trainings: bool = True
    nice: int = 0
    env: dict[str, str] = field(default_factory=dict)


def trainings(nice: int, intra: int, inter: int, note: str = "") -> Scenario:
    title = f"2 trainings, nice {nice}, TF threads intra-op {intra} / inter-op {inter} each{note}"
    env = {"CNNLENS_TF_INTRA_THREADS": str(intra), "CNNLENS_TF_INTER_THREADS": str(inter)}
    return Scenario(title, nice=nice, env=env)


def scenarios(quick: bool) -> list[Scenario]:
    """Idle, then the two levers (priority, threads per training) one at a time and together.
    TensorFlow's own choice on this machine is one thread per core in both pools (2 / 2)."""
    idle = Scenario("idle", trainings=False)
    settings = Settings(_env_file=None)
    intra, inter = settings.tf_intra_threads, settings.tf_inter_threads
    defaults = trainings(settings.train_nice, intra, inter, " (CNN Lens' defaults)")
    if quick:
        return [idle, defaults]
    # Priority off and on, with TensorFlow's own threads and with one or two ops at a time; the
    # defaults' own combination is measured once, last, under its own name.
    mine = (settings.train_nice, intra, inter)
    levers = [(0, 2, 2), (0, intra, inter), (10, 2, 2), (10, 1, 2), (10, 1, 1)]
    others = [c for c in dict.fromkeys(levers) if c != mine]
    own = " (TensorFlow's own)"
    return [
        idle,
        *(trainings(*c, own if c[1:] == (2, 2) and c[0] == 0 else "") for c in others),
        defaults,
    ]


class Pollers:
    """POLLERS threads requesting until `stop` is set; latencies in ms per kind."""

    def __init__(self, base: str, run_id: str):
        self.base, self.run_id = base, run_id
        self.stop = threading.Event()
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.errors = 0
        self._lock = threading.Lock()
        probe = requests.Session()
        self.table = Callback.find(probe, base, "runs-table.children")
        self.run_page = Callback.find(probe, base, "run-curves.figure")

    def _poll(self, offset: int) -> None:
        http = requests.Session()
        table_state = {
            "runs-interval.n_intervals": 1,
            "runs-filter-status.value": "all",
            "runs-filter-dataset.value": "all",
            "runs-filter-name.value": "",
            "runs-signature.data": None,
        }
        run_state: dict[str, Any] = {
            "run-interval.n_intervals": 1,
            "run-id.data": self.run_id,
            "run-sig.data": None,
        }

        def api_list() -> None:
            http.get(f"{self.base}/api/runs", timeout=30).raise_for_status()

        def api_run() -> None:
            http.get(f"{self.base}/api/runs/{self.run_id}", timeout=30).raise_for_status()

        def table() -> None:
            res = self.table.call(http, table_state)
            table_state["runs-signature.data"] = (
                response_value(res, "runs-signature", "data") or table_state["runs-signature.data"]
            )

        def run_page() -> None:
            res = self.run_page.call(http, run_state)
            run_state["run-sig.data"] = (
                response_value(res, "run-sig", "data") or run_state["run-sig.data"]
            )

        kinds = [
            ("GET /api/runs", api_list),
            ("GET /api/runs/{id}", api_run),
            ("runs table callback", table),
            ("run page callback", run_page),
        ]
        kinds = kinds[offset % len(kinds) :] + kinds[: offset % len(kinds)]
        for name, action in itertools.cycle(kinds):
            if self.stop.is_set():
                return
            started = time.perf_counter()
            try:
                action()
            except Exception:
                with self._lock:
                    self.errors += 1
            else:
                with self._lock:
                    self.latencies[name].append((time.perf_counter() - started) * 1000)
            self.stop.wait(POLL_GAP)

    def run_for(self, seconds: float, warmup: float = WARMUP) -> None:
        """Poll for `warmup` + `seconds`, keeping only the latencies of the last `seconds`: the
        first requests of a fresh server or page state are not what a user waits for."""
        threads = [
            threading.Thread(target=self._poll, args=(i,), daemon=True) for i in range(POLLERS)
        ]
        for thread in threads:
            thread.start()
        time.sleep(warmup)
        with self._lock:
            self.latencies.clear()
            self.errors = 0
        time.sleep(seconds)
        self.stop.set()
        for thread in threads:
            thread.join(timeout=60)


def steps_done(services: Services, run_ids: list[str]) -> int:
    total = 0
    for run_id in run_ids:
        run = services.store.get_run(run_id, with_history=False) or {}
        progress = run.get("progress") or {}
        total += max(0, (progress.get("epoch") or 1) - 1) * (progress.get("steps") or 0)
        total += progress.get("step") or 0
    return total


def measure(services: Services, scenario: Scenario, seconds: float, idle_run: str) -> dict:
    assert services.dashboard is not None
    worker = None
    run_ids: list[str] = []
    niceness: list[int] = []
    if scenario.trainings:
        worker = services.start_worker(
            "training", concurrency=2, nice=scenario.nice, env=scenario.env
        )
        niceness = worker.niceness()
        run_ids = [
            services.submit(LONG_TRAINING | {"name": f"load {scenario.title} {i}"})
            for i in range(2)
        ]
        for run_id in run_ids:  # both fitting, not just claimed
            deadline = time.monotonic() + 120
            while steps_done(services, [run_id]) == 0 and time.monotonic() < deadline:
                services.wait_status(run_id, ("running",), timeout=120)
                time.sleep(0.2)
    pollers = Pollers(services.dashboard.url, run_ids[0] if run_ids else idle_run)
    steps_before, started = steps_done(services, run_ids), time.monotonic()
    pollers.run_for(seconds)
    elapsed = time.monotonic() - started  # warm-up included: the trainings ran throughout
    images = (steps_done(services, run_ids) - steps_before) * 32  # the default batch size
    if worker is not None:
        for run_id in run_ids:
            requests.post(
                f"{services.dashboard.url}/api/runs/{run_id}/cancel",
                headers={"X-Requested-With": "cnnlens-bench"},
                timeout=30,
            )
        for run_id in run_ids:
            services.wait_status(run_id, FINISHED, timeout=120)
        services.stop(worker)
    return {
        "latencies": pollers.latencies,
        "errors": pollers.errors,
        "training_ips": images / elapsed if run_ids else None,
        "niceness": niceness,
    }


def summary(latencies: dict[str, list[float]], kinds: tuple[str, ...]) -> tuple[float, float, int]:
    """(p50, p95, count) over the given kinds of request."""
    picked = [v for kind in kinds for v in latencies.get(kind, [])]
    return percentile(picked, 50) or 0.0, percentile(picked, 95) or 0.0, len(picked)


def per_kind(latencies: dict[str, list[float]]) -> str:
    return "; ".join(
        f"{k} p50 {percentile(v, 50):.0f} / p95 {percentile(v, 95):.0f} ms"
        for k, v in sorted(latencies.items())
    )


def run(quick: bool) -> list[dict[str, Any]]:
    seconds = 4 if quick else 20
    results: dict[str, dict] = {}
    with Services("load") as services:
        fill(services.store, 50)
        idle_run = services.store.list_runs(limit=1)[0]["id"]
        services.start_dashboard()
        for scenario in scenarios(quick):
            results[scenario.title] = measure(services, scenario, seconds, idle_run)

    rows: list[dict[str, Any]] = []
    idle = results["idle"]
    idle_api = summary(idle["latencies"], API_KINDS)
    idle_cb = summary(idle["latencies"], CALLBACK_KINDS)
    first_training_ips = next(
        (r["training_ips"] for r in results.values() if r["training_ips"]), None
    )
    for title, result in results.items():
        api = summary(result["latencies"], API_KINDS)
        callbacks = summary(result["latencies"], CALLBACK_KINDS)
        errors = f"; {result['errors']} failed requests" if result["errors"] else ""
        rows.append(
            row(
                f"load, {title}: API p95",
                api[1],
                "ms",
                baseline=None if title == "idle" else idle_api[1],
                target=TARGET,
                note=f"p50 {api[0]:.0f} ms over {api[2]} requests{errors}",
            )
        )
        rows.append(
            row(
                f"load, {title}: callbacks p95",
                callbacks[1],
                "ms",
                baseline=None if title == "idle" else idle_cb[1],
                target=TARGET,
                note=f"p50 {callbacks[0]:.0f} ms over {callbacks[2]} requests; "
                + per_kind(result["latencies"]),
            )
        )
        if result["training_ips"] is not None:
            rows.append(
                row(
                    f"load, {title}: training images/s (both runs)",
                    result["training_ips"],
                    "images/s",
                    baseline=first_training_ips,
                    note=(
                        "the two trainings' combined speed while the pollers ran; worker "
                        f"processes at nice {sorted(set(result['niceness']))}"
                    ),
                )
            )
    return rows
