"""Row 6, store at scale: 1,000 runs in the store, then how fast the API and the runs page list
them, and how much disk one finished run of the default model takes.

Runs are made with `RunStore.create_run` (their config.json and row, as the API makes them), then
finished in bulk with three epochs of history each: the listing reads rows, not training output.
Times are p50 over repeated requests to the real dashboard (waitress) on that store.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import insert, update

from benchmarks.dash_client import Callback, response_value
from benchmarks.rows import median, percentile, row, timings_ms
from benchmarks.services import Services
from shared import db
from shared.config import parse_config
from shared.store import FAILED, SUCCEEDED, RunStore

TARGET = "< 300 ms"


def fill(store: RunStore, count: int, seed: int = 7) -> None:
    """`count` finished runs with three epochs of history each, created a few seconds apart."""
    rng = random.Random(seed)
    configs = [
        parse_config({"name": f"bench run {i}", "epochs": 3, "seed": i}) for i in range(count)
    ]
    ids = [store.create_run(config, infos)["id"] for config, infos in configs]
    now = time.time()
    epochs: list[dict[str, Any]] = []
    finished: list[tuple[str, int, float]] = []
    for n, run_id in enumerate(ids):
        acc = [0.80 + 0.03 * e + rng.uniform(-0.01, 0.01) for e in range(3)]
        epochs += [
            {
                "run_id": run_id,
                "epoch": e + 1,
                "loss": 0.5 - 0.1 * e,
                "accuracy": a,
                "val_loss": 0.55 - 0.1 * e,
                "val_accuracy": a - 0.01,
                "seconds": 2.5,
            }
            for e, a in enumerate(acc)
        ]
        finished.append((run_id, n, acc[-1]))
    with store.engine.begin() as conn:
        conn.execute(insert(db.epochs), epochs)
        for run_id, n, last in finished:
            failed = n % 50 == 49  # a few failures, as in a real lab's list
            conn.execute(
                update(db.runs)
                .where(db.runs.c.id == run_id)
                .values(
                    status=FAILED if failed else SUCCEEDED,
                    created_at=now - (count - n) * 5.0,
                    started_at=now - (count - n) * 5.0 + 1,
                    finished_at=now - (count - n) * 5.0 + 9,
                    epoch=3,
                    step=250,
                    steps=250,
                    val_accuracy=last - 0.01,
                    test_accuracy=None if failed else last - 0.015,
                    test_loss=None if failed else 0.33,
                    error="the training stopped on an unexpected error" if failed else None,
                )
            )


def disk_per_run(services: Services) -> tuple[float, str]:
    """KiB on disk of one finished run of the default config, trained by a real worker."""
    services.start_worker("training")
    run_id = services.submit({"name": "default model"})
    run = services.wait_status(run_id, (SUCCEEDED, FAILED, "cancelled"), timeout=600)
    if run["status"] != SUCCEEDED:
        raise RuntimeError(f"the default run ended {run['status']}: {run.get('error')}")
    folder = services.store.run_dir(run_id)
    files = [p for p in folder.rglob("*") if p.is_file()]
    total = sum(p.stat().st_blocks * 512 for p in files)  # what du counts: allocated blocks
    biggest = sorted(files, key=lambda p: p.stat().st_size, reverse=True)[:3]
    note = f"{len(files)} files; largest: " + ", ".join(
        f"{p.relative_to(folder)} {p.stat().st_size / 1024:.0f} KiB" for p in biggest
    )
    return total / 1024, note


def run(quick: bool) -> list[dict[str, Any]]:
    count = 20 if quick else 1000
    repeat = 3 if quick else 15
    rows: list[dict[str, Any]] = []
    with Services("store") as services:
        started = time.perf_counter()
        fill(services.store, count)
        fill_seconds = time.perf_counter() - started
        base = services.start_dashboard().url
        http = requests.Session()

        def api(query: str = "") -> list[float]:
            return timings_ms(
                lambda: http.get(f"{base}/api/runs{query}", timeout=30).raise_for_status(), repeat
            )

        listed = len(http.get(f"{base}/api/runs?limit=1000", timeout=30).json()["runs"])
        default_ms, all_ms = api(), api("?limit=1000")
        page = Callback.find(http, base, "_pages_content.children")
        table = Callback.find(http, base, "runs-table.children")
        page_values = {"_pages_location.pathname": "/", "_pages_location.search": ""}
        page_ms = timings_ms(lambda: page.call(http, page_values), repeat)
        table_values: dict[str, Any] = {
            "runs-interval.n_intervals": 1,
            "runs-filter-status.value": "all",
            "runs-filter-dataset.value": "all",
            "runs-filter-name.value": "",
            "runs-signature.data": None,
        }
        full_ms = timings_ms(lambda: table.call(http, table_values), repeat)
        table_values["runs-signature.data"] = response_value(
            table.call(http, table_values), "runs-signature", "data"
        )
        poll_ms = timings_ms(lambda: table.call(http, table_values), repeat)
        db_path = Path(services.data_dir / "cnnlens.sqlite3")
        db_kib = (
            sum(os.path.getsize(p) for p in db_path.parent.glob("cnnlens.sqlite3*") if p.is_file())
            / 1024
        )

        note = f"{count} runs in the store ({listed} listed), p95 " + "{p95:.0f} ms"
        rows += [
            row(
                "store: GET /api/runs (newest 100) p50",
                median(default_ms),
                "ms",
                target=TARGET,
                note=note.format(p95=percentile(default_ms, 95)),
            ),
            row(
                f"store: GET /api/runs?limit=1000 p50 ({count} runs)",
                median(all_ms),
                "ms",
                target=TARGET,
                note=f"p95 {percentile(all_ms, 95):.0f} ms",
            ),
            row(
                "store: runs page render p50",
                median(page_ms),
                "ms",
                target=TARGET,
                note="the page-content callback a navigation to / runs (the newest 100 runs)",
            ),
            row(
                "store: runs table refresh p50 (changed)",
                median(full_ms),
                "ms",
                target=TARGET,
                note="the 1.5 s poll when something in the list changed: the table is re-sent",
            ),
            row(
                "store: runs table refresh p50 (unchanged)",
                median(poll_ms),
                "ms",
                target=TARGET,
                note="the common poll: same signature, only the broker banner is sent",
            ),
            row(
                "store: SQLite size per run",
                db_kib / count,
                "KiB",
                note=f"filling {count} runs took {fill_seconds:.1f} s",
            ),
        ]
        if quick:
            rows.append(row("store: disk per default run", None, "KiB", note="skipped in --quick"))
        else:
            kib, files_note = disk_per_run(services)
            rows.append(row("store: disk per default run", kib, "KiB", note=files_note))
    return rows
