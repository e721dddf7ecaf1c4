"""Row 4, extraction and the compare page: every layer's activations for one input through the API,
and the server time of the compare page for four runs.

Extraction is timed end to end as a client sees it: POST /api/runs/{id}/activations (202 with a
job), the job done, then its result from GET /api/jobs/{id}, with a warm extraction worker (the run's model
already in its LRU). Cold is the first request for a run (the worker loads and traces its model);
a cached answer is the second request for the same input (200 at once). The baseline is what the
worker would cost with Keras' `model.predict` on a model answering every layer, one call per
request, timed in a separate process on the same model files.

The compare page is timed over HTTP through the Dash callbacks a browser fires for four runs: the
page layout and the views on load, and the feature maps of every layer depth, on an input the
runs answer from their extraction cache (the heavier path), with statistics and CKA already done.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import requests

from benchmarks.dash_client import Callback, response_value
from benchmarks.rows import median, percentile, row
from benchmarks.services import ROOT, Services
from shared.datasets import load_raw
from shared.store import FINISHED, RunStore

TANH = [
    {"type": "conv2d", "filters": 16, "kernel_size": 3, "activation": "tanh"},
    {"type": "maxpool2d", "pool_size": 2},
    {"type": "conv2d", "filters": 32, "kernel_size": 3, "activation": "tanh"},
    {"type": "flatten"},
    {"type": "dense", "units": 10, "activation": "softmax"},
]
FIVE = [{"type": "conv2d", "filters": 16, "kernel_size": 5}, *TANH[1:]]
RUNS = (
    {"name": "notebook"},
    {"name": "notebook, seed 7", "seed": 7},
    {"name": "tanh", "layers": TANH},
    {"name": "5x5 first layer", "layers": FIVE},
)
POLL_SECONDS = 0.002  # reading the job row costs ~0.2 ms: poll without stealing the worker a core
INPUT = 123  # a test image outside the probe set: answered from the extraction cache
BASELINE_SCRIPT = """
import json, os, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras, tensorflow as tf
from shared.datasets import load_raw, to_model_input
tf.config.threading.set_intra_op_parallelism_threads(2)
tf.config.threading.set_inter_op_parallelism_threads(1)
path, count = sys.argv[1], int(sys.argv[2])
model = keras.saving.load_model(path, compile=False, safe_mode=True)
lens = keras.Model(model.input, [layer.output for layer in model.layers])
x_test = load_raw("mnist-sample")[2]
lens.predict(to_model_input(x_test[:1]), verbose=0)
times = []
for i in range(count):
    image = to_model_input(x_test[200 + i : 201 + i])
    started = time.perf_counter()
    lens.predict(image, verbose=0)
    times.append((time.perf_counter() - started) * 1000)
print(json.dumps(times))
"""


def extract(
    http: requests.Session, base: str, store: RunStore, run_id: str, index: int
) -> tuple[float, int]:
    """Milliseconds from the request to every layer's activations being there, and the status.

    While the job runs, its row is read from the store directly, as `Services.wait_status` does
    for runs: polling over HTTP every millisecond would load the dashboard on two shared cores.
    The result is then fetched through the API, so a client gets it in the time measured.
    """
    started = time.perf_counter()
    res = http.post(f"{base}/api/runs/{run_id}/activations", json={"test_index": index}, timeout=30)
    if res.status_code == 202:
        job_id = res.json()["job_id"]
        deadline = time.monotonic() + 120
        while (job := store.get_job(job_id)) is None or job["status"] not in FINISHED:
            if time.monotonic() > deadline:
                raise RuntimeError(f"extraction job still {job and job['status']} after 120 s")
            time.sleep(POLL_SECONDS)
        job = http.get(f"{base}{res.json()['job_url']}", timeout=30).json()
        if job["status"] != "succeeded":
            raise RuntimeError(f"extraction job ended {job['status']}: {job.get('error')}")
    elif res.status_code != 200:
        raise RuntimeError(f"POST activations answered {res.status_code}: {res.text[:300]}")
    return (time.perf_counter() - started) * 1000, res.status_code


def wait_ready(http: requests.Session, url: str, timeout: float = 300) -> None:
    """Poll a 200/202 endpoint (CKA, filter statistics) until it answers 200."""
    deadline = time.monotonic() + timeout
    while http.get(url, timeout=30).status_code != 200:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} not ready after {timeout} s")
        time.sleep(0.2)


def predict_baseline(model_path: str, count: int, env: dict[str, str]) -> list[float]:
    out = subprocess.run(
        [sys.executable, "-c", BASELINE_SCRIPT, model_path, str(count)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


class ComparePage:
    """The compare page's server side, driven over HTTP like a browser does."""

    def __init__(self, http: requests.Session, base: str, ids: list[str]):
        self.http = http
        deps = http.get(f"{base}/_dash-dependencies", timeout=10).json()
        url = f"{base}/_dash-update-component"

        def find(output: str, first_input: str) -> Callback:
            for dep in deps:
                if output in dep["output"] and dep["inputs"][0]["id"] == first_input:
                    return Callback(url, dep)
            raise LookupError(output)

        self.layout = Callback.find(http, base, "_pages_content.children")
        self.ensure = find("cmp-status.data", "cmp-body-runs")
        self.views = {
            "predictions": find("cmp-preds.children", "cmp-status"),
            "activations": find("cmp-acts.children", "cmp-status"),
            "filters": find("cmp-filters.children", "cmp-conv"),
            "stats": find("cmp-stats-table.rowData", "cmp-conv"),
            "cka": find("cmp-cka.figure", "cmp-pair"),
        }
        label = int(load_raw("mnist-sample")[3][INPUT])
        ref = f"test:{INPUT}"
        self.values: dict[str, Any] = {
            "_pages_location.pathname": "/compare",
            "_pages_location.search": f"?runs={','.join(ids)}&input={ref}",
            "cmp-body-runs.data": ids,
            "cmp-runs.data": ids,
            "cmp-input.data": {
                "kind": "test",
                "dataset": "mnist-sample",
                "index": INPUT,
                "label": label,
                "ref": ref,
            },
            "cmp-pair.value": "0-1",
            "cmp-depth.value": "0",
            "cmp-scale.value": "shared",
            "cmp-conv.value": "0",
            "cmp-epoch.value": 1,
            "cmp-align.value": "aligned",
        }

    def _timed(self, callback: Callback, **values: Any) -> tuple[float, requests.Response]:
        started = time.perf_counter()
        res = callback.call(self.http, self.values | values)
        return (time.perf_counter() - started) * 1000, res

    def load(self) -> float:
        """Layout, the status check, and every view as they fire when the page opens."""
        total, _ = self._timed(self.layout)
        took, res = self._timed(self.ensure)
        self.values["cmp-status.data"] = response_value(res, "cmp-status", "data")
        total += took
        for callback in self.views.values():
            total += self._timed(callback)[0]
        return total

    def all_depths(self, depths: int) -> list[float]:
        return [
            self._timed(self.views["activations"], **{"cmp-depth.value": str(k)})[0]
            for k in range(depths)
        ]


