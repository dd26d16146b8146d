"""log keys: every key that signed checkpoints of an origin, with its validity window and, for
a key that replaced another, the previous key and its signature over the new key's public bytes

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 03:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from recorder_sync.adapters.db.schema import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # empty on upgrade: the log key in use is registered when it first signs or is exported
    op.create_table(
        "log_keys",
        sa.Column("key_id", sa.String(length=100), nullable=False),
        sa.Column("origin", sa.String(length=300), nullable=False),
        sa.Column("public_raw", sa.LargeBinary(), nullable=False),
        sa.Column("valid_from", UTCDateTime(timezone=True), nullable=False),
        sa.Column("valid_until", UTCDateTime(timezone=True), nullable=True),
        sa.Column("previous_key_id", sa.String(length=100), nullable=True),
        sa.Column("rotation_signature", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("key_id"),
    )
    op.create_index(op.f("ix_log_keys_origin"), "log_keys", ["origin"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_log_keys_origin"), table_name="log_keys")
    op.drop_table("log_keys")
