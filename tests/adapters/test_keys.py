"""Station keys on real files, cross-checked with the real openssl command."""

from __future__ import annotations

import hashlib
import os
import re
import stat
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from recorder_sync.adapters.keys import (
    FileSigner,
    create_key,
    destroy_key_file,
    load_if_present,
    load_key,
    load_or_create,
    retire_key,
)
from recorder_sync.domain.errors import (
    KeyFolderPermissionError,
    KeyPermissionError,
    KeyProblem,
    SignatureInvalid,
    VerificationFailed,
)
from recorder_sync.domain.signatures import key_id_from_pem, verify_signature


def openssl(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["openssl", *map(str, args)], capture_output=True, check=check, timeout=60)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """A permissive umask must not loosen the key's modes."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture
def key_path(tmp_path: Path) -> Path:
    return tmp_path / "etc" / "keys" / "station.key"


def test_create_writes_0600_key_in_new_0700_folder(key_path: Path, loose_umask: None) -> None:
    signer = create_key(key_path)
    assert mode(key_path) == 0o600
    assert mode(key_path.parent) == 0o700
    assert os.listdir(key_path.parent) == ["station.key"], "no temporary file left behind"
    assert key_path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----\n")
    text = openssl("pkey", "-in", key_path, "-noout", "-text").stdout
    assert b"ED25519 Private-Key" in text
    assert signer.path == key_path


def test_create_refuses_to_overwrite(key_path: Path) -> None:
    create_key(key_path)
    before = key_path.read_bytes()
    with pytest.raises(KeyProblem, match="already exists"):
        create_key(key_path)
    assert key_path.read_bytes() == before
    assert os.listdir(key_path.parent) == ["station.key"]


def test_create_refuses_an_existing_folder_others_can_enter(tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    with pytest.raises(KeyFolderPermissionError, match=f"chmod 700 {folder}"):
        create_key(folder / "k.pem")
    assert mode(folder) == 0o755, "an operator's folder is reported, not changed"
    assert os.listdir(folder) == []


def test_create_makes_every_missing_folder_private(tmp_path: Path, loose_umask: None) -> None:
    create_key(tmp_path / "a" / "b" / "k.pem")
    assert mode(tmp_path / "a") == mode(tmp_path / "a" / "b") == 0o700


@pytest.mark.parametrize("bad", [0o750, 0o705, 0o755, 0o777])
def test_load_refuses_a_key_folder_others_can_enter(key_path: Path, bad: int) -> None:
    created = create_key(key_path)
    key_path.parent.chmod(bad)
    with pytest.raises(KeyFolderPermissionError) as info:
        load_key(key_path)
    assert oct(bad) in str(info.value) and info.value.exit_code == 5
    key_path.parent.chmod(0o700)
    assert load_key(key_path).key_id == created.key_id


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file to another user")
@pytest.mark.parametrize("what", ["file", "folder"])
def test_load_refuses_a_key_or_folder_owned_by_someone_else(key_path: Path, what: str) -> None:
    create_key(key_path)
    os.chown(key_path if what == "file" else key_path.parent, 65534, -1)
    with pytest.raises(KeyProblem, match="belongs to uid 65534, not to the user running") as info:
        load_key(key_path)
    assert info.value.exit_code == 5


def test_retire_moves_the_key_aside_and_never_overwrites(key_path: Path) -> None:
    now = datetime(2026, 11, 29, 23, 0, tzinfo=UTC)
    assert retire_key(key_path, now) is None
    signer = create_key(key_path)
    before = key_path.read_bytes()
    moved = retire_key(key_path, now)
    assert moved is not None and moved.name == "station.key.retired-20261129T230000000000Z"
    assert moved.read_bytes() == before and not key_path.exists() and mode(moved) == 0o600
    assert load_if_present(key_path) is None
    create_key(key_path)
    with pytest.raises(KeyProblem, match="cannot move key"):
        retire_key(key_path, now)  # same name taken: refused, nothing lost
    assert moved.read_bytes() == before and key_path.exists()
    assert load_key(moved).key_id == signer.key_id


@pytest.mark.parametrize("bad", [0o640, 0o644, 0o604, 0o660, 0o620, 0o666])
def test_load_refuses_key_others_can_access(key_path: Path, bad: int) -> None:
    create_key(key_path)
    key_path.chmod(bad)
    with pytest.raises(KeyPermissionError) as info:
        load_key(key_path)
    message = str(info.value)
    assert oct(bad) in message
    assert f"chmod 600 {key_path}" in message
    assert info.value.exit_code == 5


@pytest.mark.parametrize("good", [0o600, 0o400])
def test_load_accepts_owner_only_key(key_path: Path, good: int) -> None:
    created = create_key(key_path)
    key_path.chmod(good)
    assert load_key(key_path).key_id == created.key_id


def test_key_id_is_stable_and_derived_from_the_raw_public_key(key_path: Path, tmp_path: Path) -> None:
    created = create_key(key_path)
    assert re.fullmatch(r"ed25519:[0-9a-f]{16}", created.key_id)
    assert load_key(key_path).key_id == created.key_id
    assert load_key(key_path).key_id == created.key_id
    assert key_id_from_pem(created.public_key_pem()) == created.key_id
    # Recompute it with openssl alone: the last 32 bytes of the DER public key are the raw key.
    der = openssl("pkey", "-in", key_path, "-pubout", "-outform", "DER").stdout
    assert len(der) == 44
    assert created.key_id == "ed25519:" + hashlib.sha256(der[-32:]).hexdigest()[:16]
    assert create_key(tmp_path / "other.key").key_id != created.key_id


def test_public_key_pem_matches_openssl(key_path: Path) -> None:
    signer = create_key(key_path)
    assert signer.public_key_pem() == openssl("pkey", "-in", key_path, "-pubout").stdout
    assert signer.public_key_pem().startswith(b"-----BEGIN PUBLIC KEY-----\n")


def _openssl_verifies(tmp_path: Path, public_pem: bytes, data: bytes, sig: bytes) -> bool:
    (tmp_path / "pub.pem").write_bytes(public_pem)
    (tmp_path / "data").write_bytes(data)
    (tmp_path / "sig").write_bytes(sig)
    done = openssl(
        "pkeyutl",
        "-verify",
        "-pubin",
        "-inkey",
        tmp_path / "pub.pem",
        "-rawin",
        "-in",
        tmp_path / "data",
        "-sigfile",
        tmp_path / "sig",
        check=False,
    )
    return done.returncode == 0 and b"Signature Verified Successfully" in done.stdout


def test_signature_verifies_with_openssl_and_ours(key_path: Path, tmp_path: Path) -> None:
    signer = load_or_create(key_path)
    data = b'{"sha256":"00ff","station":"st-1"}'
    sig = signer.sign(data)
    assert len(sig) == 64
    assert signer.sign(data) == sig, "Ed25519 signatures are deterministic"
    assert _openssl_verifies(tmp_path, signer.public_key_pem(), data, sig)
    verify_signature(signer.public_key_pem(), data, sig)

    tampered = data.replace(b"st-1", b"st-2")
    assert not _openssl_verifies(tmp_path, signer.public_key_pem(), tampered, sig)
    with pytest.raises(SignatureInvalid) as info:
        verify_signature(signer.public_key_pem(), tampered, sig, subject="manifest of rec-1")
    assert "manifest of rec-1" in str(info.value)
    assert isinstance(info.value, VerificationFailed)


@pytest.mark.parametrize("flip", [0, 31, 63])
def test_tampered_signature_is_invalid(key_path: Path, flip: int) -> None:
    signer = create_key(key_path)
    sig = bytearray(signer.sign(b"data"))
    sig[flip] ^= 0x01
    with pytest.raises(SignatureInvalid, match=re.escape(signer.key_id)):
        verify_signature(signer.public_key_pem(), b"data", bytes(sig))


def test_other_key_or_short_signature_is_invalid(key_path: Path, tmp_path: Path) -> None:
    signer = create_key(key_path)
    other = create_key(tmp_path / "other.key")
    sig = signer.sign(b"data")
    with pytest.raises(SignatureInvalid):
        verify_signature(other.public_key_pem(), b"data", sig)
    with pytest.raises(SignatureInvalid):
        verify_signature(signer.public_key_pem(), b"data", sig[:63])
    with pytest.raises(SignatureInvalid, match="PEM"):
        verify_signature(b"not a key", b"data", sig)


def test_key_made_by_openssl_loads_and_signs(tmp_path: Path) -> None:
    path = tmp_path / "openssl.key"
    openssl("genpkey", "-algorithm", "ed25519", "-out", path)
    path.chmod(0o600)
    signer = load_key(path)
    der = openssl("pkey", "-in", path, "-pubout", "-outform", "DER").stdout
    assert signer.key_id == "ed25519:" + hashlib.sha256(der[-32:]).hexdigest()[:16]
    assert _openssl_verifies(tmp_path, signer.public_key_pem(), b"x", signer.sign(b"x"))


def test_missing_key_says_what_to_run(key_path: Path) -> None:
    with pytest.raises(KeyProblem) as info:
        load_key(key_path)
    assert str(key_path) in str(info.value)
    assert "recorder-sync keys init" in str(info.value)


@pytest.mark.parametrize(
    "content",
    [b"", b"garbage\n", b"-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2Vw\n-----END PRIVATE KEY-----\n"],
    ids=["empty", "garbage", "truncated"],
)
def test_corrupt_key_is_a_key_error(key_path: Path, content: bytes) -> None:
    key_path.parent.mkdir(parents=True, mode=0o700)
    key_path.write_bytes(content)
    key_path.chmod(0o600)
    with pytest.raises(KeyProblem) as info:
        load_key(key_path)
    assert not isinstance(info.value, KeyPermissionError)
    assert str(key_path) in str(info.value)
    assert "recorder-sync keys init" in str(info.value)


def test_non_ed25519_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ec.key"
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path)
    path.chmod(0o600)
    with pytest.raises(KeyProblem, match="not an Ed25519 key"):
        load_key(path)


def test_encrypted_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "enc.key"
    openssl("genpkey", "-algorithm", "ed25519", "-aes-256-cbc", "-pass", "pass:secret", "-out", path)
    path.chmod(0o600)
    with pytest.raises(KeyProblem, match="encrypted"):
        load_key(path)


def test_directory_is_not_a_key(tmp_path: Path) -> None:
    (tmp_path / "dir.key").mkdir(mode=0o700)
    with pytest.raises(KeyProblem):
        load_key(tmp_path / "dir.key")


def test_load_or_create_creates_once(key_path: Path) -> None:
    first = load_or_create(key_path)
    second = load_or_create(key_path)
    assert isinstance(second, FileSigner)
    assert first.key_id == second.key_id
    assert mode(key_path) == 0o600


def test_load_or_create_still_checks_permissions(key_path: Path) -> None:
    load_or_create(key_path)
    key_path.chmod(0o644)
    with pytest.raises(KeyPermissionError):
        load_or_create(key_path)


def test_repr_shows_no_secret(key_path: Path) -> None:
    signer = create_key(key_path)
    assert "PRIVATE" not in repr(signer)
    assert signer.key_id in repr(signer)


def test_destroy_key_file_overwrites_the_bytes_before_removing_the_name(tmp_path: Path) -> None:
    folder = tmp_path / "keys"
    key = create_key(folder / "station.key")
    pem = key.path.read_bytes()
    # a second name for the same inode shows what the blocks hold once the key's name is gone
    witness = folder / "witness"
    os.link(key.path, witness)
    destroy_key_file(key.path)
    assert not key.path.exists()
    left = witness.read_bytes()
    assert len(left) == len(pem) and left != pem and b"PRIVATE KEY" not in left


def test_destroy_key_file_that_is_missing_is_a_key_problem(tmp_path: Path) -> None:
    with pytest.raises(KeyProblem, match="cannot destroy the old key file"):
        destroy_key_file(tmp_path / "absent.key")
