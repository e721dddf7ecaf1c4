"""A run's states (DESIGN.md, "Run states"): what the store writes and every reader compares with.

`queued → running → succeeded | failed | cancelled`; a run whose worker died is `interrupted`
until it is claimed again. Jobs (extraction, analysis) use the same names.
"""

from __future__ import annotations

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED, INTERRUPTED = (
    "queued",
    "running",
    "succeeded",
    "failed",
    "cancelled",
    "interrupted",
)
STATUSES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED, INTERRUPTED)
FINISHED = (SUCCEEDED, FAILED, CANCELLED)
