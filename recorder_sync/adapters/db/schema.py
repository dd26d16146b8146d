"""SQLAlchemy 2 typed tables. Only ``repository.py`` turns these rows into domain values."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# re-exported: the migrations name it here
from recorder_sync.adapters.db.sqltypes import UTCDateTime as UTCDateTime


class Base(DeclarativeBase):
    pass


class SightingRow(Base):
    __tablename__ = "sightings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dock: Mapped[str] = mapped_column(String(200))
    relpath: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(BigInteger)
    mtime_ns: Mapped[int] = mapped_column(BigInteger)
    inode: Mapped[int] = mapped_column(BigInteger)
    devno: Mapped[int] = mapped_column(BigInteger)
    ctime_ns: Mapped[int | None] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(20), index=True)
    recording_id: Mapped[str | None] = mapped_column(ForeignKey("recordings.id"), index=True)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime())
    last_change: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # a work claim (lease): which process works this row, and until when (see SqlCatalog.claim_sightings)
    claimed_by: Mapped[str | None] = mapped_column(String(300))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_sightings_dock_relpath", "dock", "relpath"),)


class RecordingRow(Base):
    __tablename__ = "recordings"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    size: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(10))
    state: Mapped[str] = mapped_column(String(20), index=True)
    station: Mapped[str] = mapped_column(String(200))
    dock: Mapped[str] = mapped_column(String(200))
    original_name: Mapped[str] = mapped_column(Text)
    ingested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    device: Mapped[str | None] = mapped_column(String(100))
    officer: Mapped[str | None] = mapped_column(String(100))
    start: Mapped[datetime | None] = mapped_column(UTCDateTime())
    end: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    important: Mapped[bool] = mapped_column(Boolean, default=False)
    duration_ms: Mapped[int | None] = mapped_column(BigInteger)
    metadata_json: Mapped[str] = mapped_column(Text, default="{}")
    media_json: Mapped[str] = mapped_column(Text, default="{}")
    sidecar: Mapped[str | None] = mapped_column(Text)
    sidecar_sha256: Mapped[str | None] = mapped_column(String(64))
    manifest: Mapped[bytes | None] = mapped_column(LargeBinary)
    signature: Mapped[bytes | None] = mapped_column(LargeBinary)
    key_id: Mapped[str | None] = mapped_column(String(100))
    storage_uri: Mapped[str | None] = mapped_column(Text)
    version_id: Mapped[str | None] = mapped_column(String(200))
    stored_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    claimed_by: Mapped[str | None] = mapped_column(String(300))  # a work claim, as on sightings
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_recordings_officer_start", "officer", "start"),
        Index("ix_recordings_device_start", "device", "start"),
        # deadline sweeps: what is not verified yet; when a device was last docked
        Index("ix_recordings_verified_at", "verified_at"),
        Index("ix_recordings_device_ingested_at", "device", "ingested_at"),
    )


class CustodyEventRow(Base):
    """Append-only: the repository only ever inserts here. ``seq`` is the log position."""

    __tablename__ = "custody_events"

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    action: Mapped[str] = mapped_column(String(40))
    recording_id: Mapped[str | None] = mapped_column(String(40), index=True)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    leaf_hash: Mapped[str] = mapped_column(String(64))


class LogNodeRow(Base):
    """The custody log's Merkle tree as its perfect subtrees: node (level, idx) is the root
    of leaves [idx·2^level, (idx+1)·2^level), leaves at level 0.  Written with each event
    (``domain.merkle.completed_nodes``), so appending reads at most log n nodes and a proof
    or a root at any size is a fold of at most 2·log n of them, never of every leaf."""

    __tablename__ = "log_nodes"

    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    hash: Mapped[bytes] = mapped_column(LargeBinary)


class LogCheckpointRow(Base):
    """Each signed checkpoint this station published: the tree's size and root, the exact
    signed-note bytes, and the store key it was written to once."""

    __tablename__ = "log_checkpoints"

    size: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    root: Mapped[bytes] = mapped_column(LargeBinary)
    note: Mapped[bytes] = mapped_column(LargeBinary)
    key: Mapped[str] = mapped_column(Text)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime())


class FlagRow(Base):
    __tablename__ = "flags"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(40))
    severity: Mapped[str] = mapped_column(String(10))
    subject: Mapped[str] = mapped_column(Text)
    recording_id: Mapped[str | None] = mapped_column(String(40), index=True)
    detail: Mapped[str] = mapped_column(Text)
    due: Mapped[datetime | None] = mapped_column(UTCDateTime())
    state: Mapped[str] = mapped_column(String(20), index=True)
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_by: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)
    # What an engine flag is about besides a recording, for queries by action and case.
    action_id: Mapped[str | None] = mapped_column(String(100), index=True)
    case_id: Mapped[str | None] = mapped_column(String(100), index=True)

    __table_args__ = (Index("ix_flags_kind_subject", "kind", "subject"),)


class StationKeyRow(Base):
    """Public keys that signed manifests, so auditors can fetch them with the evidence."""

    __tablename__ = "station_keys"

    key_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    station: Mapped[str] = mapped_column(String(200))
    public_pem: Mapped[bytes] = mapped_column(LargeBinary)
    first_used: Mapped[datetime] = mapped_column(UTCDateTime())
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # from revoked_at on, the key's signatures do not count (keys revoke)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoke_reason: Mapped[str | None] = mapped_column(Text)
    # the key this one replaced, and the old key's signature over this key's raw public bytes
    # (None when the old private key was lost)
    previous_key_id: Mapped[str | None] = mapped_column(String(100))
    rotation_signature: Mapped[bytes | None] = mapped_column(LargeBinary)


class LogKeyRow(Base):
    """Every key that signed checkpoints of an origin, with its validity window, so that
    ``keys export-trust`` hands over the whole history and old checkpoints still verify."""

    __tablename__ = "log_keys"

    key_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    origin: Mapped[str] = mapped_column(String(300), index=True)
    public_raw: Mapped[bytes] = mapped_column(LargeBinary)
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime())
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # the key this one replaced and its signature over this key's 32 raw public bytes
    previous_key_id: Mapped[str | None] = mapped_column(String(100))
    rotation_signature: Mapped[bytes | None] = mapped_column(LargeBinary)


# --- enforcement actions, the device ledger, recording-action links ------------


class ActionRow(Base):
    """An enforcement action as last imported; earlier versions are in ``action_history``."""

    __tablename__ = "actions"

    action_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    case_id: Mapped[str] = mapped_column(String(100), index=True)
    action_type: Mapped[str] = mapped_column(String(60))
    unit: Mapped[str] = mapped_column(String(200))
    officers_json: Mapped[str] = mapped_column(Text)
    start: Mapped[datetime] = mapped_column(UTCDateTime())
    end: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    target_id: Mapped[str] = mapped_column(String(200), default="", index=True)
    target_name: Mapped[str] = mapped_column(Text, default="")
    place: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(Integer, default=1)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)

    __table_args__ = (Index("ix_actions_start_end", "start", "end"),)


class ActionOfficerRow(Base):
    __tablename__ = "action_officers"

    action_id: Mapped[str] = mapped_column(ForeignKey("actions.action_id"), primary_key=True)
    officer: Mapped[str] = mapped_column(String(100), primary_key=True)

    __table_args__ = (Index("ix_action_officers_officer", "officer", "action_id"),)


class ActionHistoryRow(Base):
    """One row per version of an action, so a re-import that changed it keeps what it was."""

    __tablename__ = "action_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    action_id: Mapped[str] = mapped_column(String(100), index=True)
    version: Mapped[int] = mapped_column(Integer)
    record_json: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class CheckoutRow(Base):
    __tablename__ = "checkouts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    device: Mapped[str] = mapped_column(String(100))
    officer: Mapped[str] = mapped_column(String(100), index=True)
    start: Mapped[datetime] = mapped_column(UTCDateTime())
    end: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)

    __table_args__ = (Index("ix_checkouts_device_start", "device", "start", unique=True),)


class LinkRow(Base):
    """recording ↔ action. Never deleted: an unlink sets ``removed_at`` (and a removed
    pair is not proposed again, because a person decided against it)."""

    __tablename__ = "links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    recording_id: Mapped[str] = mapped_column(String(40))
    action_id: Mapped[str] = mapped_column(String(100))
    basis: Mapped[str] = mapped_column(String(20))  # officer | checkout | manual
    confidence: Mapped[str] = mapped_column(String(20))  # auto | suggested | manual | confirmed
    officer: Mapped[str | None] = mapped_column(String(100))
    created_by: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    removed_by: Mapped[str | None] = mapped_column(String(200))
    removed_reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_links_recording_action", "recording_id", "action_id"),
        Index("ix_links_action", "action_id"),
    )


class DockingRow(Base):
    """A device seen at a dock, with the camera clock against the station clock when the
    device exposed it (``clock_offset_ms`` = camera − station)."""

    __tablename__ = "dockings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    device: Mapped[str] = mapped_column(String(100))
    dock: Mapped[str] = mapped_column(String(200))
    docked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    camera_time: Mapped[datetime | None] = mapped_column(UTCDateTime())
    clock_offset_ms: Mapped[int | None] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(Text)

    __table_args__ = (Index("ix_dockings_device_docked_at", "device", "docked_at"),)


class SweepMarkRow(Base):
    """Cursors of incremental work: the last sweep's ``now``, the custody seq linked up to."""

    __tablename__ = "sweep_marks"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    seq: Mapped[int | None] = mapped_column(BigInteger)
    text: Mapped[str | None] = mapped_column(Text)


