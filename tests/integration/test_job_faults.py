"""An analysis job whose process is killed every time ends `failed`, and the queue moves on.

Real processes: a private redis-server, a training worker that trains the runs, an analysis
worker (one pool process, kept across tasks) and real TensorFlow. The analysis worker's pool
process is killed with SIGKILL (as the OOM killer would) while it computes a run's filter
statistics; Celery gives the message back (`task_reject_on_worker_lost`) and a new pool process
takes it. After CNNLENS_JOB_MAX_ATTEMPTS deliveries that died, the next one must fail the job
with a sentence instead of running it again, and the next job must be served.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from shared import comparison, tasks
from shared.queue import send
from tests.integration import test_faults as faults

pytestmark = pytest.mark.integration

cluster, redis_server = faults.cluster, faults.redis_server
MAX_ATTEMPTS = 2
# Wide conv layers, so that one statistics job (500 probe images through the model) computes
# for seconds: long enough to be killed in the middle.
HEAVY = {
    "epochs": 1,
    "train_limit": 256,
    "batch_size": 64,
    "layers": [
        {"type": "conv2d", "filters": 64, "kernel_size": 3, "activation": "relu"},
        {"type": "conv2d", "filters": 64, "kernel_size": 3, "activation": "relu"},
        {"type": "maxpool2d", "pool_size": 2},
        {"type": "flatten"},
        {"type": "dense", "units": 10, "activation": "softmax"},
    ],
}
TF_READY = re.compile(r"TensorFlow \S+ ready in")
TICKS = 100  # os.sysconf("SC_CLK_TCK") on Linux


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def computing(pid: int) -> bool:
    """Whether the (warm, otherwise idle) pool process is busy: a job is running in it."""
    try:
        before = cpu_seconds(pid)
        time.sleep(0.3)
        return cpu_seconds(pid) - before > 0.1
    except OSError:
        return False


def ask_for_stats(c: faults.Cluster, run_id: str) -> str:
    """What the compare page does for a run without statistics: a job, and its task."""
    job_id = comparison.stats_job_id(run_id)
    c.store.create_job("stats", run_id, {"run_id": run_id}, job_id)
    c.store.set_job(job_id, "queued")
    send(tasks.STATS, job_id)
    return job_id


def job_status(c: faults.Cluster, job_id: str) -> str:
    job = c.store.get_job(job_id)
    assert job is not None
    return job["status"]


def test_a_stats_job_whose_process_is_killed_every_time_fails_and_the_next_is_served(cluster):
    c = cluster(CNNLENS_HEARTBEAT_TIMEOUT="120", CNNLENS_JOB_MAX_ATTEMPTS=str(MAX_ATTEMPTS))
    c.worker()
    analysis = c.worker("analysis")
    analysis_log = analysis.log_path
    runs = [c.submit(HEAVY), c.submit(HEAVY)]
    for run_id in runs:
        c.wait_status(run_id, ("succeeded", "failed"), timeout=300)
        assert c.run(run_id)["status"] == "succeeded", c.logs()

    job_id = ask_for_stats(c, runs[0])
    killed: list[int] = []
    started_before = None
    for delivery in range(1, MAX_ATTEMPTS + 1):
        # A warm pool process (the first, or the one started after the last kill) at work on
        # this delivery: the job `running` from a new start, and the process using the CPU.
        faults.wait_until(
            lambda d=delivery: len(TF_READY.findall(analysis_log.read_text())) >= d,
            120,
            f"no warm analysis process for delivery {delivery}\n{analysis_log.read_text()}",
        )
        (child,) = faults.children(analysis.proc.pid)

        def at_work(pid: int = child, before: float | None = started_before) -> bool:
            job = c.store.get_job(job_id)
            fresh = job.get("started_at") is None or job["started_at"] != before
            return job["status"] == "running" and fresh and computing(pid)

        faults.wait_until(at_work, 60, f"delivery {delivery} never ran\n{analysis_log.read_text()}")
        started_before = c.store.get_job(job_id).get("started_at")
        faults.kill(child)
        killed.append(child)
        assert job_status(c, job_id) == "running", "the job finished before it could be killed"
    gave_up = time.monotonic()
    faults.wait_until(
        lambda: job_status(c, job_id) in ("failed", "succeeded"), 120, "the job never ended"
    )
    ended = time.monotonic() - gave_up
    job = c.store.get_job(job_id)
    summary = {k: job.get(k) for k in ("status", "error", "attempts")}
    assert job["status"] == "failed", f"{summary}\n{analysis_log.read_text()[-3000:]}"
    assert f"started {MAX_ATTEMPTS} times" in job["error"], job["error"]
    assert "stopped each time" in job["error"]
    assert not c.store.files.exists(runs[0], comparison.FILTER_STATS)

    # The queue moves on: the next job is served by the same analysis worker...
    served = time.monotonic()
    other = ask_for_stats(c, runs[1])
    faults.wait_until(lambda: job_status(c, other) in ("failed", "succeeded"), 120, "not served")
    assert job_status(c, other) == "succeeded", c.store.get_job(other)
    served = time.monotonic() - served
    # ...and the failed job can be asked for again, with a fresh count of attempts.
    again = ask_for_stats(c, runs[0])
    assert again == job_id and c.store.get_job(job_id)["attempts"] == 0
    faults.wait_until(lambda: job_status(c, job_id) in ("failed", "succeeded"), 120, "not rerun")
    assert c.store.get_job(job_id)["status"] == "succeeded"
    assert c.store.get_job(job_id)["attempts"] == 1
    assert c.server.client().llen(tasks.ANALYSIS_QUEUE) == 0
    print(
        f"\nanalysis process killed {len(killed)} times mid-job: the job failed "
        f"{ended:.1f} s after the last kill; the next job took {served:.1f} s"
    )
