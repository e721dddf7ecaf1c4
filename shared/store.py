"""The run store: run metadata in SQL, artifacts on disk. The source of truth for every run.

Redis may be flushed or restarted and nothing here is lost. Status changes are single guarded
UPDATE statements, so two workers that both receive a run's task cannot both claim it.
"""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, delete, desc, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from shared import db, idempotency, migrate
from shared.artifacts import HISTORY, Artifacts, is_run_id
from shared.config import LayerInfo, RunConfig, architecture_summary
from shared.settings import Settings, get_settings

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
HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")


def new_id() -> str:
    return secrets.token_hex(16)


def lease_owner(node: str, pid: int, task_id: str) -> str:
    """Who holds a run's lease: `node/pid/task_id` (Celery node name, pool process id, task
    message id), readable in the runs table and ending in the message id that `take_over`
    compares."""
    return f"{node}/{pid}/{task_id}"[-200:]


def delivery_of(owner: str) -> str:
    """The task message id of a lease owner (`node/pid/task_id`)."""
    return owner.rsplit("/", 1)[-1]


class RunStore:
    def __init__(self, settings: Settings | None = None, engine: Engine | None = None):
        self.settings = settings or get_settings()
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.engine = engine or db.make_engine(self.settings.sqlalchemy_url)
        self.files = Artifacts(self.settings.runs_dir)

    def init(self) -> RunStore:
        migrate.upgrade(self.engine)
        return self

    # --- runs ----------------------------------------------------------------------------
    def create_run(
        self,
        config: RunConfig,
        layers: list[LayerInfo],
        parent_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Record a new queued run. With an `idempotency_key` used within the last
        `idempotency.TTL_SECONDS`, nothing is created: the key's run comes back marked
        `"replayed": True`, or IdempotencyConflict is raised when it was made from another
        config or parent."""
        cfg = config.model_dump(mode="json")
        digest = idempotency.request_hash(cfg, parent_id) if idempotency_key else None
        if idempotency_key:
            earlier = self._run_for_key(idempotency_key, digest)
            if earlier:
                return earlier
        run_id = new_id()
        now = time.time()
        name = config.name.strip() or f"run-{run_id[:6]}"
        cfg |= {"name": name}
        # config.json first: a row never points at a run folder without its config.
        self.files.write_json(run_id, "config.json", cfg)
        try:
            with self.engine.begin() as conn:
                if idempotency_key:  # an expired key is free again
                    conn.execute(
                        update(db.runs)
                        .where(
                            db.runs.c.idempotency_key == idempotency_key,
                            db.runs.c.created_at < now - idempotency.TTL_SECONDS,
                        )
                        .values(idempotency_key=None, request_hash=None)
                    )
                conn.execute(
                    insert(db.runs).values(
                        id=run_id,
                        name=name,
                        status=QUEUED,
                        dataset=config.dataset,
                        config=json.dumps(cfg),
                        architecture=architecture_summary(config),
                        params=sum(info.params for info in layers),
                        created_at=now,
                        epochs=config.epochs,
                        tags="[]",
                        notes="",
                        parent_id=parent_id,
                        # Only when given: without a key, a schema before 0003 still works.
                        **(
                            {"idempotency_key": idempotency_key, "request_hash": digest}
                            if idempotency_key
                            else {}
                        ),
                    )
                )
        except IntegrityError:
            # A concurrent request with the same key inserted first: answer its run.
            self.files.remove_run(run_id)
            earlier = self._run_for_key(idempotency_key, digest) if idempotency_key else None
            if earlier is None:
                raise
            return earlier
        return self.get_run(run_id) or {}

    def _run_for_key(self, key: str, digest: str | None) -> dict[str, Any] | None:
        """The unexpired run created with `key`, marked replayed; IdempotencyConflict when it
        was created from another request."""
        runs = db.runs.c
        cutoff = time.time() - idempotency.TTL_SECONDS
        with self.engine.connect() as conn:
            row = (
                conn.execute(
                    select(db.runs).where(runs.idempotency_key == key, runs.created_at >= cutoff)
                )
                .mappings()
                .first()
            )
        if row is None:
            return None
        if row["request_hash"] != digest:
            raise idempotency.IdempotencyConflict(idempotency.conflict_message(row["id"]))
        return _present(dict(row)) | {"history": self.history(row["id"]), "replayed": True}

    def _row(self, run_id: str) -> dict[str, Any] | None:
        if not is_run_id(run_id):
            return None
        with self.engine.connect() as conn:
            row = conn.execute(select(db.runs).where(db.runs.c.id == run_id)).mappings().first()
        return dict(row) if row else None

    def get_run(self, run_id: str, with_history: bool = True) -> dict[str, Any] | None:
        row = self._row(run_id)
        if row is None:
            return None
        run = _present(row)
        if with_history:
            run["history"] = self.history(run_id)
        return run

    def list_runs(
        self,
        status: str | None = None,
        dataset: str | None = None,
        name: str | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        q = select(db.runs).order_by(desc(db.runs.c.created_at))
        if status:
            q = q.where(db.runs.c.status == status)
        if dataset:
            q = q.where(db.runs.c.dataset == dataset)
        if name:
            q = q.where(func.lower(db.runs.c.name).contains(name.lower(), autoescape=True))
        if limit:
            q = q.limit(limit)
        with self.engine.connect() as conn:
            return [_present(dict(r)) for r in conn.execute(q).mappings()]

    def update_fields(self, run_id: str, **values: Any) -> bool:
        with self.engine.begin() as conn:
            res = conn.execute(update(db.runs).where(db.runs.c.id == run_id).values(**values))
        return res.rowcount > 0

    def request_cancel(self, run_id: str) -> str | None:
        """Queued runs are cancelled at once; running ones are flagged for the training loop."""
        now = time.time()
        with self.engine.begin() as conn:
            conn.execute(
                update(db.runs)
                .where(db.runs.c.id == run_id, db.runs.c.status.in_((QUEUED, INTERRUPTED)))
                .values(status=CANCELLED, finished_at=now, cancel_requested=True)
            )
            conn.execute(
                update(db.runs)
                .where(db.runs.c.id == run_id, db.runs.c.status == RUNNING)
                .values(cancel_requested=True)
            )
        row = self._row(run_id)
        return row["status"] if row else None

    def cancel_requested(self, run_id: str) -> bool:
        with self.engine.connect() as conn:
            flag = conn.execute(
                select(db.runs.c.cancel_requested).where(db.runs.c.id == run_id)
            ).scalar()
        return bool(flag)

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

    def finish(self, run_id: str, status: str, error: str | None = None, **values: Any) -> None:
        self.update_fields(
            run_id,
            status=status,
            error=error,
            finished_at=time.time(),
            lease_owner=None,
            lease_expires=None,
            **values,
        )

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

    def delete_run(self, run_id: str) -> bool:
        with self.engine.begin() as conn:
            conn.execute(delete(db.epochs).where(db.epochs.c.run_id == run_id))
            conn.execute(delete(db.jobs).where(db.jobs.c.run_id == run_id))
            res = conn.execute(delete(db.runs).where(db.runs.c.id == run_id))
        if res.rowcount:
            self.files.remove_run(run_id)
        return res.rowcount > 0

    # --- per-epoch history ---------------------------------------------------------------
    def record_epoch(
        self, run_id: str, epoch: int, metrics: dict[str, float], seconds: float | None = None
    ) -> None:
        """Upsert one epoch's metrics (a resumed run rewrites, never duplicates, an epoch)."""
        values = {k: _finite(metrics.get(k)) for k in HISTORY_KEYS}
        with self.engine.begin() as conn:
            conn.execute(
                delete(db.epochs).where(db.epochs.c.run_id == run_id, db.epochs.c.epoch >= epoch)
            )
            conn.execute(
                insert(db.epochs).values(run_id=run_id, epoch=epoch, seconds=seconds, **values)
            )
            conn.execute(
                update(db.runs)
                .where(db.runs.c.id == run_id)
                .values(val_accuracy=values["val_accuracy"])
            )
        lines = [json.dumps({"epoch": e} | h) for e, h in self.history_rows(run_id)]
        self.files.write_bytes(run_id, HISTORY, ("\n".join(lines) + "\n").encode())

    def history_rows(self, run_id: str) -> list[tuple[int, dict[str, float | None]]]:
        with self.engine.connect() as conn:
            rows = (
                conn.execute(
                    select(db.epochs)
                    .where(db.epochs.c.run_id == run_id)
                    .order_by(db.epochs.c.epoch)
                )
                .mappings()
                .all()
            )
        return [(r["epoch"], {k: r[k] for k in (*HISTORY_KEYS, "seconds")}) for r in rows]

    def history(self, run_id: str) -> dict[str, list[float | None]]:
        rows = self.history_rows(run_id)
        return {k: [h[k] for _, h in rows] for k in HISTORY_KEYS}

    # --- jobs (extraction and analysis) --------------------------------------------------
    def create_job(
        self, kind: str, run_id: str | None, params: dict[str, Any], job_id: str | None = None
    ) -> str:
        job_id = job_id or new_id()
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(db.jobs).values(
                        id=job_id,
                        kind=kind,
                        run_id=run_id,
                        status=QUEUED,
                        params=json.dumps(params),
                        created_at=time.time(),
                    )
                )
        except IntegrityError:
            pass  # the same deterministic job id was already queued
        return job_id

    def get_job(self, job_id: str) -> dict[str, Any] | None:
        if not is_run_id(job_id):
            return None
        with self.engine.connect() as conn:
            row = conn.execute(select(db.jobs).where(db.jobs.c.id == job_id)).mappings().first()
        if not row:
            return None
        job = dict(row)
        job["params"] = json.loads(job["params"] or "{}")
        job["result"] = json.loads(job["result"]) if job["result"] else None
        return job

    def set_job(
        self, job_id: str, status: str, result: Any = None, error: str | None = None
    ) -> None:
        values: dict[str, Any] = {"status": status, "error": error}
        if result is not None:
            values["result"] = json.dumps(result)
        if status in (SUCCEEDED, FAILED):
            values["finished_at"] = time.time()
        with self.engine.begin() as conn:
            conn.execute(update(db.jobs).where(db.jobs.c.id == job_id).values(**values))

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(select(1))
            return True
        except Exception:
            return False

    def run_dir(self, run_id: str) -> Path:
        return self.files.run_dir(run_id)


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


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if value == value and abs(value) != float("inf") else None


