"""The time-stamping client against a real TSA (``openssl ts -reply`` behind HTTP)."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from tsaserver import TsaServer, make_ca_and_signer

from recorder_sync.adapters.tsa import TsaClient
from recorder_sync.domain.errors import TimestampInvalid, TsaUnavailable
from recorder_sync.domain.timestamps import load_roots, verify_token

Tamper = Callable[[bytes, bytes, list[x509.Certificate]], tuple[bytes, bytes, list[x509.Certificate]]]
CHECKPOINT = b"recorder-sync/station-1\n42\nq83vEjRFZ4mrze8SNFVniavN7xI0VWeJq83vEjRFZ4k=\n"


def client(tsa: TsaServer) -> TsaClient:
    return TsaClient(tsa.url, load_roots(tsa.root_pem.read_bytes()))


def test_a_stamp_verifies_and_says_when(tsa_server: TsaServer) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    stamp = client(tsa_server).stamp(CHECKPOINT, "checkpoint 42")
    assert before - timedelta(seconds=1) <= stamp.time.at <= datetime.now(UTC) + timedelta(seconds=1)
    assert stamp.time.accuracy_seconds == 1
    assert "recorder-sync test TSA" in stamp.time.tsa
    # stored later, checked again without the client (the auditor's way)
    again = verify_token(
        stamp.reply, CHECKPOINT, load_roots(tsa_server.root_pem.read_bytes()), "checkpoint 42"
    )
    assert again == stamp.time


def test_openssl_verifies_the_stored_reply(tsa_server: TsaServer, tmp_path: Path) -> None:
    """The README's promise: an auditor checks the token with ``openssl ts -verify``."""
    stamp = client(tsa_server).stamp(CHECKPOINT, "checkpoint 42")
    (tmp_path / "checkpoint").write_bytes(CHECKPOINT)
    (tmp_path / "checkpoint.tsr").write_bytes(stamp.reply)
    done = subprocess.run(
        ["openssl", "ts", "-verify", "-data", "checkpoint", "-in", "checkpoint.tsr",
         "-CAfile", str(tsa_server.root_pem)],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0 and "Verification: OK" in done.stdout, done.stdout + done.stderr


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda data, reply, roots: (data + b"x", reply, roots), id="other-bytes"),
        pytest.param(
            lambda data, reply, roots: (data, reply[:-1] + bytes([reply[-1] ^ 1]), roots), id="flipped-byte"
        ),
        pytest.param(lambda data, reply, roots: (data, reply[:40], roots), id="truncated"),
        pytest.param(lambda data, reply, roots: (data, reply, []), id="no-roots"),
    ],
)
def test_a_reply_that_does_not_prove_the_bytes_is_refused(tsa_server: TsaServer, tamper: Tamper) -> None:
    stamp = client(tsa_server).stamp(CHECKPOINT, "checkpoint 42")
    data, reply, roots = tamper(CHECKPOINT, stamp.reply, load_roots(tsa_server.root_pem.read_bytes()))
    with pytest.raises(TimestampInvalid, match="checkpoint 42"):
        verify_token(reply, data, roots, "checkpoint 42")


def test_a_root_the_auditor_was_not_given_is_refused(tsa_server: TsaServer) -> None:
    stamp = client(tsa_server).stamp(CHECKPOINT, "checkpoint 42")
    with tempfile.TemporaryDirectory() as other:
        make_ca_and_signer(Path(other))
        stranger = x509.load_pem_x509_certificates((Path(other) / "root.crt").read_bytes())
    with pytest.raises(TimestampInvalid, match="checkpoint 42"):
        verify_token(stamp.reply, CHECKPOINT, stranger, "checkpoint 42")


def test_a_tsa_that_is_down_is_unavailable_not_invalid(tsa_server: TsaServer) -> None:
    tsa_server.stop()
    with pytest.raises(TsaUnavailable, match=tsa_server.url):
        client(tsa_server).stamp(CHECKPOINT, "checkpoint 42")


def test_a_reply_for_another_request_is_refused(tsa_server: TsaServer) -> None:
    """A replayed reply (another nonce) is not taken for this request's."""
    stamp = client(tsa_server).stamp(CHECKPOINT, "checkpoint 42")
    with pytest.raises(TimestampInvalid):
        verify_token(stamp.reply, CHECKPOINT, load_roots(tsa_server.root_pem.read_bytes()), "c", nonce=12345)
