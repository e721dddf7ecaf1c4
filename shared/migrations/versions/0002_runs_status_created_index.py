"""Index runs on (status, created_at) for the run list.

The dashboard and `GET /api/runs?status=...` ask for one status, newest first, every few seconds.
With only `ix_runs_status` the database reads every run of that status and sorts them; the
composite index returns them already in `created_at` order (scanned backwards), so the query
stays cheap as finished runs pile up. `ix_runs_status` is now redundant for reads but is kept:
shared/db.py declares it, and removing it is its own decision.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # if_not_exists: a database made by metadata.create_all (stamped 0001) already has it.
    op.create_index(
        "ix_runs_status_created_at", "runs", ["status", "created_at"], if_not_exists=True
    )


def downgrade() -> None:
    op.drop_index("ix_runs_status_created_at", table_name="runs", if_exists=True)
