"""Tamper cases 6-12 of issue 9 on a real station (made by the real ``recorder-sync ingest``),
on SQLite and PostgreSQL, checked by the log half of ``recorder-audit verify``
(``services.log_audit.audit_log``): each one gives a Problem naming what is wrong and where,
and the untouched station gives none."""

from __future__ import annotations

import base64
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from clirunner import env_for, run
from sqlalchemy import delete, func, select, update

from recorder_sync.adapters import keys
from recorder_sync.adapters.audit_state import StateFolder
from recorder_sync.adapters.db.engine import make_engine
from recorder_sync.adapters.db.log_nodes import store_nodes
from recorder_sync.adapters.db.log_repo import LogRepo
from recorder_sync.adapters.db.repository import SqlCatalog
from recorder_sync.adapters.db.schema import CustodyEventRow, LogCheckpointRow, LogNodeRow
from recorder_sync.adapters.vault import Vault
from recorder_sync.domain.audit import AuditResult, Problem
from recorder_sync.domain.canonical import canonical_bytes, parse
from recorder_sync.domain.checkpoint import Checkpoint, NoteKey, sign_note
from recorder_sync.domain.custody import GENESIS, leaf_hash
from recorder_sync.domain.trust import TrustAnchors
from recorder_sync.services.log_audit import audit_log

ORIGIN = "recorder-sync/st-test"


@dataclass
class Station:
    tmp: Path
    home: Path
    db_url: str
    env: dict[str, str]
    trust: TrustAnchors
    state: Path

    def ingest(self, *names: str) -> None:
        dock = self.tmp / f"dock-{names[0]}"
        dock.mkdir()
        for name in names:
            (dock / name).write_bytes(os.urandom(2000) + name.encode())
        r = run(self.env, "ingest", str(dock), "--stable-seconds", "0")
        assert r.returncode == 0, r.stderr

    def catalog(self) -> SqlCatalog:
        return SqlCatalog(make_engine(self.db_url), station="st-test", actor="tamper")

    def audit(self) -> AuditResult:
        result = AuditResult()
        c = self.catalog()
        try:
            audit_log(
                LogRepo(c),
                Vault(self.home / "vault", create=False),
                self.trust,
                StateFolder(self.state),
                result,
            )
        finally:
            c.engine.dispose()
        return result

    def published(self) -> dict[int, Path]:
        folder = self.home / "vault" / "log" / ORIGIN / "checkpoint"
        return {int(p.name): p for p in folder.iterdir()}

    def size(self) -> int:
        return max(self.published())

    def edit(self, fn: Callable[[SqlCatalog], None]) -> None:
        c = self.catalog()
        try:
            fn(c)
        finally:
            c.engine.dispose()

    def sign(self, cp: Checkpoint) -> bytes:
        signer = keys.load_key(self.home / "keys" / "log.key")
        return sign_note(cp.text(), NoteKey(ORIGIN, signer.public_raw()), signer.sign)


@pytest.fixture
def station(tmp_path: Path, db_url: str) -> Station:
    home = tmp_path / "home"
    env = env_for(home, db_url)
    st = Station(tmp_path, home, db_url, env, TrustAnchors((), ()), tmp_path / "auditor-state")
    st.ingest("a.bin", "b.bin", "c.bin")
    trust = tmp_path / "trust.json"
    assert run(env, "keys", "export-trust", "--out", str(trust)).returncode == 0
    st.trust = TrustAnchors.from_json(trust.read_bytes())
    return st


def only(result: AuditResult, check: str, subject: str) -> Problem:
    found = [p for p in result.problems if (p.check, p.subject) == (check, subject)]
    assert len(found) == 1, result.problems
    return found[0]


def body_of(c: SqlCatalog, seq: int) -> bytes:
    with c.transaction() as s:
        body: bytes = s.scalar(select(CustodyEventRow.body).where(CustodyEventRow.seq == seq))
        return body


