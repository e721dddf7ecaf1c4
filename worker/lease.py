"""Who holds a run: claiming it, renewing its lease, and taking it back from a dead delivery.

The store's `claim` lets one caller win while a lease is fresh. Two worker-side additions:
- `LeaseKeeper`, a small thread that renews the lease whenever the training has been quiet for a
  while (a long validation, a slow step of a big model, saving the results), so a live worker is
  never mistaken for a dead one;
- `claim_run`, which also takes over a run whose lease is held by an earlier delivery of the SAME
  task message. Celery hands a message out again only when that delivery is gone (its process was
  killed and `task_reject_on_worker_lost` re-queued it, or the visibility timeout, set above the
  hard time limit, ran out), so waiting for that lease to expire would only leave the run stuck.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from sqlalchemy import select, update

from shared import db
from shared.store import RUNNING, RunStore

log = logging.getLogger(__name__)


def owner_for(node: str, pid: int, delivery: str) -> str:
    """The lease owner of one task execution: readable, and ending in the task (message) id."""
    return f"{node}/{pid}/{delivery}"[-200:]


def delivery_of(owner: str) -> str:
    return owner.rsplit("/", 1)[-1]


def claim_run(store: RunStore, run_id: str, owner: str) -> bool:
    lease = store.settings.heartbeat_timeout
    if store.claim(run_id, owner, lease):
        return True
    runs = db.runs.c
    # TODO(store): this belongs in RunStore.claim; until then the worker reads the lease itself.
    with store.engine.begin() as conn:
        holder = conn.execute(
            select(runs.lease_owner).where(runs.id == run_id, runs.status == RUNNING)
        ).scalar()
        if holder is None or delivery_of(holder) != delivery_of(owner):
            return False
        # Expire the dead delivery's lease (guarded on its owner), then claim as usual.
        conn.execute(
            update(db.runs)
            .where(runs.id == run_id, runs.status == RUNNING, runs.lease_owner == holder)
            .values(lease_expires=0.0)
        )
    log.warning("run %s: taking over from %s, an earlier delivery of this task", run_id, holder)
    return store.claim(run_id, owner, lease)


class Heartbeat:
    """Progress writes for one claimed run, remembering when the last one went out."""

    def __init__(self, store: RunStore, run_id: str, owner: str):
        self.store, self.run_id, self.owner = store, run_id, owner
        self.lease_seconds = store.settings.heartbeat_timeout
        self.last = 0.0

    def beat(self, **progress: Any) -> None:
        self.last = time.monotonic()
        self.store.heartbeat(self.run_id, self.owner, self.lease_seconds, **progress)


class LeaseKeeper:
    """Background thread: renew the lease whenever the training has been quiet for a while."""

    def __init__(self, heartbeat: Heartbeat):
        self.heartbeat = heartbeat
        self.quiet_limit = heartbeat.lease_seconds / 3
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease-keeper", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(min(self.quiet_limit / 2, 5.0)):
            if time.monotonic() - self.heartbeat.last > self.quiet_limit:
                try:
                    self.heartbeat.beat()
                except Exception:  # a store hiccup must not kill the thread; the next try may work
                    log.warning(
                        "could not renew the lease of run %s", self.heartbeat.run_id, exc_info=True
                    )

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
