"""Ed25519 key ids and signature checks on bytes (no I/O).

What a verifier needs is only here, so the auditor's tools need public keys
and nothing of the daemon's.  The key id is derived from the raw 32-byte
public key, so anyone can recompute it, e.g. with
``openssl pkey -pubin -in pub.pem -outform DER | tail -c 32 | sha256sum``.
"""

from __future__ import annotations

import hashlib

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key

from recorder_sync.domain.errors import KeyLost, KeyMismatch, SignatureInvalid

KEY_ID_PREFIX = "ed25519:"


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return KEY_ID_PREFIX + hashlib.sha256(raw).hexdigest()[:16]


def load_public_key(public_pem: bytes) -> Ed25519PublicKey:
    """Raises ``SignatureInvalid``: a public key we cannot use verifies nothing."""
    try:
        public_key = load_pem_public_key(public_pem)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise SignatureInvalid("public key", f"not a PEM SubjectPublicKeyInfo: {exc}") from exc
    if not isinstance(public_key, Ed25519PublicKey):
        raise SignatureInvalid("public key", f"not an Ed25519 key but {type(public_key).__name__}")
    return public_key


def key_id_from_pem(public_pem: bytes) -> str:
    return key_id(load_public_key(public_pem))


def raw_public_key(public_pem: bytes) -> bytes:
    """The 32 raw bytes of an Ed25519 public key: what a rotation statement signs (the new key,
    signed by the old one), so that ``openssl pkeyutl -verify -rawin`` checks it as it is."""
    return load_public_key(public_pem).public_bytes(Encoding.Raw, PublicFormat.Raw)


def verify_signature(public_pem: bytes, data: bytes, sig: bytes, subject: str | None = None) -> None:
    """Raise ``SignatureInvalid`` unless ``sig`` is the Ed25519 signature of ``data``.

    ``subject`` names what was signed in the message (default: the key id).
    """
    public_key = load_public_key(public_pem)
    try:
        public_key.verify(sig, data)
    except InvalidSignature:
        raise SignatureInvalid(subject or key_id(public_key), "signature does not match the data") from None


def check_station_key(signs_with: str | None, found: str | None, where: str) -> None:
    """Refuse to sign with anything but the key the station has signed with so far.

    ``signs_with`` is the station's current registered key id (None until it has signed
    anything), ``found`` the id of the key file at ``where`` (None when there is no file).
    A silently created or swapped key would split the evidence between keys with no
    custody record of why; only ``keys init --replace`` may change it.
    """
    if signs_with is None:
        return
    if found is None:
        raise KeyLost(where, signs_with)
    if found != signs_with:
        raise KeyMismatch(where, found, signs_with)
