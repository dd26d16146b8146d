"""In-memory fakes of the ports in ``recorder_sync.domain.ports``, for service tests that
need no folder, no ffprobe and no server.

Each fake is held to the same contract tests as the real adapter (``tests/contracts/``), so
a service test that passes on a fake passes for the reason it would on the real thing. What
a fake offers beyond its port (``damage``, ``unmount``, ``write``, …) is the test's hand on
the world: a disk that fails, a camera that is pulled out.

Fakes that exist: ``MemoryStore`` (ObjectStore), ``MemoryDock`` (DockReader), ``ScriptedProber``
(Prober), ``MemoryReportSource`` (ReportSource, actions only), ``MemorySweepStore`` (SweepStore,
actions and flags only, every load a full one). The catalog and the other case
stores have no fake yet: a full one would be a second implementation of the SQL catalog, so
service tests use the SQLite catalog in a temporary folder (no server) for now.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import BinaryIO

from recorder_sync.domain.cases import Action, Checkout
from recorder_sync.domain.errors import (
    IntegrityFailure,
    NotFound,
    SourceChanged,
    SourceUnavailable,
    StorageUnavailable,
    UnsafePath,
)
from recorder_sync.domain.flags import ENGINE_KINDS, FlagSpec, resolution_state
from recorder_sync.domain.linking import RecordingFacts
from recorder_sync.domain.model import (
    FileIdentity,
    Flag,
    FlagState,
    Kind,
    ProbeResult,
    StoredObject,
    kind_from_name,
)
from recorder_sync.domain.policy import DeadlineSettings
from recorder_sync.domain.ports import DockReader, ObjectStore, Prober, Progress, ReportSource, SweepStore
from recorder_sync.domain.report_tallies import ReportAggregates
from recorder_sync.domain.subjects import action_subject
from recorder_sync.domain.sweep import SweepInputs, SweepLimits

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 1 << 16


def _read_exactly(stream: BinaryIO, key: str, size: int, sha256: str, progress: Progress | None) -> bytes:
    """The stream's bytes, or ``SourceChanged`` unless it gave exactly ``size`` bytes hashing to
    ``sha256`` (one byte more than expected is read, to notice a growing source)."""
    chunks: list[bytes] = []
    got = 0
    while got <= size:
        try:
            chunk = stream.read(min(_CHUNK, size + 1 - got))
        except OSError as exc:
            raise SourceUnavailable(key, exc.strerror or str(exc)) from exc
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
        if progress is not None:
            progress(len(chunk))
    data = b"".join(chunks)
    if len(data) != size:
        found = f"more than {size}" if len(data) > size else str(len(data))
        raise SourceChanged(key, f"read {found} bytes, expected {size}")
    found_sha = hashlib.sha256(data).hexdigest()
    if found_sha != sha256:
        raise SourceChanged(key, f"read sha256 {found_sha}, expected {sha256}")
    return data


class MemoryStore:
    """``ObjectStore`` in a dict: write-once keys, like the vault."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.metadata: dict[str, dict[str, str]] = {}
        self.available = True
        self.writes = 0
        """How many times bytes were written under a key (a no-op put does not count)."""
        self.fail_restores: str | None = None
        """When set, ``restore_stream`` raises ``StorageUnavailable`` with this text."""

    # --- the test's hand on the store ---------------------------------------------------

    def damage(self, key: str) -> None:
        """One flipped bit in the middle: same size, other bytes."""
        data = bytearray(self.objects[key])
        data[len(data) // 2] ^= 0x01
        self.objects[key] = bytes(data)

    def lose(self, key: str) -> None:
        del self.objects[key]

    # --- ObjectStore ---------------------------------------------------------------------

    def put_stream(
        self,
        key: str,
        stream: BinaryIO,
        size: int,
        sha256: str,
        metadata: Mapping[str, str],
        retention_class: str | None = None,
        progress: Progress | None = None,
    ) -> StoredObject:
        self._check_sha(sha256)
        self._check()
        if key in self.objects:
            return self._same_size_or_fail(key, sha256, size)
        return self._write(key, _read_exactly(stream, key, size, sha256, progress), metadata)

    def put_bytes(
        self, key: str, data: bytes, metadata: Mapping[str, str], retention_class: str | None = None
    ) -> StoredObject:
        self._check()
        if key in self.objects:
            stored = self.objects[key]
            if stored != data:
                raise IntegrityFailure(
                    key,
                    hashlib.sha256(data).hexdigest(),
                    f"{hashlib.sha256(stored).hexdigest()} (stored earlier)",
                )
            return self._stored(key)
        return self._write(key, bytes(data), metadata)

    def restore_stream(
        self,
        key: str,
        stream: BinaryIO,
        size: int,
        sha256: str,
        metadata: Mapping[str, str],
        retention_class: str | None = None,
        progress: Progress | None = None,
    ) -> StoredObject:
        self._check_sha(sha256)
        try:
            return self.verify(key, sha256, size)
        except IntegrityFailure:
            pass
        if self.fail_restores is not None:
            raise StorageUnavailable(self.fail_restores)
        return self._write(key, _read_exactly(stream, key, size, sha256, progress), metadata)

    def stat(self, key: str) -> StoredObject | None:
        self._check()
        return self._stored(key) if key in self.objects else None

    def verify(
        self,
        key: str,
        sha256: str,
        size: int,
        progress: Progress | None = None,
        version_id: str | None = None,
    ) -> StoredObject:
        self._check()
        data = self.objects.get(key)
        if data is None:
            raise IntegrityFailure(key, sha256, "no object (missing from the store)")
        if progress is not None:
            progress(len(data))
        found = hashlib.sha256(data).hexdigest()
        if found != sha256 or len(data) != size:
            raise IntegrityFailure(key, sha256, f"{found} over {len(data)} bytes (expected {size})")
        return self._stored(key)

    def open(self, key: str) -> BinaryIO:
        self._check()
        if key not in self.objects:
            raise NotFound(f"{key} in the memory store")
        return io.BytesIO(self.objects[key])

    def get_bytes(self, key: str) -> bytes:
        with self.open(key) as f:
            return f.read()

    def list_keys(self, prefix: str, start_after: str | None = None) -> list[str]:
        self._check()
        return sorted(
            k for k in self.objects if k.startswith(prefix) and (start_after is None or k > start_after)
        )

    # --- internals -------------------------------------------------------------------------

    def _check(self) -> None:
        if not self.available:
            raise StorageUnavailable("the memory store is unmounted")

    @staticmethod
    def _check_sha(sha256: str) -> None:
        if not _SHA256.match(sha256):
            raise ValueError(f"not a lowercase hex SHA-256: {sha256!r}")

    def _same_size_or_fail(self, key: str, sha256: str, size: int) -> StoredObject:
        existing = len(self.objects[key])
        if existing != size:
            raise IntegrityFailure(key, sha256, f"an existing object of {existing} bytes, not {size}")
        return self._stored(key)

    def _write(self, key: str, data: bytes, metadata: Mapping[str, str]) -> StoredObject:
        self.objects[key] = data
        self.metadata[key] = dict(metadata)
        self.writes += 1
        return self._stored(key)

    def _stored(self, key: str) -> StoredObject:
        return StoredObject(key=key, uri=f"memory:///{key}", size=len(self.objects[key]))


@dataclass
class _File:
    data: bytes
    ident: FileIdentity


@dataclass
class MemoryDock:
    """``DockReader`` over a dict of relpath → bytes; each write is a new file (new inode and
    times), as a camera rewriting it would make."""

    name: str
    files: dict[str, _File] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)
    """Entries the walk reports as refused, with the reason (a link, a device, …)."""
    _clock: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    # --- the test's hand on the dock ----------------------------------------------------

    def write(self, relpath: str, data: bytes) -> None:
        tick = next(self._clock)
        ident = FileIdentity(size=len(data), mtime_ns=tick, inode=tick, device=1, ctime_ns=tick)
        self.files[relpath] = _File(bytes(data), ident)

    def delete(self, relpath: str) -> None:
        del self.files[relpath]

    def read(self, relpath: str) -> bytes:
        return self.files[relpath].data

    def exists(self, relpath: str) -> bool:
        return relpath in self.files

    # --- DockReader -------------------------------------------------------------------------

    def walk(self) -> Iterator[tuple[str, FileIdentity | None, str | None]]:
        entries: list[tuple[str, FileIdentity | None, str | None]] = [
            (p, f.ident, None) for p, f in self.files.items()
        ]
        entries += [(p, None, why) for p, why in self.refused.items()]
        yield from sorted(entries, key=lambda e: e[0])

    def stat(self, relpath: str) -> FileIdentity | None:
        self._check_path(relpath)
        if relpath in self.refused:
            raise UnsafePath(relpath, self.refused[relpath])
        f = self.files.get(relpath)
        return None if f is None else f.ident

    def open(self, relpath: str) -> tuple[BinaryIO, FileIdentity]:
        self._check_path(relpath)
        if relpath in self.refused:
            raise UnsafePath(relpath, self.refused[relpath])
        f = self.files.get(relpath)
        if f is None:
            raise SourceUnavailable(relpath, "No such file or directory")
        return io.BytesIO(f.data), f.ident

    def read_small(self, relpath: str, limit: int) -> bytes | None:
        f = self.files.get(relpath)
        if f is None or len(f.data) > limit:
            return None
        return f.data

    def remove(self, relpath: str, expected: FileIdentity) -> bool:
        self._check_path(relpath)
        f = self.files.get(relpath)
        if f is None:
            return True  # already gone: nothing of the camera's copy is left to release
        if f.ident != expected:
            return False
        del self.files[relpath]
        return True

    @staticmethod
    def _check_path(relpath: str) -> None:
        parts = relpath.split("/")
        if not relpath or relpath.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise UnsafePath(repr(relpath), "not a plain path inside the dock")


