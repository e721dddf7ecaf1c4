"""Real services for integration tests: the machine's Redis, and Celery worker processes.

Each test session gets its own data directory and its own Redis database number, so tests never
see messages or runs of a developer's `make up`.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.redis_dbs import BASE, WORKER_DB
from worker.commands import ANALYSIS, EXTRACTION, TRAINING, node_name, worker_command

ROOT = Path(__file__).resolve().parents[2]


def redis_url(db: int = WORKER_DB) -> str:
    return f"{BASE}/{db}"


def reset_settings_caches() -> None:
    from shared import queue, settings

    settings.get_settings.cache_clear()
    queue.producer.cache_clear()


class WorkerProcess:
    """One `celery worker` child process, logging to a file the test can read on failure.

    Its command line is worker/commands.py's for `queue` (`options` such as `beat=False` or
    `concurrency=2` go to `worker_command`), under a node name of its own.
    """

    def __init__(
        self,
        queue: str,
        env: dict[str, str],
        log_path: Path,
        **options: Any,
    ):
        self.log_path = log_path
        self.log = open(log_path, "w")  # noqa: SIM115 — closed in stop()
        command = worker_command(queue, node=node_name(queue, host="test", unique=True), **options)
        self.proc = subprocess.Popen(
            command.argv,
            env=command.environment(env),
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log_path.read_text()[-3000:]}")
            if " ready." in self.log_path.read_text():
                return
            time.sleep(0.2)
        raise RuntimeError(f"worker not ready in {timeout}s:\n{self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def start_workers(env: dict[str, str], log_dir: Path) -> list[WorkerProcess]:
    workers = [
        WorkerProcess(TRAINING, env, log_dir / "worker-training.log"),
        # Without Celery beat, as before: these tests are about the queues, and a sweep every
        # few seconds would only put tasks of its own on the extraction worker they time. The
        # sweep is the subject of test_faults.py, whose extraction workers run beat.
        WorkerProcess(EXTRACTION, env, log_dir / "worker-extraction.log", beat=False),
        WorkerProcess(ANALYSIS, env, log_dir / "worker-analysis.log"),
    ]
    for w in workers:
        w.wait_ready()
    return workers


@pytest.fixture(scope="session")
def services(tmp_path_factory):
    """Env pointing at a private data dir and Redis DB, with training, extraction and analysis
    workers."""
    try:
        redis.Redis.from_url(redis_url(), socket_timeout=1).ping()
    except redis.RedisError:
        pytest.fail(f"Redis is not reachable at {redis_url()}; .ci/run starts one")
    redis.Redis.from_url(redis_url()).flushdb()
    data_dir = tmp_path_factory.mktemp("cnnlens-data")
    env = dict(
        os.environ,
        REDIS_URL=redis_url(),
        CNNLENS_DATA_DIR=str(data_dir),
        PYTHONPATH=str(ROOT),
        CNNLENS_HEARTBEAT_TIMEOUT="30",
    )
    env.pop("CNNLENS_BROKER_URL", None)
    env.pop("DATABASE_URL", None)
    saved = {
        k: os.environ.get(k)
        for k in ("REDIS_URL", "CNNLENS_DATA_DIR", "CNNLENS_BROKER_URL", "DATABASE_URL")
    }
    os.environ.update(REDIS_URL=env["REDIS_URL"], CNNLENS_DATA_DIR=env["CNNLENS_DATA_DIR"])
    os.environ.pop("CNNLENS_BROKER_URL", None)
    os.environ.pop("DATABASE_URL", None)
    reset_settings_caches()
    from shared.store import RunStore

    RunStore().init()
    workers = start_workers(env, data_dir)
    yield {"env": env, "data_dir": data_dir, "workers": workers}
    for w in workers:
        w.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    reset_settings_caches()
    redis.Redis.from_url(redis_url()).flushdb()


@pytest.fixture(scope="session")
def api(services):
    """The dashboard's Flask server (pages + API) as a test client, on the services' store."""
    from dashboard.app import create_app
    from shared.store import RunStore

    app = create_app(RunStore().init())
    return app.server.test_client()


def wait_for_status(api, run_id: str, statuses: tuple[str, ...], timeout: float = 240) -> dict:
    deadline = time.time() + timeout
    run: dict = {}
    while time.time() < deadline:
        run = api.get(f"/api/runs/{run_id}").get_json()
        if run["status"] in statuses:
            return run
        time.sleep(0.3)
    raise AssertionError(f"run {run_id} still {run.get('status')} after {timeout}s: {run}")


def trained_runs(api, configs: list[dict]) -> list[str]:
    """Submit every config at once, then wait until each has trained; their run ids, in order."""
    ids = []
    for config in configs:
        response = api.post("/api/runs", json=config)
        assert response.status_code == 201, response.get_json()
        ids.append(response.get_json()["id"])
    for run_id in ids:
        run = wait_for_status(api, run_id, ("succeeded", "failed"))
        assert run["status"] == "succeeded", run.get("error")
    return ids


def finished_job(api, job_id: str, timeout: float = 120) -> dict:
    """The job once it has succeeded; fails the test when it failed or is still going."""
    deadline = time.time() + timeout
    job: dict = {}
    while time.time() < deadline:
        job = api.get(f"/api/jobs/{job_id}").get_json()
        if job["status"] in ("succeeded", "failed"):
            assert job["status"] == "succeeded", job.get("error")
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} still {job.get('status')} after {timeout}s")


def stored_model(services, run_id: str):
    """A run's model.keras loaded in this process the way the worker loads it (safe mode, no
    compiled state): the independent answer the workers' results are checked against."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    keras = pytest.importorskip("keras")
    path = services["data_dir"] / "runs" / run_id / "model.keras"
    return keras.saving.load_model(path, compile=False, safe_mode=True)
