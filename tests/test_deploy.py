"""The compose file validates offline with Debian's docker-compose, and keeps its promises."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
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


# The compose services that run workers, and the kind each one is.
WORKER_SERVICES = {"worker": "training", "extractor": "extraction", "analyzer": "analysis"}


def built_command(service: dict) -> list[str]:
    """The celery command line a compose worker service ends up running: its
    `python -m worker.commands KIND`, asked to print instead, in the service's environment."""
    command = service["command"]
    assert command[:3] == ["python", "-m", "worker.commands"], command
    done = subprocess.run(
        [sys.executable, *command[1:], "--print"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", **{k: str(v) for k, v in service["environment"].items()}},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return shlex.split(done.stdout)


@pytest.mark.skipif(COMPOSE is None, reason="docker-compose is not installed (.ci/run installs it)")
def test_compose_workers_use_the_one_command_builder():
    import yaml

    done = compose_config({"REDIS_PASSWORD": "s3cret", "POSTGRES_PASSWORD": "pw"})
    assert done.returncode == 0, done.stderr
    services = yaml.safe_load(done.stdout)["services"]
    for name, kind in WORKER_SERVICES.items():
        assert services[name]["command"] == ["python", "-m", "worker.commands", kind]
        argv = built_command(services[name])
        assert argv[argv.index("-Q") + 1] == kind
        # Training takes the settings' concurrency (two at once); the others have one child.
        expected = "2" if kind == "training" else "1"
        assert argv[argv.index("--concurrency") + 1] == expected
        # No node name: compose's health checks ping Celery's default celery@$HOSTNAME.
        assert "-n" not in argv
        # ($$ is compose's escape for $; some versions print it unescaped.)
        healthcheck = " ".join(services[name]["healthcheck"]["test"])
        assert re.search(r"-d \S*celery@\$+HOSTNAME", healthcheck), healthcheck


@pytest.mark.skipif(COMPOSE is None, reason="docker-compose is not installed (.ci/run installs it)")
def test_compose_runs_the_recovery_sweep_in_the_extractor():
    import yaml

    done = compose_config({"REDIS_PASSWORD": "s3cret", "POSTGRES_PASSWORD": "pw"})
    assert done.returncode == 0, done.stderr
    services = yaml.safe_load(done.stdout)["services"]
    assert "-B" in built_command(services["extractor"])  # Celery beat sends cnnlens.recover
    assert "-B" not in built_command(services["worker"])  # beat once, not per worker
    assert "-B" not in built_command(services["analyzer"])
    for name in WORKER_SERVICES:
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
        command = built_command(services[name])
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
    # The image's default command is a training worker, built like every other worker's.
    assert 'CMD ["python", "-m", "worker.commands", "training"]' in worker_stage
