"""Browser tests' helpers: the running stack, named steps with screenshots, Dash-aware waits.

The stack is the real thing as subprocesses: a training and an extraction Celery worker, and the
dashboard (`python -m dashboard`), on a private data directory and Redis database
(CNNLENS_E2E_REDIS_DB, default 11).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "test-output" / "e2e"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
REDIS_BASE = os.environ.get("CNNLENS_TEST_REDIS", "redis://127.0.0.1:6379")
REDIS_DB = int(os.environ.get("CNNLENS_E2E_REDIS_DB", "11"))
REDIS_URL = f"{REDIS_BASE}/{REDIS_DB}"


def require_browser() -> None:
    """Skip the calling test module when Chromium or Playwright is missing; fail in CI."""
    missing = None
    if not CHROMIUM.exists():
        missing = f"{CHROMIUM} is not installed (`make browsers` installs Debian's chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            missing = "the playwright package is not installed (pip install -e '.[dev]')"
    if missing is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"browser tests cannot run in CI: {missing}", pytrace=False)
    pytest.skip(f"browser tests skipped: {missing}", allow_module_level=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:60]


def current_test() -> str:
    """The running test's function name (pytest puts it in PYTEST_CURRENT_TEST)."""
    raw = os.environ.get("PYTEST_CURRENT_TEST", "test").split("::")[-1].split(" ")[0]
    return slug(raw)


