"""daemons and sweep runs: which daemon sharing the database leads, and the sweeps it ran

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 05:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from recorder_sync.adapters.db.schema import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "daemons",
        sa.Column("owner", sa.String(length=300), nullable=False),
        sa.Column("station", sa.String(length=200), nullable=False),
        sa.Column("host", sa.String(length=300), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("leading_since", UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("owner"),
    )
    op.create_table(
        "sweep_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("owner", sa.String(length=300), nullable=False),
        sa.Column("started_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("ok", sa.Boolean(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_sweep_runs_started_at"), "sweep_runs", ["started_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_sweep_runs_started_at"), table_name="sweep_runs")
    op.drop_table("sweep_runs")
    op.drop_table("daemons")
