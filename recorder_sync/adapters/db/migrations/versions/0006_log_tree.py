"""the custody log's Merkle tree: its stored subtree hashes (``log_nodes``), filled in here for
the events already logged, and the signed checkpoints published of it (``log_checkpoints``)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 02:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import recorder_sync.adapters.db.schema
from recorder_sync.domain import merkle

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_BATCH = 5000


def upgrade() -> None:
    seq_type = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    nodes = op.create_table(
        "log_nodes",
        sa.Column("level", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("idx", seq_type, autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx"),
    )
    op.create_table(
        "log_checkpoints",
        sa.Column("size", seq_type, autoincrement=False, nullable=False),
        sa.Column("root", sa.LargeBinary(), nullable=False),
        sa.Column("note", sa.LargeBinary(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column(
            "published_at", recorder_sync.adapters.db.schema.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("size"),
    )
    _backfill(nodes)


def _backfill(nodes: sa.Table) -> None:
    """The nodes of every event logged before this revision, in one pass over the log that
    holds only the tree's right edge (one node per level) in memory."""
    conn = op.get_bind()
    events = sa.table(
        "custody_events", sa.column("seq", sa.BigInteger()), sa.column("leaf_hash", sa.String())
    )
    edge: dict[int, bytes] = {}  # the latest node of each level: the left sibling an append needs
    index, after, batch = 0, 0, []
    while True:
        rows = conn.execute(
            sa.select(events.c.seq, events.c.leaf_hash)
            .where(events.c.seq > after)
            .order_by(events.c.seq)
            .limit(_BATCH)
        ).all()
        if not rows:
            break
        for seq, leaf_hex in rows:
            leaf = bytes.fromhex(leaf_hex)
            for level, i, h in merkle.completed_nodes(index, leaf, lambda lv, _i: edge[lv]):
                edge[level] = h
                batch.append({"level": level, "idx": i, "hash": h})
            index, after = index + 1, seq
        conn.execute(nodes.insert(), batch)
        batch = []


def downgrade() -> None:
    op.drop_table("log_checkpoints")
    op.drop_table("log_nodes")
