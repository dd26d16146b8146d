"""Signed checkpoints: published write-once, never signed over a log that does not extend the
last one, and a rolled-back or rewritten database refused until an operator acknowledges it.
The log is the real catalog (SQLite and PostgreSQL), the store the in-memory fake."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fakes import MemoryStore
from sqlalchemy import delete

from recorder_sync.adapters.db.engine import make_engine, upgrade
from recorder_sync.adapters.db.log_repo import LogRepo
from recorder_sync.adapters.db.repository import SqlCatalog
from recorder_sync.adapters.db.schema import CustodyEventRow, LogNodeRow
from recorder_sync.domain import merkle
from recorder_sync.domain.checkpoint import Checkpoint, NoteKey, open_checkpoint, sign_note
from recorder_sync.domain.custody import EventKind
from recorder_sync.domain.errors import LogRolledBack, SignatureInvalid
from recorder_sync.domain.layout import checkpoint_key
from recorder_sync.domain.logstate import Acknowledgement, RecordedCheckpoint
from recorder_sync.services.checkpoints import CheckpointService

T0 = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
ORIGIN = "recorder-sync/st-1"


class LogKey:
    def __init__(self) -> None:
        self.private = Ed25519PrivateKey.generate()
        raw = self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.note_key = NoteKey(ORIGIN, raw)


def catalog(url: str) -> SqlCatalog:
    engine = make_engine(url)
    upgrade(engine)
    return SqlCatalog(engine, station="st-1", actor="test")


def service(c: SqlCatalog, store: MemoryStore, key: LogKey, *, signs: bool = True) -> CheckpointService:
    return CheckpointService(
        LogRepo(c),
        store,
        ORIGIN,
        key=key.note_key,
        sign=key.private.sign if signs else None,
        clock=lambda: T0,
    )


def append(c: SqlCatalog, n: int) -> None:
    for i in range(n):
        c.note(EventKind.ACCESSED, T0, details={"i": i})


def leaves(c: SqlCatalog) -> list[bytes]:
    return [bytes.fromhex(e.leaf_hash) for e in c.events()]


def truncate(c: SqlCatalog, size: int) -> None:
    """What restoring an older copy of the database does to the log: rows past ``size`` gone."""
    with c.transaction() as s:
        s.execute(delete(CustodyEventRow).where(CustodyEventRow.seq > size))
        s.execute(delete(LogNodeRow).where(LogNodeRow.level == 0, LogNodeRow.idx >= size))


def test_a_checkpoint_is_signed_published_once_and_recorded(db_url: str) -> None:
    c, store, key = catalog(db_url), MemoryStore(), LogKey()
    svc = service(c, store, key)
    assert svc.publish() is None  # an empty log: nothing to sign
    append(c, 5)
    cp = svc.publish()
    assert cp is not None and cp.size == 5 and cp.root == merkle.root(leaves(c))
    note = store.objects[checkpoint_key(ORIGIN, 5)]
    assert open_checkpoint(note, [key.note_key]) == cp
    assert store.metadata[checkpoint_key(ORIGIN, 5)] == {"log-origin": ORIGIN, "tree-size": "5"}
    writes = store.writes
    assert svc.publish() is None and store.writes == writes  # the log did not grow
    append(c, 3)
    assert svc.publish() == open_checkpoint(store.objects[checkpoint_key(ORIGIN, 8)], [key.note_key])
    recorded = LogRepo(c).recorded_checkpoints()
    assert [(r.size, r.key, r.note) for r in recorded] == [
        (5, checkpoint_key(ORIGIN, 5), note),
        (8, checkpoint_key(ORIGIN, 8), store.objects[checkpoint_key(ORIGIN, 8)]),
    ]
    assert svc.check() is not None


def test_a_rolled_back_log_is_refused_and_nothing_is_signed(db_url: str) -> None:
    c, store, key = catalog(db_url), MemoryStore(), LogKey()
    svc = service(c, store, key)
    append(c, 6)
    svc.publish()
    truncate(c, 4)
    with pytest.raises(LogRolledBack, match="has 4 events, but a checkpoint of 6 was published") as caught:
        svc.check()
    assert caught.value.exit_code == 3
    assert "recorder-sync log acknowledge --size 6 --reason WHY" in str(caught.value)
    writes = store.writes
    with pytest.raises(LogRolledBack):
        svc.publish()
    assert store.writes == writes


def test_a_rewritten_log_of_the_same_length_is_refused(db_url: str, tmp_path: object) -> None:
    """Another database (the whole chain rewritten) behind the same published checkpoints."""
    c, store, key = catalog(db_url), MemoryStore(), LogKey()
    append(c, 4)
    service(c, store, key).publish()
    other = SqlCatalog(c.engine, station="st-1", actor="forger")
    truncate(other, 0)
    with other.transaction() as s:
        s.execute(delete(LogNodeRow))
    for i in range(6):
        other.note(EventKind.ACCESSED, T0, details={"forged": i})
    with pytest.raises(LogRolledBack, match="its first 4 are not the ones of the checkpoint of 4"):
        service(other, store, key).check()


def test_an_acknowledged_rollback_goes_on_and_signs_only_past_the_published_size(db_url: str) -> None:
    c, store, key = catalog(db_url), MemoryStore(), LogKey()
    svc = service(c, store, key)
    append(c, 6)
    published = svc.publish()
    assert published is not None
    truncate(c, 3)
    repo = LogRepo(c)
    why = "restored from last night's backup"
    ev = repo.acknowledge(Acknowledgement(6, published.root, why), T0, "op")
    assert ev.fields["action"] == "log-acknowledged" and ev.fields["reason"] == why
    assert ev.fields["details"]["published_size"] == 6 and ev.fields["details"]["database_size"] == 3
    assert svc.check() is not None  # acknowledged: the daemon may start
    assert repo.log_root(4) == merkle.root(leaves(c))  # the tree was cut back and grew with the event
    append(c, 2)  # 6 events again, not the published ones: no checkpoint may take that size
    assert svc.publish() is None
    append(c, 1)
    cp = svc.publish()
    assert cp is not None and cp.size == 7 and cp.root == merkle.root(leaves(c))


def test_something_else_at_the_checkpoint_key_is_refused_and_never_overwritten(db_url: str) -> None:
    c, store, key = catalog(db_url), MemoryStore(), LogKey()
    append(c, 3)
    store.objects[checkpoint_key(ORIGIN, 3)] = b"someone else's checkpoint\n"
    with pytest.raises(SignatureInvalid, match="malformed"):
        service(c, store, key).publish()
    assert store.objects[checkpoint_key(ORIGIN, 3)] == b"someone else's checkpoint\n"


def test_a_published_checkpoint_not_signed_by_the_log_key_is_refused(db_url: str) -> None:
    c, store, key = catalog(db_url), MemoryStore(), LogKey()
    append(c, 3)
    service(c, store, LogKey()).publish()  # another key under the same origin
    with pytest.raises(SignatureInvalid):
        service(c, store, key).check()


def test_a_process_that_does_not_sign_publishes_nothing_but_still_checks(db_url: str) -> None:
    c, store, key = catalog(db_url), MemoryStore(), LogKey()
    append(c, 3)
    assert service(c, store, key, signs=False).publish() is None and store.objects == {}
    service(c, store, key).publish()
    truncate(c, 1)
    with pytest.raises(LogRolledBack):
        service(c, store, key, signs=False).check()


def test_a_store_down_at_start_does_not_stop_the_station_but_is_said(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The station keeps hashing and signing locally while the store is away (as before the
    log had checkpoints); the comparison is made again before each checkpoint is signed."""
    from recorder_sync.apps.wiring import check_log, publish_checkpoint

    c, store, key = catalog(db_url), MemoryStore(), LogKey()
    append(c, 3)
    svc = service(c, store, key)
    svc.publish()
    store.available = False
    with caplog.at_level("WARNING"):
        check_log(svc)
        publish_checkpoint(lambda: svc)
    assert "cannot compare the custody log with its published checkpoints now" in caplog.text
    assert "no checkpoint of the custody log published this time" in caplog.text
    store.available = True
    truncate(c, 1)
    with pytest.raises(LogRolledBack):
        check_log(svc)
    with pytest.raises(LogRolledBack):
        publish_checkpoint(lambda: svc)


