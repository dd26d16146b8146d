"""The auditor's check of the tokens (``services.timestamp_audit``) on cases the real station
cannot be made to produce from outside: a token older than the checkpoint's last event (the
events stamped by a clock running ahead), and a token with no checkpoint beside it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fakes import MemoryStore
from test_checkpoints_service import ORIGIN, LogKey, append, service
from test_timestamps_service import stamps
from tsaserver import TsaServer

from recorder_sync.adapters.db.engine import make_engine, upgrade
from recorder_sync.adapters.db.log_repo import LogRepo
from recorder_sync.adapters.db.repository import SqlCatalog
from recorder_sync.domain.audit import AuditResult
from recorder_sync.domain.layout import timestamp_key
from recorder_sync.domain.trust import TrustAnchors
from recorder_sync.services.timestamp_audit import audit_timestamps


def catalog_with_clock(url: str, ahead: timedelta) -> SqlCatalog:
    engine = make_engine(url)
    upgrade(engine)
    return SqlCatalog(engine, station="st-1", actor="test", clock=lambda: datetime.now(UTC) + ahead)


def audit(c: SqlCatalog, store: MemoryStore, key: LogKey, tsa: TsaServer) -> AuditResult:
    result = AuditResult()
    trust = TrustAnchors((key.note_key,), (), (tsa.root_pem.read_bytes(),))
    audit_timestamps(LogRepo(c), store, trust, result)
    return result


def test_a_token_older_than_the_checkpoints_last_event_is_a_problem(
    db_url: str, tsa_server: TsaServer
) -> None:
    c, store, key = catalog_with_clock(db_url, timedelta(hours=1)), MemoryStore(), LogKey()
    append(c, 3)  # stamped an hour ahead of the authority
    assert service(c, store, key).publish() is not None
    assert stamps(c, store, tsa_server).run().stamped == [3]
    result = audit(c, store, key, tsa_server)
    [problem] = result.problems
    assert (problem.check, problem.subject) == ("timestamp", "checkpoint:3")
    assert "before the checkpoint's last event" in problem.reason


def test_tokens_of_a_truthful_clock_verify_and_are_counted(db_url: str, tsa_server: TsaServer) -> None:
    c, store, key = catalog_with_clock(db_url, timedelta(0)), MemoryStore(), LogKey()
    append(c, 3)
    assert service(c, store, key).publish() is not None
    assert stamps(c, store, tsa_server).run().stamped == [3]
    append(c, 2)
    assert service(c, store, key).publish() is not None  # published, no token yet: no problem
    result = audit(c, store, key, tsa_server)
    assert result.problems == [] and result.unchecked == []
    assert result.checked["checkpoints with a token"] == 1


def test_a_token_without_its_checkpoint_is_a_problem(db_url: str, tsa_server: TsaServer) -> None:
    c, store, key = catalog_with_clock(db_url, timedelta(0)), MemoryStore(), LogKey()
    append(c, 3)
    assert service(c, store, key).publish() is not None
    assert stamps(c, store, tsa_server).run().stamped == [3]
    store.objects[timestamp_key(ORIGIN, 7)] = store.objects[timestamp_key(ORIGIN, 3)]
    [problem] = audit(c, store, key, tsa_server).problems
    assert problem.subject == "checkpoint:7" and "no checkpoint of this size" in problem.reason
