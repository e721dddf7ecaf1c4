"""`make bench`: run every benchmarks/bench_*.py, print one table, keep latest.json and latest.md.

Each module exposes `run(quick: bool) -> list[dict]` (rows, see benchmarks/rows.py). They run in a
fixed order (the README's), then any others alphabetically. A module that fails to import or
raises becomes a FAILED row with its error, and the others still run. Benchmarks assert nothing:
a missed target is a "NO" in the table, not an exit code.

    python -m benchmarks                  # everything, into benchmarks/latest.{json,md}
    python -m benchmarks --only store     # one benchmark; its rows replace its old ones
    python -m benchmarks --quick          # tiny smoke version, written to a temporary folder
    python -m benchmarks --out DIR        # write somewhere else
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import report
from benchmarks.rows import error_row, normalise

HERE = Path(__file__).resolve().parent
ORDER = ("training", "queue", "extraction", "dashboard_load", "store", "payload", "memory")


def discover() -> list[str]:
    """Short names (`store` for bench_store.py) in the README's order, unknown ones after."""
    names = [
        info.name.removeprefix("bench_")
        for info in pkgutil.iter_modules([str(HERE)])
        if info.name.startswith("bench_")
    ]
    rank = {name: i for i, name in enumerate(ORDER)}
    return sorted(names, key=lambda n: (rank.get(n, len(ORDER)), n))


def run_one(name: str, quick: bool) -> list[dict[str, Any]]:
    started = time.monotonic()
    try:
        module = importlib.import_module(f"benchmarks.bench_{name}")
        result = module.run(quick)
        if not isinstance(result, list):
            raise TypeError(f"run() returned {type(result).__name__}, not a list of rows")
        rows = [normalise(item, name) for item in result]
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # SystemExit from a helper too: one benchmark never stops all
        traceback.print_exc()
        rows = [error_row(name, f"{type(exc).__name__}: {exc}".strip()[:500])]
    measured = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    cpu = report.cpu_model()
    for item in rows:
        item["bench"] = name
        item["measured"] = measured  # a re-run of one benchmark keeps the others' rows
        item["cpu"] = cpu  # ... which may have been measured on another machine
    print(f"[bench] {name}: {len(rows)} rows in {time.monotonic() - started:.0f} s", flush=True)
    return rows


def merged(previous: list[dict[str, Any]], fresh: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The previous results with the benchmarks that ran now replaced, in discovery order."""
    ran = {r.get("bench") for r in fresh}
    kept = [r for r in previous if r.get("bench") not in ran]
    rank = {name: i for i, name in enumerate(discover())}
    combined = kept + fresh
    return sorted(combined, key=lambda r: rank.get(str(r.get("bench")), len(rank)))  # stable


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="run only this benchmark (e.g. store or bench_store); repeat or comma-separate",
    )
    parser.add_argument("--quick", action="store_true", help="tiny smoke version of each")
    parser.add_argument("--out", type=Path, help="folder for latest.json and latest.md")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    available = discover()
    if args.list:
        print("\n".join(available))
        return 0
    wanted = [n.strip().removeprefix("bench_") for item in args.only for n in item.split(",")]
    wanted = [n.removesuffix(".py") for n in wanted if n]
    unknown = [n for n in wanted if n not in available]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; have: {', '.join(available)}")
        return 2
    names = [n for n in available if not wanted or n in wanted]
    out = args.out
    if out is None:
        # Smoke numbers on tiny data must never replace the real results kept in the repository.
        out = Path(tempfile.mkdtemp(prefix="cnnlens-bench-")) if args.quick else HERE
    command = "python -m benchmarks " + " ".join(sys.argv[1:] if argv is None else argv)

    info = report.machine()
    print(f"[bench] {info['cpu']}, {info['cores']} cores, load {info['load_before']}", flush=True)
    fresh: list[dict[str, Any]] = []
    previous: list[dict[str, Any]] = []
    if wanted and (out / "latest.json").exists():
        try:
            previous = json.loads((out / "latest.json").read_text())
        except (OSError, ValueError):
            previous = []
    for name in names:
        fresh += run_one(name, args.quick)
        info["load_after"] = report.load_average()
        rows = merged(previous, fresh) if wanted else fresh
        report.write(out, rows, info, command.strip())  # after each: a cut-short run keeps its rows
    rows = merged(previous, fresh) if wanted else fresh
    print()
    print(report.text_table(rows))
    print(f"\n[bench] wrote {out / 'latest.json'} and {out / 'latest.md'}")
    if out.resolve() == HERE:  # the kept results: the README shows them too
        readme = HERE.parent / "README.md"
        if report.update_readme(readme, rows, info, command.strip()):
            print(f"[bench] updated the table in {readme}")
        else:
            print(f"[bench] {readme} has no benchmark block ({report.README_START}); not updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
