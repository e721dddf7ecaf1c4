"""The compose file validates offline with Debian's docker-compose, and keeps its promises."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = shutil.which("docker-compose")


def compose_config(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [COMPOSE, "-f", str(ROOT / "docker-compose.yml"), "config"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.skipif(COMPOSE is None, reason="docker-compose is not installed (.ci/run installs it)")
def test_compose_file_is_valid_and_safe():
    done = compose_config(
        {"REDIS_PASSWORD": "s3cret", "POSTGRES_PASSWORD": "pw", "COMPOSE_PROFILES": "monitoring"}
    )
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert "appendonly yes" in text and "noeviction" in text and "--requirepass" in text
    assert "service_healthy" in text
    assert "6379:" not in text  # Redis is never published
    assert "127.0.0.1:8050" in text  # the dashboard only on loopback unless configured


@pytest.mark.skipif(COMPOSE is None, reason="docker-compose is not installed (.ci/run installs it)")
def test_compose_runs_the_recovery_sweep_in_the_extractor():
    import yaml

    done = compose_config({"REDIS_PASSWORD": "s3cret", "POSTGRES_PASSWORD": "pw"})
    assert done.returncode == 0, done.stderr
    services = yaml.safe_load(done.stdout)["services"]
    assert "-B" in services["extractor"]["command"]  # Celery beat sends cnnlens.recover
    assert "-B" not in (services["worker"].get("command") or [])  # beat once, not per worker
    assert "-B" not in services["analyzer"]["command"]
    for name in ("worker", "extractor", "analyzer"):
        assert services[name]["environment"]["CNNLENS_HEARTBEAT_TIMEOUT"] == "20"


@pytest.mark.skipif(COMPOSE is None, reason="docker-compose is not installed (.ci/run installs it)")
def test_compose_keeps_analysis_jobs_off_the_extraction_queue():
    import yaml

    from shared import tasks
    from shared.queue import celery_config
    from shared.settings import Settings

    done = compose_config({"REDIS_PASSWORD": "s3cret", "POSTGRES_PASSWORD": "pw"})
    assert done.returncode == 0, done.stderr
    services = yaml.safe_load(done.stdout)["services"]

    def queues(name: str) -> str:
        command = services[name]["command"]
        return command[command.index("-Q") + 1]

    assert queues("extractor") == tasks.EXTRACTION_QUEUE
    assert queues("analyzer") == tasks.ANALYSIS_QUEUE
    routes = celery_config(Settings(_env_file=None))["task_routes"]
    assert routes[tasks.CKA]["queue"] == routes[tasks.STATS]["queue"] == tasks.ANALYSIS_QUEUE


@pytest.mark.skipif(COMPOSE is None, reason="docker-compose is not installed (.ci/run installs it)")
def test_compose_refuses_to_start_without_secrets():
    done = compose_config({})
    assert done.returncode != 0
    assert "REDIS_PASSWORD" in done.stderr


def test_dockerfile_keeps_tensorflow_out_of_the_dashboard_image():
    text = (ROOT / "Dockerfile").read_text()
    dashboard_stage = text.split("AS dashboard", 1)[1].split("FROM ", 1)[0]
    worker_stage = text.split("AS worker", 1)[1]
    assert "[worker]" not in dashboard_stage and "pip install ." in dashboard_stage
    assert "[worker]" in worker_stage
