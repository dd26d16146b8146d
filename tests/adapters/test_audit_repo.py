"""The auditor's view of the database, on real SQLite and PostgreSQL: read-only (writes are
refused by the database itself), an empty database is never given a schema, and the signed
recordings come with their ``signed`` events."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError

from recorder_sync.adapters.db.audit_repo import EvidenceRecordsReader
from recorder_sync.adapters.db.engine import make_engine, make_readonly_engine, open_schema, upgrade
from recorder_sync.adapters.db.repository import SqlCatalog
from recorder_sync.adapters.vault import TMP, Vault
from recorder_sync.domain.errors import DatabaseUnavailable, StorageUnavailable, UsageError
from recorder_sync.domain.model import FileIdentity, Kind, ProbeResult, StoredObject

T0 = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)


def signed(c: SqlCatalog, n: int, *, store: bool) -> str:
    sha = hashlib.sha256(str(n).encode()).hexdigest()
    ident = FileIdentity(size=10, mtime_ns=n, inode=100 + n, device=1)
    s = c.observe("dock1", f"{n}.mp4", ident, T0)
    c.mark_stable(s.id, T0)
    rec, _ = c.attach_hash(s.id, sha256=sha, ident=ident, kind_hint=Kind.VIDEO, sidecar=None, now=T0)
    c.record_probe(rec.id, ProbeResult(kind=Kind.VIDEO, readable=True), {}, T0, flag=None)
    c.record_signature(rec.id, f"manifest {n}".encode(), b"s" * 64, "ed25519:1", b"PEM", T0)
    if store:
        c.record_stored(rec.id, StoredObject(key="k", uri="s3://b/k", size=10, version_id="v7"), T0)
    return rec.id


def test_reader_gives_signed_recordings_with_their_events_and_orphan_events(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    c = SqlCatalog(engine, station="st-1", actor="t")
    stored, unstored = signed(c, 1, store=True), signed(c, 2, store=False)
    gone = signed(c, 3, store=False)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM sightings WHERE recording_id = :id"), {"id": gone})
        conn.execute(text("DELETE FROM recordings WHERE id = :id"), {"id": gone})

    reader = EvidenceRecordsReader(make_readonly_engine(db_url))
    recs = {r.id: r for r in reader.signed_recordings()}
    assert set(recs) == {stored, unstored}
    assert recs[stored].stored and recs[stored].version_id == "v7" and not recs[unstored].stored
    event = recs[stored].signed_event
    assert event is not None and event.fields["action"] == "signed"
    assert event.fields["details"]["manifest_sha256"] == hashlib.sha256(b"manifest 1").hexdigest()
    assert recs[stored].manifest == b"manifest 1"
    assert [e.fields["recording_id"] for e in reader.signed_events_without_recording()] == [gone]
    # the events are stamped with the wall clock: every one is after T0, none after tomorrow
    assert len(list(reader.signed_recordings(since=T0))) == 2
    assert list(reader.signed_recordings(since=datetime.now(UTC) + timedelta(days=1))) == []


def test_readonly_engine_cannot_write(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    ro = make_readonly_engine(db_url)
    open_schema(ro, upgrade_old=False, create_empty=False)
    with pytest.raises(DBAPIError), ro.begin() as conn:
        conn.execute(text("DELETE FROM custody_events"))


def test_empty_database_is_refused_not_given_a_schema(db_url: str) -> None:
    if db_url.startswith("sqlite"):
        make_engine(db_url).connect().close()  # an empty file
    ro = make_readonly_engine(db_url)
    with pytest.raises(UsageError, match="no recorder-sync schema"):
        open_schema(ro, upgrade_old=False, create_empty=False)
    with make_engine(db_url).connect() as conn:
        assert inspect(conn).get_table_names() == []


def test_missing_sqlite_file_is_unavailable_and_not_created(tmp_path: Path) -> None:
    with pytest.raises(DatabaseUnavailable, match="no such database file"):
        make_readonly_engine(f"sqlite:///{tmp_path / 'absent.db'}")
    assert not (tmp_path / "absent.db").exists()


def test_read_only_vault_touches_nothing(tmp_path: Path) -> None:
    with pytest.raises(StorageUnavailable, match="not mounted"):
        Vault(tmp_path / "absent", read_only=True)
    assert not (tmp_path / "absent").exists()
    Vault(tmp_path / "vault")
    leftover = tmp_path / "vault" / TMP / "put-dead"
    leftover.write_bytes(b"x")  # a writer's temporary file: only the station cleans it
    Vault(tmp_path / "vault", read_only=True)
    assert leftover.exists()
    leftover.unlink()
    (tmp_path / "vault" / TMP).rmdir()
    Vault(tmp_path / "vault", read_only=True)
    assert not (tmp_path / "vault" / TMP).exists()
