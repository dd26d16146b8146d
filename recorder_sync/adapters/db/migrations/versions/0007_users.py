"""the replay roster: who may find, play and export evidence, with which role

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 02:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import recorder_sync.adapters.db.schema

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # empty: nobody may replay until an operator imports the roster
    op.create_table(
        "roster",
        sa.Column("user", sa.String(length=300), nullable=False),
        sa.Column("officer", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("unit", sa.String(length=200), nullable=False),
        sa.Column("imported_at", recorder_sync.adapters.db.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", recorder_sync.adapters.db.schema.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user"),
    )


def downgrade() -> None:
    op.drop_table("roster")