def _present(row: dict[str, Any]) -> dict[str, Any]:
    """A row as the API shows it."""
    steps = row["steps"] or 0
    epochs_total = row["epochs"] or 0
    done_epochs = max(0, (row["epoch"] or 0) - 1)
    frac = 0.0
    if row["status"] == SUCCEEDED:
        frac = 1.0
    elif epochs_total:
        frac = (done_epochs + ((row["step"] or 0) / steps if steps else 0.0)) / epochs_total
    return {
        "id": row["id"],
        "name": row["name"],
        "status": row["status"],
        "dataset": row["dataset"],
        "config": json.loads(row["config"]),
        "architecture": row["architecture"],
        "params": row["params"],
        "created_at": row["created_at"],
        "started_at": row["started_at"],
        "finished_at": row["finished_at"],
        "progress": {
            "epoch": row["epoch"],
            "epochs": epochs_total,
            "step": row["step"],
            "steps": steps,
            "fraction": round(min(1.0, frac), 4),
            "loss": row["loss"],
            "accuracy": row["accuracy"],
        },
        "val_accuracy": row["val_accuracy"],
        "test": {"loss": row["test_loss"], "accuracy": row["test_accuracy"]},
        "error": row["error"],
        "cancel_requested": bool(row["cancel_requested"]),
        "attempts": row["attempts"],
        "heartbeat_at": row["heartbeat_at"],
        "tags": json.loads(row["tags"] or "[]"),
        "notes": row["notes"] or "",
        "parent_id": row["parent_id"],
    }
