"""The run store: run metadata in SQL, artifacts on disk. The source of truth for every run.

Redis may be flushed or restarted and nothing here is lost. Status changes are single guarded
UPDATE statements, so two workers that both receive a run's task cannot both claim it.

`RunStore` holds the runs themselves (create, read, list, edit, cancel, delete) and mixes in the
rest: claims, leases and heartbeats (store_leases.py), per-epoch history (store_history.py) and
jobs (store_jobs.py). Everything callers use is importable from here.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, delete, desc, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from shared import db, idempotency, migrate
from shared.artifacts import Artifacts, is_run_id, new_id
from shared.config import LayerInfo, RunConfig, architecture_summary
from shared.run_states import (
    CANCELLED,
    FAILED,
    FINISHED,
    INTERRUPTED,
    QUEUED,
    RUNNING,
    STATUSES,
    SUCCEEDED,
    TRAINED,
)
from shared.run_view import run_view
from shared.settings import Settings, get_settings
from shared.store_history import HISTORY_KEYS, EpochHistory
from shared.store_jobs import JobRecords
from shared.store_leases import RunLeases, delivery_of, lease_owner

__all__ = [
    "CANCELLED",
    "FAILED",
    "FINISHED",
    "HISTORY_KEYS",
    "INTERRUPTED",
    "QUEUED",
    "RUNNING",
    "STATUSES",
    "SUCCEEDED",
    "RunStore",
    "delivery_of",
    "lease_owner",
    "new_id",
]


class RunStore(RunLeases, EpochHistory, JobRecords):
    """Runs, their leases, history and jobs in SQL; their files through `self.files`."""

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
        origin: str = TRAINED,
        upload_sha256: str | None = None,
    ) -> dict[str, Any]:
        """Record a new queued run (`origin` IMPORTED: a model to evaluate, not to train).

        With an `idempotency_key` used within the last
        `idempotency.TTL_SECONDS`, nothing is created: the key's run comes back marked
        `"replayed": True`, or IdempotencyConflict is raised when it was made from another
        config, parent or uploaded file (`upload_sha256`, for an imported model)."""
        cfg = config.model_dump(mode="json")
        digest = (
            idempotency.request_hash(cfg, parent_id, upload_sha256) if idempotency_key else None
        )
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
                        **({"origin": origin} if origin != TRAINED else {}),
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
        return run_view(dict(row)) | {"history": self.history(row["id"]), "replayed": True}

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
        run = run_view(row)
        if with_history:
            run["history"] = self.history(run_id)
        return run

    def run_status(self, run_id: str) -> str | None:
        """The run's status alone (one indexed read), or None when there is no such run."""
        if not is_run_id(run_id):
            return None
        with self.engine.connect() as conn:
            return conn.execute(select(db.runs.c.status).where(db.runs.c.id == run_id)).scalar()

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
            return [run_view(dict(r)) for r in conn.execute(q).mappings()]

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

    def delete_run(self, run_id: str) -> bool:
        with self.engine.begin() as conn:
            conn.execute(delete(db.epochs).where(db.epochs.c.run_id == run_id))
            conn.execute(delete(db.jobs).where(db.jobs.c.run_id == run_id))
            res = conn.execute(delete(db.runs).where(db.runs.c.id == run_id))
        if res.rowcount:
            self.files.remove_run(run_id)
        return res.rowcount > 0

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(select(1))
            return True
        except Exception:
            return False

    def run_dir(self, run_id: str) -> Path:
        return self.files.run_dir(run_id)
