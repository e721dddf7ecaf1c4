"""The issue's stretch goal, measured before it is built: runs of a sweep that share an
architecture, trained side by side in one process as one fused model (benchmarks/fused_runs.py).

Four runs of the default model that differ only in seed, one epoch each on 20,000 Fashion-MNIST
images at batch 32 and 64 steps per call, steps timed alone, each way in a fresh process:
- on one core: the four one after the other, each its own model, against the four fused;
- on two cores, the way a sweep uses them (two trainings at once, one thread each): two processes
  each training four runs apart, against two processes each training four fused.
Each side is read at its best of REPEATS, the two sides alternating (other processes can only
slow a side down). A first row checks that fusing changes no number: two runs trained both ways
on the same batches end with the same weights.

Fusing pays where the cost of a step is mostly its overhead (launching ops), not its arithmetic:
on a GPU, or a CPU whose small convolutions finish quickly. It is kept in the worker only if it
pays on the machine that measures it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from benchmarks.rows import row
from benchmarks.services import ROOT

RUNS = 4
REPEATS = 2


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "benchmarks.fused_runs", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2"),
    )


def _results(*procs: subprocess.Popen[str]) -> list[dict[str, Any]]:
    out = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=900)
        if proc.returncode != 0:
            raise RuntimeError(f"fused_runs failed:\n{stderr[-2000:]}")
        out.append(json.loads(stdout.strip().splitlines()[-1]))
    return out


def _rate(args: list[str], at_once: int) -> float:
    """Images/s over all runs of `at_once` processes started together (the sum of theirs)."""
    return sum(r["images_per_second"] for r in _results(*(_start(*args) for _ in range(at_once))))


def _best_of(args: list[str], fused_args: list[str], at_once: int, repeats: int) -> tuple:
    apart, together = [], []
    for _ in range(repeats):  # alternating, so a slow spell of the machine hits both sides
        apart.append(_rate(args, at_once))
        together.append(_rate(fused_args, at_once))
    return max(apart), max(together), apart, together


def run(quick: bool) -> list[dict[str, Any]]:
    from shared.datasets import unavailable_reason

    if unavailable_reason("fashion_mnist"):
        raise RuntimeError(f"fashion_mnist is needed: {unavailable_reason('fashion_mnist')}")
    runs, repeats = (2, 1) if quick else (RUNS, REPEATS)
    common = ["--runs", str(runs), "--threads", "1"] + (["--images", "2048"] if quick else [])
    check = _results(_start("--check"))[0]
    rows = [
        row(
            "fused runs: largest weight difference from each run trained alone",
            check["fused_vs_alone"],
            target="<= 1e-05",
            note=(
                "two runs of the default model (seeds 0 and 1), 128 steps on the same batches, "
                f"fused and alone; the two runs' own weights differ by up to "
                f"{check['between_runs']:.3g}, so the comparison is not of nothing"
            ),
        )
    ]
    for at_once, label in ((1, "one core"), (2, "two cores, two processes at once")):
        apart, together, a_all, t_all = _best_of(common, [*common, "--fused"], at_once, repeats)
        rows.append(
            row(
                f"fused runs: {runs} same-architecture runs as one model, {label}",
                together,
                "images/s",
                baseline=apart,
                note=(
                    f"baseline: the same {runs} runs one after the other, each its own model, "
                    f"in the same number of processes; images/s over all runs, steps only, best "
                    f"of {repeats} (apart: {', '.join(f'{v:,.0f}' for v in a_all)}; fused: "
                    f"{', '.join(f'{v:,.0f}' for v in t_all)})"
                ),
            )
        )
    return rows