def measure(services: Services, quick: bool) -> dict[str, list[float]]:
    warm_count, repeats = (5, 3) if quick else (40, 15)
    size = {"epochs": 1, "train_limit": 300 if quick else 2000}
    dashboard = services.start_dashboard()
    trainer = services.start_worker("training")
    services.start_worker("extraction")
    services.start_worker("analysis")  # CKA and filter statistics for the compare page
    ids = [services.submit(size | config) for config in RUNS]
    for run_id in ids:
        if services.wait_status(run_id, FINISHED)["status"] != "succeeded":
            raise RuntimeError(f"run {run_id} did not train")
    services.stop(trainer)  # measure on a quiet machine
    base, http, store = dashboard.url, requests.Session(), services.store
    out: dict[str, list[float]] = {
        "cold": [extract(http, base, store, run_id, INPUT)[0] for run_id in ids],
        "warm": [extract(http, base, store, ids[0], 300 + i)[0] for i in range(warm_count)],
        "cached": [extract(http, base, store, ids[0], INPUT)[0] for _ in range(warm_count)],
    }
    model = str(services.data_dir / "runs" / ids[0] / "model.keras")
    out["baseline"] = predict_baseline(model, warm_count, services.env)
    for run_id in ids:
        wait_ready(http, f"{base}/api/runs/{run_id}/filter-stats")
    wait_ready(http, f"{base}/api/compare/cka?a={ids[0]}&b={ids[1]}")
    page = ComparePage(http, base, ids)
    page.load()  # warm-up: imports, caches
    out["loads"] = [page.load() for _ in range(repeats)]
    out["depths"] = [sum(sweep) for sweep in (page.all_depths(len(TANH)) for _ in range(repeats))]
    return out


def run(quick: bool) -> list[dict[str, Any]]:
    with Services("extraction") as services:
        try:
            m = measure(services, quick)
        except (requests.RequestException, RuntimeError) as exc:  # with the dashboard's view
            log = services.dashboard.log_text()[-1500:] if services.dashboard else ""
            raise RuntimeError(f"{exc}; the dashboard's log ends with:\n{log}") from exc
    warm, cold, cached, baseline = m["warm"], m["cold"], m["cached"], m["baseline"]
    loads, depths = m["loads"], m["depths"]
    warm_p50, base_p50 = median(warm), median(baseline)
    return [
        row(
            "extraction: every layer, one input, warm, through the API p50",
            warm_p50,
            "ms",
            baseline=base_p50,
            ratio=base_p50 / warm_p50 if warm_p50 and base_p50 else None,
            target="< 50 ms",
            note=f"{len(warm)} inputs: POST → job done → GET result; p95 {percentile(warm, 95):.1f} ms; "
            "baseline: Keras model.predict of all layers per call, in-process, no queue",
        ),
        row("extraction: warm p95", percentile(warm, 95), "ms"),
        row(
            "extraction: cold (model loaded by the worker) p50",
            median(cold),
            "ms",
            note=f"first request for each of {len(cold)} runs; max {max(cold):.0f} ms",
        ),
        row(
            "extraction: asked again (cache hit, 200) p50",
            median(cached),
            "ms",
            note="the store holds the result: no job",
        ),
        row(
            "compare page, 4 runs: server time of a full load p50",
            median(loads),
            "ms",
            target="< 500 ms",
            note=f"layout + status + predictions, feature maps, filters (matched to A), "
            f"statistics, CKA; {len(loads)} loads, max {max(loads):.0f} ms",
        ),
        row(
            "compare page, 4 runs × all 5 layers: feature maps of every depth p50",
            median(depths),
            "ms",
            target="< 500 ms",
            note=f"one callback per depth, {len(TANH)} depths; max {max(depths):.0f} ms",
        ),
    ]
