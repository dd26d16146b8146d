"""Where and how the S3 store stores: the one settings type of ``adapters.s3store``.

Kept apart from the store so that reading the configuration (every command) does not
import minio; only a command that stores imports the store itself.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final, NoReturn

from recorder_sync.domain.errors import ConfigError

MiB: Final = 1024 * 1024
MIN_PART_SIZE: Final = 5 * MiB  # S3's lower limit for every part but the last
MAX_PART_SIZE: Final = 5 * 1024 * MiB


def _default_classes() -> Mapping[str, int]:
    return {"ordinary": 180, "evidence": 3650}


@dataclass(frozen=True)
class S3Settings:
    """Where and how to store; validated on construction (``ConfigError``)."""

    endpoint: str  # URL with scheme: http://127.0.0.1:7480, https://s3.example.org
    bucket: str
    access_key: str = field(repr=False)
    secret_key: str = field(repr=False)
    region: str = "us-east-1"
    ca_bundle: str | None = None  # PEM file of the CA that signed the server's certificate
    part_size: int = 16 * MiB
    parallel_uploads: int = 4
    retention_days: Mapping[str, int] = field(default_factory=_default_classes)  # class -> days
    default_retention_class: str = "ordinary"
    create_bucket: bool = True  # with Object Lock and a default COMPLIANCE rule, if missing
    connect_timeout: float = 10.0
    read_timeout: float = 120.0
    retries: int = 3  # per HTTP request, for connection errors and 5xx answers
    # "full": re-read the stored object and recompute its SHA-256 (default; at about 500 MB/s
    # from RGW it costs a fraction of the upload). "stat": size, our sha256 metadata and the
    # COMPLIANCE lock only, relying on per-part integrity during the upload (SigV4 signs each
    # part's SHA-256 over http; TLS protects it over https) — for very large files where a
    # second full transfer is too dear; a later audit re-hash (sampled or full) closes the gap.
    verify: str = "full"

    def __post_init__(self) -> None:
        def bad(key: str, why: str) -> NoReturn:
            raise ConfigError("S3 settings", key, why)

        url = urllib.parse.urlsplit(self.endpoint)
        if url.scheme not in ("http", "https") or not url.hostname:
            bad("endpoint", f"{self.endpoint!r} is not an http:// or https:// URL")
        if url.path not in ("", "/") or url.query or url.fragment or url.username:
            bad("endpoint", f"{self.endpoint!r}: give scheme, host and port only")
        if self.ca_bundle is not None and url.scheme != "https":
            bad("ca_bundle", "a CA bundle needs an https:// endpoint")
        if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", self.bucket) or ".." in self.bucket:
            bad("bucket", f"{self.bucket!r} is not a valid S3 bucket name")
        if not self.access_key or not self.secret_key:
            bad("access_key", "access key and secret key are both required")
        if not MIN_PART_SIZE <= self.part_size <= MAX_PART_SIZE:
            bad("part_size", f"{self.part_size} is outside {MIN_PART_SIZE}..{MAX_PART_SIZE} bytes")
        if self.verify not in ("full", "stat"):
            bad("verify", f"expected 'full' or 'stat', got {self.verify!r}")
        if not 1 <= self.parallel_uploads <= 64:
            bad("parallel_uploads", f"{self.parallel_uploads} is outside 1..64")
        if not self.retention_days:
            bad("retention_days", "at least one retention class is needed")
        for name, days in self.retention_days.items():
            if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 36500:
                bad("retention_days", f"class {name!r}: {days!r} is not a number of days in 1..36500")
        if self.default_retention_class not in self.retention_days:
            bad("default_retention_class", f"{self.default_retention_class!r} is not a retention class")
        if self.retries < 0:
            bad("retries", "must not be negative")
        object.__setattr__(self, "retention_days", MappingProxyType(dict(self.retention_days)))

    @property
    def secure(self) -> bool:
        return urllib.parse.urlsplit(self.endpoint).scheme == "https"

    @property
    def host(self) -> str:
        """host[:port], as minio wants it."""
        return urllib.parse.urlsplit(self.endpoint).netloc

    def days_for(self, retention_class: str | None) -> int:
        name = retention_class or self.default_retention_class
        try:
            return self.retention_days[name]
        except KeyError:
            raise ConfigError("S3 settings", "retention_days", f"unknown retention class {name!r}") from None
