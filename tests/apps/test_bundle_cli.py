"""``recorder-audit bundle`` end to end: a case bundled from a real station (vault, and Ceph
RGW), then checked as a recipient would, with ``sha256sum``, the ``openssl`` lines of
VERIFY.md and ``verify_bundle.py`` in a fresh virtual environment that has only
``cryptography``; every change a forger could make fails the check that names it."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import pytest
from bundletools import first, flip, resum
from clirunner import env_for, run, run_json, run_script
from s3server import S3Server, new_bucket_name
from test_replay_cli import ACTOR, events
from test_s3_pipeline import s3_env
from tsaserver import TsaServer

from recorder_sync.adapters.bundle_out import FolderTarget, TarTarget
from recorder_sync.adapters.db.bundle_repo import BundleRepo
from recorder_sync.adapters.db.engine import make_engine, make_readonly_engine
from recorder_sync.adapters.db.log_repo import LogRepo
from recorder_sync.adapters.db.repository import SqlCatalog
from recorder_sync.adapters.vault import Vault
from recorder_sync.domain import bundle
from recorder_sync.domain.errors import IntegrityFailure
from recorder_sync.domain.trust import TrustAnchors
from recorder_sync.services.bundles import BundleService, Selection

IN_CASE = ("DSJ-A1_031245_20261127083015_0001.MP4", "DSJ-A1_031245_20261127083500_0003.MP4")
NOT_IN_CASE = "DSJ-B2_099999_20261127090000_0002.MP4"  # another officer: not linked to A1
ACTIONS = (
    "case_id,action_id,action_type,unit,officers,start,end,target_id,target_name,place\n"
    "C1,A1,seizure,Unit 1,031245,2026-11-27T08:30:00+08:00,2026-11-27T08:40:00+08:00,P-1,Zhang San,Suzhou\n"
)
# the recipient's machine: no PYTHONPATH, nothing of this project
RECIPIENT_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
REASON = "disclosure to the defence, case C1"


def audit(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_script("recorder-audit", env, *args)


@pytest.fixture(scope="session")
def bare_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with ``cryptography`` and nothing of this project."""
    venv = tmp_path_factory.mktemp("recipient") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python3"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "cryptography"],
        check=True,
    )
    done = subprocess.run(
        [str(python), "-c", "import recorder_sync"], cwd=venv, env=RECIPIENT_ENV, capture_output=True
    )
    assert done.returncode != 0, "the recipient's Python must not see recorder_sync"
    return python


def standalone(python: Path, root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), "verify_bundle.py"], cwd=root, env=RECIPIENT_ENV, capture_output=True, text=True
    )


class Station:
    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        self.tmp, self.env = tmp_path, env
        dock = tmp_path / "dock"
        dock.mkdir()
        for i, name in enumerate((*IN_CASE, NOT_IN_CASE)):
            (dock / name).write_bytes(f"evidence {i} ".encode() * (300 + i))
        (dock / (IN_CASE[0].removesuffix(".MP4") + ".json")).write_bytes(b'{"important": true}\n')
        self.ingest(dock)
        (tmp_path / "actions.csv").write_text(ACTIONS, encoding="utf-8")
        r = run(env, "cases", "import", str(tmp_path / "actions.csv"))
        assert r.returncode == 0, r.stderr
        # the link events are published with the next checkpoint (ingest publishes one)
        empty = tmp_path / "empty-dock"
        empty.mkdir()
        self.ingest(empty)
        self.recs = {rec["source_path"]: rec for rec in run_json(env, "list")}
        # linked to A1: the videos of its officer (the sidecar, stored as a file of its own too, is not)
        self.in_case = {self.recs[n]["id"]: self.recs[n] for n in IN_CASE}
        self.trust = tmp_path / "trust.json"
        assert run(env, "keys", "export-trust", "--out", str(self.trust)).returncode == 0

    def ingest(self, dock: Path) -> None:
        r = run(self.env, "ingest", str(dock), "--stable-seconds", "0")
        assert r.returncode == 0, r.stderr

    def bundle(self, out: Path, *what: str) -> subprocess.CompletedProcess[str]:
        what = what or ("--case", "C1")
        return audit(
            self.env, "bundle", *what, "--out", str(out), "--trust", str(self.trust), "--reason", REASON
        )


