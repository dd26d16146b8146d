"""Content-addressed object keys: derived from the SHA-256 alone, so the same
bytes always land on the same key, whatever store holds them."""

from __future__ import annotations

import re

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def media_key(sha256: str) -> str:
    if not _SHA256.match(sha256):
        raise ValueError(f"not a lowercase hex SHA-256: {sha256!r}")
    return f"sha256/{sha256[:2]}/{sha256[2:4]}/{sha256}"


def manifest_key(sha256: str) -> str:
    return media_key(sha256) + ".manifest.json"


def signature_key(sha256: str) -> str:
    return media_key(sha256) + ".manifest.sig"