def test_the_untouched_station_verifies_and_the_auditor_remembers_its_checkpoint(station: Station) -> None:
    result = station.audit()
    assert result.problems == [] and result.unchecked == [] and result.exit_code == 0
    size = station.size()
    assert result.checked["events"] == size and result.checked["checkpoints"] == 1
    assert (station.state / "recorder-sync%2Fst-test.checkpoint").read_bytes() == station.published()[
        size
    ].read_bytes()
    station.ingest("d.bin")  # the log grew: the new checkpoint extends the one remembered
    again = station.audit()
    assert again.problems == [] and again.checked["checkpoints"] == 2


def test_6_one_event_edited(station: Station) -> None:
    def edit(c: SqlCatalog) -> None:
        body = body_of(c, 4).replace(b'"actor":"recorder-sync ingest@st-test"', b'"actor":"someone else"')
        with c.transaction() as s:
            s.execute(update(CustodyEventRow).where(CustodyEventRow.seq == 4).values(body=body))

    station.edit(edit)
    result = station.audit()
    assert "the event was edited" in only(result, "log", "event:4").reason
    assert (
        "do not have the root this signed checkpoint gives"
        in only(result, "log", f"checkpoint:{station.size()}").reason
    )
    assert result.exit_code == 3


def test_7_one_event_deleted(station: Station) -> None:
    station.edit(lambda c: _run(c, delete(CustodyEventRow).where(CustodyEventRow.seq == 5)))
    result = station.audit()
    assert only(result, "log", "event:5").reason == "event 5 is missing from the log: deleted"
    assert not [p for p in result.problems if p.subject.startswith("event:") and p.subject != "event:5"]


def test_8_two_events_swapped(station: Station) -> None:
    def swap(c: SqlCatalog) -> None:
        with c.transaction() as s:
            rows = {
                r.seq: (r.body, r.leaf_hash)
                for r in s.scalars(select(CustodyEventRow).where(CustodyEventRow.seq.in_([6, 7])))
            }
            for seq, other in ((6, 7), (7, 6)):
                body, leaf = rows[other]
                s.execute(
                    update(CustodyEventRow)
                    .where(CustodyEventRow.seq == seq)
                    .values(body=body, leaf_hash=leaf)
                )

    station.edit(swap)
    result = station.audit()
    assert "holds the bytes of event 7: events were swapped" in only(result, "log", "event:6").reason
    assert "holds the bytes of event 6" in only(result, "log", "event:7").reason


def test_9_log_truncated(station: Station) -> None:
    size = station.size()
    station.edit(lambda c: _run(c, delete(CustodyEventRow).where(CustodyEventRow.seq > size - 4)))
    result = station.audit()
    reason = only(result, "log", f"checkpoint:{size}").reason
    assert f"the database's log has {size - 4} events, but a checkpoint of {size} was published" in reason


def test_10_whole_chain_rewritten_with_recomputed_hashes_and_tree(station: Station) -> None:
    def rewrite(c: SqlCatalog) -> None:
        with c.transaction() as s:
            events = list(s.scalars(select(CustodyEventRow).order_by(CustodyEventRow.seq)))
            s.execute(delete(LogNodeRow))
            prev = GENESIS
            for row in events:
                fields = parse(row.body)
                fields["prev"] = prev
                fields["actor"] = "a forger who knows the format"
                body = canonical_bytes(fields)
                row.body, row.leaf_hash = body, leaf_hash(body)
                s.flush()
                store_nodes(s, row.seq, row.leaf_hash)
                prev = row.leaf_hash

    station.edit(rewrite)
    result = station.audit()
    size = station.size()
    reason = only(result, "log", f"checkpoint:{size}").reason
    assert f"the database's first {size} events do not have the root this signed checkpoint gives" in reason
    assert not [p for p in result.problems if p.subject.startswith("event:")]  # self-consistent, yet caught


