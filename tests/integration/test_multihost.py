"""Workers on two hosts: one host dies mid-training, the other finishes the run from its last
epoch, and nothing is lost.

Each "host" is a Linux network namespace joined to a bridge (tests/integration/netns.py) and runs
what `make worker` runs on a second machine: a training, an extraction (with Celery beat, so it
sweeps) and an analysis worker. Their only way to Redis and PostgreSQL is the bridge address:
private servers listen there and nowhere else, and the machine's own servers (on loopback) are out
of the namespaces' reach. The dashboard (its Flask app, in the root namespace) submits and reads
through the same address. A temporary folder shared by both hosts stands in for the NFS volume.

A host dies as a machine does: SIGKILL to the process group that holds all its workers. Skipped,
saying why, where network namespaces cannot be made (not root, no CAP_NET_ADMIN, no iproute2) or
PostgreSQL's server is not installed. `pytest -s` shows the measured times.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import ROOT, reset_settings_caches
from tests.integration.netns import (
    Network,
    PrivatePostgres,
    PrivateRedis,
    Unavailable,
    can_connect,
    require_servers,
)
from worker import commands

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]

# Long enough (~1 s an epoch on two cores shared with five idle workers) that the run is
# still training after the kill, short enough to keep the test near two minutes.
RUN = {"name": "two hosts", "epochs": 8, "train_limit": 8000, "batch_size": 32}
HEARTBEAT_TIMEOUT = 3  # seconds; compose's default is 20
RECOVER_INTERVAL = 1  # seconds; compose's default is 15
WARM_LINE = re.compile(r"TensorFlow \S+ ready in")
# Celery logs a pool child's failed set-up (worker.celery_app.prepare_tensorflow) and goes on.
SETUP_FAILED = re.compile(r"ERROR/\S+\] Signal handler .* raised")
KINDS = commands.KINDS


def wait_until(predicate: Callable[[], object], timeout: float, what: str) -> float:
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what} (after {timeout:g} s)")
        time.sleep(0.05)
    return time.monotonic() - started


class Host:
    """The three workers of one host, in one process group inside the host's namespace."""

    def __init__(self, name: str, net: Network, ns: str, env: dict[str, str], logs: Path):
        self.name, self.net, self.ns, self.env = name, net, ns, env
        self.logs: dict[str, Path] = {kind: logs / f"{name}-{kind}.log" for kind in KINDS}
        self.procs: list[subprocess.Popen] = []
        self.pgid: int | None = None

    def node(self, kind: str) -> str:
        return f"{kind}@{self.name}"

    def start(self) -> None:
        for kind in KINDS:
            # What `make worker` starts: every host's extraction worker runs Celery beat, so the
            # recovery sweep outlives any one host.
            command = commands.worker_command(kind, node=self.node(kind))
            with open(self.logs[kind], "w") as log:
                proc = subprocess.Popen(
                    [*self.net.exec_prefix(self.ns), *command.argv],
                    env=command.environment(self.env),
                    cwd=ROOT,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    process_group=0 if self.pgid is None else self.pgid,
                )
            self.procs.append(proc)
            self.pgid = self.pgid or proc.pid

    def log(self, kind: str) -> str:
        path = self.logs[kind]
        return path.read_text(errors="replace") if path.exists() else ""

    def wait_warm(self, timeout: float) -> None:
        """Every worker ready, and every pool child done importing and warming up TensorFlow."""

        def warm() -> bool:
            for proc, kind in zip(self.procs, KINDS, strict=True):
                if proc.poll() is not None:
                    raise AssertionError(f"{self.node(kind)} exited:\n{self.log(kind)[-3000:]}")
                if SETUP_FAILED.search(self.log(kind)):  # the child lives on, but never warms up
                    raise AssertionError(f"{self.node(kind)}: {self.log(kind)[-3000:]}")
            return all(" ready." in self.log(k) and WARM_LINE.search(self.log(k)) for k in KINDS)

        wait_until(warm, timeout, f"the workers of {self.name} did not warm up:\n{self.tails()}")

    def kill(self) -> float:
        """The host dies: SIGKILL to every process of its group, pool children and beat too.
        Returns when (time.monotonic()) the signal went out; waits until all of them are gone."""
        assert self.pgid is not None
        os.killpg(self.pgid, signal.SIGKILL)
        sent = time.monotonic()
        for proc in self.procs:
            proc.wait(timeout=10)
        wait_until(lambda: not self.group_alive(), 10, f"processes of {self.name} outlived it")
        return sent

    def group_alive(self) -> bool:
        """Whether a live (not zombie) process is left in the host's process group."""
        if self.pgid is None:
            return False
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == self.pgid and fields[0] != "Z":
                return True
        return False

    def stop(self) -> None:
        if not self.group_alive():
            return
        assert self.pgid is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pgid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while self.group_alive() and time.monotonic() < deadline:
            for proc in self.procs:
                proc.poll()
            time.sleep(0.2)
        if self.group_alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pgid, signal.SIGKILL)
        for proc in self.procs:
            proc.wait(timeout=10)

    def tails(self) -> str:
        return "\n".join(f"--- {self.logs[k].name}\n{self.log(k)[-2500:]}" for k in KINDS)


