"""The benchmark harness runs end to end on tiny data and writes rows in the documented shape.

Benchmarks are not tests (they assert nothing about time, and `make test` does not run them);
this only checks that `python -m benchmarks` still works: discovery, one cheap benchmark (the
store with 20 runs, a real dashboard process), the table, latest.json and latest.md, written to
a temporary folder, never to benchmarks/ in the repository.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from benchmarks.__main__ import discover, merged
from benchmarks.report import README_END, README_START, update_readme
from benchmarks.rows import KEYS, error_row, normalise, row, target_met
from tests.redis_dbs import SINK_URL

ROOT = Path(__file__).resolve().parent.parent


def test_targets_are_read_from_their_text():
    assert target_met(row("a", 80, "ms", target="< 100 ms")) is True
    assert target_met(row("a", 120, "ms", target="< 100 ms")) is False
    assert target_met(row("a", 9000, "images/s", baseline=6000, target=">= 1.5×")) is True
    assert target_met(row("a", 8000, "images/s", baseline=6000, target=">= 1.5×")) is False
    assert target_met(row("a", None, "ms", target="< 100 ms")) is False
    assert target_met(row("a", 1, "ms", target="fast")) is None
    assert target_met(row("a", 1, "ms")) is None


def test_rows_from_other_modules_are_held_to_the_schema():
    assert normalise({"name": "x", "value": "12"}, "mod") == {
        "name": "x",
        "value": None,
        "unit": "",
        "baseline": None,
        "ratio": None,
        "target": None,
    }
    assert normalise("not a row", "mod")["name"] == "mod: FAILED"
    assert set(error_row("mod", "boom")) == {*KEYS, "note"}


def test_a_rerun_of_one_benchmark_replaces_only_its_rows():
    previous = [{"name": "a", "bench": "training"}, {"name": "b", "bench": "store"}]
    fresh = [{"name": "c", "bench": "store"}]
    assert [r["name"] for r in merged(previous, fresh)] == ["a", "c"]


def test_the_readme_table_is_replaced_between_its_markers_only(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\nbefore\n{README_START}\nold table\n{README_END}\nafter\n")
    rows = [row("queue: p50", 12.5, "ms", target="< 100 ms")]
    info = {"date": "2026-01-01 00:00 UTC", "cpu": "CPU", "cores": 2, "ram_gib": 1.0, "os": "OS"}
    info |= {"python": "3", "tensorflow": "2", "keras": "3", "dash": "4", "load_before": "0"}
    assert update_readme(readme, rows, info, "python -m benchmarks")
    text = readme.read_text()
    assert "old table" not in text
    assert "| queue: p50 | 12.5 ms |  |  | < 100 ms | yes |" in text
    assert text.startswith("# Title\n\nbefore\n") and text.endswith(f"{README_END}\nafter\n")
    # Run twice: still one block.
    assert update_readme(readme, rows, info, "python -m benchmarks")
    assert readme.read_text().count(README_START) == 1

    unmarked = tmp_path / "OTHER.md"
    unmarked.write_text("no block here\n")
    assert not update_readme(unmarked, rows, info, "python -m benchmarks")
    assert unmarked.read_text() == "no block here\n"


def test_discovery_finds_the_benchmarks_in_readme_order():
    names = discover()
    assert {"training", "queue", "store", "payload", "memory"} <= set(names)
    assert names.index("training") < names.index("store") < names.index("memory")


def test_quick_store_benchmark_writes_the_table(tmp_path):
    try:
        redis.Redis.from_url(SINK_URL, socket_timeout=1).ping()
    except redis.RedisError:
        pytest.skip(f"Redis is not reachable at {SINK_URL}")
    env = dict(os.environ, PYTHONPATH=str(ROOT), CNNLENS_BENCH_REDIS=SINK_URL)
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--only", "store", "--out", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = json.loads((tmp_path / "latest.json").read_text())
    assert rows and all(set(KEYS) <= set(r) for r in rows)
    assert not any(r["name"].endswith("FAILED") for r in rows), rows
    timed = [r for r in rows if r["unit"] == "ms"]
    assert timed and all(isinstance(r["value"], float) and r["value"] > 0 for r in timed)
    assert "| benchmark |" in (tmp_path / "latest.md").read_text()
    assert "store: GET /api/runs" in done.stdout
