"""A user's extraction is answered while a slow analysis job runs: CKA and filter statistics have a
queue and a worker of their own (shared/queue.py), so they never hold the extraction worker.

Real Redis, real workers (tests/integration/conftest.py). The analysis job is made slow with real
work: two runs with six 'same'-padded 28×28×16 conv layers, so CKA builds a dozen 500×12,544 Gram
matrices after pushing 500 test images through both models (seconds, against tens of ms for one
extraction).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.integration.conftest import trained_runs

pytestmark = pytest.mark.integration
CONV = {"type": "conv2d", "filters": 16, "kernel_size": 3, "padding": "same"}
WIDE = {
    "epochs": 1,
    "train_limit": 200,
    "layers": [
        *[CONV] * 6,
        {"type": "maxpool2d", "pool_size": 2},
        {"type": "flatten"},
        {"type": "dense", "units": 10, "activation": "softmax"},
    ],
}


def job_status(api, job_id: str) -> str:
    return api.get(f"/api/jobs/{job_id}").get_json()["status"]


def extraction_seconds(api, run_id: str, index: int, while_running: str | None = None) -> float:
    """Seconds from asking for one test image's activations to having them; with `while_running`,
    asserts that job is still running when the extraction is done."""
    started = time.perf_counter()
    response = api.post(f"/api/runs/{run_id}/activations", json={"test_index": index})
    assert response.status_code == 202, response.get_json()
    job_id = response.get_json()["job_id"]
    deadline = time.time() + 60
    while (status := job_status(api, job_id)) not in ("succeeded", "failed"):
        assert time.time() < deadline, f"extraction still {status} after 60 s"
        time.sleep(0.01)
    took = time.perf_counter() - started
    assert status == "succeeded"
    if while_running is not None:
        assert job_status(api, while_running) == "running", (
            f"the analysis job ended before the extraction did ({took:.2f} s)"
        )
    return took


def test_an_extraction_finishes_while_a_slow_cka_job_runs(api, services):
    a, b = trained_runs(api, [WIDE | {"name": f"wide {seed}", "seed": seed} for seed in (1, 2)])
    extraction_seconds(api, a, 300)  # the extraction worker loads the model once

    response = api.get(f"/api/compare/cka?a={a}&b={b}")
    assert response.status_code == 202, response.get_json()
    cka_job = response.get_json()["job_id"]
    deadline = time.time() + 120
    while job_status(api, cka_job) == "queued":
        assert time.time() < deadline, "no analysis worker took the CKA job"
        time.sleep(0.02)

    during = [extraction_seconds(api, a, 301 + k, while_running=cka_job) for k in range(3)]
    print(f"extractions while CKA ran: {[round(s * 1000) for s in during]} ms")
    assert max(during) < 5.0

    deadline = time.time() + 240
    while (status := job_status(api, cka_job)) not in ("succeeded", "failed"):
        assert time.time() < deadline, "the CKA job did not finish"
        time.sleep(0.2)
    assert status == "succeeded"


def niceness(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def test_the_analysis_worker_yields_the_cpu_to_extractions(services):
    """Both share the cores: the analysis worker runs at CNNLENS_TRAIN_NICE, extraction does not."""
    workers = {w.log_path.stem: w.proc.pid for w in services["workers"]}
    assert niceness(workers["worker-analysis"]) == 10
    assert niceness(workers["worker-extraction"]) == 0
