"""dock files: sightings keep the file's ctime (a rewrite with its mtime set back is a
change); recordings keep the SHA-256 of their sidecar's bytes as found on the dock

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 23:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # both stay NULL on rows written before: such an identity compares without its ctime, and
    # such a recording's sidecar hash is taken from its text, as it was when it was read
    with op.batch_alter_table("sightings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ctime_ns", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sidecar_sha256", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.drop_column("sidecar_sha256")
    with op.batch_alter_table("sightings", schema=None) as batch_op:
        batch_op.drop_column("ctime_ns")
