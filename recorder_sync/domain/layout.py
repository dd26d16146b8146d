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


# --- derived material: exported clips, frames, mosaics -----------------------------------
# ``derived/sha256/ab/cd/<sha256>``: a derived file, content-addressed like the evidence but
# under its own prefix, so that replay's credentials may write there and nowhere else (the
# originals stay out of their reach). One provenance may describe several files (a set of
# frames), and the same bytes may be derived more than once (the same range exported again,
# by someone else, for another reason): each provenance is therefore named by its own
# SHA-256, ``derived/provenance/ab/cd/<sha256>.json``, its signature beside it (``.sig``),
# so that none replaces another.

DERIVED_PREFIX = "derived/"


def derived_key(sha256: str) -> str:
    return DERIVED_PREFIX + media_key(sha256)


def provenance_key(provenance_sha256: str) -> str:
    return DERIVED_PREFIX + media_key(provenance_sha256).replace("sha256/", "provenance/", 1) + ".json"


def provenance_signature_key(provenance_sha256: str) -> str:
    return provenance_key(provenance_sha256).removesuffix(".json") + ".sig"


# --- the custody log's checkpoints -------------------------------------------------------
# ``log/<origin>/checkpoint/<size>``: one write-once object per signed tree size, so that
# whatever the database later says, what was published stays where an auditor finds it.
# The size is written with 20 digits, so that the keys sort as the sizes do: the latest is
# found by listing only past a known one (a store lists keys in order), not every one of
# the half a million a year that a busy station publishes.

_SIZE_DIGITS = 20

_ORIGIN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*(/[A-Za-z0-9_][A-Za-z0-9._-]*)*$")


def check_origin(origin: str) -> str:
    """A log origin usable as a key prefix in every store and as a note key name."""
    if not _ORIGIN.match(origin) or len(origin) > 200:
        raise ValueError(
            f"log origin {origin!r}: letters, digits, '.', '_', '-', parts joined by '/', "
            "none starting with '.' or '-'"
        )
    return origin


def checkpoint_prefix(origin: str) -> str:
    return f"log/{check_origin(origin)}/checkpoint/"


def checkpoint_key(origin: str, size: int) -> str:
    if size < 0:
        raise ValueError(f"a tree size is not negative: {size}")
    return f"{checkpoint_prefix(origin)}{size:0{_SIZE_DIGITS}d}"


def checkpoint_size(origin: str, key: str) -> int | None:
    """The tree size a checkpoint key names; None for any other key under the prefix."""
    rest = key.removeprefix(checkpoint_prefix(origin))
    if rest == key or len(rest) != _SIZE_DIGITS or not rest.isdigit():
        return None
    return int(rest)


# --- the checkpoints' time-stamp tokens ----------------------------------------------------
# ``log/<origin>/timestamp/<size>``: the RFC 3161 reply (``TimeStampResp`` DER) over the exact
# bytes of ``checkpoint_key(origin, size)``, written once beside it, with the same retention.


def timestamp_prefix(origin: str) -> str:
    return f"log/{check_origin(origin)}/timestamp/"


def timestamp_key(origin: str, size: int) -> str:
    if size < 0:
        raise ValueError(f"a tree size is not negative: {size}")
    return f"{timestamp_prefix(origin)}{size:0{_SIZE_DIGITS}d}"


def timestamp_size(origin: str, key: str) -> int | None:
    """The tree size a token key names; None for any other key under the prefix."""
    rest = key.removeprefix(timestamp_prefix(origin))
    if rest == key or len(rest) != _SIZE_DIGITS or not rest.isdigit():
        return None
    return int(rest)
