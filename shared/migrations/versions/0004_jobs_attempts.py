"""Count a job's attempts and remember when the latest one started.

`jobs.attempts` (deliveries that started the job since it was last asked for) lets a worker fail
a job whose process keeps dying instead of running it again without end; `jobs.started_at` lets
the recovery sweep find a job left `running` by a process that was killed. Existing jobs get
0 attempts and no start time (the sweep then goes by `created_at`).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A database made by metadata.create_all (stamped 0001) may already have the columns.
    present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("jobs")}
    if "attempts" not in present:
        op.add_column("jobs", sa.Column("attempts", sa.Integer, nullable=False, server_default="0"))
    if "started_at" not in present:
        op.add_column("jobs", sa.Column("started_at", sa.Float))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("started_at")
        batch.drop_column("attempts")