@pytest.fixture
def lab(tmp_path, monkeypatch) -> Iterator[dict]:
    """Two hosts on a private network with their Redis, PostgreSQL and shared run folder, and the
    dashboard's API (a Flask test client) in the root namespace. Everything is torn down
    afterwards, whatever happened: workers, servers, namespaces, veths, bridge, folders (an
    ExitStack runs every step even when one of them fails)."""
    try:
        require_servers()
        net = Network.create(hosts=2)
    except Unavailable as exc:
        pytest.skip(f"multi-host test skipped: {exc}")
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(net.close)
        cleanup.callback(reset_settings_caches)
        cleanup.callback(monkeypatch.undo)
        broker = PrivateRedis(
            net.address, net.free_port(), tmp_path / "redis", secrets.token_hex(8)
        )
        cleanup.callback(broker.stop)
        broker.start()
        database = PrivatePostgres(
            net.address, net.free_port(), f"{net.prefix}.0/24", secrets.token_hex(8)
        )
        cleanup.callback(database.stop)
        database.start()
        shared = tmp_path / "nfs"  # the run volume both hosts mount
        shared.mkdir()
        settings = {
            "REDIS_URL": broker.url,
            "DATABASE_URL": database.url,
            "CNNLENS_DATA_DIR": str(shared),
            "CNNLENS_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT),
            "CNNLENS_RECOVER_INTERVAL": str(RECOVER_INTERVAL),
        }
        for key in ("CNNLENS_BROKER_URL", "CNNLENS_AUTH_USER", "CNNLENS_AUTH_PASSWORD"):
            monkeypatch.delenv(key, raising=False)
        for key, value in settings.items():
            monkeypatch.setenv(key, value)
        reset_settings_caches()
        env = {**os.environ, **settings, "PYTHONPATH": str(ROOT)}

        from dashboard.app import create_app
        from shared.store import RunStore

        store = RunStore().init()  # the schema, made once before any worker starts
        cleanup.callback(store.engine.dispose)
        api = create_app(store).server.test_client()
        hosts = [
            Host(f"host{'ab'[k]}-{net.tag}", net, ns, env, tmp_path)
            for k, ns in enumerate(net.namespaces)
        ]
        for host in hosts:
            cleanup.callback(host.stop)
        ports = {"redis": broker.port, "postgres": database.port}
        yield {"net": net, "hosts": hosts, "store": store, "api": api, "ports": ports}


def in_namespace_can_connect(net: Network, ns: str, host: str, port: int) -> bool:
    code = f"import socket; socket.create_connection(({host!r}, {port}), timeout=1).close()"
    done = subprocess.run(
        [*net.exec_prefix(ns), sys.executable, "-c", code], capture_output=True, timeout=30
    )
    return done.returncode == 0


def lease_node(store, run_id: str) -> str | None:
    owner = (store._row(run_id) or {}).get("lease_owner")
    return owner.split("/", 1)[0] if owner else None


def finished_job(api, response, timeout: float = 120) -> dict:
    """The job behind a 202, once done; an answer that was already there (200) as it is."""
    if response.status_code == 200:
        return response.get_json()
    assert response.status_code == 202, response.get_json()
    job_id = response.get_json()["job_id"]
    job: dict = {}

    def done() -> bool:
        nonlocal job
        job = api.get(f"/api/jobs/{job_id}").get_json()
        return job["status"] in ("succeeded", "failed")

    wait_until(done, timeout, f"job {job_id} unfinished")
    assert job["status"] == "succeeded", job
    return job


