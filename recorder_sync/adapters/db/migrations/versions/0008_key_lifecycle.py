"""key lifecycle: a station key's revocation (time and reason) and, for a key that replaced
another, the previous key and its signature over the new key's public bytes

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 03:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from recorder_sync.adapters.db.schema import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL on the keys registered before: not revoked, and no rotation statement recorded
    with op.batch_alter_table("station_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revoked_at", UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("revoke_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("previous_key_id", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("rotation_signature", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("station_keys", schema=None) as batch_op:
        batch_op.drop_column("rotation_signature")
        batch_op.drop_column("previous_key_id")
        batch_op.drop_column("revoke_reason")
        batch_op.drop_column("revoked_at")
