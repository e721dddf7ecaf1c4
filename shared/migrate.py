"""Schema migrations of the run store, applied by the app itself (no alembic.ini needed).

Every process that opens the store (the dashboard, each worker) calls `upgrade()` at start-up,
often at the same moment. The upgrade runs in one transaction that first takes a database-wide
lock (a PostgreSQL advisory lock, SQLite's write lock through BEGIN IMMEDIATE), so one process
migrates while the others wait and then find nothing left to do.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text

from shared import db

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# Databases made by `metadata.create_all` before migrations existed have exactly this schema.
CREATE_ALL_REVISION = "0001"
# Any constant works as long as every process of a deployment uses the same one.
ADVISORY_LOCK_KEY = zlib.crc32(b"cnnlens-run-store-migrations")


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine_or_url: Engine | str, revision: str = "head") -> None:
    """Bring the database to `revision`; safe to call from many processes at once."""
    owned = isinstance(engine_or_url, str)
    engine = db.make_engine(engine_or_url) if isinstance(engine_or_url, str) else engine_or_url
    try:
        # The common start-up case takes no lock at all: nothing to do.
        if revision == "head" and current_revision(engine) == head_revision():
            return
        with _locked(engine) as conn:
            cfg = alembic_config(conn)
            if _made_by_create_all(conn):
                command.stamp(cfg, CREATE_ALL_REVISION)
            command.upgrade(cfg, revision)
    finally:
        if owned:
            engine.dispose()


def _made_by_create_all(conn: Connection) -> bool:
    has_runs = inspect(conn).has_table("runs")
    return has_runs and MigrationContext.configure(conn).get_current_revision() is None


@contextmanager
def _locked(engine: Engine) -> Iterator[Connection]:
    """A connection inside a transaction that holds the migration lock until it commits."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            # pysqlite would BEGIN only before DML and in deferred mode; with the driver in
            # autocommit we issue BEGIN IMMEDIATE ourselves, which takes the write lock now, so a
            # second process blocks here (up to the busy timeout) instead of racing to CREATE.
            # SQLAlchemy's commit/rollback at the end still reach sqlite3, which ends it.
            conn.execution_options(isolation_level="AUTOCOMMIT")
            with conn.begin():
                conn.exec_driver_sql("BEGIN IMMEDIATE")
                yield conn
        elif engine.dialect.name == "postgresql":
            # Transactional DDL: the lock is released by the same COMMIT that publishes the schema.
            with conn.begin():
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
                yield conn
        else:
            with conn.begin():
                yield conn
