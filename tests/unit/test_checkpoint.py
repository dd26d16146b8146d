"""Signed notes and checkpoints against the reference vector of Go's sumdb/note.

Ed25519 is deterministic, so signing the reference text with the reference key must give
the published note byte for byte: then any C2SP tool (Go's note package, witnesses, the
transparency-dev verifiers) reads our checkpoints, and we read theirs.
"""

from __future__ import annotations

import base64
import contextlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from recorder_sync.domain import merkle
from recorder_sync.domain.checkpoint import (
    Checkpoint,
    NoteKey,
    TlogProof,
    cosign,
    open_checkpoint,
    open_note,
    sign_note,
)
from recorder_sync.domain.errors import Error, ProofInvalid, SignatureInvalid

GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    b"If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT
    + b"\n"
    + "— PeterNeumann ".encode()
    + b"x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)


def _go_private() -> Ed25519PrivateKey:
    seed = base64.b64decode(GO_SKEY.split("+", 4)[4])
    assert seed[0] == 1
    return Ed25519PrivateKey.from_private_bytes(seed[1:])


def _key(name: str, private: Ed25519PrivateKey) -> NoteKey:
    return NoteKey(name, private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))


def test_signing_reproduces_the_go_reference_note_byte_for_byte() -> None:
    private = _go_private()
    key = _key("PeterNeumann", private)
    assert key.vkey == GO_VKEY
    assert NoteKey.parse(GO_VKEY) == key
    assert sign_note(GO_TEXT, key, private.sign) == GO_NOTE
    assert open_note(GO_NOTE, [key]) == (GO_TEXT, (key,))


def test_a_changed_text_or_signature_is_refused() -> None:
    key = NoteKey.parse(GO_VKEY)
    with pytest.raises(SignatureInvalid, match="does not match"):
        open_note(GO_NOTE.replace(b"cryptography", b"cryptographY"), [key])
    sig_at = GO_NOTE.rindex(b" ") + 10
    flipped = (
        GO_NOTE[:sig_at] + (b"A" if GO_NOTE[sig_at : sig_at + 1] != b"A" else b"B") + GO_NOTE[sig_at + 1 :]
    )
    with pytest.raises(SignatureInvalid):
        open_note(flipped, [key])


def test_unknown_signers_are_ignored_but_one_trusted_signature_is_needed() -> None:
    peter = NoteKey.parse(GO_VKEY)
    other_private = Ed25519PrivateKey.generate()
    other = _key("example.com/other", other_private)
    both = cosign(GO_NOTE, other, other_private.sign)
    assert open_note(both, [peter]) == (GO_TEXT, (peter,))
    assert open_note(both, [other, peter])[1] == (peter, other)
    with pytest.raises(SignatureInvalid, match="none of them a trusted key"):
        open_note(GO_NOTE, [other])
    # the same name with another key is another key: its signature is not peter's
    impostor = _key("PeterNeumann", other_private)
    with pytest.raises(SignatureInvalid, match="none of them a trusted key"):
        open_note(GO_NOTE, [impostor])


def test_verifier_keys_with_a_wrong_id_or_type_are_refused() -> None:
    name, key_id, material = GO_VKEY.split("+")
    for bad in (
        f"{name}+00000000+{material}",
        f"Other+{key_id}+{material}",
        f"{name}+{key_id}+" + base64.b64encode(b"\x02" + base64.b64decode(material)[1:]).decode(),
        f"{name}+{key_id}+!!",
        f"{name} x+{key_id}+{material}",
    ):
        with pytest.raises(SignatureInvalid):
            NoteKey.parse(bad)


def test_a_signer_that_does_not_hold_the_key_cannot_sign() -> None:
    key = NoteKey.parse(GO_VKEY)
    with pytest.raises(SignatureInvalid, match="does not hold"):
        sign_note(GO_TEXT, key, Ed25519PrivateKey.generate().sign)


