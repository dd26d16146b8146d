"""An RFC 3161 time-stamping authority over HTTP (``[timestamping] tsa_url``).

``stamp`` sends the SHA-256 of the bytes with a fresh nonce, and keeps the reply only once it
verifies against the configured roots (``domain.timestamps.verify_token``), so what is stored
beside a checkpoint is already a token an auditor can check.  A TSA that cannot be reached
raises ``TsaUnavailable`` (retried later, never in the way of ingest); a reply that does not
verify raises ``TimestampInvalid``.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field

import rfc3161_client
from cryptography import x509

from recorder_sync.domain.errors import TsaUnavailable
from recorder_sync.domain.timestamps import Stamp, verify_token

MAX_REPLY = 1 << 20  # a reply is a few KiB; more is not a time-stamp reply


@dataclass
class TsaClient:
    url: str
    roots: Sequence[x509.Certificate] = field(repr=False)
    timeout: float = 10.0

    def stamp(self, data: bytes, what: str) -> Stamp:
        request = (
            rfc3161_client.TimestampRequestBuilder()
            .data(data)
            .hash_algorithm(rfc3161_client.HashAlgorithm.SHA256)
            .nonce(nonce=True)
            .cert_request(cert_request=True)
            .build()
        )
        post = urllib.request.Request(
            self.url,
            data=request.as_bytes(),
            headers={"Content-Type": "application/timestamp-query"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(post, timeout=self.timeout) as reply:
                body: bytes = reply.read(MAX_REPLY + 1)
        except (urllib.error.URLError, OSError, TimeoutError) as e:
            raise TsaUnavailable(f"{self.url}: {getattr(e, 'reason', e)}") from None
        if len(body) > MAX_REPLY:
            raise TsaUnavailable(f"{self.url}: the reply is larger than {MAX_REPLY} bytes")
        return Stamp(body, verify_token(body, data, self.roots, what, nonce=request.nonce))
