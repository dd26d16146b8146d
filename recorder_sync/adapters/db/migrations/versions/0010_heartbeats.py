"""daemon heartbeats: each running daemon's last sign of life, for recorder-sync health

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 05:20:00.000000
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
        "daemon_heartbeats",
        sa.Column("daemon", sa.String(length=300), nullable=False),
        sa.Column("station", sa.String(length=200), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("beat_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("daemon"),
    )
    op.create_index(op.f("ix_daemon_heartbeats_station"), "daemon_heartbeats", ["station"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_daemon_heartbeats_station"), table_name="daemon_heartbeats")
    op.drop_table("daemon_heartbeats")