UNREADABLE = "not a video ffprobe can read"
OPEN_FLAG_STATES = frozenset({FlagState.OPEN, FlagState.ACKNOWLEDGED})


@dataclass
class ScriptedProber:
    """``Prober`` answering from a table of file contents → result; anything else is
    unreadable, as ffprobe finds the made-up bytes tests write. The kind of an unreadable file
    comes from its extension, as with ffprobe."""

    results: dict[bytes, ProbeResult] = field(default_factory=dict)
    probed: list[str] = field(default_factory=list)

    def probe_open(self, f: BinaryIO, name: str) -> ProbeResult:

        self.probed.append(name)
        data = f.read()
        kind: Kind = kind_from_name(name)
        if not data:
            return ProbeResult(kind=kind, readable=False, error="empty file (0 bytes)")
        found = self.results.get(data)
        if found is not None:
            return found
        return ProbeResult(kind=kind, readable=False, error=UNREADABLE)


@dataclass
class MemoryReportSource:
    """``ReportSource`` holding actions only (no recordings, links, flags or checkouts yet),
    and no tallies: like a case book that has never been swept. ``asked`` records each call
    for tallies, so a test sees which path the service took."""

    held_actions: list[Action] = field(default_factory=list)
    asked: list[tuple[datetime, int | None, datetime | None, datetime | None]] = field(default_factory=list)

    def report_inputs(
        self, since: datetime | None, until: datetime | None
    ) -> tuple[list[RecordingFacts], list[Action], list[tuple[str, str]], list[Flag], list[Checkout]]:
        # an action belongs to the period its end falls in, as in the SQL case book
        actions = [
            a
            for a in self.held_actions
            if (since is None or a.end >= since) and (until is None or a.end < until)
        ]
        return [], sorted(actions, key=lambda a: a.action_id), [], [], []

    def report_aggregates(
        self,
        now: datetime,
        year: int | None,
        since: datetime | None,
        until: datetime | None,
        settings: DeadlineSettings,
        full_types: Collection[str],
    ) -> ReportAggregates | None:
        self.asked.append((now, year, since, until))
        return None


