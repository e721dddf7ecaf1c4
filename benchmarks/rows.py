"""What a benchmark returns: rows of one figure each, their targets, and the statistics behind them.

A row is a plain dict: `name`, `value`, `unit`, `baseline` (same unit, measured in the same run),
`ratio`, `target`, and optionally `note`. A target is a short string such as `"< 250 ms"` (about
the value) or `">= 1.5×"` (about the ratio: it ends in ×); anything else is shown as is and its
"met?" column stays empty.
"""

from __future__ import annotations

import math
import re
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

KEYS = ("name", "value", "unit", "baseline", "ratio", "target")
_TARGET = re.compile(r"^\s*(<=|>=|<|>|≤|≥)\s*(-?[0-9][0-9_,]*(?:\.[0-9]+)?)\s*(\S*)")
_OPS = {
    "<": lambda a, b: a < b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    ">=": lambda a, b: a >= b,
    "≤": lambda a, b: a <= b,
    "≥": lambda a, b: a >= b,
}


def row(
    name: str,
    value: float | int | None,
    unit: str = "",
    baseline: float | int | None = None,
    ratio: float | None = None,
    target: str | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """One row; the ratio defaults to value / baseline when both are there."""
    if ratio is None and value is not None and baseline:
        ratio = value / baseline
    out: dict[str, Any] = {
        "name": name,
        "value": _clean(value),
        "unit": unit,
        "baseline": _clean(baseline),
        "ratio": None if ratio is None else round(float(ratio), 3),
        "target": target,
    }
    if note:
        out["note"] = note
    return out


def error_row(name: str, message: str) -> dict[str, Any]:
    """A benchmark that could not run: shown in the table, never hidden."""
    return row(f"{name}: FAILED", None, note=message)


def normalise(item: Any, source: str) -> dict[str, Any]:
    """A row from another module held to the schema: missing keys become None, odd ones go."""
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        return error_row(source, f"returned a row that is not a dict with a name: {item!r:.200}")
    out = {key: item.get(key) for key in KEYS}
    out["unit"] = out["unit"] or ""
    for key in ("value", "baseline", "ratio"):
        if out[key] is not None and not isinstance(out[key], int | float):
            out[key] = None
    if item.get("note"):
        out["note"] = str(item["note"])
    return out


def _clean(value: float | int | None) -> float | int | None:
    if value is None:
        return None
    if isinstance(value, float):
        return round(value, 4) if math.isfinite(value) else None
    return value


def target_met(item: dict[str, Any]) -> bool | None:
    """Whether the row meets its target; None when there is no target or it cannot be read."""
    target = item.get("target")
    if not isinstance(target, str):
        return None
    match = _TARGET.match(target)
    if not match:
        return None
    op, number, suffix = match.groups()
    subject = item.get("ratio") if suffix.startswith(("×", "x")) else item.get("value")
    if subject is None:
        return False
    return bool(_OPS[op](float(subject), float(number.replace("_", "").replace(",", ""))))


# --- statistics -------------------------------------------------------------------------------
def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100), linear between the closest ranks; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    if len(ordered) == 1:
        return float(ordered[0])
    pos = (len(ordered) - 1) * q / 100.0
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (pos - low))


def median(values: Sequence[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def timings_ms(action: Callable[[], object], repeat: int, warmup: int = 1) -> list[float]:
    """Wall times of `repeat` calls in milliseconds, after `warmup` untimed ones."""
    for _ in range(warmup):
        action()
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        out.append((time.perf_counter() - started) * 1000)
    return out
