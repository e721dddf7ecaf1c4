"""How far a running job has got: `jobs.progress`, a fraction in [0, 1] or null.

A job that takes more than a second (the ablation curve of a layer, say) writes it every half
second or so while it runs, and the pages show it; a job that never writes it stays null.
Asking for a job again, or a new delivery starting it, sets it back to null.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A database made by metadata.create_all (stamped 0001) may already have the column.
    present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("jobs")}
    if "progress" not in present:
        op.add_column("jobs", sa.Column("progress", sa.Float))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("progress")