@pytest.fixture
def station(tmp_path: Path, db_url: str) -> Station:
    return Station(tmp_path, env_for(tmp_path / "home", db_url))


def case_json(root: Path) -> dict[str, Any]:
    value: dict[str, Any] = json.loads((root / "case.json").read_bytes())
    return value


def check_as_recipient(root: Path, python: Path) -> str:
    """sha256sum, each openssl line of VERIFY.md, then the standalone checker: its output."""
    sums = subprocess.run(
        ["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=root, capture_output=True, text=True
    )
    assert sums.returncode == 0, sums.stdout + sums.stderr
    lines = [x for x in (root / "VERIFY.md").read_text().splitlines() if x.startswith("openssl pkeyutl")]
    assert len(lines) == len(list(root.glob("manifests/*.json"))) > 0
    for line in lines:
        done = subprocess.run(line.split(), cwd=root, capture_output=True, text=True)
        assert "Signature Verified Successfully" in done.stdout, done.stdout + done.stderr
    done = standalone(python, root)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.rstrip().endswith("verdict: VERIFIED")
    return done.stdout


def test_a_case_bundle_verifies_by_hand_and_standalone(
    station: Station, bare_python: Path, db_url: str
) -> None:
    out = station.tmp / "bundle"
    r = station.bundle(out)
    assert r.returncode == 0, r.stderr
    said = check_as_recipient(out, bare_python)
    assert "2 media files are the bytes their manifests sign" in said
    assert "2 manifests are signed by their station key" in said
    assert "no time-stamp token" in said

    in_case = {r["sha256"] for r in station.in_case.values()}
    media = {p.name.removesuffix(".mp4") for p in out.glob("media/*.mp4")}
    assert media == in_case
    first = station.recs[IN_CASE[0]]
    assert (out / bundle.sidecar_name(first["sha256"])).read_bytes() == b'{"important": true}\n'
    case = case_json(out)
    assert {r["id"] for r in case["recordings"]} == set(station.in_case)
    assert all(r["included"] for r in case["recordings"])
    assert [a["action_id"] for a in case["actions"]] == ["A1"] and case["case"]["case_ids"] == ["C1"]
    assert case["links"] and all(link["created_by"] and link["reason"] for link in case["links"])
    assert case["made_by"] == ACTOR and case["reason"] == REASON
    assert not case["custody"]["events_after_checkpoint"]
    # every custody event about these recordings, their links and action, as stored
    logged = [
        e for e in events(db_url, "linked") if e["recording_id"] in {r["id"] for r in case["recordings"]}
    ]
    bundled = [json.loads(line) for line in (out / bundle.EVENTS_FILE).read_bytes().splitlines()]
    assert {e["seq"] for e in logged} <= {e["seq"] for e in bundled}
    assert any(e["action"] == "action-imported" for e in bundled)
    assert not any(e.get("recording_id") == station.recs[NOT_IN_CASE]["id"] for e in bundled)

    # the export is logged: who, why, which recordings, the bundle's SHA256SUMS; before any file
    [exported] = events(db_url, "exported")
    assert exported["actor"] == ACTOR and exported["reason"] == REASON
    details = exported["details"]
    assert details["how"] == "bundle" and details["selection"] == {"case": "C1"}
    assert {r["id"] for r in details["recordings"]} == {r["id"] for r in case["recordings"]}
    assert details["sha256sums_sha256"] == hashlib.sha256((out / "SHA256SUMS").read_bytes()).hexdigest()
    logged_at = datetime.fromisoformat(exported["at"]).timestamp()
    assert all(p.stat().st_mtime >= logged_at for p in out.rglob("*") if p.is_file())

    # the same checks through the package
    r = audit(station.env, "verify-bundle", str(out))
    assert r.returncode == 0 and "verdict: VERIFIED" in r.stdout, r.stdout + r.stderr

    # a second bundle shows the first export among the accesses; logged after the latest
    # checkpoint, it is named as not yet provable rather than left out silently
    again = station.tmp / "again"
    assert station.bundle(again).returncode == 0
    later = case_json(again)
    assert [a["seq"] for a in later["accesses"]] == [exported["seq"]]
    assert later["custody"]["events_after_checkpoint"] == [exported["seq"]]
    check_as_recipient(again, bare_python)


def _proof_hash(root: Path) -> None:
    proof = first(root, "custody/proofs/*.tlog-proof")
    head, sep, note = proof.read_bytes().partition(b"\n\n")
    lines = head.split(b"\n")
    lines[2] = (b"B" if lines[2][:1] != b"B" else b"C") + lines[2][1:]  # the first hash of the path
    proof.write_bytes(b"\n".join(lines) + sep + note)


TAMPER: dict[str, tuple[Callable[[Path], None], str, str]] = {
    "media byte": (lambda r: flip(first(r, "media/*.mp4"), 100), "media", "its SHA-256 is not"),
    "manifest": (
        lambda r: first(r, "manifests/*.json").write_bytes(
            first(r, "manifests/*.json").read_bytes().replace(b'"station":"st-test"', b'"station":"st-tesT"')
        ),
        "manifests",
        "does not verify",
    ),
    "custody event": (
        lambda r: (r / bundle.EVENTS_FILE).write_bytes(
            (r / bundle.EVENTS_FILE).read_bytes().replace(b'"station":"st-test"', b'"station":"st-tesT"', 1)
        ),
        "events",
        "does not lead to the checkpoint's root",
    ),
    "proof hash": (_proof_hash, "events", "custody event"),
    "checkpoint": (
        lambda r: flip(r / bundle.CHECKPOINT_FILE, 0),
        "checkpoint",
        "does not match the checkpoint",
    ),
}


@pytest.mark.slow
def test_each_change_a_forger_makes_fails_the_check_that_names_it(tmp_path: Path, bare_python: Path) -> None:
    station = Station(tmp_path, env_for(tmp_path / "home", f"sqlite:///{tmp_path / 'db.sqlite'}"))
    good = tmp_path / "bundle"
    assert station.bundle(good).returncode == 0
    for what, (change, check, message) in TAMPER.items():
        copy = tmp_path / what.replace(" ", "-")
        shutil.copytree(good, copy)
        change(copy)
        sums = subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=copy, capture_output=True)
        assert sums.returncode != 0, f"{what}: sha256sum sees the change before the forger resums"
        resum(copy)
        done = standalone(bare_python, copy)
        assert done.returncode == 3, f"{what}: {done.stdout}"
        assert f"FAIL  {check}:" in done.stdout and message in done.stdout, f"{what}: {done.stdout}"
        assert f"first failing check: {check}" in done.stdout, what
        through_package = audit(station.env, "verify-bundle", str(copy))
        assert through_package.returncode == 3 and f"FAIL  {check}:" in through_package.stdout, what
    r = audit(station.env, "verify-bundle", str(tmp_path / "dock"))
    assert r.returncode == 2 and "not an evidence bundle" in r.stdout