def test_11_database_replaced_by_an_older_copy_after_a_later_checkpoint(
    station: Station, db_url: str
) -> None:
    older = station.size()
    assert station.audit().problems == []  # the auditor looked once, at the older checkpoint
    backup = station.tmp / "backup.db"
    sqlite = db_url.startswith("sqlite")
    if sqlite:
        shutil.copy2(db_url.removeprefix("sqlite:///"), backup)
    station.ingest("d.bin")
    later = station.size()
    assert later > older and station.audit().problems == []  # and again, at the later one
    if sqlite:
        shutil.copy2(backup, db_url.removeprefix("sqlite:///"))
    else:  # what restoring a dump taken at the older checkpoint leaves

        def restore(c: SqlCatalog) -> None:
            with c.transaction() as s:
                s.execute(delete(CustodyEventRow).where(CustodyEventRow.seq > older))
                s.execute(delete(LogCheckpointRow).where(LogCheckpointRow.size > older))
                for level in range(32):
                    s.execute(
                        delete(LogNodeRow).where(LogNodeRow.level == level, LogNodeRow.idx >= older >> level)
                    )

        station.edit(restore)
    result = station.audit()
    reason = only(result, "log", f"checkpoint:{later}").reason
    assert f"the database's log has {older} events, but a checkpoint of {later} was published" in reason
    assert result.exit_code == 3


def test_12_a_checkpoint_with_a_bad_signature(station: Station) -> None:
    size = station.size()
    note = station.published()[size].read_bytes()
    text, _, sig_line = note.rpartition(b"\n\n")
    name, _, b64 = sig_line.decode().strip().rpartition(" ")
    blob = bytearray(base64.b64decode(b64))
    blob[-1] ^= 0x01
    forged = station.published()[size].with_name(f"{size + 1:020d}")
    forged.write_bytes(text + b"\n\n" + f"{name} {base64.b64encode(bytes(blob)).decode()}\n".encode())
    result = station.audit()
    reason = only(result, "checkpoint", f"checkpoint:{size + 1}").reason
    assert reason.startswith("bad signature:") and "signature does not match" in reason
    assert len(result.problems) == 1


def test_12_a_second_checkpoint_of_the_same_size_with_another_root(station: Station) -> None:
    size = station.size()
    assert station.audit().problems == []  # the auditor verified the real one
    path = station.published()[size]
    path.chmod(0o644)
    path.write_bytes(station.sign(Checkpoint(ORIGIN, size, bytes(32))))  # by whoever holds the log key
    result = station.audit()
    split = [p.reason for p in result.problems if p.check == "checkpoint"]
    assert sorted(split) == [
        "split view: the database keeps another checkpoint of this size, also signed by the log key, "
        "with another root",
        "split view: this auditor verified another checkpoint of this size, signed by the log key, "
        "with another root",
    ]
    assert all(p.subject == f"checkpoint:{size}" for p in result.problems), result.problems


@pytest.mark.parametrize(
    ("column", "value", "said"),
    [
        ("action", "probed", "action 'probed' (its bytes say 'signed')"),
        ("recording_id", None, "recording_id None (its bytes say 'rec-"),
    ],
)
def test_13_an_events_indexed_columns_edited(
    station: Station, column: str, value: str | None, said: str
) -> None:
    """The columns the database finds events by (the ``signed`` event of a recording, the
    ``derived`` events) are copies of fields of the hashed bytes: an edit there would hide an
    event from the checks that select by them while its bytes, its chain and the tree stay
    intact."""
    with station.catalog().transaction() as s:
        seq = s.scalar(select(func.min(CustodyEventRow.seq)).where(CustodyEventRow.action == "signed"))
    station.edit(
        lambda c: _run(c, update(CustodyEventRow).where(CustodyEventRow.seq == seq).values(**{column: value}))
    )
    result = station.audit()
    reason = only(result, "log", f"event:{seq}").reason
    assert reason.startswith("the row's columns disagree with its bytes: " + said), reason
    assert reason.endswith(": the row was edited")
    assert result.exit_code == 3
    # nothing else is wrong: the bytes, the chain and the published tree are intact
    assert [p.subject for p in result.problems] == [f"event:{seq}"]


def _run(c: SqlCatalog, statement: object) -> None:
    with c.transaction() as s:
        s.execute(statement)  # type: ignore[call-overload]
