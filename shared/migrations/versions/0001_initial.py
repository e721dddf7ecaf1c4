"""The run store's tables as the first release created them with `metadata.create_all`.

Frozen on purpose: later changes to shared/db.py get their own revision, so a database made by
this revision (or by the old create_all, which `shared.migrate` stamps as 0001) upgrades cleanly.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("dataset", sa.String(32), nullable=False),
        sa.Column("config", sa.Text, nullable=False),
        sa.Column("architecture", sa.String(400), nullable=False),
        sa.Column("params", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("started_at", sa.Float),
        sa.Column("finished_at", sa.Float),
        sa.Column("epoch", sa.Integer, nullable=False),
        sa.Column("epochs", sa.Integer, nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("steps", sa.Integer, nullable=False),
        sa.Column("loss", sa.Float),
        sa.Column("accuracy", sa.Float),
        sa.Column("val_accuracy", sa.Float),
        sa.Column("test_loss", sa.Float),
        sa.Column("test_accuracy", sa.Float),
        sa.Column("error", sa.Text),
        sa.Column("cancel_requested", sa.Boolean, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("lease_owner", sa.String(200)),
        sa.Column("lease_expires", sa.Float),
        sa.Column("heartbeat_at", sa.Float),
        sa.Column("tags", sa.Text, nullable=False),
        sa.Column("notes", sa.Text, nullable=False),
        sa.Column("parent_id", sa.String(32)),
    )
    # Same names as `Column(..., index=True)` gives, so create_all databases match exactly.
    op.create_index("ix_runs_status", "runs", ["status"])
    op.create_index("ix_runs_dataset", "runs", ["dataset"])
    op.create_index("ix_runs_created_at", "runs", ["created_at"])

    op.create_table(
        "epochs",
        sa.Column(
            "run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("epoch", sa.Integer, primary_key=True),
        sa.Column("loss", sa.Float),
        sa.Column("accuracy", sa.Float),
        sa.Column("val_loss", sa.Float),
        sa.Column("val_accuracy", sa.Float),
        sa.Column("seconds", sa.Float),
    )

    op.create_table(
        "jobs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("run_id", sa.String(32)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("result", sa.Text),
        sa.Column("error", sa.Text),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("finished_at", sa.Float),
    )
    op.create_index("ix_jobs_run_id", "jobs", ["run_id"])


def downgrade() -> None:
    op.drop_table("jobs")
    op.drop_table("epochs")
    op.drop_table("runs")
