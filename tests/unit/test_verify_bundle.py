"""The standalone bundle checker (``recorder_sync/standalone/verify_bundle.py``) on bundles laid
out by ``domain.bundle`` from real signatures, proofs and checkpoints: a good bundle verifies,
and every kind of change, made as a forger would (SHA256SUMS recomputed), fails the check
that names it."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from bundletools import first, flip, resum
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from recorder_sync.domain import bundle, merkle
from recorder_sync.domain.checkpoint import Checkpoint, NoteKey, TlogProof, sign_note
from recorder_sync.domain.custody import GENESIS, EventKind, make_event
from recorder_sync.domain.manifest import ManifestInput, build_manifest
from recorder_sync.domain.signatures import key_id
from recorder_sync.domain.trust import StationKey
from recorder_sync.standalone import verify_bundle

STANDALONE = Path(verify_bundle.__file__)
T0 = datetime(2026, 11, 27, 8, 30, tzinfo=UTC)
ORIGIN = "recorder-sync/st-test"
OLD_KEYS: dict[bytes, Ed25519PrivateKey] = {}  # each made bundle's station key, by its public PEM


@dataclass
class Made:
    root: Path
    shas: list[str]


def make_bundle(
    root: Path, *, media_count: int = 3, gap: int | None = None, key_valid_from: datetime = T0
) -> Made:
    """A bundle of ``media_count`` recordings; recording ``gap`` asked for but not included."""
    station = Ed25519PrivateKey.generate()
    kid = key_id(station.public_key())
    pem = station.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    OLD_KEYS[pem] = station
    log = Ed25519PrivateKey.generate()
    log_key = NoteKey(ORIGIN, log.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
    files: dict[str, bytes] = {}
    events: list[bytes] = []
    recordings = []

    def event(action: EventKind, rec: str, at: datetime, details: dict[str, str] | None = None) -> None:
        prev = merkle.leaf_hash(events[-1]).hex() if events else GENESIS
        events.append(
            make_event(seq=len(events) + 1, prev_hash=prev, at=at, action=action, actor="test",
                       station="st-test", recording_id=rec, details=details).body
        )  # fmt: skip

    shas = []
    for i in range(media_count):
        media = f"video {i} ".encode() * (1000 + i)
        sha = hashlib.sha256(media).hexdigest()
        rec = f"rec-{i}"
        manifest = build_manifest(
            ManifestInput(rec, sha, len(media), f"DSJ_{i}.MP4", "st-test", "dock1", T0 + timedelta(minutes=i),
                          "recorder-sync test", kid, {"format": "mp4"}, {})
        )  # fmt: skip
        event(EventKind.HASHED, rec, T0 + timedelta(minutes=i))
        event(
            EventKind.SIGNED,
            rec,
            T0 + timedelta(minutes=i),
            {"manifest_sha256": hashlib.sha256(manifest).hexdigest()},
        )
        included = i != gap
        recordings.append({"id": rec, "sha256": sha, "included": included})
        if included:
            files[bundle.media_name(sha, "MP4")] = media
            files[bundle.manifest_name(sha)] = manifest
            files[bundle.signature_name(sha)] = station.sign(manifest)
        shas.append(sha)
    leaves = [merkle.leaf_hash(e) for e in events]
    text = Checkpoint(ORIGIN, len(leaves), merkle.root(leaves)).text()
    note = sign_note(text, log_key, log.sign)
    proofs = {n + 1: TlogProof(n, tuple(merkle.inclusion_proof(n, leaves)), note) for n in range(len(leaves))}
    files.update(bundle.custody_files(events, proofs, note))
    files.update(bundle.key_files([StationKey(kid, "st-test", pem, key_valid_from)], log_key))
    files["case.json"] = json.dumps({"type": bundle.BUNDLE_TYPE, "recordings": recordings}).encode()
    files["VERIFY.md"] = bundle.verify_md(
        manifests=[(s, bundle.station_key_name(kid)) for s in shas],
        media=[(bundle.media_name(s, "MP4"), s) for s in shas],
        token=False,
    )
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    shutil.copy(STANDALONE, root / "verify_bundle.py")
    resum(root)
    return Made(root, shas)


def run_standalone(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "verify_bundle.py"], cwd=root, capture_output=True, text=True)


def test_a_good_bundle_verifies_standalone_and_with_sha256sum(tmp_path: Path) -> None:
    made = make_bundle(tmp_path)
    done = run_standalone(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    for check in verify_bundle.CHECKS:
        assert f"ok    {check}:" in done.stdout
    assert "6 custody events are in the signed log" in done.stdout
    assert "3 media files are the bytes their manifests sign" in done.stdout
    assert done.stdout.rstrip().endswith("verdict: VERIFIED")
    sums = subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=tmp_path, capture_output=True)
    assert sums.returncode == 0
    # the hand-made checks of VERIFY.md: openssl verifies every manifest
    for sha in made.shas:
        line = next(
            x for x in (tmp_path / "VERIFY.md").read_text().splitlines() if f"manifests/{sha}.json" in x
        )
        assert line.startswith("openssl pkeyutl")
        done = subprocess.run(line.split(), cwd=tmp_path, capture_output=True, text=True)
        assert "Signature Verified Successfully" in done.stdout


TAMPER: dict[str, tuple[Callable[[Path], None], str, str]] = {
    "media byte": (lambda r: flip(first(r, "media/*.mp4"), 100), "media", "its SHA-256 is not"),
    "manifest field": (
        lambda r: first(r, "manifests/*.json").write_bytes(
            first(r, "manifests/*.json").read_bytes().replace(b'"dock":"dock1"', b'"dock":"dock2"')
        ),
        "manifests",
        "does not verify",
    ),
    "custody event": (
        lambda r: (r / "custody/events.jsonl").write_bytes(
            (r / "custody/events.jsonl").read_bytes().replace(b'"actor":"test"', b'"actor":"tset"', 1)
        ),
        "events",
        "does not lead to the checkpoint's root",
    ),
    "proof hash": (
        lambda r: (r / "custody/proofs/2.tlog-proof").write_bytes(
            (r / "custody/proofs/2.tlog-proof").read_bytes().replace(b"\nindex 1\n", b"\nindex 1\nA", 1)
        ),
        "events",
        "custody event 2",
    ),
    "checkpoint": (
        lambda r: flip(r / "custody/checkpoint", 0),
        "checkpoint",
        "does not match the checkpoint",
    ),
    "unsummed file": (lambda r: (r / "media/extra.txt").write_bytes(b"x"), "sums", "not in SHA256SUMS"),
}


@pytest.mark.parametrize("what", list(TAMPER))
def test_each_change_fails_the_check_that_names_it(tmp_path: Path, what: str) -> None:
    make_bundle(tmp_path)
    change, check, message = TAMPER[what]
    change(tmp_path)
    if check != "sums":
        resum(tmp_path)
    done = run_standalone(tmp_path)
    assert done.returncode == 3, done.stdout
    assert f"FAIL  {check}:" in done.stdout and message in done.stdout, done.stdout
    assert f"first failing check: {check}" in done.stdout


def test_an_unresummed_change_is_caught_by_the_sums_first(tmp_path: Path) -> None:
    make_bundle(tmp_path)
    flip(first(tmp_path, "media/*.mp4"), 100)
    done = run_standalone(tmp_path)
    assert done.returncode == 3 and "FAIL  sums:" in done.stdout and "media/" in done.stdout


def test_a_recording_not_included_is_a_gap_and_the_rest_verifies(tmp_path: Path) -> None:
    make_bundle(tmp_path, gap=1)
    done = run_standalone(tmp_path)
    assert done.returncode == 0, done.stdout
    assert "2 media files" in done.stdout and "1 recording(s) of the case not included: rec-1" in done.stdout
    assert "6 custody events" in done.stdout  # its events stay: they prove it was ingested


def test_a_removed_recording_that_case_json_says_is_included_fails(tmp_path: Path) -> None:
    made = make_bundle(tmp_path)
    (tmp_path / bundle.media_name(made.shas[0], "MP4")).unlink()
    resum(tmp_path)
    done = run_standalone(tmp_path)
    assert done.returncode == 3 and "FAIL  media: recording rec-0: included, but media/" in done.stdout


def test_a_manifest_signed_before_its_key_was_valid_fails(tmp_path: Path) -> None:
    make_bundle(tmp_path, key_valid_from=T0 + timedelta(days=1))
    done = run_standalone(tmp_path)
    assert done.returncode == 3 and "before key ed25519:" in done.stdout and "FAIL  manifests" in done.stdout


def test_a_path_argument_checks_another_folder_and_a_non_bundle_is_refused(tmp_path: Path) -> None:
    make_bundle(tmp_path / "b")
    done = subprocess.run(
        [sys.executable, str(STANDALONE), str(tmp_path / "b")], capture_output=True, text=True
    )
    assert done.returncode == 0 and "verdict: VERIFIED" in done.stdout
    done = subprocess.run([sys.executable, str(STANDALONE), str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 2 and "not an evidence bundle" in done.stdout


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13, 64])
def test_the_standalone_merkle_check_agrees_with_the_domain(size: int) -> None:
    leaves = [merkle.leaf_hash(str(i).encode()) for i in range(size)]
    root = merkle.root(leaves)
    for index in range(size):
        proof = merkle.inclusion_proof(index, leaves)
        verify_bundle.verify_inclusion(leaves[index], index, size, proof, root)
        mutations = [[*proof, root], [bytes(32), *proof[1:]]] + ([proof[:-1]] if proof else [])
        for bad in mutations:
            with pytest.raises(verify_bundle.Failed):
                verify_bundle.verify_inclusion(leaves[index], index, size, bad, root)
        with pytest.raises(verify_bundle.Failed):
            verify_bundle.verify_inclusion(leaves[index], index + size, size, proof, root)


def _rotated_keys(root: Path, forge: bool) -> None:
    """Replace keys.json with the bundle's key plus a successor whose rotation it signed."""
    doc = json.loads((root / "keys.json").read_bytes())
    first = doc["station_keys"][0]
    old_pem = (root / first["public_key"]).read_bytes()
    old_private = Ed25519PrivateKey.generate()  # a forger's key, not the one that signed
    new = Ed25519PrivateKey.generate()
    new_raw = new.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    rotation_sig = (old_private if forge else OLD_KEYS[old_pem]).sign(new_raw)
    new_pem = new.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    keys = [
        StationKey(first["key_id"], "st-test", old_pem, T0),
        StationKey(key_id(new.public_key()), "st-test", new_pem, T0 + timedelta(days=400),
                   previous_key_id=first["key_id"], rotation_signature=rotation_sig),
    ]  # fmt: skip
    log_key = NoteKey.parse((root / bundle.LOG_KEY_FILE).read_text().strip())
    for rel, data in bundle.key_files(list(reversed(keys)), log_key).items():  # the new key first
        (root / rel).write_bytes(data)
    resum(root)


@pytest.mark.parametrize("forge", [False, True])
def test_a_rotation_in_keys_json_is_checked_against_the_key_it_replaced(tmp_path: Path, forge: bool) -> None:
    make_bundle(tmp_path)
    _rotated_keys(tmp_path, forge)
    done = run_standalone(tmp_path)
    if forge:
        assert (
            done.returncode == 3 and "FAIL  keys:" in done.stdout and "rotation not signed by" in done.stdout
        )
    else:
        assert done.returncode == 0 and "2 station key(s)" in done.stdout, done.stdout