def test_the_latest_is_found_from_the_recorded_one_on_and_never_taken_from_the_database(db_url: str) -> None:
    c, store, key = catalog(db_url), MemoryStore(), LogKey()
    append(c, 3)
    service(c, store, key).publish()
    append(c, 2)
    # another process published 5 and the database holds no record of it: still found
    cp5 = Checkpoint(ORIGIN, 5, LogRepo(c).log_root(5))
    store.objects[checkpoint_key(ORIGIN, 5)] = sign_note(cp5.text(), key.note_key, key.private.sign)
    latest = service(c, store, key).latest_published()
    assert latest is not None and latest.checkpoint == cp5
    # a recorded checkpoint the store does not hold says nothing: every published one is listed
    LogRepo(c).record_checkpoint(RecordedCheckpoint(900, bytes(32), b"", checkpoint_key(ORIGIN, 900), T0))
    latest = service(c, store, key).latest_published()
    assert latest is not None and latest.checkpoint == cp5


class CountingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.listed: list[str | None] = []

    def list_keys(self, prefix: str, start_after: str | None = None) -> list[str]:
        self.listed.append(start_after)
        return super().list_keys(prefix, start_after)


def test_the_signer_lists_only_past_the_checkpoint_the_database_recorded(db_url: str) -> None:
    c, store, key = catalog(db_url), CountingStore(), LogKey()
    svc = service(c, store, key)
    append(c, 3)
    svc.publish()
    assert store.listed == [None]  # nothing recorded yet: everything is listed
    store.listed.clear()
    append(c, 2)
    svc.publish()
    assert store.listed == [checkpoint_key(ORIGIN, 3)]


def test_after_a_key_rotation_one_checkpoint_is_signed_by_both_keys(db_url: str) -> None:
    c, store, old, new = catalog(db_url), MemoryStore(), LogKey(), LogKey()
    append(c, 2)
    assert service(c, store, old).publish() is not None
    destroyed: list[str] = []
    rotated = CheckpointService(
        LogRepo(c),
        store,
        ORIGIN,
        key=new.note_key,
        sign=new.private.sign,
        clock=lambda: T0,
        earlier_keys=(old.note_key,),
        cosigner=(old.note_key, old.private.sign),
        cosigned=lambda: destroyed.append("old"),
    )
    # the checkpoint the old key signed alone is read with the earlier keys
    assert rotated.check() is not None
    assert rotated.publish() is None and destroyed == []  # nothing new: nothing signed yet
    append(c, 1)
    dual = rotated.publish()
    assert dual is not None and destroyed == ["old"]
    note = store.get_bytes(checkpoint_key(ORIGIN, dual.size))
    assert open_checkpoint(note, [old.note_key]) == open_checkpoint(note, [new.note_key]) == dual
    append(c, 1)
    later = rotated.publish()
    assert later is not None and destroyed == ["old"]  # co-signed once only
    with pytest.raises(SignatureInvalid):
        open_checkpoint(store.get_bytes(checkpoint_key(ORIGIN, later.size)), [old.note_key])
