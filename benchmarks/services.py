"""Real CNN Lens services for one benchmark: a private data folder and Redis database, Celery
workers and the dashboard (waitress) as child processes, all stopped and removed on exit.

Like tests/integration/conftest.py, but with what benchmarks need on top (worker niceness and
environment, knowing when a recycled training child has warmed up, process ids for memory) and
without pytest. Redis database 9 (or the next free one up to 12 while another benchmark runs;
CNNLENS_BENCH_REDIS names one outright), flushed before and after, so a user's `make up`
(database 0) and test sessions never see these messages.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis
import requests

from shared.settings import Settings
from shared.store import RunStore
from worker.commands import node_name, worker_command

ROOT = Path(__file__).resolve().parent.parent
REDIS_BASE = "redis://127.0.0.1:6379"
# Databases benchmarks take, one per benchmark process running at the time (colleagues may run
# one beside yours): each would otherwise flush the other's and steal its tasks.
BENCH_DBS = (9, 10, 11, 12)
OWNER_KEY = "cnnlens-bench-owner"
# Logged by worker.celery_app.prepare_tensorflow once a pool child has imported and warmed up TF.
WARM_LINE = re.compile(r"TensorFlow \S+ ready in")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def claim_redis() -> str:
    """A Redis database no other running benchmark process holds, marked as this process's."""
    explicit = os.environ.get("CNNLENS_BENCH_REDIS")
    if explicit:
        return explicit
    for db in BENCH_DBS:
        url = f"{REDIS_BASE}/{db}"
        client = redis.Redis.from_url(url, socket_timeout=2)
        if client.set(OWNER_KEY, os.getpid(), nx=True):
            return url
        holder = int(client.get(OWNER_KEY) or 0)
        if holder == os.getpid() or not _alive(holder):
            client.set(OWNER_KEY, os.getpid())
            return url
    raise RuntimeError(f"Redis databases {BENCH_DBS} are all held by running benchmarks")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children_of(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def rss_mib(pid: int) -> float | None:
    """Resident memory of one process (VmRSS), in MiB; None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


class Process:
    """One child process logging to a file, stopped with SIGTERM (then SIGKILL) on `stop()`."""

    def __init__(self, cmd: list[str], env: dict[str, str], log_path: Path):
        self.log_path = log_path
        self._log = open(log_path, "w")  # noqa: SIM115 — closed in stop()
        self.proc = subprocess.Popen(
            cmd, env=env, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.log_path.name} exited:\n{self.log_text()[-3000:]}")

    def stop(self, timeout: float = 20) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


class Worker(Process):
    """`celery worker` on one queue (training, extraction or analysis), as worker/commands.py
    builds it for every caller, without Celery beat: a recovery sweep every few seconds would
    take the extraction worker's one child from the requests a benchmark times. A training
    worker lowers its own CPU priority (CNNLENS_TRAIN_NICE, default 10, see
    worker/celery_app.py); `nice` overrides it."""

    def __init__(
        self,
        queue: str,
        env: dict[str, str],
        log_path: Path,
        concurrency: int = 1,
        nice: int | None = None,
        runs_per_process: int = 1,
    ):
        command = worker_command(
            queue,
            concurrency=concurrency,
            beat=False,
            node=node_name(queue, host="bench", unique=True),
            nice=nice,
            runs_per_process=runs_per_process,
        )
        super().__init__(command.argv, command.environment(env), log_path)
        self.concurrency = concurrency

    def warm_children(self) -> int:
        """How many pool children have finished warming TensorFlow up so far (ever)."""
        return len(WARM_LINE.findall(self.log_text()))

    def wait_warm(self, count: int | None = None, timeout: float = 180) -> None:
        """Until `count` children (default: the pool size) have warmed up since the start."""
        count = count or self.concurrency
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            if " ready." in self.log_text() and self.warm_children() >= count:
                return
            time.sleep(0.2)
        raise RuntimeError(f"worker not warm in {timeout} s:\n{self.log_text()[-3000:]}")

    def pids(self) -> list[int]:
        return [self.pid, *children_of(self.pid)]

    def rss_mib(self) -> float:
        return sum(rss_mib(pid) or 0.0 for pid in self.pids())

    def niceness(self) -> list[int]:
        """The nice value of the parent and each pool child (field 19 of /proc/<pid>/stat)."""
        out = []
        for pid in self.pids():
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            out.append(int(stat.rsplit(")", 1)[1].split()[16]))
        return out


class Dashboard(Process):
    """`python -m dashboard` (waitress) on a free port."""

    def __init__(self, env: dict[str, str], log_path: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(env, CNNLENS_HOST="127.0.0.1", CNNLENS_PORT=str(self.port))
        super().__init__([sys.executable, "-m", "dashboard"], env, log_path)

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                requests.get(f"{self.url}/api/health", timeout=2)
                return
            except requests.RequestException:
                time.sleep(0.2)
        raise RuntimeError(f"dashboard not up in {timeout} s:\n{self.log_text()[-3000:]}")


class Services:
    """`with Services("name") as s:` — a data folder, a store, and whatever is started inside."""

    def __init__(self, name: str, env: dict[str, str] | None = None):
        self.name = name
        self.extra_env = env or {}
        self.data_dir = Path(tempfile.mkdtemp(prefix=f"cnnlens-bench-{name}-"))
        self.processes: list[Process] = []
        self.dashboard: Dashboard | None = None
        self.env: dict[str, str] = {}
        self.redis_url = ""
        self._store: RunStore | None = None

    # --- lifetime --------------------------------------------------------------------------
    def __enter__(self) -> Services:
        self.redis_url = claim_redis()
        client = redis.Redis.from_url(self.redis_url, socket_timeout=2)
        client.flushdb()
        client.set(OWNER_KEY, os.getpid())
        database = f"sqlite:///{self.data_dir / 'cnnlens.sqlite3'}"
        self.env = dict(
            os.environ,
            PYTHONPATH=str(ROOT),
            REDIS_URL=self.redis_url,
            CNNLENS_DATA_DIR=str(self.data_dir),
            # Explicit, so a developer's .env (read by every process) cannot redirect them.
            DATABASE_URL=database,
            CNNLENS_BROKER_URL="",
            TF_CPP_MIN_LOG_LEVEL="2",
            **self.extra_env,
        )
        self._store = RunStore(self.settings()).init()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()
        try:
            redis.Redis.from_url(self.redis_url, socket_timeout=2).flushdb()  # and its owner key
        finally:
            if self._store is not None:
                self._store.engine.dispose()
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def stop_all(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()
        self.dashboard = None

    def settings(self, **overrides: Any) -> Settings:
        values = {
            "_env_file": None,  # a developer's .env must not redirect the benchmark's store
            "REDIS_URL": self.redis_url,
            "CNNLENS_DATA_DIR": str(self.data_dir),
            "DATABASE_URL": f"sqlite:///{self.data_dir / 'cnnlens.sqlite3'}",
            "CNNLENS_BROKER_URL": None,
        }
        return Settings(**(values | overrides))

    @property
    def store(self) -> RunStore:
        assert self._store is not None, "use Services as a context manager"
        return self._store

    # --- processes -------------------------------------------------------------------------
    def start_worker(
        self,
        queue: str = "training",
        concurrency: int = 1,
        nice: int | None = None,
        env: dict[str, str] | None = None,
        wait: bool = True,
        runs_per_process: int = 1,
    ) -> Worker:
        n = sum(isinstance(p, Worker) for p in self.processes)
        worker = Worker(
            queue,
            dict(self.env, **(env or {})),
            self.data_dir / f"worker-{queue}-{n}.log",
            concurrency=concurrency,
            nice=nice,
            runs_per_process=runs_per_process,
        )
        self.processes.append(worker)
        if wait:
            worker.wait_warm()
        return worker

    def stop(self, process: Process) -> None:
        process.stop()
        self.processes.remove(process)

    def start_dashboard(self, env: dict[str, str] | None = None) -> Dashboard:
        dashboard = Dashboard(dict(self.env, **(env or {})), self.data_dir / "dashboard.log")
        self.processes.append(dashboard)
        dashboard.wait_ready()
        self.dashboard = dashboard
        return dashboard

    # --- runs through the API --------------------------------------------------------------
    def submit(self, config: dict[str, Any], session: requests.Session | None = None) -> str:
        assert self.dashboard is not None, "start the dashboard first"
        http = session or requests
        res = http.post(f"{self.dashboard.url}/api/runs", json=config, timeout=10)
        if res.status_code != 201:
            raise RuntimeError(f"POST /api/runs answered {res.status_code}: {res.text[:500]}")
        return str(res.json()["id"])

    def wait_status(
        self, run_id: str, statuses: tuple[str, ...], timeout: float = 600, poll: float = 0.05
    ) -> dict[str, Any]:
        """Read the store directly (no HTTP), so polling adds no load to the dashboard."""
        deadline = time.monotonic() + timeout
        run: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            run = self.store.get_run(run_id, with_history=False)
            if run is not None and run["status"] in statuses:
                return run
            self._check_processes()
            time.sleep(poll)
        raise RuntimeError(f"run {run_id} is still {run and run['status']} after {timeout} s")

    def _check_processes(self) -> None:
        for process in self.processes:
            process.check_alive()
