"""A run's states (docs/ARCHITECTURE.md, "Run states"): what the store writes and every reader
compares with.

`queued → running → succeeded | failed | cancelled`; a run whose worker died is `interrupted`
until it is claimed again. Jobs (extraction, analysis) use the same names, without the last two.
`RunStatus` and `JobStatus` are the same lists as types (the API's models and document use them).
"""

from __future__ import annotations

from typing import Literal, get_args

RunStatus = Literal["queued", "running", "succeeded", "failed", "cancelled", "interrupted"]
JobStatus = Literal["queued", "running", "succeeded", "failed"]

STATUSES: tuple[str, ...] = get_args(RunStatus)
QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED, INTERRUPTED = STATUSES
FINISHED = (SUCCEEDED, FAILED, CANCELLED)
JOB_STATUSES: tuple[str, ...] = get_args(JobStatus)

# Where a run's model came from: trained here, or imported from a .keras file (and evaluated).
RunOrigin = Literal["trained", "imported"]
ORIGINS: tuple[str, ...] = get_args(RunOrigin)
TRAINED, IMPORTED = ORIGINS