def test_a_host_dies_mid_training_and_the_other_host_resumes_the_run(lab):
    net, hosts, store, api = lab["net"], lab["hosts"], lab["store"], lab["api"]
    # The hosts reach the servers only on the bridge address, and the machine's loopback
    # servers (the Redis tests use) not at all: whatever the workers do goes over the veths.
    from tests.redis_dbs import BASE

    loopback_port = int(BASE.rsplit(":", 1)[1])
    for ns in net.namespaces:
        for port in lab["ports"].values():
            assert in_namespace_can_connect(net, ns, net.address, port)
            assert not in_namespace_can_connect(net, ns, "127.0.0.1", port)
        if can_connect("127.0.0.1", loopback_port):
            assert not in_namespace_can_connect(net, ns, "127.0.0.1", loopback_port)

    started = time.monotonic()
    for host in hosts:
        host.start()
    for host in hosts:
        host.wait_warm(timeout=180)
    warm = time.monotonic() - started

    created = api.post("/api/runs", json=RUN)
    assert created.status_code == 201, created.get_json()
    run_id = created.get_json()["id"]

    def run() -> dict:
        found = store.get_run(run_id)
        assert found is not None
        return found

    wait_until(lambda: lease_node(store, run_id), 60, "no host took the run")
    # Into epoch 2 at least: epoch 1 is recorded and its checkpoint written.
    wait_until(
        lambda: (run()["progress"]["epoch"] or 0) >= 2 and run()["status"] == "running",
        120,
        "the run never reached epoch 2 while running",
    )
    at_kill = run()
    done_before = len(at_kill["history"]["loss"])
    assert at_kill["status"] == "running" and done_before < RUN["epochs"], "killed too late"
    # A live training must never have been taken for a dead one (a heartbeat missed under load).
    assert at_kill["attempts"] == 1, f"the run changed hands before the kill: {at_kill}"
    node = lease_node(store, run_id)
    victim = next(h for h in hosts if node == h.node("training"))
    survivor = next(h for h in hosts if h is not victim)
    kept = [h["seconds"] for _, h in store.history_rows(run_id)][: at_kill["progress"]["epoch"] - 1]

    killed = victim.kill()
    # What the dead host reported last: the row keeps it until the survivor writes its own.
    stale = run()
    progress_at_kill = (stale["progress"]["epoch"], stale["progress"]["step"])
    done_at_kill = len(stale["history"]["loss"])
    seen: dict[str, float] = {}

    def training_again() -> bool:
        now, current = time.monotonic() - killed, run()
        if current["status"] == "interrupted":
            seen.setdefault("interrupted", now)
        if current["attempts"] < 2 or lease_node(store, run_id) != survivor.node("training"):
            return False
        seen.setdefault("claimed", now)
        progress = (current["progress"]["epoch"], current["progress"]["step"])
        return bool(progress[1]) and progress != progress_at_kill  # batches going by again

    wait_until(training_again, 90, f"training did not start again on {survivor.name}")
    again = time.monotonic() - killed
    resumed_at = run()["progress"]["epoch"]

    wait_until(lambda: run()["status"] in ("succeeded", "failed"), 180, "the run never ended")
    final = run()
    assert final["status"] == "succeeded", (final["error"], survivor.tails())
    # Nothing lost, nothing done twice: every epoch once, the ones finished before the kill kept
    # as they were (not trained again), the model and results on the shared volume.
    assert [e for e, _ in store.history_rows(run_id)] == list(range(1, RUN["epochs"] + 1))
    assert [h["seconds"] for _, h in store.history_rows(run_id)][: len(kept)] == kept
    # From the last checkpointed epoch: never before what was done when we decided to kill,
    # never past the epoch the dead host was in.
    assert at_kill["progress"]["epoch"] <= resumed_at <= progress_at_kill[0] + 1
    assert final["attempts"] == 2
    assert final["test"]["accuracy"] is not None
    assert store.files.exists(run_id, "model.keras")
    assert not store.files.exists(run_id, "checkpoint")
    assert f"run {run_id} succeeded" in survivor.log("training")
    assert victim.procs and all(p.returncode == -signal.SIGKILL for p in victim.procs)

    # The surviving host extracts and analyses too (the other host's workers are gone).
    answer = api.post(f"/api/runs/{run_id}/activations", json={"test_index": 7})
    job = finished_job(api, answer)
    assert job["result"]["layers"], job
    stats = api.get(f"/api/runs/{run_id}/filter-stats")
    finished_job(api, stats)
    assert api.get(f"/api/runs/{run_id}/filter-stats").status_code == 200
    cka = api.get(f"/api/compare/cka?a={run_id}&b={run_id}")
    finished_job(api, cka)
    assert api.get(f"/api/compare/cka?a={run_id}&b={run_id}").status_code == 200
    print(
        f"\ntwo hosts (warm after {warm:.0f} s): {victim.name} killed in epoch "
        f"{progress_at_kill[0]} ({done_at_kill} done); interrupted after "
        f"{seen.get('interrupted', float('nan')):.1f} s, claimed by {survivor.name} after "
        f"{seen['claimed']:.1f} s, training again (from epoch {resumed_at}) {again:.1f} s after "
        f"the kill (heartbeat timeout {HEARTBEAT_TIMEOUT} s, sweep every {RECOVER_INTERVAL} s)"
    )
