"""The station key in a PKCS#11 token (SoftHSM2): the private key never exists as a file, and
everything else stays the same: manifests verify with openssl, the key is never silently
replaced, a wrong PIN stops signing with the dock copy kept."""

from __future__ import annotations

import subprocess
from datetime import timedelta
from pathlib import Path

import pkcs11
import pytest
import sample_dock
from clirunner import env_for, run, run_json
from softhsm import Token

from recorder_sync.adapters import pkcs11_key
from recorder_sync.domain.errors import KeyProblem
from recorder_sync.domain.signatures import verify_signature


def video(dock: Path, n: int) -> Path:
    dock.mkdir(exist_ok=True)
    path = dock / f"DSJ-A1_031245_2026112708301{n}_000{n}.MP4"
    # another start time burns another timestamp into the picture: other bytes
    sample_dock.make_video(path, start=sample_dock.sample_plan()[0].start + timedelta(minutes=n), seconds=1)
    return path


def openssl_verify(folder: Path) -> subprocess.CompletedProcess[str]:
    cmd = (
        "openssl pkeyutl -verify -pubin -inkey station.pub.pem -rawin -in manifest.json -sigfile manifest.sig"
    )
    return subprocess.run(cmd.split(), cwd=folder, capture_output=True, text=True)


def test_ingest_signs_in_the_token_and_openssl_verifies(tmp_path: Path, db_url: str, token: Token) -> None:
    env = env_for(tmp_path / "home", db_url, **token.env)
    video(tmp_path / "dock", 1)
    r = run(env, "ingest", str(tmp_path / "dock"), "--stable-seconds", "0")
    assert r.returncode == 0, r.stderr
    assert not (tmp_path / "home" / "keys" / "station.key").exists(), "no key file with a token"
    (rec,) = run_json(env, "list")
    signer = pkcs11_key.Pkcs11Signer(token.settings)
    assert rec["key_id"] == signer.key_id
    out = tmp_path / "m"
    assert run(env, "manifest", rec["id"], "--out", str(out)).returncode == 0
    done = openssl_verify(out)
    assert done.returncode == 0 and "Signature Verified Successfully" in done.stdout, done.stderr
    exported = run(env, "keys", "export-public")
    assert exported.returncode == 0 and exported.stdout.encode() == signer.public_key_pem()
    signer.close()


def test_the_private_key_is_sensitive_and_never_extractable(token: Token) -> None:
    pkcs11_key.create_key(token.settings).close()
    with (
        pkcs11.lib(str(token.settings.module))
        .get_token(token_label=token.settings.token)
        .open(user_pin="1234") as s
    ):
        private = s.get_key(object_class=pkcs11.ObjectClass.PRIVATE_KEY, label="station")
        assert private[pkcs11.Attribute.SENSITIVE] is True
        assert private[pkcs11.Attribute.EXTRACTABLE] is False
        with pytest.raises(pkcs11.PKCS11Error):
            private[pkcs11.Attribute.VALUE]
    signer = pkcs11_key.Pkcs11Signer(token.settings)
    signature = signer.sign(b"manifest bytes")
    verify_signature(signer.public_key_pem(), b"manifest bytes", signature)
    with pytest.raises(KeyProblem, match="already holds a key labelled 'station'"):
        pkcs11_key.create_key(token.settings)
    signer.close()


def test_a_wrong_pin_stops_ingest_and_keeps_the_dock_copy(tmp_path: Path, db_url: str, token: Token) -> None:
    env = env_for(tmp_path / "home", db_url, **{**token.env, "RECORDER_SYNC_PKCS11_PIN": "9999"})
    original = video(tmp_path / "dock", 1)
    r = run(env, "ingest", str(tmp_path / "dock"), "--stable-seconds", "0")
    assert r.returncode == 5, r.stderr
    assert f"PIN of PKCS#11 token {token.settings.token!r} was refused" in r.stderr
    assert "9999" not in r.stderr + r.stdout
    assert original.exists()


@pytest.mark.slow
def test_a_replaced_token_key_is_a_custody_event_and_old_manifests_still_verify(
    tmp_path: Path,
    db_url: str,
    token: Token,
) -> None:
    env = env_for(tmp_path / "home", db_url, **token.env)
    video(tmp_path / "dock", 1)
    assert run(env, "ingest", str(tmp_path / "dock"), "--stable-seconds", "0").returncode == 0
    (first,) = {rec["key_id"] for rec in run_json(env, "list")}

    # the same label again is refused: the key that signed stays in the token
    r = run(env, "keys", "init", "--replace", "--reason", "token rotated")
    assert r.returncode == 5 and "already holds a key labelled 'station'" in r.stderr
    # a token key that vanished is never made up again behind the operator's back
    renamed = token.with_label("station-2026")
    r = run(env_for(tmp_path / "home", db_url, **renamed.env), "ingest", str(tmp_path / "dock"))
    assert r.returncode == 5 and first in r.stderr

    env2 = env_for(tmp_path / "home", db_url, **renamed.env)
    r = run(env2, "keys", "init", "--replace", "--reason", "yearly rotation")
    assert r.returncode == 0, r.stderr
    assert f"retired {first}" in r.stdout and "station-2026" in r.stdout
    video(tmp_path / "dock", 2)
    assert run(env2, "ingest", str(tmp_path / "dock"), "--stable-seconds", "0").returncode == 0
    recs = run_json(env2, "list")
    assert len({rec["key_id"] for rec in recs}) == 2
    for i, rec in enumerate(recs):
        out = tmp_path / f"m{i}"
        assert run(env2, "manifest", rec["id"], "--out", str(out)).returncode == 0
        assert openssl_verify(out).returncode == 0
