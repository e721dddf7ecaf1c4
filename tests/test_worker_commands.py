"""worker/commands.py: the one place the `celery worker` command lines are built."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from shared import tasks
from worker import commands
from worker.commands import (
    ANALYSIS,
    EXTRACTION,
    KINDS,
    TRAINING,
    WorkerCommand,
    node_name,
    worker_command,
)

ROOT = Path(__file__).resolve().parent.parent


def option(argv: list[str], name: str) -> str | None:
    """The value after `name`, or None when the option is absent."""
    return argv[argv.index(name) + 1] if name in argv else None


def test_the_kinds_are_the_queues_the_tasks_are_routed_to():
    from shared.queue import celery_config
    from shared.settings import Settings

    routes = celery_config(Settings(_env_file=None))["task_routes"]
    assert set(KINDS) == {route["queue"] for route in routes.values()}
    assert (TRAINING, EXTRACTION, ANALYSIS) == (
        tasks.TRAINING_QUEUE,
        tasks.EXTRACTION_QUEUE,
        tasks.ANALYSIS_QUEUE,
    )


@pytest.mark.parametrize("kind", KINDS)
def test_every_worker_is_a_prefork_celery_worker_on_its_own_queue(kind):
    argv = worker_command(kind).argv
    assert argv[:6] == [sys.executable, "-m", "celery", "-A", "worker.celery_app", "worker"]
    assert option(argv, "-Q") == kind
    assert option(argv, "--pool") == "prefork"  # TensorFlow in the children, time limits
    assert option(argv, "--concurrency") == "1"
    assert option(argv, "--loglevel") == "INFO"
    assert "--without-mingle" in argv and "--without-gossip" in argv
    # Event heartbeats (Flower) and remote control (compose's `inspect ping`) stay on.
    assert "--without-heartbeat" not in argv and "--without-remote-control" not in argv
    assert "-n" not in argv  # Celery's celery@<host> unless the caller names the node


def test_only_training_recycles_its_process_after_every_task():
    assert option(worker_command(TRAINING).argv, "--max-tasks-per-child") == "1"
    for kind in (EXTRACTION, ANALYSIS):  # they keep their loaded models
        assert "--max-tasks-per-child" not in worker_command(kind).argv


def test_a_training_process_can_serve_several_runs():
    argv = worker_command(TRAINING, runs_per_process=8).argv
    assert option(argv, "--max-tasks-per-child") == "8"
    with pytest.raises(ValueError, match="at least 1"):
        worker_command(TRAINING, runs_per_process=0)


def test_the_container_entry_point_reads_runs_per_process(monkeypatch, capsys):
    monkeypatch.setenv("CNNLENS_TRAIN_RUNS_PER_PROCESS", "5")
    commands.main(["training", "--print"])
    printed = capsys.readouterr().out.split()
    assert printed[printed.index("--max-tasks-per-child") + 1] == "5"


def test_beat_rides_on_the_extraction_worker_only():
    assert "-B" in worker_command(EXTRACTION).argv
    assert "-B" not in worker_command(EXTRACTION, beat=False).argv
    assert "-B" not in worker_command(TRAINING).argv
    assert "-B" not in worker_command(ANALYSIS).argv
    for kind in (TRAINING, ANALYSIS):
        with pytest.raises(ValueError, match="extraction worker only"):
            worker_command(kind, beat=True)


def test_concurrency_is_a_training_knob():
    assert option(worker_command(TRAINING, concurrency=3).argv, "--concurrency") == "3"
    with pytest.raises(ValueError, match="at least 1"):
        worker_command(TRAINING, concurrency=0)
    for kind in (EXTRACTION, ANALYSIS):
        with pytest.raises(ValueError, match="one pool child"):
            worker_command(kind, concurrency=2)


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown worker kind"):
        worker_command("gpu")


def test_node_names_and_log_level_are_passed_on():
    argv = worker_command(ANALYSIS, node="analysis-7@box", loglevel="DEBUG").argv
    assert option(argv, "-n") == "analysis-7@box"
    assert option(argv, "--loglevel") == "DEBUG"


def test_node_names_carry_the_kind_and_this_process():
    assert node_name(TRAINING) == f"training-{os.getpid()}@%h"
    first, second = (node_name(EXTRACTION, host="test", unique=True) for _ in range(2))
    assert first != second
    assert first.startswith(f"extraction-{os.getpid()}-") and first.endswith("@test")


def test_nice_and_tensorflow_threads_go_to_the_environment_the_worker_reads():
    command = worker_command(TRAINING, nice=5, tf_threads=(1, 2))
    assert command.env == {
        "CNNLENS_TRAIN_NICE": "5",
        "CNNLENS_TF_INTRA_THREADS": "1",
        "CNNLENS_TF_INTER_THREADS": "2",
    }
    assert worker_command(TRAINING).env == {}
    merged = command.environment({"PATH": "/bin", "CNNLENS_TRAIN_NICE": "10"})
    assert merged == {"PATH": "/bin", **command.env}  # the command's additions win

    from shared.settings import Settings

    settings = Settings(_env_file=None, **{k: v for k, v in command.env.items()})
    assert (settings.train_nice, settings.tf_intra_threads, settings.tf_inter_threads) == (5, 1, 2)


def test_the_command_prints_as_a_shell_line():
    command = WorkerCommand(TRAINING, ["python", "-m", "celery", "a b"], {"X": "1 2"})
    assert str(command) == "X='1 2' python -m celery 'a b'"


def test_the_builder_imports_nothing_heavy():
    code = (
        "import sys, worker.commands; "
        "print(sorted(m for m in ('celery', 'tensorflow', 'keras', 'worker.celery_app', "
        "'shared.settings', 'pydantic') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CNNLENS_")}
    return subprocess.run(
        [sys.executable, "-m", "worker.commands", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_container_entry_point_prints_what_it_would_run():
    done = run_cli(EXTRACTION, "--print")
    assert done.returncode == 0, done.stderr
    assert shlex.split(done.stdout) == worker_command(EXTRACTION).argv


def test_the_container_entry_point_takes_training_concurrency_from_the_settings():
    done = run_cli(
        TRAINING, "--print", CNNLENS_WORKER_CONCURRENCY="3", CNNLENS_TRAIN_RUNS_PER_PROCESS="7"
    )
    assert done.returncode == 0, done.stderr
    expected = worker_command(TRAINING, concurrency=3, runs_per_process=7).argv
    assert shlex.split(done.stdout) == expected
    named = run_cli(ANALYSIS, "--print", "--node", "analysis@box")
    assert option(shlex.split(named.stdout), "-n") == "analysis@box"


def test_the_container_entry_point_becomes_the_worker(tmp_path):
    """It execs the command (same process id, so docker's SIGTERM reaches Celery itself). Run
    with a stand-in interpreter that only reports its pid and arguments."""
    fake = tmp_path / "python"
    fake.write_text('#!/bin/sh\necho "$$ $*"\n')
    fake.chmod(0o755)
    code = (
        "import os, sys; print(os.getpid(), flush=True); sys.executable = sys.argv[1]; "
        "import worker.commands as c; c.main([sys.argv[2]])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(fake), ANALYSIS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    pid, line = done.stdout.splitlines()
    reported_pid, *args = line.split()
    assert reported_pid == pid
    assert args[:3] == ["-m", "celery", "-A"] and option(args, "-Q") == ANALYSIS
