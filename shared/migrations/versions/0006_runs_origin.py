"""Where a run's model came from: `runs.origin`, "trained" (every run so far) or "imported" (a
.keras file uploaded and evaluated instead of trained; shared/keras_archive.py).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A database made by metadata.create_all (stamped 0001) may already have the column.
    present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("runs")}
    if "origin" not in present:
        op.add_column(
            "runs",
            sa.Column("origin", sa.String(16), nullable=False, server_default="trained"),
        )


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("origin")
