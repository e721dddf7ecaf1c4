"""Remember the Idempotency-Key that created a run, so a retried POST /api/runs creates nothing.

Two nullable columns on `runs` (the key, and a hash of the config and parent it asked for) and a
unique index on the key: the database, not a read-then-write in Python, decides which of two
concurrent requests with one key creates the run. NULLs never collide in a unique index, on SQLite
or PostgreSQL, so runs created without a key are unaffected.

Revision ID: 0003
Revises: 0002
Create Date: 2025-01-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A database made by metadata.create_all (stamped 0001) may already have the columns.
    present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("runs")}
    if "idempotency_key" not in present:
        op.add_column("runs", sa.Column("idempotency_key", sa.String(200)))
    if "request_hash" not in present:
        op.add_column("runs", sa.Column("request_hash", sa.String(64)))
    op.create_index(
        "ix_runs_idempotency_key", "runs", ["idempotency_key"], unique=True, if_not_exists=True
    )


def downgrade() -> None:
    op.drop_index("ix_runs_idempotency_key", table_name="runs", if_exists=True)
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("request_hash")
        batch.drop_column("idempotency_key")
