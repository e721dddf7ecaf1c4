"""SQL tables of the run store (SQLite with WAL by default, PostgreSQL when DATABASE_URL says so)."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
)
from sqlalchemy.pool import NullPool

metadata = MetaData()

runs = Table(
    "runs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(120), nullable=False, default=""),
    Column("status", String(16), nullable=False, index=True),
    Column("dataset", String(32), nullable=False, index=True),
    Column("config", Text, nullable=False),  # JSON of the validated RunConfig
    Column("architecture", String(400), nullable=False, default=""),
    Column("params", Integer, nullable=False, default=0),
    Column("created_at", Float, nullable=False, index=True),
    Column("started_at", Float),
    Column("finished_at", Float),
    Column("epoch", Integer, nullable=False, default=0),
    Column("epochs", Integer, nullable=False, default=0),
    Column("step", Integer, nullable=False, default=0),
    Column("steps", Integer, nullable=False, default=0),
    Column("loss", Float),
    Column("accuracy", Float),
    Column("val_accuracy", Float),
    Column("test_loss", Float),
    Column("test_accuracy", Float),
    Column("error", Text),
    Column("cancel_requested", Boolean, nullable=False, default=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("lease_owner", String(200)),
    Column("lease_expires", Float),
    Column("heartbeat_at", Float),
    Column("tags", Text, nullable=False, default="[]"),
    Column("notes", Text, nullable=False, default=""),
    Column("parent_id", String(32)),
    # The Idempotency-Key of the request that created the run, and a hash of what it asked for
    # (shared/idempotency.py; migration 0003). NULL for runs created without a key.
    Column("idempotency_key", String(200)),
    Column("request_hash", String(64)),
    # "trained" or "imported" (a .keras upload, evaluated instead of trained; migration 0006).
    # No Python-side default: an INSERT that does not name it also works on a schema before 0006.
    Column("origin", String(16), nullable=False, server_default="trained"),
)
# The runs list asks for one status, newest first (migration 0002).
Index("ix_runs_status_created_at", runs.c.status, runs.c.created_at)
# One run per key: two requests racing with one key cannot both insert (NULLs never collide).
Index("ix_runs_idempotency_key", runs.c.idempotency_key, unique=True)

epochs = Table(
    "epochs",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("epoch", Integer, primary_key=True),  # 1-based
    Column("loss", Float),
    Column("accuracy", Float),
    Column("val_loss", Float),
    Column("val_accuracy", Float),
    Column("seconds", Float),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("run_id", String(32), index=True),
    Column("status", String(16), nullable=False),  # queued | running | succeeded | failed
    Column("params", Text, nullable=False, default="{}"),
    Column("result", Text),
    Column("error", Text),
    Column("created_at", Float, nullable=False),
    Column("finished_at", Float),
    # Deliveries that started the job since it was last asked for, and when the latest started
    # (migration 0004): a job whose process keeps dying fails after CNNLENS_JOB_MAX_ATTEMPTS,
    # and one left `running` past its time limit is found by the recovery sweep.
    Column("attempts", Integer, nullable=False, default=0, server_default="0"),
    Column("started_at", Float),
    # How far a running job has got, in [0, 1] (migration 0007); null when it says nothing.
    Column("progress", Float),
)

# Imported datasets (migration 0005, shared/store_datasets.py); their arrays live on disk in
# <data dir>/datasets/<id>/.
datasets = Table(
    "datasets",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(120), nullable=False),
    Column("status", String(16), nullable=False),  # importing, ready, failed
    Column("source", String(8), nullable=False),  # npz or zip
    Column("job_id", String(32)),
    Column("progress", Float, nullable=False, default=0.0, server_default="0"),
    Column("meta", Text),  # JSON: classes, shape, counts, notes (once ready)
    Column("error", Text),
    Column("created_at", Float, nullable=False),
    Column("finished_at", Float),
    Index("ix_datasets_created_at", "created_at"),
)


def make_engine(url: str, pooled: bool = True, timeout: float = 30) -> Engine:
    """An engine for `url`. `pooled=False` keeps no connection open between uses (a process
    that forks, such as a Celery worker's parent, must not hand open connections to its
    children); `timeout` is how long a connection attempt (or SQLite's busy wait) may take."""
    pool = {} if pooled else {"poolclass": NullPool}
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"timeout": timeout, "check_same_thread": False}, **pool
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # WAL lets readers work while a worker writes
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    if not pooled:
        return create_engine(url, connect_args={"connect_timeout": max(1, round(timeout))}, **pool)
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)