def test_a_damaged_stored_copy_is_left_out_and_case_json_shows_the_gap(
    station: Station, bare_python: Path
) -> None:
    damaged = station.recs[IN_CASE[1]]
    [stored] = (station.tmp / "home" / "vault").rglob(damaged["sha256"])
    stored.chmod(0o600)
    flip(stored, 10)
    out = station.tmp / "bundle"
    r = station.bundle(out)
    assert r.returncode == 0, r.stderr
    assert f"not included: {damaged['id']}: the stored copy does not verify" in r.stderr
    said = check_as_recipient(out, bare_python)
    gap_said = f"1 recording(s) of the case not included: {damaged['id']}"
    assert f"1 media files are the bytes their manifests sign; {gap_said}" in said
    [gap] = [r for r in case_json(out)["recordings"] if not r["included"]]
    assert gap["id"] == damaged["id"] and "Integrity failure" in gap["reason"]
    assert not list(out.glob(f"media/{damaged['sha256']}.*")) and not list(
        out.glob(f"manifests/{damaged['sha256']}.*")
    )


def test_no_bundle_byte_is_written_when_the_export_cannot_be_logged(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite"
    station = Station(tmp_path, env_for(tmp_path / "home", f"sqlite:///{db}"))
    with sqlite3.connect(db) as c:
        c.execute(
            "CREATE TRIGGER no_exports BEFORE INSERT ON custody_events "
            "WHEN NEW.action = 'exported' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
        )
    out = tmp_path / "bundle"
    r = station.bundle(out)
    assert r.returncode != 0, r.stdout
    assert not out.exists(), "nothing is written out before the export is logged"
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT count(*) FROM custody_events WHERE action = 'exported'").fetchone() == (0,)


def test_tar_round_trips_and_recordings_or_an_action_can_be_asked_for(
    tmp_path: Path, bare_python: Path
) -> None:
    station = Station(tmp_path, env_for(tmp_path / "home", f"sqlite:///{tmp_path / 'db.sqlite'}"))
    tar = tmp_path / "c1.tar"
    r = station.bundle(tar, "--action", "A1", "--tar")
    assert r.returncode == 0, r.stderr
    with tarfile.open(tar) as t:
        t.extractall(tmp_path / "unpacked", filter="data")
    out = tmp_path / "unpacked" / "c1"
    check_as_recipient(out, bare_python)
    assert case_json(out)["selection"] == {"action": "A1"}

    other = station.recs[NOT_IN_CASE]
    one = tmp_path / "one"
    assert station.bundle(one, "--recording", other["id"]).returncode == 0
    assert [r["id"] for r in case_json(one)["recordings"]] == [other["id"]]
    assert case_json(one)["actions"] == []
    check_as_recipient(one, bare_python)

    # an existing bundle is never overwritten, and a refused bundle logs nothing
    exported = len(events(f"sqlite:///{tmp_path / 'db.sqlite'}", "exported"))
    r = station.bundle(one, "--recording", other["id"])
    assert r.returncode == 2 and "nothing is overwritten" in r.stderr
    r = station.bundle(tmp_path / "x", "--case", "C-none")
    assert r.returncode == 6 and not (tmp_path / "x").exists()
    assert len(events(f"sqlite:///{tmp_path / 'db.sqlite'}", "exported")) == exported


def test_a_case_bundled_from_rgw_verifies(tmp_path: Path, s3_server: S3Server, bare_python: Path) -> None:
    env = s3_env(tmp_path / "home", f"sqlite:///{tmp_path / 'db.sqlite'}", s3_server, new_bucket_name())
    station = Station(tmp_path, env)
    out = tmp_path / "bundle"
    r = station.bundle(out)
    assert r.returncode == 0, r.stderr
    said = check_as_recipient(out, bare_python)
    assert "2 media files are the bytes their manifests sign" in said


def test_the_checkpoints_time_stamp_token_travels_with_its_chain(
    tmp_path: Path, tsa_server: TsaServer, bare_python: Path
) -> None:
    station = Station(tmp_path, env_for(tmp_path / "home", f"sqlite:///{tmp_path / 'db.sqlite'}"))
    # the token where TSA stamping stores it: beside the latest checkpoint, under timestamp/
    checkpoint = sorted((tmp_path / "home" / "vault" / "log").rglob("checkpoint/*"))[-1]
    query = tmp_path / "q.tsq"
    ask = ["openssl", "ts", "-query", "-data", str(checkpoint), "-sha256", "-cert", "-out", str(query)]
    subprocess.run(ask, check=True)
    request = urllib.request.Request(
        tsa_server.url, data=query.read_bytes(), headers={"Content-Type": "application/timestamp-query"}
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        token = answer.read()
    stored = checkpoint.parent.parent / "timestamp" / checkpoint.name
    stored.parent.mkdir()
    stored.write_bytes(token)

    out = tmp_path / "bundle"
    r = audit(
        station.env, "bundle", "--case", "C1", "--out", str(out), "--trust", str(station.trust),
        "--reason", REASON, "--tsa-certs", str(tsa_server.root_pem),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert (out / bundle.TOKEN_FILE).read_bytes() == token
    said = check_as_recipient(out, bare_python)
    assert "ok    timestamp: the RFC 3161 token over custody/checkpoint verifies" in said
    # a chain travels with the bundle, so a forger's own TSA verifies too: the recipient
    # compares the fingerprint printed with the TSA root the agency published (openssl's)
    published = subprocess.run(
        ["openssl", "x509", "-in", str(tsa_server.root_pem), "-noout", "-fingerprint", "-sha256"],
        capture_output=True, text=True, check=True,
    ).stdout.split("=", 1)[1].strip().replace(":", "").lower()  # fmt: skip
    assert "      TSA certificate CN=" in said and f"sha256:{published}\n" in said, said
    line = next(x for x in (out / "VERIFY.md").read_text().splitlines() if x.startswith("openssl ts -verify"))
    done = subprocess.run(line.split(), cwd=out, capture_output=True, text=True)
    assert "Verification: OK" in done.stdout, done.stdout + done.stderr


class _ChangedAfterCheck(Vault):
    """A vault whose objects read back otherwise once checked: a copy changed mid-bundle."""

    def open(self, key: str, version_id: str | None = None) -> BinaryIO:
        if not key.startswith("sha256/") or "." in key:  # the media only, not manifests or the log
            return super().open(key, version_id)
        with super().open(key, version_id) as f:
            data = bytearray(f.read())
        data[0] ^= 0x01
        return io.BytesIO(bytes(data))


@pytest.mark.parametrize("as_tar", [False, True])
def test_a_copy_that_changes_while_copied_leaves_no_bundle_and_the_attempt_logged(
    tmp_path: Path, as_tar: bool
) -> None:
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    station = Station(tmp_path, env_for(tmp_path / "home", db))
    catalog = SqlCatalog(make_readonly_engine(db), station="st-test", actor="test")
    service = BundleService(
        source=BundleRepo(catalog),
        log=LogRepo(catalog),
        store=_ChangedAfterCheck(tmp_path / "home" / "vault", read_only=True),
        trust=TrustAnchors.from_json(station.trust.read_bytes(), "trust"),
        clock=lambda: datetime.now(UTC),
        actor=ACTOR,
        open_access_log=lambda: SqlCatalog(make_engine(db), station="st-test", actor=ACTOR),
        standalone=b"# the checker\n",
    )
    out = tmp_path / ("b.tar" if as_tar else "b")
    target = TarTarget(out) if as_tar else FolderTarget(out)
    with pytest.raises(IntegrityFailure, match="while copied"):
        service.build(Selection(case_id="C1"), REASON, target)
    assert not out.exists() and not list(tmp_path.glob("b.tar*")), "what was written is removed"
    exported, outcome = events(db, "exported")
    assert exported["reason"] == REASON and exported["details"]["how"] == "bundle"
    assert outcome["details"]["access_seq"] == exported["seq"]
    assert outcome["details"]["outcome"] == "integrity-failure"
    assert "no bundle was left" in outcome["details"]["problem"]
