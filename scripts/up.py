"""`make up`: run the whole of CNN Lens on this machine, and stop it all on Ctrl-C.

Picks a broker (REDIS_URL when it answers; else a private redis-server when one is installed;
else the embedded SQLite broker, with a warning), creates the store, then starts a training
worker, an extraction worker, an analysis worker and the dashboard as child processes,
restarting a worker that dies.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shared.settings import Settings  # noqa: E402
from worker.commands import KINDS, TRAINING, node_name, worker_command  # noqa: E402


def log(msg: str) -> None:
    print(f"[cnnlens] {msg}", flush=True)


def redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(
            redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5).ping()
        )
    except Exception:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def choose_broker(
    settings: Settings, data_dir: Path, procs: list[subprocess.Popen]
) -> dict[str, str]:
    """Environment additions that point every child at a working broker."""
    if settings.broker_url_override:
        log(f"broker: {settings.broker_url_override.split('://')[0]} (CNNLENS_BROKER_URL)")
        return {}
    if redis_answers(settings.redis_url):
        log(f"broker: Redis at {settings.redis_url.split('@')[-1]}")
        return {}
    server = shutil.which("redis-server")
    if server:
        port = free_port()
        folder = data_dir / "redis"
        folder.mkdir(parents=True, exist_ok=True)
        procs.append(
            subprocess.Popen(
                [
                    server,
                    "--bind",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--dir",
                    str(folder),
                    "--appendonly",
                    "yes",
                    "--maxmemory-policy",
                    "noeviction",
                    "--save",
                    "",
                ],
                stdout=subprocess.DEVNULL,
            )
        )
        url = f"redis://127.0.0.1:{port}/0"
        for _ in range(50):
            if redis_answers(url):
                break
            time.sleep(0.1)
        log(
            f"broker: Redis at {settings.redis_url} did not answer; started a private "
            f"redis-server on port {port}"
        )
        return {"REDIS_URL": url}
    url = f"sqla+sqlite:///{(data_dir / 'broker.sqlite3').resolve()}"
    log(
        "WARNING: no Redis answers and redis-server is not installed; using the embedded SQLite "
        "broker. It is fine for one machine; install Redis for anything bigger."
    )
    return {"CNNLENS_BROKER_URL": url}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--worker-only", action="store_true", help="start only workers (what a second machine runs)"
    )
    args = parser.parse_args()

    settings = Settings()
    data_dir = settings.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    procs: list[subprocess.Popen] = []
    env = dict(os.environ, PYTHONPATH=str(ROOT), CNNLENS_DATA_DIR=str(data_dir))
    env.update(choose_broker(settings, data_dir, procs))
    os.environ.update(env)

    from shared.store import RunStore

    RunStore(Settings()).init()  # create the tables once, before any child races to

    # The nodes are named after this launcher's pid, so a second `make worker` on the same host
    # joins instead of clashing; a restarted worker takes its predecessor's name.
    commands = {
        f"{kind} worker": worker_command(
            kind,
            concurrency=settings.worker_concurrency if kind == TRAINING else 1,
            node=node_name(kind),
            runs_per_process=settings.train_runs_per_process if kind == TRAINING else 1,
        ).argv
        for kind in KINDS  # the extraction worker runs Celery beat: the recovery sweep
    }
    if not args.worker_only:
        commands["dashboard"] = [sys.executable, "-m", "dashboard"]
    children = {name: subprocess.Popen(cmd, env=env, cwd=ROOT) for name, cmd in commands.items()}
    if not args.worker_only:
        log(f"dashboard: http://{settings.host}:{settings.port}/  (Ctrl-C stops everything)")

    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        while not stopping:
            time.sleep(0.5)
            for name, proc in list(children.items()):
                code = proc.poll()
                if code is None or stopping:
                    continue
                if name == "dashboard":
                    log(f"the dashboard exited with code {code}; stopping")
                    stopping = True
                    break
                log(f"the {name} exited with code {code}; restarting it")
                time.sleep(1)
                children[name] = subprocess.Popen(commands[name], env=env, cwd=ROOT)
    finally:
        log("stopping…")
        everything = list(children.values()) + procs
        for proc in everything:
            if proc.poll() is None:
                proc.terminate()
        deadline = time.time() + 15
        for proc in everything:
            try:
                proc.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                proc.kill()
        log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
