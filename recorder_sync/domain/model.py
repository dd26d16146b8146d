"""Domain values: immutable, free of I/O."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any


class Kind(enum.StrEnum):
    VIDEO = "video"
    AUDIO = "audio"
    PHOTO = "photo"
    OTHER = "other"


# The one extension -> kind map: ingest's first guess and the prober's guess for a file it
# cannot read both come from here (an unreadable .3gp is unreadable video, not "other").
KIND_BY_EXTENSION = MappingProxyType(
    {
        **dict.fromkeys(("mp4", "mov", "avi", "mkv", "ts", "m4v", "3gp"), Kind.VIDEO),
        **dict.fromkeys(("wav", "mp3", "aac", "amr", "m4a", "ogg", "opus"), Kind.AUDIO),
        **dict.fromkeys(("jpg", "jpeg", "png", "heic", "bmp"), Kind.PHOTO),
    }
)


def kind_from_name(name: str) -> Kind:
    """The kind a file's extension promises (case-insensitive); ``Kind.OTHER`` without one."""
    base = name.rsplit("/", 1)[-1]
    return KIND_BY_EXTENSION.get(base.rsplit(".", 1)[-1].lower() if "." in base else "", Kind.OTHER)


class SightingState(enum.StrEnum):
    """A file seen on a dock, before and after it became a recording."""

    DISCOVERED = "discovered"
    STABLE = "stable"
    HASHED = "hashed"  # linked to a recording (new or duplicate)
    RELEASED = "released"  # dock copy deleted after the stored copy was verified
    KEPT = "kept"  # release policy 'keep': stored copy verified, dock copy left alone
    GONE = "gone"  # vanished from the dock before it could be hashed
    REJECTED = "rejected"  # never ingested (symbolic link, not a regular file)

    @property
    def final(self) -> bool:
        return self in _FINAL_SIGHTING


_FINAL_SIGHTING = frozenset(
    {SightingState.RELEASED, SightingState.KEPT, SightingState.GONE, SightingState.REJECTED}
)


class RecordingState(enum.StrEnum):
    """Pipeline of one recording (one distinct content), in order."""

    HASHED = "hashed"
    PROBED = "probed"
    SIGNED = "signed"
    STORED = "stored"
    VERIFIED = "verified"
    RELEASED = "released"

    @property
    def rank(self) -> int:
        return _RECORDING_ORDER.index(self)

    def at_least(self, other: RecordingState) -> bool:
        return self.rank >= other.rank

    @property
    def pending(self) -> bool:
        """The pipeline still owes work: the stored copy is not verified yet."""
        return not self.at_least(RecordingState.VERIFIED)


_RECORDING_ORDER = list(RecordingState)


class Severity(enum.StrEnum):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class FlagKind(enum.StrEnum):
    """Every kind of flag the product raises; the values are what is stored and printed."""

    # raised by ingest and the catalog, about one file or recording
    UNREADABLE_MEDIA = "unreadable-media"
    BAD_METADATA = "bad-metadata"
    BAD_SIDECAR = "bad-sidecar"
    REJECTED_FILE = "rejected-file"
    FILE_VANISHED = "file-vanished"
    SOURCE_UNAVAILABLE = "source-unavailable"
    SOURCE_CHANGED = "source-changed"
    INTEGRITY_FAILURE = "integrity-failure"
    STORAGE_REJECTED = "storage-rejected"
    # raised and resolved by the checkpoint time-stamping (``services.timestamps``)
    STATION_CLOCK_DRIFT = "station-clock-drift"
    # raised and resolved by the deadline engine (``flags.ENGINE_KINDS``)
    UPLOAD_AT_RISK = "upload-at-risk"
    UPLOAD_LATE = "upload-late"
    FOOTAGE_MISSING = "footage-missing"
    FOOTAGE_RECOMMENDED_MISSING = "footage-recommended-missing"
    COVERAGE_GAP = "coverage-gap"
    CAMERA_NOT_DOCKED = "camera-not-docked"
    CASE_FILE_OVERDUE = "case-file-overdue"


class FlagState(enum.StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    RESOLVED_LATE = "resolved-late"


class ReleasePolicy(enum.StrEnum):
    DELETE = "delete"
    KEEP = "keep"


@dataclass(frozen=True)
class Sourced:
    """A metadata value and where it came from (filename, sidecar, container, mtime, manual)."""

    value: Any
    source: str

    def as_json(self) -> dict[str, Any]:
        return {"value": self.value, "source": self.source}


@dataclass(frozen=True, eq=False)
class FileIdentity:
    """What a file was when we read it; compared before and after each read and before release.

    ``ctime_ns`` is set by the kernel on every change (content, links, mode) and cannot be
    set back by a program, so a file rewritten and then ``touch -d``-ed to its old mtime
    is still a changed file. It is None only for identities recorded before the catalog
    kept it: those compare on the other fields, so files in flight across the upgrade are
    not mistaken for replaced ones."""

    size: int
    mtime_ns: int
    inode: int
    device: int
    ctime_ns: int | None = None

    def _key(self) -> tuple[int, int, int, int]:
        return (self.size, self.mtime_ns, self.inode, self.device)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FileIdentity):
            return NotImplemented
        if self._key() != other._key():
            return False
        return self.ctime_ns is None or other.ctime_ns is None or self.ctime_ns == other.ctime_ns

    def __hash__(self) -> int:
        return hash(self._key())

    def same_as(self, other: FileIdentity) -> bool:
        return self == other


@dataclass(frozen=True)
class ProbeResult:
    kind: Kind
    readable: bool
    duration_ms: int | None = None
    creation_time: datetime | None = None
    format_name: str | None = None
    codecs: tuple[str, ...] = ()
    width: int | None = None
    height: int | None = None
    error: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    has_audio: bool = False  # a sound track, beside the picture or alone (what --mute needs)


@dataclass(frozen=True)
class StoredObject:
    """A stored copy as the object store reports it. The evidence hash is ours, never an ETag."""

    key: str
    uri: str
    size: int
    version_id: str | None = None
    lock_mode: str | None = None
    retain_until: datetime | None = None
    legal_hold: bool | None = None


@dataclass(frozen=True)
class Flag:
    kind: FlagKind
    severity: Severity
    subject: str
    detail: str
    state: FlagState = FlagState.OPEN
    recording_id: str | None = None
    due: datetime | None = None
    raised_at: datetime | None = None
    id: int | None = None


@dataclass(frozen=True)
class Sighting:
    """One file seen at one dock path."""

    id: int
    dock: str
    relpath: str
    identity: FileIdentity
    state: SightingState
    first_seen: datetime
    last_change: datetime
    recording_id: str | None = None
    attempts: int = 0
    last_error: str | None = None


@dataclass(frozen=True)
class Recording:
    id: str
    sha256: str
    size: int
    kind: Kind
    state: RecordingState
    station: str
    dock: str
    original_name: str
    ingested_at: datetime
    device: str | None = None
    officer: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    important: bool = False
    duration_ms: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    media: dict[str, Any] = field(default_factory=dict)
    manifest: bytes | None = None
    signature: bytes | None = None
    key_id: str | None = None
    storage_uri: str | None = None
    version_id: str | None = None
    stored_at: datetime | None = None
    verified_at: datetime | None = None
    released_at: datetime | None = None
    attempts: int = 0
    last_error: str | None = None
    next_attempt_at: datetime | None = None
    sidecar: str | None = None
    sidecar_sha256: str | None = None  # of the sidecar's bytes on the dock, not of its text


def recording_id_for(sha256: str) -> str:
    """Content-derived, so every station names the same bytes the same way."""
    return "rec-" + sha256[:16]
