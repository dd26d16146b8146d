"""The auditor's own memory (``recorder-audit verify --state DIR``) against a hostile or
careless auditor's machine: a FIFO in place of the kept checkpoint, a kept checkpoint that is
corrupt, and two audits that finish out of order."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from clirunner import env_for, run, run_script

from recorder_sync.adapters.audit_state import StateFolder

ORIGIN = "recorder-sync/st-test"
KEPT = "recorder-sync%2Fst-test.checkpoint"
HANG_GUARD = 120  # a FIFO would be read forever: a guard, not a timing assertion


class Station:
    def __init__(self, tmp: Path, db_url: str) -> None:
        self.tmp, self.env = tmp, env_for(tmp / "home", db_url)
        self.trust, self.state, self.docks = tmp / "trust.json", tmp / "audit-state", 0
        self.ingest()
        assert run(self.env, "keys", "export-trust", "--out", str(self.trust)).returncode == 0

    def ingest(self) -> None:
        self.docks += 1
        dock = self.tmp / f"dock-{self.docks}"
        dock.mkdir()
        (dock / f"DSJ-A1_031245_2026112708301{self.docks}_0001.MP4").write_bytes(os.urandom(3000))
        r = run(self.env, "ingest", str(dock), "--stable-seconds", "0")
        assert r.returncode == 0, r.stderr

    def verify(self) -> tuple[int, str, str]:
        r = run_script(
            "recorder-audit", self.env, "verify", "--trust", str(self.trust), "--state", str(self.state),
            "--level", "metadata", timeout=HANG_GUARD,
        )  # fmt: skip
        return r.returncode, r.stdout, r.stderr

    def published(self) -> list[Path]:
        return sorted((self.tmp / "home" / "vault" / "log" / ORIGIN / "checkpoint").iterdir())


@pytest.fixture
def station(tmp_path: Path, db_url: str) -> Station:
    return Station(tmp_path, db_url)


def test_a_fifo_as_the_kept_checkpoint_is_refused_not_waited_on(station: Station) -> None:
    station.state.mkdir(mode=0o700)
    os.mkfifo(station.state / KEPT, 0o600)
    code, _, err = station.verify()
    assert code == 2, err
    assert "auditor state" in err and "not a regular file" in err, err


def test_a_corrupt_kept_checkpoint_is_a_problem_and_is_not_replaced(station: Station) -> None:
    """Held before: the auditor's memory is checked, not trusted, and not moved on."""
    assert station.verify()[0] == 0
    kept = station.state / KEPT
    corrupt = kept.read_bytes()[:-20]  # truncated: its signature no longer verifies
    kept.write_bytes(corrupt)
    code, out, _ = station.verify()
    assert code == 3 and "the checkpoint this auditor kept does not verify" in out, out
    assert kept.read_bytes() == corrupt, "the state moves on only after a clean check"


def test_two_audits_finishing_out_of_order_keep_the_larger_checkpoint(station: Station) -> None:
    """Audit A reads the kept checkpoint, audit B runs whole on a longer log, then A keeps
    what it verified: B's larger checkpoint stays (else a rollback of the log to A's size
    would go unseen by the next audit)."""
    assert station.verify()[0] == 0
    older = (station.state / KEPT).read_bytes()  # what the slower audit A verified
    station.ingest()  # the log grows; audit B verifies it whole
    assert station.verify()[0] == 0
    newer = (station.state / KEPT).read_bytes()
    assert newer != older and newer == station.published()[-1].read_bytes()
    StateFolder(station.state).remember(ORIGIN, older)  # audit A finishes last
    assert (station.state / KEPT).read_bytes() == newer


def test_the_latest_checkpoint_object_replaced_by_an_older_one_is_caught(station: Station) -> None:
    """Held: the store's newest checkpoint overwritten with an older, genuinely signed one
    (a rollback of what was published) names the object and both sizes."""
    station.ingest()
    assert station.verify()[0] == 0
    older, latest = station.published()[-2:]
    latest.chmod(0o644)
    latest.write_bytes(older.read_bytes())
    code, out, _ = station.verify()
    assert code == 3, out
    assert f"checkpoint:{int(latest.name)}: is published as {int(latest.name)} but is a checkpoint of " in out
    assert f"of {int(older.name)}" in out