class ReportRecordingRow(Base):
    """Each stored and verified recording's contribution to the report tallies, kept so
    that it can be taken back out when its links, actions or camera clock change."""

    __tablename__ = "report_recordings"

    recording_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), index=True)
    officer: Mapped[str] = mapped_column(String(100))
    units_json: Mapped[str] = mapped_column(Text)
    types_json: Mapped[str] = mapped_column(Text)
    delay_us: Mapped[int] = mapped_column(BigInteger)


class ReportTallyRow(Base):
    """Verified recordings per month and group (counts, delay histogram, exact worst delay)
    and actions (counts)."""

    __tablename__ = "report_tallies"

    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    dimension: Mapped[str] = mapped_column(String(20), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    recordings: Mapped[int] = mapped_column(Integer)
    within: Mapped[int] = mapped_column(Integer)
    late_verified: Mapped[int] = mapped_column(Integer)
    worst_us: Mapped[int | None] = mapped_column(BigInteger)
    histogram_json: Mapped[str] = mapped_column(Text)
    actions: Mapped[int] = mapped_column(Integer)
    full_actions: Mapped[int] = mapped_column(Integer)


class ReportActionRow(Base):
    """Each action's contribution to the report tallies (taken back out when re-imported)."""

    __tablename__ = "report_actions"

    action_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), index=True)
    officers_json: Mapped[str] = mapped_column(Text)
    unit: Mapped[str] = mapped_column(String(200))
    action_type: Mapped[str] = mapped_column(String(60))
    full: Mapped[bool] = mapped_column(Boolean)


class RosterRow(Base):
    """Who may replay evidence (``domain.roster``): one row per user as last imported."""

    __tablename__ = "roster"

    user: Mapped[str] = mapped_column(String(300), primary_key=True)
    officer: Mapped[str] = mapped_column(String(100), default="")
    role: Mapped[str] = mapped_column(String(20))
    unit: Mapped[str] = mapped_column(String(200), default="")
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DaemonRow(Base):
    """A running daemon (``domain.leadership``): written at start, a heartbeat now and then,
    removed at a clean stop; ``leading_since`` set while it leads."""

    __tablename__ = "daemons"

    owner: Mapped[str] = mapped_column(String(300), primary_key=True)
    station: Mapped[str] = mapped_column(String(200))
    host: Mapped[str] = mapped_column(String(300))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime())
    leading_since: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SweepRunRow(Base):
    """Each linking and deadline sweep the leader ran: who, from when to when."""

    __tablename__ = "sweep_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(String(300))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ok: Mapped[bool | None] = mapped_column(Boolean)
