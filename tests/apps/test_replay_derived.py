"""Derived material stored as evidence (issue 11): ``recorder-replay export`` stores the clip,
its provenance and signature write-once under ``derived/``, logs a ``derived`` event, and
only then hands the files out; ``recorder-audit verify`` checks it all. Real processes, a
real station (SQLite and PostgreSQL, the vault; RGW in test_replay_derived_s3.py)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import stat
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from clirunner import env_for, run, run_json
from test_replay_cli import USER, events, replay, set_roster
from test_tamper_evidence import Station, audit, flip, problems, rewrite, write_trust

from recorder_sync.adapters.keys import load_key
from recorder_sync.domain.checkpoint import NoteKey
from recorder_sync.domain.layout import derived_key, media_key, provenance_key, provenance_signature_key
from recorder_sync.domain.trust import TrustAnchors


def export(st: Station, *extra: str, out: str = "out", reason: str = "court request 17") -> Any:
    folder = st.tmp / out
    folder.mkdir(exist_ok=True)
    args = ["export", st.rec()["id"], "--out", str(folder), "--trust", str(st.trust)]
    return replay(st.env, *args, "--reason", reason, *extra)


def make_station(tmp_path: Path, env: dict[str, str]) -> Station:
    """A station that ingested one real 6 s video, a supervisor in the roster, and the trust
    anchors (station and log keys) an auditor holds."""
    import sample_dock

    dock = tmp_path / "dock"
    dock.mkdir()
    start = datetime(2026, 11, 27, 8, 30, 15, tzinfo=ZoneInfo("Asia/Shanghai"))
    name = sample_dock.default_name("DSJ-A1", "031245", start.replace(tzinfo=None), 1, "MP4")
    sample_dock.make_video(dock / name, start=start, seconds=6.0, label="derived test")
    r = run(env, "ingest", str(dock), "--stable-seconds", "0", "--quiet")
    assert r.returncode == 0, r.stderr
    [rec] = run_json(env, "list")
    set_roster(env, tmp_path, f"{USER},,supervisor,")
    home = Path(env["RECORDER_SYNC_HOME"])
    signer = load_key(home / "keys" / "station.key")
    log_keys: tuple[NoteKey, ...] = TrustAnchors.from_json(
        run(env, "keys", "export-trust").stdout.encode()
    ).log_keys
    trust = write_trust(tmp_path / "trust.json", signer.public_key_pem(), log_keys)
    return Station(env, home, env["RECORDER_SYNC_DATABASE_URL"], trust, [rec], tmp_path, log_keys)


@pytest.fixture
def station(tmp_path: Path, db_url: str) -> Station:
    return make_station(tmp_path, env_for(tmp_path / "home", db_url))


def clip_name(rec: dict[str, Any]) -> str:
    return f"{rec['id']}_00-00-02_00-00-04.mp4"


def test_an_export_is_stored_as_evidence_and_linked_by_a_derived_event(station: Station) -> None:
    r = export(station, "--from", "00:00:02", "--to", "00:00:04")
    assert r.returncode == 0, r.stderr
    clip = station.tmp / "out" / clip_name(station.rec())
    provenance = (clip.parent / (clip.name + ".provenance.json")).read_bytes()
    signature = (clip.parent / (clip.name + ".provenance.sig")).read_bytes()
    clip_sha = hashlib.sha256(clip.read_bytes()).hexdigest()
    prov_sha = hashlib.sha256(provenance).hexdigest()
    assert f"stored as evidence at {derived_key(clip_sha)}" in r.stdout

    # the clip, its provenance and signature in the vault: content-addressed, read-only
    vault = station.home / "vault"
    stored = vault / derived_key(clip_sha)
    stored_prov = vault / provenance_key(prov_sha)
    stored_sig = vault / provenance_signature_key(prov_sha)
    assert stored.read_bytes() == clip.read_bytes()
    assert stored_prov.read_bytes() == provenance and stored_sig.read_bytes() == signature
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o444 for p in (stored, stored_prov, stored_sig))
    # the original is untouched
    original = vault / media_key(station.rec()["sha256"])
    assert hashlib.sha256(original.read_bytes()).hexdigest() == station.rec()["sha256"]

    [exported] = events(station.db_url, "exported")
    [derived] = events(station.db_url, "derived")
    assert derived["seq"] > exported["seq"]
    assert derived["recording_id"] == station.rec()["id"]
    assert derived["actor"] == exported["actor"]
    d = derived["details"]
    assert d["sources"] == [{"id": station.rec()["id"], "sha256": station.rec()["sha256"]}]
    assert d["files"] == [{"key": derived_key(clip_sha), "sha256": clip_sha, "size": clip.stat().st_size}]
    assert d["provenance"] == {"key": provenance_key(prov_sha), "sha256": prov_sha}
    assert d["signature"]["key"] == provenance_signature_key(prov_sha)
    assert d["signature"]["key_id"] == json.loads(provenance)["key_id"]
    assert d["operations"] == json.loads(provenance)["operations"]
    assert d["access_seq"] == exported["seq"]

    # the recording's custody history shows the derivation
    shown = run_json(station.env, "show", station.rec()["id"])
    assert "derived" in [e["action"] for e in shown["custody_events"]]

    # the same range exported again, by another reason: the same clip bytes, a second
    # provenance beside the first (neither replaces the other), a second derived event
    r = export(station, "--from", "00:00:02", "--to", "00:00:04", out="out2", reason="second request")
    assert r.returncode == 0, r.stderr
    clip2 = station.tmp / "out2" / clip_name(station.rec())
    first, second = events(station.db_url, "derived")
    assert first["details"]["files"] == second["details"]["files"]  # the same bytes, one object
    assert second["details"]["files"][0]["sha256"] == hashlib.sha256(clip2.read_bytes()).hexdigest()
    assert second["details"]["provenance"]["sha256"] != prov_sha
    assert stored_prov.read_bytes() == provenance
    assert (vault / provenance_key(second["details"]["provenance"]["sha256"])).exists()


def test_a_derived_file_the_store_refuses_is_not_handed_out(station: Station) -> None:
    # the vault cannot hold anything under derived/ (a file where its folder would be)
    blocker = station.home / "vault" / "derived"
    blocker.write_bytes(b"not a folder")
    r = export(station, "--from", "00:00:02", "--to", "00:00:04")
    assert r.returncode == 4, r.stderr
    assert (
        "The derived file was not stored as evidence" in r.stderr and "so it was not handed out" in r.stderr
    )
    assert list((station.tmp / "out").iterdir()) == []
    access, outcome = events(station.db_url, "exported")
    assert outcome["details"]["access_seq"] == access["seq"] and outcome["details"]["outcome"] == "failed"
    assert "not stored as evidence" in outcome["details"]["problem"]
    assert events(station.db_url, "derived") == []
    # once the store takes it, the export goes through
    blocker.unlink()
    assert export(station, "--from", "00:00:02", "--to", "00:00:04", out="again").returncode == 0
    assert len(events(station.db_url, "derived")) == 1
    assert os.listdir(station.tmp / "again")


# --- recorder-audit verify checks derived material -------------------------------------------


@pytest.fixture
def exported(station: Station) -> tuple[Station, dict[str, Any]]:
    """The station after one export: and the ``derived`` event's details."""
    r = export(station, "--from", "00:00:02", "--to", "00:00:04")
    assert r.returncode == 0, r.stderr
    [event] = events(station.db_url, "derived")
    return station, event


