"""S3 object storage with write-once (Object Lock COMPLIANCE) retention, through the minio SDK.

Tested against Ceph RGW; written for any S3 server with Object Lock (MinIO, RGW, AWS).

What this adapter guarantees, and how:

* **Nothing wrong is stored.** ``put_stream`` reads the source once and the bytes are
  checked against the expected SHA-256 before the object exists: a multipart upload is
  hashed as it is read and aborted instead of completed when they differ; a single PUT
  over plain http is signed with the expected SHA-256 as its payload hash, which the
  server checks against the body and refuses on a mismatch (over https, where minio sends
  an unsigned payload, the bytes are hashed here and a mismatch is not sent).  Multipart
  is driven here rather than by ``Minio.put_object`` so that this decision sits between
  the last part and CompleteMultipartUpload, memory stays bounded (``parallel_uploads``
  parts), no worker thread outlives a failed upload, and progress counts bytes the server
  accepted.
* **Write-once.** Every object gets a COMPLIANCE retain-until date of *stored time +
  retention-class days*.  A single PUT carries it in its Object Lock headers; the first
  PUT of each store is looked up to see that the server honoured them, and when it did not,
  every object's date is set explicitly after the upload, as it is for a multipart upload
  whose bucket default is shorter: RGW ignores Object Lock headers on
  CreateMultipartUpload, although it applies the bucket's default rule, which we also set
  when we create the bucket.  Retention is only ever extended, never shortened.
* **Few requests per file.** A file no larger than the parts a multipart upload holds in
  flight goes up in one PUT; a PUT whose answer names the new version is not looked up
  again; the manifest and signature stored right after new media are put without a
  look-up (none can exist yet); a full ``verify`` is one GET, whose headers say what a
  HEAD would.  A 40 MiB clip costs five requests: HEAD, three PUTs, GET.
* **Damage is repaired by a new version.** ``restore_stream`` uploads the bytes again when
  the latest version is missing (a delete marker) or fails ``verify``; the new version
  becomes the latest, and the damaged one, locked like every version, stays below it.  A
  plain re-put would not do: it trusts the size and sha256 metadata of what is there.
* **Our hash is the evidence hash.** The SHA-256 travels as ``x-amz-meta-sha256``;
  ``verify`` re-reads the stored bytes and recomputes it.  ETags are never used.
* **Two error families.**  Wrong bytes, a wrong size, a missing object or a missing lock
  raise ``IntegrityFailure``; an unreachable, overloaded or failing server raises
  ``StorageUnavailable`` (retry later); a refusal that a retry cannot fix (credentials,
  permissions, missing bucket, bucket without Object Lock) raises ``StorageRejected``.
  No minio or urllib3 exception leaves this module.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import logging
import re
import string
import threading
import urllib.parse
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import IO, Any, BinaryIO, Final, cast

import certifi
import urllib3
from minio import Minio
from minio.commonconfig import COMPLIANCE
from minio.credentials.credentials import Credentials
from minio.datatypes import Part
from minio.error import InvalidResponseError, MinioException, S3Error, ServerError
from minio.helpers import DictType
from minio.objectlockconfig import DAYS, ObjectLockConfig
from minio.retention import Retention
from urllib3.util import Retry, Timeout

from recorder_sync.adapters.s3settings import MiB, S3Settings
from recorder_sync.domain import layout
from recorder_sync.domain.errors import (
    Error,
    IntegrityFailure,
    NotFound,
    RetentionUnchecked,
    SourceChanged,
    SourceUnavailable,
    StorageRejected,
    StorageUnavailable,
)
from recorder_sync.domain.evidence_audit import lock_problem
from recorder_sync.domain.model import StoredObject
from recorder_sync.domain.ports import Clock, Progress
from recorder_sync.io.hashing import sha256_file

log = logging.getLogger(__name__)

MAX_PARTS: Final = 10_000
MAX_PUT_SIZE: Final = 5 * 1024 * MiB  # S3's limit for one PUT
SHA256_META: Final = "sha256"
_READ_CHUNK: Final = 1 * MiB
# Servers keep a retain-until date to the millisecond or the second, and Last-Modified (from
# which a re-put's date is computed) to the second: dates within this of each other are equal.
_DATE_SLACK: Final = timedelta(seconds=1)
_SHA256_RE: Final = re.compile(r"^[0-9a-f]{64}$")
_META_NAME_RE: Final = re.compile(r"^[a-z0-9][a-z0-9-]*$")
# Header values must be visible ASCII; anything else (and '%') is percent-encoded as UTF-8.
_META_SAFE: Final = "".join(sorted(set(string.printable) - set(string.whitespace) - {"%"})) + " "

# S3 error codes that mean "try again later"; any other refusal is final.
_RETRYABLE_CODES: Final = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TooManyRequests",
        "ServiceUnavailable",
        "InternalError",
        "RequestTimeout",
        "OperationAborted",
        "XMinioServerNotInitialized",
    }
)
_NOT_FOUND_CODES: Final = frozenset({"NoSuchKey", "NoSuchVersion", "ResourceNotFound"})
_NO_LOCK_CONFIG_CODES: Final = frozenset(
    {
        "NoSuchObjectLockConfiguration",
        "ObjectLockConfigurationNotFoundError",
        "ObjectLockConfigurationNotFound",
    }
)
_CREDENTIAL_CODES: Final = frozenset(
    {"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken"}
)


# --- error translation ----------------------------------------------------------------


def _describe(exc: BaseException) -> str:
    if isinstance(exc, S3Error):
        return f"{exc.code}: {exc.message}" if exc.message else str(exc.code)
    if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
        return _describe(exc.reason)
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 300 else text[:300] + "..."


def _is_tls_failure(exc: BaseException) -> bool:
    reason = exc.reason if isinstance(exc, urllib3.exceptions.MaxRetryError) else exc
    return isinstance(reason, urllib3.exceptions.SSLError)


def translate(exc: BaseException, what: str) -> Error:
    """Our error for a foreign one: retryable (``StorageUnavailable``) or final (``StorageRejected``)."""
    if isinstance(exc, Error):
        return exc
    detail = f"{what}: {_describe(exc)}"
    if isinstance(exc, S3Error):
        status = exc.response.status if exc.response is not None else 0
        if exc.code in _RETRYABLE_CODES or status >= 500 or status == 429:
            return StorageUnavailable(detail)
        if exc.code in _CREDENTIAL_CODES:
            return StorageRejected(f"{detail} (check the access key and secret key)")
        return StorageRejected(detail)
    if isinstance(exc, ServerError):
        if exc.status_code >= 500 or exc.status_code == 429:
            return StorageUnavailable(detail)
        return StorageRejected(detail)
    if isinstance(exc, InvalidResponseError):
        # A non-XML answer usually comes from a proxy or load balancer in front of the store.
        code = exc._code
        return StorageUnavailable(detail) if code >= 500 or code == 429 else StorageRejected(detail)
    if _is_tls_failure(exc):
        return StorageRejected(f"{detail} (TLS: check the endpoint and the CA bundle)")
    if isinstance(exc, urllib3.exceptions.HTTPError | OSError | TimeoutError | MinioException):
        return StorageUnavailable(detail)
    if isinstance(exc, ValueError):
        return StorageRejected(detail)
    return StorageUnavailable(detail)


@contextmanager
def _translated(what: str) -> Iterator[None]:
    try:
        yield
    except Error:
        raise
    except Exception as exc:  # every foreign error becomes ours
        raise translate(exc, what) from exc


def _is_not_found(exc: BaseException) -> bool:
    return isinstance(exc, S3Error) and exc.code in _NOT_FOUND_CODES


# --- small helpers ----------------------------------------------------------------------

_ISO_RE: Final = re.compile(
    r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:[.,](\d+))?(Z|[+-]\d\d:?\d\d)?$", re.IGNORECASE
)


def parse_s3_datetime(text: str) -> datetime:
    """ISO 8601 as S3 servers write it, with any number of fraction digits (RGW writes 9)."""
    m = _ISO_RE.match(text.strip())
    if not m:
        raise ValueError(f"not an ISO 8601 date-time: {text!r}")
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    micro = int((m.group(7) or "0")[:6].ljust(6, "0"))
    tz = m.group(8)
    offset = timedelta(0)
    if tz and tz.upper() != "Z":
        sign = -1 if tz[0] == "-" else 1
        digits = tz[1:].replace(":", "")
        offset = sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=timezone(offset)).astimezone(UTC)


def _encode_meta_value(value: str) -> str:
    return urllib.parse.quote(value, safe=_META_SAFE)


def _metadata_headers(metadata: Mapping[str, str], sha256: str) -> dict[str, str]:
    headers = {f"x-amz-meta-{SHA256_META}": sha256}
    for name, value in metadata.items():
        low = name.lower()
        if not _META_NAME_RE.match(low) or low == SHA256_META:
            raise ValueError(f"metadata name {name!r} is reserved or not of [a-z0-9-]")
        headers[f"x-amz-meta-{low}"] = _encode_meta_value(value)
    return headers


def _header(headers: Mapping[str, str], name: str) -> str | None:
    want = name.lower()
    for key, value in headers.items():
        if key.lower() == want:
            return value
    return None


def _locked_until(obj: StoredObject, wanted: datetime) -> bool:
    return obj.retain_until is not None and obj.retain_until >= wanted - _DATE_SLACK


_ANY_SHA256: Final = "0" * 64
_BESIDE_MEDIA: Final = tuple(  # the suffixes of the manifest and signature keys
    side(_ANY_SHA256).removeprefix(layout.media_key(_ANY_SHA256))
    for side in (layout.manifest_key, layout.signature_key)
)


def _media_beside(key: str) -> str | None:
    """The media key a manifest or signature key belongs to (None for any other key)."""
    for suffix in _BESIDE_MEDIA:
        if key.endswith(suffix):
            return key.removesuffix(suffix)
    return None


class _RecentKeys:
    """The last few keys added (thread-safe): enough for the files in flight."""

    LIMIT: Final = 1024

    def __init__(self) -> None:
        self._keys: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, key: str) -> None:
        with self._lock:
            self._keys[key] = None
            while len(self._keys) > self.LIMIT:
                self._keys.popitem(last=False)

    def forget(self, key: str) -> None:
        with self._lock:
            self._keys.pop(key, None)

    def holds(self, key: str | None) -> bool:
        with self._lock:
            return key is not None and key in self._keys


def _no_object(key: str, sha256: str, version_id: str | None) -> IntegrityFailure:
    which = f" (version {version_id})" if version_id else ""
    return IntegrityFailure(key, sha256, f"no stored object{which}")


def _content_length(response: urllib3.BaseHTTPResponse) -> int:
    """The size a whole-object GET announces (-1 when it announces none, which no size matches)."""
    text = _header(response.headers, "Content-Length")
    return int(text) if text is not None and text.isdigit() else -1


@dataclass(frozen=True)
class _Head:
    obj: StoredObject
    sha256: str | None  # our x-amz-meta-sha256, if the object carries one
    last_modified: datetime | None


class _SourceReader:
    """Reads exactly ``size`` bytes from the source, hashing them on the way (unless the
    server checks them: see ``_PayloadMinio``)."""

    def __init__(self, stream: BinaryIO, size: int, label: str, *, hashing: bool = True) -> None:
        self._stream = stream
        self._remaining = size
        self._size = size
        self._label = label
        self._hash = hashlib.sha256() if hashing else None

    def read_exactly(self, n: int) -> bytes:
        if n > self._remaining:
            raise ValueError("read past the announced size")
        data = self._read(n)  # a regular file returns all n bytes at once: no copy
        if len(data) < n:
            buf = bytearray(data)
            while len(buf) < n:
                chunk = self._read(n - len(buf))
                if not chunk:
                    got = self._size - self._remaining + len(buf)
                    raise SourceChanged(self._label, f"ended after {got} of {self._size} bytes")
                buf += chunk
            data = bytes(buf)
        if self._hash is not None:
            self._hash.update(data)
        self._remaining -= n
        return data

    def read_into(self, view: memoryview) -> None:
        """Fills ``view`` (its whole length) from the source, hashing it on the way."""
        n = len(view)
        if n > self._remaining:
            raise ValueError("read past the announced size")
        readinto = getattr(self._stream, "readinto", None)
        got = 0
        while got < n:
            if readinto is not None:
                k = self._readinto(readinto, view[got:])
            else:
                chunk = self._read(n - got)
                k = len(chunk)
                view[got : got + k] = chunk
            if not k:
                done = self._size - self._remaining + got
                raise SourceChanged(self._label, f"ended after {done} of {self._size} bytes")
            got += k
        if self._hash is not None:
            self._hash.update(view)
        self._remaining -= n

    def _readinto(self, readinto: Callable[[memoryview], int | None], view: memoryview) -> int:
        try:
            return readinto(view) or 0
        except OSError as exc:
            raise SourceUnavailable(self._label, str(exc)) from exc

    def _read(self, n: int) -> bytes:
        try:
            return self._stream.read(n)
        except OSError as exc:
            raise SourceUnavailable(self._label, str(exc)) from exc

    @property
    def hashing(self) -> bool:
        return self._hash is not None

    def hexdigest(self) -> str:
        if self._hash is None:
            raise ValueError("this source was read without hashing")
        return self._hash.hexdigest()


class _PutBuffers:
    """Memory for the bodies of single PUTs, used again from one PUT to the next (thread-safe).

    Reading a 40 MiB file into new memory costs about 18 ms of CPU in the kernel, which
    hands out and zeroes every page, on top of the 3 ms the copy takes: as much as hashing
    the file.  At most ``KEEP`` buffers (each up to the one-PUT limit, 64 MiB by default)
    stay allocated between PUTs, enough for the default two workers; a body under
    ``SMALLEST`` (a manifest, a signature) gets memory of its own."""

    KEEP: Final = 2
    SMALLEST: Final = 1 * MiB

    def __init__(self) -> None:
        self._free: list[bytearray] = []
        self._lock = threading.Lock()

    @contextmanager
    def body(self, size: int) -> Iterator[memoryview]:
        if size < self.SMALLEST:
            yield memoryview(bytearray(size))
            return
        with self._lock:
            fits = [b for b in self._free if len(b) >= size]
            buf = min(fits, key=len) if fits else None
            if buf is not None:
                self._free.remove(buf)
        if buf is None:
            buf = bytearray(size)
        try:
            yield memoryview(buf)[:size]
        finally:
            with self._lock:
                self._free.append(buf)
                if len(self._free) > self.KEEP:
                    self._free.remove(min(self._free, key=len))


PAYLOAD_SHA256_HEADER: Final = "x-amz-content-sha256"
# A signed payload hash that the body does not match (BadDigest: the same for Content-MD5).
_PAYLOAD_MISMATCH_CODES: Final = frozenset({"XAmzContentSHA256Mismatch", "BadDigest"})


class _PayloadMinio(Minio):
    """A minio client that signs a request with the payload SHA-256 its caller declares in
    ``x-amz-content-sha256`` instead of hashing the body again.

    Over plain http minio hashes every body to sign it (over https it sends
    UNSIGNED-PAYLOAD and an MD5).  The body of a single PUT of media is the file whose
    SHA-256 is its key: hashing it here would be a pass over the bytes that tells nothing
    new.  The declared hash is signed into the request, and the server hashes the body it
    receives and refuses it when the two differ (SigV4's ``XAmzContentSHA256Mismatch``), so
    a changed source is still refused, by the server, before the object exists.

    ``_build_headers`` is minio's private hook for this (7.2.x); there is no public
    parameter.  If an upgrade renames it, this override is simply not called and minio
    hashes again (slower, still correct); tests/adapters/test_s3store.py checks that no body
    is hashed, so such an upgrade fails that test."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.declares_payload = not kwargs.get("secure", True)  # https keeps minio's own way

    def _build_headers(
        self,
        host: str,
        headers: DictType | None = None,
        body: bytes | None = None,
        creds: Credentials | None = None,
    ) -> tuple[DictType, datetime]:
        declared = headers.get(PAYLOAD_SHA256_HEADER) if headers and self.declares_payload else None
        if declared is None or not body or creds is None:
            return super()._build_headers(host, headers, body, creds)
        built, date = super()._build_headers(host, headers, None, creds)  # headers without the body's hash
        built["Content-Length"] = str(len(body))
        built[PAYLOAD_SHA256_HEADER] = declared
        return built, date


class _ObjectReader(io.RawIOBase):
    """A stored object's bytes as a file; read errors become ``StorageUnavailable``."""

    def __init__(self, response: urllib3.BaseHTTPResponse, what: str) -> None:
        self._response = response
        self._what = what

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        with _translated(self._what):
            data = self._response.read(len(view))
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._response.close()
            self._response.release_conn()
        super().close()


# --- the store ----------------------------------------------------------------------------


class S3Store:
    """``ObjectStore`` on an S3 bucket with Object Lock; see the module docstring."""

    def __init__(self, settings: S3Settings, clock: Clock, *, client: Minio | None = None) -> None:
        self.settings = settings
        self._clock = clock
        self._bucket = settings.bucket
        self._client = client or self._make_client(settings)
        self._ready = False  # set by open_bucket; a store that started during an outage opens on first put
        # whether a single PUT was seen locked as its Object Lock headers asked: then later
        # PUTs are not looked up again (multipart uploads are: RGW ignores those headers there)
        self._put_locks_hold = False
        self._new_media = _RecentKeys()  # uploaded anew here: see put_bytes
        self._put_buffers = _PutBuffers()

    @staticmethod
    def _make_client(settings: S3Settings) -> Minio:
        http = urllib3.PoolManager(
            timeout=Timeout(connect=settings.connect_timeout, read=settings.read_timeout),
            maxsize=settings.parallel_uploads + 8,  # several workers share the client
            cert_reqs="CERT_REQUIRED",
            ca_certs=settings.ca_bundle or certifi.where(),
            retries=Retry(
                total=settings.retries,
                backoff_factor=0.2,
                status_forcelist=[500, 502, 503, 504],
                raise_on_status=False,  # let minio read the S3 error body of the last answer
            ),
        )
        return _PayloadMinio(
            settings.host,
            access_key=settings.access_key,
            secret_key=settings.secret_key,
            secure=settings.secure,
            region=settings.region,
            http_client=http,
        )

    def __repr__(self) -> str:
        return f"S3Store(endpoint={self.settings.endpoint!r}, bucket={self._bucket!r})"

    @property
    def bucket(self) -> str:
        return self._bucket

    def uri(self, key: str, version_id: str | None) -> str:
        base = f"s3://{self._bucket}/{key}"
        return f"{base}?versionId={urllib.parse.quote(version_id, safe='')}" if version_id else base

    # --- start-up ---------------------------------------------------------------------------

    def open_bucket(self, abort_uploads_older_than: timedelta | None = timedelta(days=1)) -> None:
        """Make sure the bucket is usable for evidence; create it when missing and allowed.

        A bucket that does not exist is created with Object Lock and a default COMPLIANCE
        rule of the default retention class.  Multipart uploads left behind by a crash and
        older than ``abort_uploads_older_than`` are aborted (other stations sharing the
        bucket may have younger ones in flight)."""
        if not self._bucket_exists():
            if not self.settings.create_bucket:
                raise StorageRejected(
                    f"bucket {self._bucket!r} does not exist at {self.settings.endpoint} "
                    "(create it with Object Lock enabled, or allow create_bucket)"
                )
            self._create_bucket()
        self._check_object_lock()
        if abort_uploads_older_than is not None:
            self.abort_stale_uploads(abort_uploads_older_than)
        self._ready = True

    def check(self) -> None:
        """Read-only start-up check: credentials work, the bucket exists and has Object Lock."""
        if not self._bucket_exists():
            raise StorageRejected(f"bucket {self._bucket!r} does not exist at {self.settings.endpoint}")
        self._check_object_lock()

    def _bucket_exists(self) -> bool:
        try:
            return bool(self._client.bucket_exists(self._bucket))
        except S3Error as exc:
            if exc.code == "AccessDenied":
                # HEAD answers carry no error body: bad keys and a refusing policy look alike.
                raise StorageRejected(
                    f"access to bucket {self._bucket!r} at {self.settings.endpoint} denied: wrong access "
                    "key or secret key, or no permission (s3:ListBucket) on the bucket"
                ) from exc
            raise translate(exc, f"looking up bucket {self._bucket!r}") from exc
        except Exception as exc:
            raise translate(exc, f"looking up bucket {self._bucket!r} at {self.settings.endpoint}") from exc

    def _create_bucket(self) -> None:
        days = self.settings.days_for(None)
        log.info("creating bucket %s with Object Lock (default COMPLIANCE, %d days)", self._bucket, days)
        try:
            self._client.make_bucket(self._bucket, object_lock=True)
        except S3Error as exc:
            if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise translate(exc, f"creating bucket {self._bucket!r}") from exc
        except Exception as exc:
            raise translate(exc, f"creating bucket {self._bucket!r}") from exc
        with _translated(f"setting the default retention of bucket {self._bucket!r}"):
            self._client.set_object_lock_config(self._bucket, ObjectLockConfig(COMPLIANCE, days, DAYS))

    def _check_object_lock(self) -> None:
        try:
            config = self._client.get_object_lock_config(self._bucket)
        except S3Error as exc:
            if exc.code in _NO_LOCK_CONFIG_CODES:
                raise StorageRejected(
                    f"bucket {self._bucket!r} does not have S3 Object Lock enabled, so stored evidence "
                    "could be deleted or overwritten; use a bucket created with Object Lock"
                ) from exc
            raise translate(exc, f"reading the Object Lock configuration of bucket {self._bucket!r}") from exc
        except Exception as exc:
            raise translate(exc, f"reading the Object Lock configuration of bucket {self._bucket!r}") from exc
        if config.mode != COMPLIANCE:
            # Still safe: every object gets its own COMPLIANCE date right after upload.
            log.warning(
                "bucket %s has Object Lock but no default COMPLIANCE rule (mode %s); "
                "objects are locked explicitly after upload",
                self._bucket,
                config.mode,
            )

    def abort_stale_uploads(self, older_than: timedelta, key: str | None = None) -> int:
        """Abort the bucket's incomplete multipart uploads started more than ``older_than`` ago
        (only those of ``key`` when given)."""
        cutoff = self._clock() - older_than
        aborted = 0
        key_marker: str | None = None
        upload_marker: str | None = None
        while True:
            with _translated(f"listing incomplete uploads in bucket {self._bucket!r}"):
                page = self._client._list_multipart_uploads(
                    self._bucket, key_marker=key_marker, upload_id_marker=upload_marker, prefix=key
                )
            for upload in page.uploads:
                started = upload.initiated_time
                if upload.upload_id is None or (started is not None and started > cutoff):
                    continue
                if key is not None and upload.object_name != key:
                    continue
                log.info(
                    "aborting stale upload %s of %s (started %s)",
                    upload.upload_id,
                    upload.object_name,
                    started,
                )
                try:
                    self._client._abort_multipart_upload(self._bucket, upload.object_name, upload.upload_id)
                except S3Error as exc:
                    if exc.code != "NoSuchUpload":  # finished or aborted meanwhile
                        raise translate(exc, f"aborting upload of {upload.object_name}") from exc
                except Exception as exc:
                    raise translate(exc, f"aborting upload of {upload.object_name}") from exc
                aborted += 1
            if not page.is_truncated or not page.uploads:
                return aborted
            # minio does not expose NextUploadIdMarker; the last entry serves as the marker.
            key_marker = page.uploads[-1].object_name
            upload_marker = page.uploads[-1].upload_id

    # --- reading ---------------------------------------------------------------------------

    def _head(self, key: str, version_id: str | None = None) -> _Head | None:
        try:
            result = self._client.stat_object(self._bucket, key, version_id=version_id)
        except S3Error as exc:
            if _is_not_found(exc):
                return None
            raise translate(exc, f"looking up {key}") from exc
        except Exception as exc:
            raise translate(exc, f"looking up {key}") from exc
        headers: Mapping[str, str] = result.metadata or {}
        return self._head_from(key, headers, int(result.size or 0), result.version_id, result.last_modified)

    def _head_from(
        self,
        key: str,
        headers: Mapping[str, str],
        size: int,
        version_id: str | None,
        last_modified: datetime | None,
    ) -> _Head:
        """What the headers of a HEAD or a GET say about the object."""
        until_text = _header(headers, "x-amz-object-lock-retain-until-date")
        hold = _header(headers, "x-amz-object-lock-legal-hold")
        vid = version_id or _header(headers, "x-amz-version-id")
        if vid == "null":  # the unversioned object of a bucket without versioning
            vid = None
        try:
            retain_until = parse_s3_datetime(until_text) if until_text else None
        except ValueError as exc:
            raise StorageRejected(f"{key}: unreadable retain-until date {until_text!r}") from exc
        obj = StoredObject(
            key=key,
            uri=self.uri(key, vid),
            size=size,
            version_id=vid,
            lock_mode=_header(headers, "x-amz-object-lock-mode"),
            retain_until=retain_until,
            legal_hold=None if hold is None else hold.upper() == "ON",
        )
        return _Head(obj, _header(headers, f"x-amz-meta-{SHA256_META}"), last_modified)

    def stat(self, key: str) -> StoredObject | None:
        head = self._head(key)
        return head.obj if head else None

    def verify(
        self,
        key: str,
        sha256: str,
        size: int,
        progress: Progress | None = None,
        version_id: str | None = None,
    ) -> StoredObject:
        # the version we stored, not whatever is latest: a newer version or a delete marker
        # put over it by someone else must not decide what our evidence is
        if self.settings.verify == "stat":
            head = self._head(key, version_id) if version_id else self._head(key)
            if head is None:
                raise _no_object(key, sha256, version_id)
            obj, unchecked = self._checked_head(key, head, sha256, size)
            if head.sha256 != sha256:
                raise IntegrityFailure(key, sha256, f"sha256 metadata {head.sha256 or 'missing'}")
        else:
            # One GET: its headers say what a HEAD would (size, version, lock, our sha256)
            # and its body is hashed as it arrives.
            what = f"reading {key} back"
            response = self._get(key, version_id, what)
            if response is None:
                raise _no_object(key, sha256, version_id)
            with _ObjectReader(response, what) as body:
                head = self._head_from(key, response.headers, _content_length(response), None, None)
                obj, unchecked = self._checked_head(key, head, sha256, size)
                # the download overlapped with the hash, as for the dock's file
                found, read = sha256_file(cast(IO[bytes], body), progress)
            if read != size:
                # The server announced the right size but sent something else: it could not deliver.
                raise StorageUnavailable(f"{what}: got {read} of {size} bytes")
            if found != sha256:
                raise IntegrityFailure(key, sha256, found)
        if unchecked is not None:  # said once the bytes are checked: wrong bytes outrank it
            raise unchecked
        return obj

    def _checked_head(
        self, key: str, head: _Head, sha256: str, size: int
    ) -> tuple[StoredObject, RetentionUnchecked | None]:
        """The object as found, if it has ``size`` bytes and a COMPLIANCE lock
        (``IntegrityFailure`` otherwise), and whether its lock could not be read."""
        obj = head.obj
        if obj.size != size:
            raise IntegrityFailure(key, sha256, f"an object of {obj.size} bytes instead of {size}")
        if obj.lock_mode != COMPLIANCE or obj.retain_until is None:
            # HEAD leaves the lock out when these credentials may not read it: ask for it
            try:
                obj = self._read_retention(key, obj)
            except RetentionUnchecked as e:
                return obj, e
            if obj.lock_mode != COMPLIANCE or obj.retain_until is None:
                raise IntegrityFailure(
                    key,
                    sha256,
                    f"an object without COMPLIANCE retention (lock mode {obj.lock_mode or 'none'})",
                )
        return obj, None

    def _get(self, key: str, version_id: str | None, what: str) -> urllib3.BaseHTTPResponse | None:
        """The object's GET response (its body unread), or None when there is no such object."""
        try:
            response: urllib3.BaseHTTPResponse = self._client.get_object(
                self._bucket, key, version_id=version_id
            )
        except S3Error as exc:
            if _is_not_found(exc):
                return None
            raise translate(exc, what) from exc
        except Exception as exc:
            raise translate(exc, what) from exc
        return response

    def _read_retention(self, key: str, obj: StoredObject) -> StoredObject:
        """``obj`` with the retention the server reports for it when asked (GetObjectRetention);
        ``RetentionUnchecked`` when these credentials may not ask."""
        what = f"reading the retention of {key}"
        try:
            retention = self._client.get_object_retention(self._bucket, key, version_id=obj.version_id)
        except S3Error as exc:
            if exc.code == "AccessDenied":
                raise RetentionUnchecked(
                    key, "these credentials may not read it (s3:GetObjectRetention: AccessDenied)"
                ) from exc
            if exc.code in _NO_LOCK_CONFIG_CODES:  # no retention (RGW's code; minio knows another)
                return obj
            raise translate(exc, what) from exc
        except Exception as exc:
            raise translate(exc, what) from exc
        if retention is None:
            return obj
        until = retention.retain_until_date
        return dataclasses.replace(
            obj,
            lock_mode=retention.mode,
            retain_until=until.astimezone(UTC) if until is not None else None,
        )

    def open(self, key: str, version_id: str | None = None) -> BinaryIO:
        what = f"reading {key}"
        response = self._get(key, version_id, what)
        if response is None:
            raise NotFound(f"{self.uri(key, version_id)}")
        return io.BufferedReader(_ObjectReader(response, what), buffer_size=_READ_CHUNK)

    def get_bytes(self, key: str) -> bytes:
        with self.open(key) as reader:
            return reader.read()

    def protection_problem(self, obj: StoredObject, now: datetime) -> str | None:
        """An object is protected by its COMPLIANCE retention (``EvidenceReader``);
        ``RetentionUnchecked`` when these credentials may not read it."""
        if not obj.legal_hold and (obj.lock_mode != COMPLIANCE or obj.retain_until is None):
            obj = self._read_retention(obj.key, obj)  # HEAD leaves out a lock we may not read
        return lock_problem(obj, now)

    def presigned_get(self, key: str, version_id: str | None, expires: timedelta, now: datetime) -> str:
        """A URL that GETs this version of ``key`` until ``now + expires``, signed with our
        credentials (replay's read-only ones); the server refuses it afterwards."""
        try:
            url: str = self._client.presigned_get_object(
                self._bucket, key, expires=expires, request_date=now, version_id=version_id
            )
        except Exception as exc:  # the region look-up is a request
            raise translate(exc, f"presigning {key}") from exc
        return url

    def list_keys(self, prefix: str, start_after: str | None = None) -> list[str]:
        with _translated(f"listing {prefix}"):
            found = self._client.list_objects(
                self._bucket, prefix=prefix, recursive=True, start_after=start_after
            )
            return sorted(o.object_name for o in found if o.object_name is not None)

    # --- writing ---------------------------------------------------------------------------

    def put_bytes(
        self,
        key: str,
        data: bytes,
        metadata: Mapping[str, str],
        retention_class: str | None = None,
    ) -> StoredObject:
        """Small objects (manifest, signature) beside the media, under the same retention.

        Beside media that this store has just uploaded anew, nothing is looked up first: the
        ingest stores them after their media, so none can exist yet."""
        digest = hashlib.sha256(data).hexdigest()
        if self._new_media.holds(_media_beside(key)):
            days, headers = self._prepare(len(data), digest, metadata, retention_class)
            return self._upload(key, io.BytesIO(data), len(data), digest, headers, days, None)
        return self.put_stream(key, io.BytesIO(data), len(data), digest, metadata, retention_class)

    def put_stream(
        self,
        key: str,
        stream: BinaryIO,
        size: int,
        sha256: str,
        metadata: Mapping[str, str],
        retention_class: str | None = None,
        progress: Progress | None = None,
    ) -> StoredObject:
        days, headers = self._prepare(size, sha256, metadata, retention_class)
        existing = self._head(key)
        if existing is not None:
            self._new_media.forget(key)
        if existing is not None and existing.obj.size == size and existing.sha256 == sha256:
            log.debug("%s already stored (version %s)", key, existing.obj.version_id)
            stored_at = existing.last_modified or self._clock()
            result = self._lock(key, existing, stored_at + timedelta(days=days), days)
            if progress:
                progress(size)
            return result
        stored = self._upload(key, stream, size, sha256, headers, days, progress)
        if existing is None:
            self._new_media.add(key)
        return stored

    def restore_stream(
        self,
        key: str,
        stream: BinaryIO,
        size: int,
        sha256: str,
        metadata: Mapping[str, str],
        retention_class: str | None = None,
        progress: Progress | None = None,
    ) -> StoredObject:
        """Upload again when the latest version is missing (a delete marker, say) or fails
        ``verify``: the new version becomes the latest; the damaged one, locked, stays
        below it.  A latest version that verifies is returned as it is."""
        days, headers = self._prepare(size, sha256, metadata, retention_class)
        try:
            return self.verify(key, sha256, size)
        except IntegrityFailure as exc:
            log.warning("restoring %s in bucket %s: %s", key, self._bucket, exc)
        return self._upload(key, stream, size, sha256, headers, days, progress)

    def _prepare(
        self, size: int, sha256: str, metadata: Mapping[str, str], retention_class: str | None
    ) -> tuple[int, dict[str, str]]:
        """Checked arguments of a put: the retention days and the metadata headers."""
        if not _SHA256_RE.match(sha256):
            raise ValueError(f"not a lowercase hex SHA-256: {sha256!r}")
        if size < 0:
            raise ValueError("size must not be negative")
        if not self._ready:
            self.open_bucket()
        return self.settings.days_for(retention_class), _metadata_headers(metadata, sha256)

    def _upload(
        self,
        key: str,
        stream: BinaryIO,
        size: int,
        sha256: str,
        headers: dict[str, str],
        days: int,
        progress: Progress | None,
    ) -> StoredObject:
        """A new version of ``key``, locked for ``days``; sent only if the bytes hash to ``sha256``."""
        now = self._clock()
        until = (now + timedelta(days=days)).astimezone(UTC)
        until = until.replace(microsecond=until.microsecond // 1000 * 1000)  # as the header says it
        headers["x-amz-object-lock-mode"] = COMPLIANCE
        headers["x-amz-object-lock-retain-until-date"] = until.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        headers["Content-Type"] = "application/octet-stream"
        single = size <= self._one_put_limit()
        # A single PUT declares the expected SHA-256 as its signed payload hash when the client
        # can (plain http): the server then refuses a body that differs, so reading needs no hash.
        # Not an empty body: RGW does not check the payload hash of one (and hashing it is free).
        declared = (
            single and size > 0 and isinstance(self._client, _PayloadMinio) and self._client.declares_payload
        )
        source = _SourceReader(stream, size, str(getattr(stream, "name", key)), hashing=not declared)
        if single:
            version_id = self._put_single(key, source, size, sha256, headers)
            if progress:
                progress(size)
            if version_id is not None and self._put_locks_hold:
                # This server has locked a PUT as its headers asked (looked up once, below),
                # and the answer names the new version: nothing left that a look-up would tell.
                return StoredObject(
                    key=key,
                    uri=self.uri(key, version_id),
                    size=size,
                    version_id=version_id,
                    lock_mode=COMPLIANCE,
                    retain_until=until,
                )
        else:
            # A crash (or kill -9) mid-upload left an incomplete upload of this very key behind.
            # The key names its content, so any other upload of it carries the same bytes: one
            # that is aborted here under another station's feet fails, retries, and finds the
            # object stored.
            self.abort_stale_uploads(timedelta(0), key=key)
            part_size = self._part_size_for(size)
            version_id = self._put_multipart(key, source, size, part_size, sha256, headers, progress)

        head = self._head(key, version_id) if version_id else self._head(key)
        if head is None:
            raise StorageUnavailable(f"{key} was uploaded but cannot be found")
        found = head.obj.retain_until
        if single and head.obj.lock_mode == COMPLIANCE and found and abs(found - until) <= _DATE_SLACK:
            self._put_locks_hold = True  # the date asked, not a longer default rule's
        return self._lock(key, head, until, days)

    def _one_put_limit(self) -> int:
        """A file no larger than the parts a multipart upload holds in flight goes up in one
        PUT: no more memory, one request instead of at least four (plus a listing), and its
        Object Lock headers are honoured (RGW ignores them on a multipart upload)."""
        return min(self.settings.part_size * self.settings.parallel_uploads, MAX_PUT_SIZE)

    def _part_size_for(self, size: int) -> int:
        part = self.settings.part_size
        if size > part * MAX_PARTS:  # grow the parts rather than exceed S3's part count
            part = -(-size // MAX_PARTS)
            part = -(-part // MiB) * MiB
        return part

    def _check_digest(self, key: str, source: _SourceReader, sha256: str) -> None:
        found = source.hexdigest()
        if found != sha256:
            raise SourceChanged(key, f"the bytes read hash to {found}, not the expected {sha256}")

    def _put_single(
        self, key: str, source: _SourceReader, size: int, sha256: str, headers: dict[str, str]
    ) -> str | None:
        with self._put_buffers.body(size) as body:
            source.read_into(body)
            return self._send_single(key, source, body, sha256, headers)

    def _send_single(
        self, key: str, source: _SourceReader, data: memoryview, sha256: str, headers: dict[str, str]
    ) -> str | None:
        sent: DictType = dict(headers)
        if source.hashing:
            self._check_digest(key, source, sha256)  # before anything is sent
        else:
            sent[PAYLOAD_SHA256_HEADER] = sha256  # checked by the server, which refuses a mismatch
        what = f"uploading {key}"
        try:
            # minio only takes the body's length and hands it to urllib3, which sends any buffer
            result = self._client._put_object(self._bucket, key, cast(bytes, data), sent)
        except S3Error as exc:
            if exc.code in _PAYLOAD_MISMATCH_CODES:
                found = hashlib.sha256(data).hexdigest()  # only on refusal: which bytes were sent
                if found != sha256:
                    why = f"the bytes read hash to {found}, not the expected {sha256} (refused by the server)"
                    raise SourceChanged(key, why) from exc
                # the right bytes, damaged on the way: another try may carry them whole
                raise StorageUnavailable(f"{what}: {_describe(exc)}") from exc
            raise translate(exc, what) from exc
        except Exception as exc:
            raise translate(exc, what) from exc
        version_id: str | None = result.version_id
        return version_id

    def _put_multipart(
        self,
        key: str,
        source: _SourceReader,
        size: int,
        part_size: int,
        sha256: str,
        headers: dict[str, str],
        progress: Progress | None,
    ) -> str | None:
        """Parts go up in parallel while the source is read and hashed; the upload is
        completed only when the hash matches, and aborted on any failure.

        minio-py has no public part-level API, so this uses its (stable across 7.x) private
        ``_create_multipart_upload`` / ``_upload_part`` / ``_complete_multipart_upload`` /
        ``_abort_multipart_upload``, as does ``abort_stale_uploads`` for the listing."""
        count = -(-size // part_size)
        what = f"uploading {key}"
        with _translated(f"{what} (starting a multipart upload)"):
            upload_id: str = self._client._create_multipart_upload(self._bucket, key, dict(headers))
        log.debug("multipart upload %s of %s: %d parts of %d bytes", upload_id, key, count, part_size)
        etags: dict[int, str] = {}
        pending: deque[Future[tuple[int, int, str]]] = deque()

        def upload(number: int, data: bytes) -> tuple[int, int, str]:
            etag: str = self._client._upload_part(self._bucket, key, data, None, upload_id, number)
            return number, len(data), etag

        def harvest(futures: Iterable[Future[tuple[int, int, str]]]) -> None:
            for fut in list(futures):
                number, length, etag = fut.result()
                etags[number] = etag
                pending.remove(fut)
                if progress:
                    progress(length)

        pool = ThreadPoolExecutor(self.settings.parallel_uploads, thread_name_prefix="s3-part")
        try:
            try:
                with _translated(what):
                    for number in range(1, count + 1):
                        length = min(part_size, size - (number - 1) * part_size)
                        data = source.read_exactly(length)
                        pending.append(pool.submit(upload, number, data))
                        del data
                        # Bounded memory: the next part is read only once fewer than
                        # parallel_uploads parts are in flight.
                        while len(pending) >= self.settings.parallel_uploads:
                            done, _ = wait(pending, return_when=FIRST_COMPLETED)
                            harvest(done)
                    # The whole source has been read: decide before the object can exist.
                    self._check_digest(key, source, sha256)
                    harvest(deque(pending))
                    parts = [Part(n, etags[n]) for n in range(1, count + 1)]
                    completed = self._client._complete_multipart_upload(self._bucket, key, upload_id, parts)
            except BaseException:
                for fut in pending:
                    fut.cancel()
                pool.shutdown(wait=True)  # no part may land after the abort
                self._abort_quietly(key, upload_id)
                raise
        finally:
            pool.shutdown(wait=True)
        # RGW answers CompleteMultipartUpload with an empty ETag; the caller reads the object
        # back (by this version when the server named it) rather than trusting the answer.
        version_id: str | None = completed.version_id
        return version_id

    def _abort_quietly(self, key: str, upload_id: str) -> None:
        try:
            self._client._abort_multipart_upload(self._bucket, key, upload_id)
        except Exception as exc:  # the upload is garbage either way; abort_stale_uploads finishes it
            log.warning("could not abort upload %s of %s: %s", upload_id, key, _describe(exc))

    def _lock(self, key: str, head: _Head, wanted: datetime, days: int) -> StoredObject:
        """COMPLIANCE until at least ``wanted``; never shortens an existing date."""
        obj = head.obj
        locked = obj.lock_mode == COMPLIANCE and obj.retain_until is not None
        if locked and _locked_until(obj, wanted):
            return obj
        now = self._clock()
        if wanted <= now:
            if locked:  # an old object re-put after its class ran out: nothing to extend
                return obj
            # Stored long ago but never locked (a crash before the lock): lock it from now.
            wanted = now + timedelta(days=days)
        what = f"setting COMPLIANCE retention on {key}"
        with _translated(what):
            self._client.set_object_retention(
                self._bucket,
                key,
                Retention(COMPLIANCE, wanted.astimezone(UTC)),
                version_id=obj.version_id,
            )
        after = self._head(key, obj.version_id)
        if after is None:
            raise StorageUnavailable(f"{what}: the object disappeared")
        until = after.obj.retain_until
        if after.obj.lock_mode != COMPLIANCE or until is None or until < wanted - _DATE_SLACK:
            raise StorageRejected(
                f"{what}: the server accepted it but reports {after.obj.lock_mode} until {until}"
            )
        return after.obj

    # --- legal hold ------------------------------------------------------------------------

    def set_legal_hold(self, key: str, on: bool) -> StoredObject:
        head = self._head(key)
        if head is None:
            raise NotFound(self.uri(key, None))
        vid = head.obj.version_id
        with _translated(f"{'setting' if on else 'releasing'} the legal hold on {key}"):
            if on:
                self._client.enable_object_legal_hold(self._bucket, key, version_id=vid)
            else:
                self._client.disable_object_legal_hold(self._bucket, key, version_id=vid)
        after = self._head(key, vid)
        if after is None:
            raise StorageUnavailable(f"{key} disappeared while its legal hold was changed")
        return after.obj

    def legal_hold(self, key: str) -> bool:
        head = self._head(key)
        if head is None:
            raise NotFound(self.uri(key, None))
        what = f"reading the legal hold of {key}"
        try:
            return bool(
                self._client.is_object_legal_hold_enabled(self._bucket, key, version_id=head.obj.version_id)
            )
        except S3Error as exc:
            # An object that never had a hold: minio expects one code, RGW sends the other.
            if exc.code in _NO_LOCK_CONFIG_CODES:
                return False
            raise translate(exc, what) from exc
        except Exception as exc:
            raise translate(exc, what) from exc