def test_checkpoints_round_trip_and_need_their_origins_key() -> None:
    private = Ed25519PrivateKey.generate()
    key = _key("recorder-sync/station-7", private)
    root = merkle.root([merkle.leaf_hash(b"a"), merkle.leaf_hash(b"b")])
    cp = Checkpoint("recorder-sync/station-7", 2, root)
    assert cp.text() == b"recorder-sync/station-7\n2\n" + base64.b64encode(root) + b"\n"
    note = sign_note(cp.text(), key, private.sign)
    assert open_checkpoint(note, [key]) == cp
    other = _key("recorder-sync/station-8", private)
    with pytest.raises(SignatureInvalid, match="not signed by a trusted key of that origin"):
        open_checkpoint(sign_note(cp.text(), other, private.sign), [other])


@pytest.mark.parametrize(
    "text",
    [
        b"origin\n2\n",  # no root
        b"origin\n02\n" + base64.b64encode(b"\0" * 32) + b"\n",  # leading zero
        b"origin\n-1\n" + base64.b64encode(b"\0" * 32) + b"\n",
        b"origin\n2\n" + base64.b64encode(b"\0" * 31) + b"\n",  # short root
        b"origin\n2\n" + base64.b64encode(b"\0" * 32).rstrip(b"=") + b"\n",  # unpadded
        b"\n2\n" + base64.b64encode(b"\0" * 32) + b"\n",  # no origin
        b"origin\n2\n" + base64.b64encode(b"\0" * 32),  # no final newline
        b"origin\n2\n" + base64.b64encode(b"\0" * 32) + b"\n\n",  # empty extension line
        b"orig\tin\n2\n" + base64.b64encode(b"\0" * 32) + b"\n",  # control character
        b"origin\n2\n" + base64.b64encode(b"\0" * 32) + b"\nextension \xff\n",  # not UTF-8
    ],
)
def test_malformed_checkpoints_are_refused(text: bytes) -> None:
    with pytest.raises(SignatureInvalid, match="malformed"):
        Checkpoint.parse(text)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=200).map(str.encode))
def test_any_bytes_are_a_note_or_our_own_error(data: bytes) -> None:
    key = NoteKey.parse(GO_VKEY)
    for parse in (
        lambda: open_note(data, [key]),
        lambda: Checkpoint.parse(data),
        lambda: TlogProof.parse(data).verify(bytes(32), [key]),
    ):
        with contextlib.suppress(Error):  # anything else (ValueError, IndexError…) fails the test
            parse()


def test_tlog_proofs_round_trip_and_verify_offline() -> None:
    private = Ed25519PrivateKey.generate()
    key = _key("recorder-sync/station-7", private)
    leaves = [merkle.leaf_hash(f"event {i}".encode()) for i in range(11)]
    note = sign_note(Checkpoint(key.name, 11, merkle.root(leaves)).text(), key, private.sign)
    proof = TlogProof(6, tuple(merkle.inclusion_proof(6, leaves)), note, extra=b"rec-1")
    encoded = proof.encode()
    assert encoded.startswith(b"c2sp.org/tlog-proof@v1\nextra cmVjLTE=\nindex 6\n")
    assert TlogProof.parse(encoded) == proof
    assert TlogProof.parse(encoded).verify(leaves[6], [key]).size == 11
    with pytest.raises(ProofInvalid):
        proof.verify(leaves[5], [key])  # another event
    with pytest.raises(SignatureInvalid):
        proof.verify(leaves[6], [_key(key.name, Ed25519PrivateKey.generate())])  # another log key
    for bad in (
        encoded.replace(b"index 6", b"index 06"),
        encoded.replace(b"tlog-proof@v1", b"tlog-proof@v2"),
        encoded.replace(b"\n\n", b"\n", 1),
        encoded.replace(b"index 6\n", b"index 6\nAAAA\n"),
    ):
        with pytest.raises(SignatureInvalid, match="malformed"):
            TlogProof.parse(bad)
