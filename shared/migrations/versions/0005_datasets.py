"""Imported datasets: one row each in `datasets` (its arrays live in `<data dir>/datasets/<id>/`).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("datasets"):
        return  # made by metadata.create_all
    op.create_table(
        "datasets",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("job_id", sa.String(32)),
        sa.Column("progress", sa.Float, nullable=False, server_default="0"),
        sa.Column("meta", sa.Text),
        sa.Column("error", sa.Text),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("finished_at", sa.Float),
    )
    op.create_index("ix_datasets_created_at", "datasets", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_datasets_created_at", table_name="datasets", if_exists=True)
    op.drop_table("datasets")
