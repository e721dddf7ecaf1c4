"""The RunStore's claims, leases and heartbeats: which worker process trains a run right now.

A task can be delivered twice (docs/ARCHITECTURE.md, "Leases, redelivery and the recovery
sweep"), so a training first claims its run with one guarded UPDATE: exactly one delivery wins while the lease is fresh, and the
winner renews the lease with every heartbeat. `RunStore` mixes these calls in.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Engine, func, select, update

from shared import db
from shared.run_states import INTERRUPTED, QUEUED, RUNNING


def lease_owner(node: str, pid: int, task_id: str) -> str:
    """Who holds a run's lease: `node/pid/task_id` (Celery node name, pool process id, task
    message id), readable in the runs table and ending in the message id that `take_over`
    compares."""
    return f"{node}/{pid}/{task_id}"[-200:]


def delivery_of(owner: str) -> str:
    """The task message id of a lease owner (`node/pid/task_id`)."""
    return owner.rsplit("/", 1)[-1]


class RunLeases:
    """Claim, take over, renew and release a run's lease (a mixin of `RunStore`)."""

    engine: Engine

    def claim(self, run_id: str, owner: str, lease_seconds: float) -> bool:
        """Take the run for training. Exactly one caller wins while the lease is fresh."""
        now = time.time()
        runs = db.runs.c
        claimable = (runs.status.in_((QUEUED, INTERRUPTED))) | (
            (runs.status == RUNNING) & (runs.lease_expires < now)
        )
        with self.engine.begin() as conn:
            res = conn.execute(
                update(db.runs)
                .where(runs.id == run_id, claimable)
                .values(**_claimed(owner, lease_seconds, now))
            )
        return res.rowcount == 1

    def take_over(self, run_id: str, owner: str, lease_seconds: float) -> str | None:
        """Claim a run still `running` under the lease of an earlier delivery of the SAME task
        message (same task id, the last part of the owner: see `lease_owner`); returns that
        earlier owner, or None when the lease is anyone else's.

        The broker hands a message out again only once its first delivery is gone (its process
        was killed and the message re-queued, or the visibility timeout ran out), so waiting for
        that delivery's lease to expire would only leave the run stuck.
        """
        runs = db.runs.c
        with self.engine.begin() as conn:
            holder = conn.execute(
                select(runs.lease_owner).where(runs.id == run_id, runs.status == RUNNING)
            ).scalar()
            if holder is None or holder == owner or delivery_of(holder) != delivery_of(owner):
                return None
            res = conn.execute(
                update(db.runs)
                .where(runs.id == run_id, runs.status == RUNNING, runs.lease_owner == holder)
                .values(**_claimed(owner, lease_seconds, time.time()))
            )
        return holder if res.rowcount == 1 else None

    def heartbeat(self, run_id: str, owner: str, lease_seconds: float, **progress: Any) -> bool:
        """Renew `owner`'s lease and record progress. False when the lease is no longer ours
        (another delivery claimed the run, a sweep marked it interrupted, or it is gone)."""
        now = time.time()
        with self.engine.begin() as conn:
            res = conn.execute(
                update(db.runs)
                .where(db.runs.c.id == run_id, db.runs.c.lease_owner == owner)
                .values(heartbeat_at=now, lease_expires=now + lease_seconds, **progress)
            )
        return res.rowcount == 1

    def finish(
        self,
        run_id: str,
        status: str,
        error: str | None = None,
        owner: str | None = None,
        **values: Any,
    ) -> bool:
        """End the run in `status` and release its lease; False when nothing was written.

        A worker passes its `owner`: the run then ends only while that lease is still the
        holder's, so a worker that lost the run (taken over, marked interrupted, deleted) can
        no longer mark it failed or succeeded under its new owner. Without `owner` (the
        dashboard, tests) the run ends whoever holds it.
        """
        runs = db.runs.c
        guard = runs.id == run_id
        if owner is not None:
            guard = guard & (runs.lease_owner == owner)
        with self.engine.begin() as conn:
            res = conn.execute(
                update(db.runs)
                .where(guard)
                .values(
                    status=status,
                    error=error,
                    finished_at=time.time(),
                    lease_owner=None,
                    lease_expires=None,
                    **values,
                )
            )
        return res.rowcount == 1

    def mark_stale_interrupted(self, heartbeat_timeout: float) -> list[str]:
        """Runs left `running` with no heartbeat for `heartbeat_timeout` s become `interrupted`."""
        cutoff = time.time() - heartbeat_timeout
        runs = db.runs.c
        cond = (runs.status == RUNNING) & (
            (runs.heartbeat_at < cutoff) | runs.heartbeat_at.is_(None)
        )
        with self.engine.begin() as conn:
            ids = [r[0] for r in conn.execute(select(runs.id).where(cond))]
            if ids:
                conn.execute(
                    update(db.runs)
                    .where(runs.id.in_(ids), cond)
                    .values(status=INTERRUPTED, lease_owner=None, lease_expires=None)
                )
        return ids


def _claimed(owner: str, lease_seconds: float, now: float) -> dict[str, Any]:
    """The column values of a successful claim (a new attempt by `owner`)."""
    runs = db.runs.c
    return {
        "status": RUNNING,
        "lease_owner": owner,
        "lease_expires": now + lease_seconds,
        "heartbeat_at": now,
        "attempts": runs.attempts + 1,
        "started_at": func.coalesce(runs.started_at, now),
        "error": None,
    }
