"""Trusted time: every published checkpoint gets a token from a real TSA (``openssl ts -reply``
behind HTTP), newest first and bounded per pass, stored write-once beside it and recorded as a
``timestamped`` event; an authority that is down only delays the tokens; the station clock's
drift against the authority raises ``station-clock-drift`` and a later token resolves it.
The log is the real catalog (SQLite and PostgreSQL), the store the in-memory fake."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fakes import MemoryStore
from test_checkpoints_service import ORIGIN, LogKey, append, catalog, service
from tsaserver import TsaServer

from recorder_sync.adapters.db.log_repo import LogRepo
from recorder_sync.adapters.db.repository import SqlCatalog
from recorder_sync.adapters.tsa import TsaClient
from recorder_sync.domain.layout import checkpoint_key, timestamp_key
from recorder_sync.domain.model import FlagKind
from recorder_sync.domain.timestamps import load_roots, verify_token
from recorder_sync.services.timestamps import TimestampService


def stamps(
    c: SqlCatalog,
    store: MemoryStore,
    tsa: TsaServer,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    per_pass: int = 20,
) -> TimestampService:
    client = TsaClient(tsa.url, load_roots(tsa.root_pem.read_bytes()), timeout=10)
    return TimestampService(LogRepo(c), store, ORIGIN, client, clock=clock, per_pass=per_pass)


def publish_sizes(c: SqlCatalog, store: MemoryStore, key: LogKey, *grow: int) -> list[int]:
    """Checkpoints of the log after it grew by each of ``grow`` events."""
    svc = service(c, store, key)
    sizes = []
    for n in grow:
        append(c, n)
        cp = svc.publish()
        assert cp is not None
        sizes.append(cp.size)
    return sizes


def timestamped(c: SqlCatalog) -> list[dict[str, object]]:
    return [e.fields["details"] for e in c.events() if e.fields["action"] == "timestamped"]


def test_each_checkpoint_gets_a_verified_token_newest_first_bounded_per_pass(
    db_url: str, tsa_server: TsaServer
) -> None:
    c, store, key = catalog(db_url), MemoryStore(), LogKey()
    sizes = publish_sizes(c, store, key, 2, 3, 4)  # 2, 5, 9
    svc = stamps(c, store, tsa_server, per_pass=2)
    first = svc.run()
    assert first.stamped == [9, 5] and first.missing == 1 and first.problem is None
    roots = load_roots(tsa_server.root_pem.read_bytes())
    for size in (9, 5):
        reply = store.objects[timestamp_key(ORIGIN, size)]
        verify_token(reply, store.objects[checkpoint_key(ORIGIN, size)], roots, f"checkpoint {size}")
        assert store.metadata[timestamp_key(ORIGIN, size)] == {"log-origin": ORIGIN, "tree-size": str(size)}
    assert [d["size"] for d in timestamped(c)] == [9, 5]
    assert all(abs(int(str(d["drift_ms"]))) < 60_000 and "test TSA" in str(d["tsa"]) for d in timestamped(c))
    second = svc.run()
    assert second.stamped == [2] and second.missing == 0
    assert svc.run().stamped == []  # nothing left: no request, no event
    assert sorted(d["size"] for d in timestamped(c)) == sorted(sizes)  # type: ignore[type-var]
    status = LogRepo(c).timestamp_status()
    assert status["tokens"] == 3 and status["missing"] == 0
    assert status["last"]["size"] == 2


def test_an_authority_that_is_down_delays_the_tokens_until_it_is_back(
    db_url: str, tsa_server: TsaServer
) -> None:
    c, store, key = catalog(db_url), MemoryStore(), LogKey()
    publish_sizes(c, store, key, 3)
    svc = stamps(c, store, tsa_server)
    tsa_server.stop()
    down = svc.run()  # never raises
    assert down.stamped == [] and down.missing == 1 and down.problem and "unavailable" in down.problem.lower()
    assert not [k for k in store.objects if "/timestamp/" in k] and timestamped(c) == []
    assert LogRepo(c).timestamp_status() == {"tokens": 0, "missing": 1, "last": None}
    publish_sizes(c, store, key, 2)  # the log goes on meanwhile
    tsa_server.restart()
    back = svc.run()
    assert back.stamped == [5, 3] and back.missing == 0


def test_a_token_another_process_stored_first_is_kept(db_url: str, tsa_server: TsaServer) -> None:
    c, store, key = catalog(db_url), MemoryStore(), LogKey()
    publish_sizes(c, store, key, 3, 2)  # 3, 5
    theirs = stamps(c, store, tsa_server, per_pass=1)
    ours = stamps(c, store, tsa_server, per_pass=0)
    assert theirs.run().stamped == [5]
    assert ours.run().missing == 1  # ours has listed past the token of 5, 3 still without one
    assert theirs.run().stamped == [3]
    kept = store.objects[timestamp_key(ORIGIN, 3)]
    ours.per_pass = 20
    again = ours.run()  # the token of 3 is below its listing mark: its stat finds it
    assert again.stamped == [] and again.missing == 0
    assert store.objects[timestamp_key(ORIGIN, 3)] == kept and len(timestamped(c)) == 2


@pytest.mark.parametrize("offset_s", [+90, -75])
def test_a_station_clock_off_the_authority_raises_the_drift_flag_and_a_later_token_resolves_it(
    db_url: str, tsa_server: TsaServer, offset_s: int
) -> None:
    """OpenSSL's TSA cannot fake its time: the station's clock is the one moved."""
    c, store, key = catalog(db_url), MemoryStore(), LogKey()
    offset = timedelta(seconds=offset_s)
    publish_sizes(c, store, key, 2)
    svc = stamps(c, store, tsa_server, clock=lambda: datetime.now(UTC) + offset)
    assert svc.run().stamped == [2]
    [drift] = timestamped(c)
    assert abs(int(str(drift["drift_ms"])) - offset_s * 1000) < 5_000
    [flag] = [f for f in c.flags(state="unresolved") if f.kind == FlagKind.STATION_CLOCK_DRIFT]
    assert flag.severity.value == "medium" and flag.subject == f"log:{ORIGIN}"
    assert ("ahead of" if offset_s > 0 else "behind") in flag.detail
    [later] = publish_sizes(c, store, key, 1)  # the log also holds the token's event and the flag's
    offset = timedelta(0)  # the station's time synchronisation fixed
    assert svc.run().stamped == [later]
    assert not [f for f in c.flags(state="unresolved") if f.kind == FlagKind.STATION_CLOCK_DRIFT]
    actions = [e.fields["action"] for e in c.events()]
    assert actions.count("flagged") == 1 and actions.count("flag-resolved") == 1


def test_a_drift_under_the_limit_raises_no_flag(db_url: str, tsa_server: TsaServer) -> None:
    c, store, key = catalog(db_url), MemoryStore(), LogKey()
    publish_sizes(c, store, key, 2)
    svc = stamps(c, store, tsa_server, clock=lambda: datetime.now(UTC) + timedelta(seconds=30))
    assert svc.run().stamped == [2]
    assert not [f for f in c.flags() if f.kind == FlagKind.STATION_CLOCK_DRIFT]
