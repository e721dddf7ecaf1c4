"""The `celery worker` command lines of CNN Lens, written once.

Three kinds of worker, one queue each (see worker/celery_app.py for why):

- `training`: `--max-tasks-per-child N` (CNNLENS_TRAIN_RUNS_PER_PROCESS): a process trains N runs
  and is then replaced, so whatever TensorFlow keeps across model builds cannot pile up; each
  replacement pays a TensorFlow start. Concurrency is the other knob (CNNLENS_WORKER_CONCURRENCY).
- `extraction`: one long-lived child that keeps recently used models loaded; by default it also
  runs Celery beat (`-B`), which sends the recovery sweep. No other kind may carry beat, so
  scaling the training workers (`docker compose up --scale worker=3`) never multiplies the sweep;
  each host of `make up`/`make worker` does run one, which is safe (the sweep looks before it
  sends) and keeps the sweep alive when one host goes.
- `analysis`: CKA and filter statistics, one long-lived child of its own.

Every kind gets:

- `--pool prefork`, spelled out: TensorFlow is imported in each pool child
  (`worker_process_init`), never in the parent; the time limits of worker/celery_app.py and
  `--max-tasks-per-child` are only enforced by a prefork pool (the solo pool runs tasks, and
  that signal, in the parent, without either).
- `--without-mingle --without-gossip`: mingle makes each start wait a full second for other
  workers' revoked-task lists, and gossip has each worker consume every other worker's events;
  CNN Lens revokes nothing (cancelling is a flag in the store) and never reads those events.
  Event heartbeats stay on: Flower (compose profile `monitoring`) shows a worker online by them.
  Remote control stays on too: compose's health checks are `celery inspect ping`.

Callers: scripts/up.py (`make up`, `make worker`), benchmarks/services.py,
tests/integration/conftest.py, and the worker containers (`python -m worker.commands training`,
which replaces itself with the built command). Where their output goes (a terminal, a log file)
is each caller's business, and so is the node name: without one Celery names the node
`celery@<host>`, which compose's health checks rely on.

Nothing heavy is imported here (no Celery, no TensorFlow, no settings at import time), so
scripts, benchmarks and tests import it for nothing.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from shared import tasks

TRAINING = tasks.TRAINING_QUEUE
EXTRACTION = tasks.EXTRACTION_QUEUE
ANALYSIS = tasks.ANALYSIS_QUEUE
KINDS = (TRAINING, EXTRACTION, ANALYSIS)

APP = "worker.celery_app"
# Options every worker gets; the module docstring says why each is there.
COMMON_OPTIONS = ("--pool", "prefork", "--without-mingle", "--without-gossip")


@dataclass(frozen=True)
class WorkerCommand:
    """What to start: `argv`, run with the caller's environment plus `env`."""

    kind: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)

    def environment(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """`base` (default: this process's environment) with this command's additions."""
        return {**(os.environ if base is None else base), **self.env}

    def __str__(self) -> str:
        """As a shell would take it: `VAR=value … python -m celery …`."""
        assignments = [f"{key}={shlex.quote(value)}" for key, value in sorted(self.env.items())]
        return " ".join([*assignments, shlex.join(self.argv)])


def node_name(kind: str, host: str = "%h", unique: bool = False) -> str:
    """`<kind>-<pid>@<host>`, with `-<nanoseconds>` after the pid when `unique` (a process that
    starts several workers of one kind, or restarts one, then never repeats a name)."""
    tag = f"{os.getpid()}-{time.monotonic_ns()}" if unique else str(os.getpid())
    return f"{kind}-{tag}@{host}"


def worker_command(
    kind: str,
    *,
    concurrency: int = 1,
    beat: bool | None = None,
    node: str | None = None,
    loglevel: str = "INFO",
    nice: int | None = None,
    tf_threads: tuple[int, int] | None = None,
    runs_per_process: int = 1,
    python: str = sys.executable,
) -> WorkerCommand:
    """The command line of one worker of `kind` (training, extraction or analysis).

    concurrency: pool children (training; one for the others by design, see above).
    beat: run Celery beat inside this worker; None means "yes" for extraction, "no" otherwise.
    node: the node name (`-n`); None leaves Celery's `celery@<host>`.
    nice: CPU priority of a training or analysis worker (CNNLENS_TRAIN_NICE; the worker lowers
        its own priority at start, worker/celery_app.py); None keeps the settings' value.
    tf_threads: TensorFlow (intra-op, inter-op) threads per child; None keeps the settings'.
    runs_per_process: trainings per pool child before a fresh one replaces it (training only).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown worker kind {kind!r}; one of {', '.join(KINDS)}")
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, not {concurrency}")
    if runs_per_process < 1:
        raise ValueError(f"runs_per_process must be at least 1, not {runs_per_process}")
    if kind != TRAINING and concurrency != 1:
        raise ValueError(f"the {kind} worker has one pool child by design (worker/celery_app.py)")
    if beat is None:
        beat = kind == EXTRACTION
    if beat and kind != EXTRACTION:
        raise ValueError("Celery beat runs in the extraction worker only")
    argv = [python, "-m", "celery", "-A", APP, "worker", "-Q", kind]
    argv += ["--concurrency", str(concurrency), *COMMON_OPTIONS, "--loglevel", loglevel]
    if kind == TRAINING:
        argv += ["--max-tasks-per-child", str(runs_per_process)]
    if beat:
        argv.append("-B")
    if node is not None:
        argv += ["-n", node]
    env: dict[str, str] = {}
    if nice is not None:
        env["CNNLENS_TRAIN_NICE"] = str(nice)
    if tf_threads is not None:
        intra, inter = tf_threads
        env["CNNLENS_TF_INTRA_THREADS"] = str(intra)
        env["CNNLENS_TF_INTER_THREADS"] = str(inter)
    return WorkerCommand(kind, argv, env)


def main(args: Sequence[str] | None = None) -> None:
    """`python -m worker.commands KIND`: become that worker (what the containers run)."""
    parser = argparse.ArgumentParser(
        prog="python -m worker.commands", description="Start one CNN Lens worker."
    )
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--node", help="node name (-n); default celery@<host>")
    parser.add_argument(
        "--print", action="store_true", help="print the command line instead of running it"
    )
    options = parser.parse_args(args)
    concurrency, runs_per_process = 1, 1
    if options.kind == TRAINING:
        from shared.settings import Settings

        settings = Settings()
        concurrency, runs_per_process = (
            settings.worker_concurrency,
            settings.train_runs_per_process,
        )
    command = worker_command(
        options.kind,
        concurrency=concurrency,
        node=options.node,
        runs_per_process=runs_per_process,
    )
    if options.print:
        print(command)
        return
    sys.stdout.flush()
    # exec, not a child: in a container the worker is then the process that gets docker's
    # SIGTERM and shuts down warm, with nothing in between to forward it.
    os.execve(command.argv[0], command.argv, command.environment())


if __name__ == "__main__":
    main()