@dataclass
class MemorySweepStore:
    """``SweepStore`` holding actions and flags (no recordings, links or checkouts yet). Every
    load is a full one: what an incremental load of the SQL store must come to."""

    held_actions: list[Action] = field(default_factory=list)
    flags: list[Flag] = field(default_factory=list)
    _last: datetime | None = None
    _fingerprint: str | None = None

    def sweep_inputs(self, now: datetime, limits: SweepLimits, *, full: bool = False) -> SweepInputs:
        open_flags = [f for f in self.flags if f.state in OPEN_FLAG_STATES and f.kind in ENGINE_KINDS]
        subjects = {action_subject(a.action_id) for a in self.held_actions}
        return SweepInputs(
            recordings=[],
            actions=list(self.held_actions),
            links=[],
            checkouts=[],
            docked={},
            open_flags=open_flags,
            subjects=subjects | {f.subject for f in open_flags},
            full=True,
            cursor=0,
            last_sweep=self._last,
        )

    def apply_sweep(
        self,
        now: datetime,
        inputs: SweepInputs,
        limits: SweepLimits,
        to_raise: Sequence[FlagSpec],
        to_resolve: Sequence[tuple[str, str]],
        to_update: Sequence[FlagSpec],
        *,
        only_if_latest: bool = False,
    ) -> bool:
        if only_if_latest and self._last is not None and self._last > now:
            return False
        for spec in to_raise:
            if self._open(spec.key) is None:
                self.flags.append(replace(spec.to_flag(now), id=len(self.flags) + 1))
        for key in to_resolve:
            old = self._open(key)
            if old is not None:
                self.flags[self.flags.index(old)] = replace(old, state=resolution_state(key[0]))
        for spec in to_update:
            old = self._open(spec.key)
            if old is not None:
                new = replace(old, severity=spec.severity, detail=spec.detail, due=spec.due)
                self.flags[self.flags.index(old)] = new
        self._last, self._fingerprint = now, limits.fingerprint
        return True

    def last_sweep(self) -> datetime | None:
        return self._last

    def _open(self, key: tuple[str, str]) -> Flag | None:
        found = [f for f in self.flags if (f.kind, f.subject) == key and f.state in OPEN_FLAG_STATES]
        return found[0] if found else None


def _conforms() -> None:
    """Never called: ``mypy tests/fakes.py`` fails here when a fake no longer fits its port."""
    _store: ObjectStore = MemoryStore()
    _dock: DockReader = MemoryDock("d")
    _prober: Prober = ScriptedProber()
    _reports: ReportSource = MemoryReportSource()
    _sweeps: SweepStore = MemorySweepStore()


class Clock:
    """The ``Clock`` port, read and moved by the test."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
