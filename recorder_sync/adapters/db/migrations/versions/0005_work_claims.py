"""work claims: a lease on sighting and recording rows (``claimed_by``, ``claimed_until``), so
that daemons sharing one database never work the same item at once

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 00:05:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import recorder_sync.adapters.db.schema

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL on every existing row: unclaimed, free for the first daemon that asks
    for table in ("sightings", "recordings"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("claimed_by", sa.String(length=300), nullable=True))
            batch_op.add_column(
                sa.Column(
                    "claimed_until",
                    recorder_sync.adapters.db.schema.UTCDateTime(timezone=True),
                    nullable=True,
                )
            )


def downgrade() -> None:
    for table in ("recordings", "sightings"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("claimed_until")
            batch_op.drop_column("claimed_by")
