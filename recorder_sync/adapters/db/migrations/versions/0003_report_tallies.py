"""report tallies: per-recording and per-action contributions, and per month × group
counts with a delay histogram, kept by the deadline sweep

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 13:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "report_recordings",
        sa.Column("recording_id", sa.String(length=40), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("officer", sa.String(length=100), nullable=False),
        sa.Column("units_json", sa.Text(), nullable=False),
        sa.Column("types_json", sa.Text(), nullable=False),
        sa.Column("delay_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("recording_id"),
    )
    with op.batch_alter_table("report_recordings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_report_recordings_month"), ["month"], unique=False)
    op.create_table(
        "report_tallies",
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("dimension", sa.String(length=20), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("recordings", sa.Integer(), nullable=False),
        sa.Column("within", sa.Integer(), nullable=False),
        sa.Column("late_verified", sa.Integer(), nullable=False),
        sa.Column("worst_us", sa.BigInteger(), nullable=True),
        sa.Column("histogram_json", sa.Text(), nullable=False),
        sa.Column("actions", sa.Integer(), nullable=False),
        sa.Column("full_actions", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("month", "dimension", "key"),
    )
    op.create_table(
        "report_actions",
        sa.Column("action_id", sa.String(length=100), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("officers_json", sa.Text(), nullable=False),
        sa.Column("unit", sa.String(length=200), nullable=False),
        sa.Column("action_type", sa.String(length=60), nullable=False),
        sa.Column("full", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("action_id"),
    )
    with op.batch_alter_table("report_actions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_report_actions_month"), ["month"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("report_actions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_report_actions_month"))
    op.drop_table("report_actions")
    op.drop_table("report_tallies")
    with op.batch_alter_table("report_recordings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_report_recordings_month"))
    op.drop_table("report_recordings")
    op.execute("DELETE FROM sweep_marks WHERE name = 'report'")