def derived_problems(report: dict[str, Any], provenance_sha256: str) -> list[str]:
    found = problems(report)
    assert all(s == f"derived:{provenance_sha256}" for c, s, _ in found if c == "derived"), found
    return [reason for c, _, reason in found if c == "derived"]


def test_untouched_derived_material_verifies(exported: tuple[Station, dict[str, Any]]) -> None:
    station, _ = exported
    for level in ("metadata", "sample", "full"):
        code, report = audit(station, "--level", level)
        assert code == 0 and report["problems"] == [] and report["unchecked"] == [], report
        assert report["checked"]["derived"] == 1
        assert report["checked"].get("derived_rehashed", 0) == (0 if level == "metadata" else 1)


def test_derived_file_altered_or_deleted(exported: tuple[Station, dict[str, Any]]) -> None:
    station, event = exported
    [d] = event["details"]["files"]
    subject = event["details"]["provenance"]["sha256"]
    path = station.vault_file(d["key"])
    rewrite(path, flip)
    code, report = audit(station, "--level", "metadata")
    assert code == 0, report  # same size, same mode: only a re-hash can tell
    code, report = audit(station, "--level", "full")
    assert code == 3
    [reason] = derived_problems(report, subject)
    assert f"derived file {d['key']}: re-hash failed: expected sha256 {d['sha256']}" in reason

    path.unlink()
    code, report = audit(station, "--level", "metadata")
    assert code == 3
    assert derived_problems(report, subject) == [
        f"derived file {d['key']}: missing from the store (deleted?)"
    ]


