"""RFC 3161 time-stamp tokens: what a token proves, checked without trusting the station.

A token is the time-stamping authority's signed statement "these bytes existed at this time".
It counts only when the reply was granted, its message imprint is the SHA-256 (or -384/-512) of
exactly the stamped bytes, the signature verifies, and the signer's certificate chains to a
root the verifier was given out of band (the auditor's ``trust.json``), with the
timeStamping key usage.  ``rfc3161-client`` does the ASN.1 and the chain; this module decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import rfc3161_client
from cryptography import x509

from recorder_sync.domain.errors import TimestampInvalid


@dataclass(frozen=True)
class StampedTime:
    """When the authority says the bytes existed, and how sure it is."""

    at: datetime
    accuracy_seconds: float | None
    tsa: str  # the signer's subject, for messages
    serial: int


def load_roots(pem: bytes) -> list[x509.Certificate]:
    """The trusted roots in a PEM bundle (at least one)."""
    try:
        roots = x509.load_pem_x509_certificates(pem)
    except ValueError as e:
        raise TimestampInvalid("the trusted roots", f"not PEM certificates ({e})") from None
    return roots


def verify_token(
    reply: bytes, data: bytes, roots: Sequence[x509.Certificate], what: str, *, nonce: int | None = None
) -> StampedTime:
    """Check a stored time-stamp reply (``TimeStampResp`` DER) over ``data``; the time it proves."""
    if not roots:
        raise TimestampInvalid(what, "no trusted time-stamping root was given")
    try:
        response = rfc3161_client.decode_timestamp_response(reply)
    except ValueError as e:
        raise TimestampInvalid(what, f"not a time-stamp reply ({e})") from None
    if response.status != rfc3161_client.PKIStatus.GRANTED:
        raise TimestampInvalid(what, f"the authority did not grant it (status {response.status})")
    builder = rfc3161_client.VerifierBuilder(nonce=nonce)
    for root in roots:
        builder = builder.add_root_certificate(root)
    try:
        builder.build().verify_message(response, data)
    except rfc3161_client.VerificationError as e:
        raise TimestampInvalid(what, str(e) or "signature or chain does not verify") from None
    info = response.tst_info
    accuracy = info.accuracy
    seconds = None
    if accuracy is not None:
        seconds = (accuracy.seconds or 0) + (accuracy.millis or 0) / 1e3 + (accuracy.micros or 0) / 1e6
    at = info.gen_time if info.gen_time.tzinfo else info.gen_time.replace(tzinfo=UTC)
    embedded = sorted(response.signed_data.certificates)
    tsa = x509.load_der_x509_certificate(embedded[0]).subject.rfc4514_string() if embedded else "unnamed"
    return StampedTime(at=at, accuracy_seconds=seconds, tsa=tsa, serial=info.serial_number)
