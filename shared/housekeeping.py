"""Bounds on what grows with use: runs waiting to train, finished jobs, cached activations.

Nothing here is a store call of its own: the queue is counted and old jobs are deleted with one
SQL statement each on the store's tables, and the activation cache is files in a run's folder.

- A submit past `max_queued_runs` waiting runs is refused (`QueueFull`, a 429 with Retry-After in
  the API, a sentence on the pages), so a script in a loop cannot bury the workers.
- Finished extraction and analysis jobs are deleted `job_retention` seconds after they finished;
  their results stay beside the run (asking again answers from there, or queues a new job).
- Each run keeps at most `activation_cache_bytes` of cached extractions: the least recently used
  go first (a cache hit touches its file, so the modification time is the last use).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, select

from shared import db, idempotency
from shared.artifacts import CACHE_DIR
from shared.run_states import FAILED, QUEUED, SUCCEEDED

if TYPE_CHECKING:
    from shared.store import RunStore

RETRY_AFTER = 60  # seconds a refused submit is told to wait: runs leave the queue about that fast
PRUNE_EVERY = 600.0  # seconds between two prunes of old jobs by one process
_pruned_at: dict[int, float] = {}
_prune_lock = threading.Lock()


class QueueFull(Exception):
    """Too many runs wait to train; str(error) says so, `retry_after` says when to try again."""

    def __init__(self, waiting: int, limit: int, retry_after: int = RETRY_AFTER):
        super().__init__(
            f"{waiting:,} runs are already waiting to train (the limit is {limit:,}); "
            f"try again in about {retry_after} seconds, or cancel runs you no longer need"
        )
        self.waiting = waiting
        self.limit = limit
        self.retry_after = retry_after


def queued_runs(store: RunStore) -> int:
    with store.engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(db.runs).where(db.runs.c.status == QUEUED)
            ).scalar()
            or 0
        )


def check_queue_room(store: RunStore, adding: int = 1) -> None:
    """Raise QueueFull unless `adding` more runs fit under the queued-run limit."""
    limit = store.settings.max_queued_runs
    waiting = queued_runs(store)
    if waiting + adding > limit:
        raise QueueFull(waiting, limit)


# --- finished jobs --------------------------------------------------------------------------------


def prune_jobs(store: RunStore, older_than: float | None = None, now: float | None = None) -> int:
    """Delete jobs that finished more than `older_than` seconds ago; how many were deleted."""
    keep = store.settings.job_retention if older_than is None else older_than
    cutoff = (time.time() if now is None else now) - keep
    jobs = db.jobs.c
    with store.engine.begin() as conn:
        result = conn.execute(
            delete(db.jobs).where(
                jobs.status.in_((SUCCEEDED, FAILED)),
                jobs.finished_at.is_not(None),
                jobs.finished_at < cutoff,
            )
        )
    return int(result.rowcount or 0)


def maybe_prune_jobs(store: RunStore, every: float = PRUNE_EVERY) -> int:
    """prune_jobs at most once per `every` seconds per store in this process (called on use)."""
    now = time.monotonic()
    with _prune_lock:
        last = _pruned_at.get(id(store))
        if last is not None and now - last < every:
            return 0
        _pruned_at[id(store)] = now
    return prune_jobs(store)


# --- the activation cache -------------------------------------------------------------------------


@dataclass(frozen=True)
class CacheEntry:
    digest: str
    size: int  # bytes of its files: the result (.npz) and the input it was asked for (.input.npy)
    used: float  # last use (modification time of the result, or of the input while queued)


def cache_entries(store: RunStore, run_id: str) -> list[CacheEntry]:
    """The run's cached extractions, least recently used first."""
    folder = store.files.path(run_id, CACHE_DIR)
    sizes: dict[str, int] = {}
    used: dict[str, float] = {}
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    for name in names:
        digest, dot, _rest = name.partition(".")
        if not dot or name.startswith("."):
            continue
        try:
            info = os.stat(folder / name)
        except OSError:  # removed meanwhile
            continue
        sizes[digest] = sizes.get(digest, 0) + info.st_size
        used[digest] = max(used.get(digest, 0.0), info.st_mtime)
    entries = [CacheEntry(d, sizes[d], used[d]) for d in sizes]
    return sorted(entries, key=lambda e: (e.used, e.digest))


def touch_cache(store: RunStore, run_id: str, digest: str) -> None:
    """Mark a cached extraction as just used, so eviction takes older ones first."""
    with contextlib.suppress(OSError):  # evicted meanwhile
        os.utime(store.files.path(run_id, f"{CACHE_DIR}/{digest}.npz"))


def evict_cache(
    store: RunStore,
    run_id: str,
    max_bytes: int | None = None,
    keep: tuple[str, ...] = (),
) -> list[str]:
    """Remove least recently used extractions until the run's cache fits in `max_bytes`.

    `keep` names digests never removed (the one being asked for). Returns the removed digests.
    """
    limit = store.settings.activation_cache_bytes if max_bytes is None else max_bytes
    entries = cache_entries(store, run_id)
    total = sum(e.size for e in entries)
    removed = []
    for entry in entries:
        if total <= limit:
            break
        if entry.digest in keep:
            continue
        for suffix in (".npz", ".input.npy"):
            store.files.remove(run_id, f"{CACHE_DIR}/{entry.digest}{suffix}")
        total -= entry.size
        removed.append(entry.digest)
    return removed


def key_in_use(store: RunStore, key: str) -> bool:
    """True when an Idempotency-Key names a run made within its lifetime: a replay adds nothing
    to the queue, so it is never refused for a full one."""
    runs = db.runs.c
    since = time.time() - idempotency.TTL_SECONDS
    with store.engine.connect() as conn:
        found = conn.execute(
            select(runs.id).where(runs.idempotency_key == key, runs.created_at >= since).limit(1)
        ).first()
    return found is not None
