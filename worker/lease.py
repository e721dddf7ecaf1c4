"""Who holds a run: claiming it, renewing its lease, and taking it back from a dead delivery.

The store's `claim` lets one caller win while a lease is fresh, and its `take_over` lets a
redelivered task message take the run back from its own earlier, dead delivery. Worker-side:
- `claim_run`, which tries both, in that order;
- `LeaseKeeper`, a small thread that renews the lease whenever the training has been quiet for a
  while (a long validation, a slow step of a big model, saving the results), so a live worker is
  never mistaken for a dead one;
- `Heartbeat`, which notices when the lease is no longer ours, so the training stops instead of
  racing whoever holds the run now.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from shared.store import RunStore, delivery_of, lease_owner

log = logging.getLogger(__name__)

__all__ = ["Heartbeat", "LeaseKeeper", "claim_run", "delivery_of", "owner_for"]


def owner_for(node: str, pid: int, delivery: str) -> str:
    """The lease owner of one task execution: `node/pid/task_id` (docs/CONTRACTS.md)."""
    return lease_owner(node, pid, delivery)


def claim_run(store: RunStore, run_id: str, owner: str) -> bool:
    lease = store.settings.heartbeat_timeout
    if store.claim(run_id, owner, lease):
        return True
    holder = store.take_over(run_id, owner, lease)
    if holder is None:
        return False
    log.warning("run %s: took over from %s, an earlier delivery of this task", run_id, holder)
    return True


class Heartbeat:
    """Progress writes for one claimed run, remembering when the last one went out."""

    def __init__(self, store: RunStore, run_id: str, owner: str):
        self.store, self.run_id, self.owner = store, run_id, owner
        self.lease_seconds = store.settings.heartbeat_timeout
        self.last = 0.0
        self.lost = False  # set once a write finds the lease held by someone else (or no one)

    def beat(self, **progress: Any) -> bool:
        self.last = time.monotonic()
        if not self.store.heartbeat(self.run_id, self.owner, self.lease_seconds, **progress):
            self.lost = True
        return not self.lost


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
