"""cases and deadlines: actions (+ officers, history), checkout ledger, links, dockings,
sweep cursors; flags gain action_id/case_id; recordings gain sweep indexes

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 04:44:39.951621
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import recorder_sync.adapters.db.schema

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "action_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("action_id", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("record_json", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("at", recorder_sync.adapters.db.schema.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("action_history", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_action_history_action_id"), ["action_id"], unique=False)

    op.create_table(
        "actions",
        sa.Column("action_id", sa.String(length=100), nullable=False),
        sa.Column("case_id", sa.String(length=100), nullable=False),
        sa.Column("action_type", sa.String(length=60), nullable=False),
        sa.Column("unit", sa.String(length=200), nullable=False),
        sa.Column("officers_json", sa.Text(), nullable=False),
        sa.Column("start", recorder_sync.adapters.db.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("end", recorder_sync.adapters.db.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("target_id", sa.String(length=200), nullable=False),
        sa.Column("target_name", sa.Text(), nullable=False),
        sa.Column("place", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("imported_at", recorder_sync.adapters.db.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", recorder_sync.adapters.db.schema.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("action_id"),
    )
    with op.batch_alter_table("actions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_actions_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_actions_end"), ["end"], unique=False)
        batch_op.create_index("ix_actions_start_end", ["start", "end"], unique=False)
        batch_op.create_index(batch_op.f("ix_actions_target_id"), ["target_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_actions_updated_at"), ["updated_at"], unique=False)

    op.create_table(
        "checkouts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("device", sa.String(length=100), nullable=False),
        sa.Column("officer", sa.String(length=100), nullable=False),
        sa.Column("start", recorder_sync.adapters.db.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("end", recorder_sync.adapters.db.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column("imported_at", recorder_sync.adapters.db.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", recorder_sync.adapters.db.schema.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("checkouts", schema=None) as batch_op:
        batch_op.create_index("ix_checkouts_device_start", ["device", "start"], unique=True)
        batch_op.create_index(batch_op.f("ix_checkouts_end"), ["end"], unique=False)
        batch_op.create_index(batch_op.f("ix_checkouts_officer"), ["officer"], unique=False)
        batch_op.create_index(batch_op.f("ix_checkouts_updated_at"), ["updated_at"], unique=False)

    op.create_table(
        "dockings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("device", sa.String(length=100), nullable=False),
        sa.Column("dock", sa.String(length=200), nullable=False),
        sa.Column("docked_at", recorder_sync.adapters.db.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("camera_time", recorder_sync.adapters.db.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column("clock_offset_ms", sa.BigInteger(), nullable=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("dockings", schema=None) as batch_op:
        batch_op.create_index("ix_dockings_device_docked_at", ["device", "docked_at"], unique=False)

    op.create_table(
        "links",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("recording_id", sa.String(length=40), nullable=False),
        sa.Column("action_id", sa.String(length=100), nullable=False),
        sa.Column("basis", sa.String(length=20), nullable=False),
        sa.Column("confidence", sa.String(length=20), nullable=False),
        sa.Column("officer", sa.String(length=100), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", recorder_sync.adapters.db.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("removed_at", recorder_sync.adapters.db.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column("removed_by", sa.String(length=200), nullable=True),
        sa.Column("removed_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("links", schema=None) as batch_op:
        batch_op.create_index("ix_links_action", ["action_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_links_created_at"), ["created_at"], unique=False)
        batch_op.create_index("ix_links_recording_action", ["recording_id", "action_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_links_removed_at"), ["removed_at"], unique=False)

    op.create_table(
        "sweep_marks",
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("at", recorder_sync.adapters.db.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column("seq", sa.BigInteger(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "action_officers",
        sa.Column("action_id", sa.String(length=100), nullable=False),
        sa.Column("officer", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["action_id"],
            ["actions.action_id"],
        ),
        sa.PrimaryKeyConstraint("action_id", "officer"),
    )
    with op.batch_alter_table("action_officers", schema=None) as batch_op:
        batch_op.create_index("ix_action_officers_officer", ["officer", "action_id"], unique=False)

    with op.batch_alter_table("flags", schema=None) as batch_op:
        batch_op.add_column(sa.Column("action_id", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("case_id", sa.String(length=100), nullable=True))
        batch_op.create_index(batch_op.f("ix_flags_action_id"), ["action_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_flags_case_id"), ["case_id"], unique=False)

    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.create_index("ix_recordings_device_ingested_at", ["device", "ingested_at"], unique=False)
        batch_op.create_index("ix_recordings_verified_at", ["verified_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.drop_index("ix_recordings_verified_at")
        batch_op.drop_index("ix_recordings_device_ingested_at")

    with op.batch_alter_table("flags", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_flags_case_id"))
        batch_op.drop_index(batch_op.f("ix_flags_action_id"))
        batch_op.drop_column("case_id")
        batch_op.drop_column("action_id")

    with op.batch_alter_table("action_officers", schema=None) as batch_op:
        batch_op.drop_index("ix_action_officers_officer")

    op.drop_table("action_officers")
    op.drop_table("sweep_marks")
    with op.batch_alter_table("links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_links_removed_at"))
        batch_op.drop_index("ix_links_recording_action")
        batch_op.drop_index(batch_op.f("ix_links_created_at"))
        batch_op.drop_index("ix_links_action")

    op.drop_table("links")
    with op.batch_alter_table("dockings", schema=None) as batch_op:
        batch_op.drop_index("ix_dockings_device_docked_at")

    op.drop_table("dockings")
    with op.batch_alter_table("checkouts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_checkouts_updated_at"))
        batch_op.drop_index(batch_op.f("ix_checkouts_officer"))
        batch_op.drop_index(batch_op.f("ix_checkouts_end"))
        batch_op.drop_index("ix_checkouts_device_start")

    op.drop_table("checkouts")
    with op.batch_alter_table("actions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_actions_updated_at"))
        batch_op.drop_index(batch_op.f("ix_actions_target_id"))
        batch_op.drop_index("ix_actions_start_end")
        batch_op.drop_index(batch_op.f("ix_actions_end"))
        batch_op.drop_index(batch_op.f("ix_actions_case_id"))

    op.drop_table("actions")
    with op.batch_alter_table("action_history", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_action_history_action_id"))

    op.drop_table("action_history")
