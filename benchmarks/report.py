"""How results are shown and kept: the console table, latest.json, and latest.md for the README.

Every figure is only meaningful next to the machine it ran on and how busy that machine was, so
both outputs carry the CPU, cores, memory, versions, date and load averages.
"""

from __future__ import annotations

import json
import os
import platform
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks.rows import target_met


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _ram_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return None


def _version(*dists: str) -> str:
    for dist in dists:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return "not installed"


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def machine() -> dict[str, Any]:
    """Where the numbers come from (read without importing TensorFlow)."""
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "ram_gib": _ram_gib(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "tensorflow": _version("tensorflow-cpu", "tensorflow"),
        "keras": _version("keras"),
        "dash": _version("dash"),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_before": load_average(),
    }


# --- formatting -------------------------------------------------------------------------------
def fmt_number(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100 or isinstance(value, int):
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 0.01 or value == 0:
        return f"{value:.2f}"
    return f"{value:.2g}"


def cells(item: dict[str, Any]) -> list[str]:
    """name | value unit | baseline | ratio | target | met?"""
    unit = item.get("unit") or ""
    value = fmt_number(item.get("value"))
    baseline = item.get("baseline")
    met = target_met(item)
    return [
        item["name"],
        f"{value} {unit}".strip() if item.get("value") is not None else "—",
        f"{fmt_number(baseline)} {unit}".strip() if baseline is not None else "",
        f"{item['ratio']:.2f}×" if item.get("ratio") is not None else "",
        str(item["target"]) if item.get("target") is not None else "",
        {True: "yes", False: "NO", None: ""}[met],
    ]


HEADER = ["benchmark", "value", "baseline", "ratio", "target", "met?"]


def text_table(rows: list[dict[str, Any]]) -> str:
    table = [HEADER] + [cells(r) for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADER))]
    lines = []
    for n, line in enumerate(table):
        lines.append(" | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
        if n == 0:
            lines.append("-+-".join("-" * w for w in widths))
    notes = [f"  {r['name']}: {r['note']}" for r in rows if r.get("note")]
    return "\n".join(lines + (["", "notes:", *notes] if notes else []))


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _head(rows: list[dict[str, Any]], info: dict[str, Any], command: str) -> str:
    head = (
        f"Measured {info['date']} on {info['cpu']}, {info['cores']} cores, "
        f"{info['ram_gib']} GiB RAM, {info['os']}; Python {info['python']}, TensorFlow "
        f"{info['tensorflow']}, Keras {info['keras']}, Dash {info['dash']}. Load average "
        f"(1/5/15 min) {info['load_before']} before, {info.get('load_after', '?')} after. "
        f"Command: `{command}`."
    )
    when: dict[str, str] = {}
    cpus: dict[str, str] = {}
    for r in rows:
        bench = str(r.get("bench"))
        when.setdefault(bench, str(r.get("measured", info["date"])))
        cpus.setdefault(bench, str(r.get("cpu") or "processor not recorded"))
    # Merged from runs of single benchmarks (--only), perhaps on another machine: a reader must
    # not take a row measured on one processor for one of this run's.
    other_cpu = {b: c for b, c in cpus.items() if c != info["cpu"]}
    if len(set(when.values())) > 1 or other_cpu:
        parts = [
            f"{b} {t}" + (f" ({other_cpu[b]})" if b in other_cpu else "") for b, t in when.items()
        ]
        head += " Rows measured: " + ", ".join(parts) + "."
    return head


def _md_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| " + " | ".join(HEADER) + " |",
        "|" + "|".join(["---", "--:", "--:", "--:", "---", ":-:"]) + "|",
    ]
    return lines + ["| " + " | ".join(_md_escape(c) for c in cells(r)) + " |" for r in rows]


def markdown(rows: list[dict[str, Any]], info: dict[str, Any], command: str) -> str:
    lines = [
        "<!-- written by `python -m benchmarks`; do not edit by hand -->",
        _head(rows, info, command),
        "",
        *_md_table(rows),
    ]
    notes = [
        f"- **{_md_escape(r['name'])}**: {_md_escape(r['note'])}" for r in rows if r.get("note")
    ]
    if notes:
        lines += ["", "Notes:", "", *notes]
    return "\n".join(lines) + "\n"


# The README shows the table (not the notes) between these two lines.
README_START = "<!-- bench-table:start (written by `python -m benchmarks`) -->"
README_END = "<!-- bench-table:end -->"


def readme_block(rows: list[dict[str, Any]], info: dict[str, Any], command: str) -> str:
    return "\n".join(
        [
            README_START,
            _head(rows, info, command),
            "",
            *_md_table(rows),
            "",
            "How each figure was made, and the raw samples: `benchmarks/latest.md`.",
            README_END,
        ]
    )


def update_readme(
    readme: Path, rows: list[dict[str, Any]], info: dict[str, Any], command: str
) -> bool:
    """Replace the README's benchmark table with these rows. False (README untouched) when the
    README has no such block, so a renamed section is never silently duplicated."""
    try:
        text = readme.read_text()
    except OSError:
        return False
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        return False
    new = text[:start] + readme_block(rows, info, command) + text[end + len(README_END) :]
    tmp = readme.with_name(f".{readme.name}.{os.getpid()}.tmp")
    tmp.write_text(new)
    os.replace(tmp, readme)
    return True


def write(out_dir: Path, rows: list[dict[str, Any]], info: dict[str, Any], command: str) -> None:
    """latest.json (the rows) and latest.md (machine + table), each replaced atomically."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, text in (
        ("latest.json", json.dumps(rows, indent=1, ensure_ascii=False) + "\n"),
        ("latest.md", markdown(rows, info, command)),
    ):
        tmp = out_dir / f".{name}.{os.getpid()}.{time.monotonic_ns()}.tmp"
        tmp.write_text(text)
        os.replace(tmp, out_dir / name)
