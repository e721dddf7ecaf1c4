"""Faults survived, with real processes: workers killed by their pid, a real Redis flushed and
restarted, a task message delivered twice.

Every test owns its Redis (a `redis-server` started on a free port, no persistence), its data
directory and its workers, so killing and flushing never touch other tests or a developer's
`make up`. Runs are tiny; the timings each test measures are printed (`pytest -s` shows them).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.integration.conftest import ROOT, WorkerProcess, reset_settings_caches

pytestmark = pytest.mark.integration

REDIS_SERVER = shutil.which("redis-server")
# Long enough for a few epochs to be interrupted, short enough to keep the tests quick.
# Long enough (~0.7 s an epoch on two quiet cores) that a test acting after the first epoch still
# finds the run training: with 64 batches per call, 4,000 images trained in two calls an epoch.
RUN = {"epochs": 6, "train_limit": 8000, "batch_size": 32}
SHORT = {"epochs": 2, "train_limit": 600, "batch_size": 32}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A private redis-server without persistence: a restart loses everything, like a flush."""

    def __init__(self, folder: Path):
        self.folder, self.port = folder, free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=2, socket_connect_timeout=2)

    def start(self) -> None:
        assert REDIS_SERVER
        self.proc = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
            ],
            stdout=subprocess.DEVNULL,
        )
        wait_until(lambda: self._answers(), 10, "redis-server did not start")

    def _answers(self) -> bool:
        try:
            return bool(self.client().ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(redis.RedisError):  # the connection drops as the server exits
            self.client().shutdown(nosave=True)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def wait_until(predicate: Callable[[], object], timeout: float, what: str) -> float:
    """Poll until `predicate()` is true; returns the seconds it took."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what} (after {timeout:g} s)")
        time.sleep(0.05)
    return time.monotonic() - started


def children(pid: int) -> list[int]:
    """Process ids whose parent is `pid` (read from /proc, so no extra dependency)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def kill(pid: int) -> None:
    os.kill(pid, 9)  # SIGKILL: no handler, no clean-up, like the OOM killer or a power cut


class Cluster:
    """The services of one test: its Redis, store, workers and settings (as environment)."""

    def __init__(self, tmp: Path, server: RedisServer, env: dict[str, str]):
        self.tmp, self.server = tmp, server
        self.env = env
        self.workers: list[WorkerProcess] = []
        from shared.store import RunStore

        self.store = RunStore().init()

    def worker(self, queue: str = "training", **options: Any) -> WorkerProcess:
        """A worker as worker/commands.py builds it (`options` go to `worker_command`): the
        extraction worker runs Celery beat, which sends the recovery sweep."""
        log = self.tmp / f"{queue}-{len(self.workers)}.log"
        worker = WorkerProcess(queue, self.env, log, **options)
        self.workers.append(worker)
        worker.wait_ready()
        return worker

    def submit(self, config: dict) -> str:
        from dashboard.service.run_actions import submit_run

        run = submit_run(self.store, config)
        assert "warning" not in run, run["warning"]
        return run["id"]

    def run(self, run_id: str) -> dict:
        run = self.store.get_run(run_id)
        assert run is not None
        return run

    def lease_pid(self, run_id: str) -> int | None:
        """The pool process training the run, from its lease owner `node/pid/task_id`."""
        row = self.store._row(run_id) or {}
        owner = row.get("lease_owner")
        return int(owner.split("/")[-2]) if owner else None

    def wait_status(self, run_id: str, statuses: tuple[str, ...], timeout: float = 180) -> float:
        return wait_until(
            lambda: self.run(run_id)["status"] in statuses,
            timeout,
            f"run {run_id} never became {'/'.join(statuses)}: {self.run(run_id)['status']}",
        )

    def wait_epochs(self, run_id: str, done: int, timeout: float = 180) -> None:
        wait_until(
            lambda: (
                len(self.run(run_id)["history"]["loss"]) >= done
                and self.run(run_id)["status"] == "running"
            ),
            timeout,
            f"run {run_id} never had {done} epoch(s) done while running",
        )

    def logs(self) -> str:
        return "\n".join(
            f"--- {w.log_path.name}\n{w.log_path.read_text()[-4000:]}" for w in self.workers
        )

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()


@pytest.fixture
def redis_server(tmp_path) -> Iterator[RedisServer]:
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed")
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def cluster(tmp_path, redis_server, monkeypatch) -> Iterator[Callable[..., Cluster]]:
    """Make a Cluster with settings given as keyword arguments (CNNLENS_HEARTBEAT_TIMEOUT=…)."""
    made: list[Cluster] = []

    def make(**settings: str) -> Cluster:
        env = dict(
            os.environ,
            REDIS_URL=redis_server.url,
            CNNLENS_DATA_DIR=str(tmp_path / "data"),
            PYTHONPATH=str(ROOT),
            CNNLENS_RECOVER_INTERVAL="1",
            **settings,
        )
        for key in ("CNNLENS_BROKER_URL", "DATABASE_URL", "CNNLENS_AUTH_USER"):
            env.pop(key, None)
            monkeypatch.delenv(key, raising=False)
        for key in ("REDIS_URL", "CNNLENS_DATA_DIR", "CNNLENS_RECOVER_INTERVAL", *settings):
            monkeypatch.setenv(key, env[key])
        reset_settings_caches()
        made.append(Cluster(tmp_path, redis_server, env))
        return made[-1]

    yield make
    for c in made:
        c.stop()
        c.store.engine.dispose()
    monkeypatch.undo()
    reset_settings_caches()


def epoch_seconds(c: Cluster, run_id: str) -> list[float | None]:
    """Per-epoch wall times: a rewritten epoch gets a new one, a kept epoch keeps its own."""
    return [h["seconds"] for _, h in c.store.history_rows(run_id)]


def assert_trained_once_through(c: Cluster, run_id: str, epochs: int) -> dict:
    run = c.run(run_id)
    assert run["status"] == "succeeded", (run["error"], c.logs())
    assert len(run["history"]["loss"]) == epochs
    assert [e for e, _ in c.store.history_rows(run_id)] == list(range(1, epochs + 1))
    assert c.store.files.exists(run_id, "model.keras")
    assert not c.store.files.exists(run_id, "checkpoint")  # removed once the results are in
    return run


def test_training_process_killed_mid_run_resumes_from_its_last_epoch(cluster):
    # A lease far longer than the test: resuming must not wait for it to expire.
    c = cluster(CNNLENS_HEARTBEAT_TIMEOUT="120")
    worker = c.worker()
    run_id = c.submit(RUN)
    c.wait_epochs(run_id, 1)
    # Into epoch 2, so epoch 1's checkpoint is surely written (a kill while it is being written
    # is covered in tests/test_worker.py: the previous state is used).
    wait_until(lambda: (c.run(run_id)["progress"]["epoch"] or 0) >= 2, 60, "no epoch 2")
    child = c.lease_pid(run_id)
    assert child in children(worker.proc.pid)
    before = epoch_seconds(c, run_id)
    kill(child)
    killed = time.monotonic()
    # Celery re-queues the message of a process lost mid-task (task_reject_on_worker_lost); the
    # new pool process takes it and the run back from the dead delivery at once.
    wait_until(lambda: c.run(run_id)["attempts"] == 2, 120, "the run was not picked up again")
    resumed = time.monotonic() - killed
    c.wait_status(run_id, ("succeeded", "failed"))
    run = assert_trained_once_through(c, run_id, RUN["epochs"])
    assert run["attempts"] == 2
    # Epoch 1, checkpointed before the kill, was kept, not trained again.
    assert epoch_seconds(c, run_id)[0] == before[0]
    assert c.lease_pid(run_id) is None
    print(f"\npool process killed: training again after {resumed:.1f} s")


def test_worker_killed_whole_run_is_interrupted_then_resumed_by_a_new_worker(cluster):
    c = cluster(CNNLENS_HEARTBEAT_TIMEOUT="3")
    c.worker("extraction")
    worker = c.worker()
    run_id = c.submit(RUN)
    c.wait_epochs(run_id, 1)
    child = c.lease_pid(run_id)
    done_before = len(c.run(run_id)["history"]["loss"])
    kill(worker.proc.pid)  # the parent first, so nobody re-queues the message
    kill(child)
    killed = time.monotonic()
    c.wait_status(run_id, ("interrupted",), timeout=30)
    noticed = time.monotonic() - killed
    assert c.run(run_id)["attempts"] == 1

    started = time.monotonic()
    c.worker()
    c.wait_status(run_id, ("running", "succeeded"), timeout=120)
    picked_up = time.monotonic() - started
    c.wait_status(run_id, ("succeeded", "failed"))
    run = assert_trained_once_through(c, run_id, RUN["epochs"])
    assert run["attempts"] == 2 and done_before >= 1
    print(
        f"\nworker killed: interrupted after {noticed:.1f} s (heartbeat timeout 3 s, sweep "
        f"every 1 s); a new worker took it {picked_up:.1f} s after it was started"
    )


def test_a_run_whose_worker_dies_every_time_ends_failed_with_the_reason(cluster):
    c = cluster(CNNLENS_HEARTBEAT_TIMEOUT="120", CNNLENS_MAX_ATTEMPTS="2")
    worker = c.worker()
    run_id = c.submit(RUN)
    for attempt in (1, 2):
        wait_until(
            lambda a=attempt: c.run(run_id)["attempts"] == a and c.lease_pid(run_id),
            120,
            f"attempt {attempt} never started",
        )
        pid = c.lease_pid(run_id)
        assert pid in children(worker.proc.pid)
        kill(pid)
    c.wait_status(run_id, ("failed", "succeeded"), timeout=120)
    run = c.run(run_id)
    assert run["status"] == "failed", c.logs()
    assert "started 2 times" in run["error"] and "will not be retried" in run["error"]


def test_redis_flushed_during_a_training_loses_no_run(cluster, redis_server):
    c = cluster(CNNLENS_HEARTBEAT_TIMEOUT="5")
    c.worker("extraction")
    c.worker()
    running = c.submit(RUN)
    queued = c.submit(SHORT)  # waits in Redis behind the first: one training at a time
    c.wait_epochs(running, 1)
    assert c.run(queued)["status"] == "queued"
    redis = redis_server.client()
    redis.flushall()
    flushed = time.monotonic()
    # The sweep sees a queued run with no message in the broker and sends it again.
    resent = wait_until(lambda: redis.llen("training"), 30, "the queued run was not sent again")
    c.wait_status(running, ("succeeded", "failed"))
    c.wait_status(queued, ("succeeded", "failed"))
    both = time.monotonic() - flushed
    assert_trained_once_through(c, running, RUN["epochs"])
    run = assert_trained_once_through(c, queued, SHORT["epochs"])
    assert run["attempts"] == 1
    print(
        f"\nRedis flushed: the queued run's message was back {resent:.1f} s later (sweep every "
        f"1 s); both runs finished {both:.1f} s after the flush"
    )


def test_redis_restarted_dashboard_degrades_then_every_run_finishes(cluster, redis_server):
    from dashboard.app import create_app
    from dashboard.state import reset_broker_cache

    c = cluster(CNNLENS_HEARTBEAT_TIMEOUT="5")
    c.worker("extraction")
    c.worker()
    dashboard = create_app(c.store).server.test_client()
    running = c.submit(RUN)
    c.wait_epochs(running, 1)

    redis_server.stop()
    down = time.monotonic()
    health = dashboard.get("/api/health")
    assert health.status_code == 503
    assert health.get_json() | {"version": ""} == {
        "status": "degraded",
        "broker": False,
        "store": True,
        "version": "",
    }
    reset_broker_cache()
    for page in ("/", f"/run/{running}", "/new", "/_dash-layout", f"/api/runs/{running}"):
        assert dashboard.get(page).status_code == 200, page
    # A run submitted while the broker is down is kept, queued, and says why it waits.
    created = dashboard.post("/api/runs", json={**SHORT, "name": "while down"})
    assert created.status_code == 201
    assert "not reachable" in created.get_json()["warning"]
    late = created.get_json()["id"]
    assert c.run(late)["status"] == "queued"
    time.sleep(3)  # the workers notice the broker is gone and keep retrying

    redis_server.start()
    back = time.monotonic()
    assert dashboard.get("/api/health").status_code == 200
    c.wait_status(running, ("succeeded", "failed"))
    c.wait_status(late, ("succeeded", "failed"))
    done = time.monotonic() - back
    assert_trained_once_through(c, running, RUN["epochs"])
    assert assert_trained_once_through(c, late, SHORT["epochs"])["attempts"] == 1
    print(
        f"\nRedis down for {back - down:.1f} s; the running run and the one submitted meanwhile "
        f"finished {done:.1f} s after it came back"
    )


def test_a_task_delivered_twice_is_trained_once(cluster, redis_server):
    from shared import tasks
    from shared.queue import send

    c = cluster(CNNLENS_HEARTBEAT_TIMEOUT="120")
    worker = c.worker("training", concurrency=2)  # both copies are taken at once
    run_id = c.submit(SHORT)
    send(tasks.TRAIN, run_id)  # the duplicate, as a visibility timeout would re-deliver it
    c.wait_status(run_id, ("succeeded", "failed"))
    run = assert_trained_once_through(c, run_id, SHORT["epochs"])
    assert run["attempts"] == 1
    wait_until(lambda: "is not claimable" in worker.log_path.read_text(), 30, "no second copy")
    assert redis_server.client().llen(tasks.TRAINING_QUEUE) == 0


def test_deleting_a_running_run_stops_its_worker_and_leaves_no_folder(cluster):
    from dashboard.service.run_actions import delete_run

    c = cluster(CNNLENS_HEARTBEAT_TIMEOUT="120")
    worker = c.worker()
    run_id = c.submit(RUN)
    c.wait_epochs(run_id, 1)
    folder = c.store.run_dir(run_id)
    assert delete_run(c.store, run_id)
    deleted = time.monotonic()
    wait_until(lambda: "was deleted while training" in worker.log_path.read_text(), 60, "no stop")
    stopped = time.monotonic() - deleted
    time.sleep(1)  # anything the worker still wrote would be there by now
    assert c.store.get_run(run_id) is None and not folder.exists()
    assert "Traceback" not in worker.log_path.read_text()
    print(f"\nrunning run deleted: its worker stopped {stopped:.1f} s later, folder gone")