def test_provenance_altered(exported: tuple[Station, dict[str, Any]]) -> None:
    station, event = exported
    p = event["details"]["provenance"]
    rewrite(station.vault_file(p["key"]), lambda b: b.replace(b"court request 17", b"court request 71"))
    code, report = audit(station, "--level", "metadata")
    assert code == 3
    reasons = derived_problems(report, p["sha256"])
    assert len(reasons) == 2, reasons
    assert "are not the provenance the derived event" in reasons[0] and p["sha256"] in reasons[0]
    assert "its signature does not verify" in reasons[1]


def test_provenance_naming_a_source_that_does_not_exist(station: Station) -> None:
    """An insider with the station key signs a provenance of a recording the station never
    held and stores it with a derived event, as replay would: the sources are checked."""
    from recorder_sync.adapters.db.engine import make_engine
    from recorder_sync.adapters.db.repository import SqlCatalog
    from recorder_sync.adapters.vault import Vault
    from recorder_sync.domain.provenance import Derivation, OutputFile, build_provenance
    from recorder_sync.services.derived import DerivedEvidence

    catalog = SqlCatalog(make_engine(station.db_url), station="st-test", actor="insider@st-test")
    ghost = dataclasses.replace(catalog.recording(station.rec()["id"]), id="rec-ghost")
    clip = station.tmp / "forged.mp4"
    clip.write_bytes(b"made up footage " * 100)
    data = clip.read_bytes()
    signer = load_key(station.home / "keys" / "station.key")
    now = datetime.now(ZoneInfo("UTC"))
    provenance = build_provenance(
        source=ghost,
        derivation=Derivation(({"op": "copy"},), "copy"),
        output=OutputFile(clip.name, hashlib.sha256(data).hexdigest(), len(data)),
        range_asked=None,
        actor="insider@st-test",
        reason="forged",
        at=now,
        station="st-test",
        key_id=signer.key_id,
        access_seq=1,
    )
    keeper = DerivedEvidence(
        store=lambda: Vault(station.home / "vault", create=False),
        log=catalog,
        clock=lambda: now,
        station="st-test",
    )
    keeper.keep([clip], provenance, signer.sign(provenance), [ghost], 1)

    code, report = audit(station, "--level", "full")
    assert code == 3
    assert derived_problems(report, hashlib.sha256(provenance).hexdigest()) == [
        "its source recording rec-ghost does not exist in the database"
    ]


@pytest.mark.slow
def test_derived_event_altered_is_caught_by_the_log_check(exported: tuple[Station, dict[str, Any]]) -> None:
    station, event = exported
    seq = event["seq"]
    forged = dict(event)
    forged["details"] = dict(event["details"], operations=[{"op": "copy"}])  # hide the trim
    from recorder_sync.domain.canonical import canonical_bytes

    station.sql("UPDATE custody_events SET body = :b WHERE seq = :s", b=canonical_bytes(forged), s=seq)
    code, report = audit(station, "--level", "metadata")
    assert code == 3
    found = problems(report)
    assert any(c == "log" and s == f"event:{seq}" and "edited" in r for c, s, r in found), found
    # and the edited event no longer agrees with the signed provenance
    reasons = derived_problems(report, event["details"]["provenance"]["sha256"])
    assert any("says operations [{'op': 'copy'}], its signed provenance" in r for r in reasons), reasons