def children_of(pid: int) -> list[int]:
    """The processes whose parent is `pid` (Linux /proc), e.g. a Celery worker's pool."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if parent == pid:
            found.append(int(stat.parent.name))
    return found


class StepFailed(AssertionError):
    pass


@contextmanager
def step(page: Any, name: str) -> Iterator[None]:
    """A named part of a test: on failure, a screenshot <test>-<step>-FAILED.png, and the error
    says which step it was."""
    try:
        yield
    except Exception as exc:
        OUT.mkdir(parents=True, exist_ok=True)
        shot = OUT / f"{current_test()}-{slug(name)}-FAILED.png"
        try:
            page.screenshot(path=str(shot), full_page=True)
            where = f" (screenshot: {shot.relative_to(ROOT)})"
        except Exception:  # the page itself may be what broke
            where = ""
        raise StepFailed(f"step '{name}' failed: {exc}{where}") from exc


def screenshot(page: Any, name: str = "final") -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{current_test()}-{slug(name)}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@contextmanager
def watched_tab(browser: Any, base_url: str, **options: Any) -> Iterator[Any]:
    """A fresh browser context and tab on the stack (`options` go to `new_context`, e.g. a
    locale). On leaving: a final screenshot, the context closed, and an AssertionError when the
    tab got a 5xx answer or a JavaScript error."""
    context = browser.new_context(
        viewport={"width": 1400, "height": 900}, base_url=base_url, **options
    )
    tab = context.new_page()
    tab.set_default_timeout(20_000)
    problems: list[str] = []
    tab.on(
        "response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 500 else None
    )
    tab.on("pageerror", lambda exc: problems.append(f"JavaScript error: {exc}"))
    try:
        yield tab
    finally:
        try:
            screenshot(tab, "final")
        finally:
            context.close()
    assert not problems, "the page met server or script errors:\n" + "\n".join(problems)


def dash_id(**parts: str | int) -> str:
    """A CSS selector for a Dash pattern-matching id such as {"type": "run-probe", "index": 3}."""
    text = json.dumps(dict(sorted(parts.items())), separators=(",", ":"))
    return f"[id='{text}']"


def is_dash_update(response: Any, output: str) -> bool:
    """A finished Dash callback request whose outputs include `output` (e.g. "new-config")."""
    if "_dash-update-component" not in response.url:
        return False
    try:
        outputs = json.loads(response.request.post_data or "{}").get("output", "")
    except ValueError:
        return False
    # Only the callback that writes `output`: its id also appears among other callbacks' inputs.
    return f"{output}." in outputs


class Stack:
    """Workers and dashboard as child processes; `url` is the dashboard's address."""

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = dict(
            os.environ,
            REDIS_URL=REDIS_URL,
            CNNLENS_DATA_DIR=str(data_dir),
            CNNLENS_HOST="127.0.0.1",
            CNNLENS_PORT=str(self.port),
            PYTHONPATH=str(ROOT),
            CNNLENS_HEARTBEAT_TIMEOUT="30",
        )
        for key in (
            "CNNLENS_BROKER_URL",
            "DATABASE_URL",
            "CNNLENS_AUTH_USER",
            "CNNLENS_AUTH_PASSWORD",
            "CNNLENS_DEBUG",
        ):
            self.env.pop(key, None)
        self.workers: list[Any] = []
        self.dashboard: subprocess.Popen | None = None
        self.dashboard_log = data_dir / "dashboard.log"

    def start(self) -> None:
        import redis

        from shared.settings import Settings
        from shared.store import RunStore
        from tests.integration.conftest import start_workers

        try:
            redis.Redis.from_url(REDIS_URL, socket_timeout=1).flushdb()
        except redis.RedisError as exc:
            pytest.fail(f"Redis is not reachable at {REDIS_URL}: {exc}", pytrace=False)
        settings = Settings(_env_file=None, CNNLENS_DATA_DIR=self.data_dir, REDIS_URL=REDIS_URL)
        RunStore(settings).init().engine.dispose()  # tables first, before the children race
        with open(self.dashboard_log, "w") as log:
            self.dashboard = subprocess.Popen(
                [sys.executable, "-m", "dashboard"],
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.workers = start_workers(self.env, self.data_dir)
        self.wait_healthy()

    def wait_healthy(self, timeout: float = 60) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.dashboard is not None and self.dashboard.poll() is not None:
                raise RuntimeError(
                    f"the dashboard exited:\n{self.dashboard_log.read_text()[-3000:]}"
                )
            try:
                if requests.get(f"{self.url}/api/health", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise RuntimeError(
            f"no /api/health in {timeout}s:\n{self.dashboard_log.read_text()[-3000:]}"
        )

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"X-Requested-With": "cnnlens-tests", **kwargs.pop("headers", {})}
        response = requests.request(
            method, f"{self.url}/api{path}", timeout=10, headers=headers, **kwargs
        )
        return response.json() if response.content else None

    def wait_for_run(self, run_id: str, statuses=("succeeded",), timeout: float = 120) -> dict:
        deadline = time.time() + timeout
        run: dict = {}
        while time.time() < deadline:
            run = self.api("GET", f"/runs/{run_id}")
            if run.get("status") in statuses:
                return run
            if run.get("status") in ("failed", "cancelled"):
                break
            time.sleep(0.3)
        raise AssertionError(f"run {run_id} is {run.get('status')}, not {statuses}: {run}")

    def cancel_active_runs(self) -> None:
        """Ask every unfinished run to stop, so the workers are idle when they are stopped."""
        try:
            runs = self.api("GET", "/runs")["runs"]
        except (requests.RequestException, ValueError, KeyError, TypeError):
            return
        for run in runs:
            if run["status"] in ("queued", "running", "interrupted"):
                self.api("POST", f"/runs/{run['id']}/cancel")

    def stop(self) -> None:
        import redis

        if self.dashboard is not None and self.dashboard.poll() is None:
            self.cancel_active_runs()
            self.dashboard.terminate()
            try:
                self.dashboard.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.dashboard.kill()
                self.dashboard.wait()
        # Cold shutdown, both workers at once: every run is finished or cancelled by now, and a
        # warm shutdown would wait for a fresh pool child to finish importing TensorFlow. A pool
        # child deep in that import does not see signals for seconds: it is killed.
        for worker in self.workers:
            if worker.proc.poll() is None:
                worker.proc.send_signal(signal.SIGQUIT)
        for worker in self.workers:
            with suppress(subprocess.TimeoutExpired):
                worker.proc.wait(timeout=2)
            if worker.proc.poll() is None:
                for child in children_of(worker.proc.pid):
                    with suppress(ProcessLookupError):
                        os.kill(child, signal.SIGKILL)
                with suppress(subprocess.TimeoutExpired):
                    worker.proc.wait(timeout=10)
            worker.stop()
        redis.Redis.from_url(REDIS_URL).flushdb()
