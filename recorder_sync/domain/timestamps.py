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
from datetime import UTC, datetime, timedelta

import rfc3161_client
from cryptography import x509

from recorder_sync.domain.errors import TimestampInvalid
from recorder_sync.domain.times import utc_iso


@dataclass(frozen=True)
class StampedTime:
    """When the authority says the bytes existed, and how sure it is."""

    at: datetime
    accuracy_seconds: float | None
    tsa: str  # the signer's subject, for messages
    serial: int


@dataclass(frozen=True)
class Stamp:
    reply: bytes  # the TimeStampResp DER, stored as is (``openssl ts -reply -in`` reads it)
    time: StampedTime


DRIFT_LIMIT = timedelta(seconds=60)
"""A station clock further than this from the authority's raises ``station-clock-drift``."""


def drift_ms(station_time: datetime, tsa_time: datetime) -> int:
    """The station clock minus the authority's time, in whole milliseconds (positive: ahead)."""
    return round((station_time - tsa_time) / timedelta(milliseconds=1))


def drift_too_large(drift: int) -> bool:
    return abs(drift) > DRIFT_LIMIT / timedelta(milliseconds=1)


def token_details(size: int, stamped: StampedTime, drift: int) -> dict[str, object]:
    """What the ``timestamped`` custody event says of a token (``status`` reads it back)."""
    return {"size": size, "tsa_time": utc_iso(stamped.at), "drift_ms": drift, "tsa": stamped.tsa}


def not_before(stamped: StampedTime, event_at: datetime, what: str) -> None:
    """A token over a checkpoint cannot be older than the checkpoint's last event.  The
    authority's stated accuracy, and the whole second a time without fraction stands for,
    count in its favour (the event's stamp has microseconds, OpenSSL's time has none)."""
    slack = timedelta(seconds=stamped.accuracy_seconds or 0)
    latest = stamped.at + slack
    if stamped.at.microsecond == 0:
        latest += timedelta(seconds=1)
    if latest <= event_at:
        raise TimestampInvalid(
            what,
            f"its time {utc_iso(stamped.at)} is before the checkpoint's last event ({utc_iso(event_at)})",
        )


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
