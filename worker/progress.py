"""How far a running job has got, written to its row (`jobs.progress`, a fraction from 0 to 1) for
the pages and `GET /api/jobs/{id}` to show.

A job calls its `JobProgress` as often as it likes with the fraction done; the store is written at
most every EVERY seconds, and not at all in the first FIRST seconds, so a job of a few hundred
milliseconds (most attributions) costs no write, and one of several seconds (a filter page's
analysis, a sanity check's first run, occlusion on a large picture) is seen moving about twice a
second. The fraction written never goes back, and once anything was written the end (1.0) is
written too, so a page never shows a finished job stuck at 80 %.

`part(start, end)` gives a step of the job its own 0-to-1 scale inside [start, end] of the whole.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from shared.store import RunStore

EVERY = 0.5  # seconds between writes
FIRST = 0.5  # seconds before the first write: shorter jobs write nothing

Progress = Callable[[float], None]


def nothing(_fraction: float) -> None:
    """The progress of a job nobody follows (a test, a benchmark)."""


class JobProgress:
    """Progress of job `job_id`, written to `store` (throttled, never backwards)."""

    def __init__(
        self,
        store: RunStore,
        job_id: str,
        every: float | None = None,
        first: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.store, self.job_id = store, job_id
        self.every = EVERY if every is None else every  # read now, so a test can set them
        self.first = FIRST if first is None else first
        self.clock = clock
        self.started = clock()
        self.written_at: float | None = None
        self.done = 0.0  # the largest fraction reported so far
        self.written: float | None = None  # the last fraction written to the store

    def __call__(self, fraction: float) -> None:
        self.done = max(self.done, min(1.0, max(0.0, float(fraction))))
        now = self.clock()
        if self.done >= 1.0:
            if self.written is not None and self.written < 1.0:
                self._write(now)
            return
        if now - self.started < self.first:
            return
        if self.written_at is not None and now - self.written_at < self.every:
            return
        if self.written is None or self.done > self.written:
            self._write(now)

    def _write(self, now: float) -> None:
        self.store.job_progress(self.job_id, self.done)
        self.written, self.written_at = self.done, now


def part(progress: Progress, start: float, end: float) -> Progress:
    """`progress` for one step of a job that covers [start, end] of the whole."""

    def report(fraction: float) -> None:
        progress(start + (end - start) * min(1.0, max(0.0, float(fraction))))

    return report
