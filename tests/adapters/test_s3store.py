"""S3Store against a real Ceph RGW (started by tests/s3server.py; never skipped)."""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import socket
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import minio.api
import pytest
import urllib3
from minio import Minio
from minio.commonconfig import COMPLIANCE
from minio.error import S3Error, ServerError
from minio.helpers import ObjectWriteResult
from minio.retention import Retention
from s3server import S3Server, S3User, bucket_policy, new_bucket_name
from urllib3 import HTTPResponse

from recorder_sync.adapters.s3store import (
    PAYLOAD_SHA256_HEADER,
    S3Settings,
    S3Store,
    _PayloadMinio,
    _PutBuffers,
    parse_s3_datetime,
    translate,
)
from recorder_sync.domain.errors import (
    ConfigError,
    CouldNotCheck,
    IntegrityFailure,
    NotFound,
    RetentionUnchecked,
    SourceChanged,
    StorageRejected,
    StorageUnavailable,
    VerificationFailed,
)
from recorder_sync.domain.layout import manifest_key, media_key, signature_key
from recorder_sync.domain.model import StoredObject

MiB = 1024 * 1024
POLICY_FILE = Path(__file__).resolve().parents[2] / "config" / "s3-policy.json"
META = {"recording-id": "rec-0001", "station": "station-7"}
CLASSES = {"ordinary": 1, "evidence": 2}
ORDINARY, EVIDENCE = CLASSES["ordinary"], CLASSES["evidence"]


def utcnow() -> datetime:
    return datetime.now(UTC)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


MakeStore = Callable[..., S3Store]


@pytest.fixture
def bucket() -> str:
    return new_bucket_name()


@pytest.fixture
def make_store(s3_server: S3Server, bucket: str) -> MakeStore:
    """Stores on this test's fresh bucket; the first one creates it."""

    def make(
        user: S3User | None = None,
        clock: Callable[[], datetime] = utcnow,
        open_bucket: bool = True,
        **overrides: object,
    ) -> S3Store:
        user = user or s3_server.owner
        options: dict[str, object] = {
            "endpoint": s3_server.endpoint,
            "bucket": bucket,
            "access_key": user.access_key,
            "secret_key": user.secret_key,
            "create_bucket": True,
            "part_size": 5 * MiB,
            "parallel_uploads": 3,
            "retries": 1,
            # Short classes: a shared test cluster can drop these objects after a day or two.
            "retention_days": CLASSES,
        }
        options.update(overrides)
        store = S3Store(S3Settings(**options), clock)  # type: ignore[arg-type]
        if open_bucket:
            store.open_bucket()
        return store

    return make


@pytest.fixture
def store(make_store: MakeStore) -> S3Store:
    return make_store()


@pytest.fixture
def owner(s3_server: S3Server) -> Minio:
    return s3_server.client()


def versions(client: Minio, bucket: str, key: str) -> list[str]:
    return [
        str(o.version_id)
        for o in client.list_objects(bucket, prefix=key, include_version=True)
        if o.object_name == key
    ]


def headers(client: Minio, bucket: str, key: str, version_id: str | None = None) -> Mapping[str, str]:
    """What a plain HEAD returns, read around the store."""
    found = client.stat_object(bucket, key, version_id=version_id).metadata
    assert found is not None
    return found


def incomplete_uploads(client: Minio, bucket: str) -> list[str]:
    return [u.object_name for u in client._list_multipart_uploads(bucket).uploads]


def assert_locked(obj: StoredObject, days: int) -> None:
    assert obj.lock_mode == "COMPLIANCE"
    assert obj.retain_until is not None
    expected = utcnow() + timedelta(days=days)
    assert abs(obj.retain_until - expected) < timedelta(minutes=5), obj.retain_until


# --- round trip ------------------------------------------------------------------------


def test_put_stat_verify_round_trip(store: S3Store, owner: Minio, bucket: str) -> None:
    data = os.urandom(3_000_000)
    digest = sha(data)
    key = media_key(digest)
    seen: list[int] = []

    stored = store.put_stream(key, io.BytesIO(data), len(data), digest, META, progress=seen.append)

    assert sum(seen) == len(data)
    assert stored.key == key and stored.size == len(data)
    assert stored.version_id
    assert stored.uri == f"s3://{bucket}/{key}?versionId={stored.version_id}"
    assert_locked(stored, ORDINARY)
    assert store.stat(key) == stored
    assert store.stat(media_key(sha(b"nothing here"))) is None

    checked: list[int] = []
    assert store.verify(key, digest, len(data), progress=checked.append) == stored
    assert sum(checked) == len(data)
    assert store.get_bytes(key) == data
    with store.open(key) as reader:
        assert reader.read(10) == data[:10]
        assert reader.read() == data[10:]

    stored_headers = headers(owner, bucket, key)
    assert stored_headers["x-amz-meta-sha256"] == digest
    assert stored_headers["x-amz-meta-recording-id"] == "rec-0001"
    assert stored_headers["x-amz-meta-station"] == "station-7"


def test_put_bytes_for_manifest_beside_media_with_same_retention(store: S3Store) -> None:
    manifest = b'{"sha256":"...","size":1}'
    key = manifest_key(sha(b"media"))
    stored = store.put_bytes(key, manifest, {"recording-id": "rec-0002"}, retention_class="evidence")
    assert_locked(stored, EVIDENCE)
    assert store.get_bytes(key) == manifest
    assert store.verify(key, sha(manifest), len(manifest)).version_id == stored.version_id
    with pytest.raises(NotFound):
        store.get_bytes(manifest_key(sha(b"other")))


def test_reput_of_same_bytes_is_a_no_op(store: S3Store, owner: Minio, bucket: str) -> None:
    data = os.urandom(1_000_000)
    key = media_key(sha(data))
    first = store.put_stream(key, io.BytesIO(data), len(data), sha(data), META)
    again = store.put_stream(key, io.BytesIO(data), len(data), sha(data), META)
    assert again == first
    assert versions(owner, bucket, key) == [first.version_id]


def test_reput_as_evidence_extends_retention_without_new_version(
    store: S3Store, owner: Minio, bucket: str
) -> None:
    data = os.urandom(100_000)
    key = media_key(sha(data))
    first = store.put_stream(key, io.BytesIO(data), len(data), sha(data), META)
    upgraded = store.put_stream(key, io.BytesIO(data), len(data), sha(data), META, retention_class="evidence")
    assert upgraded.version_id == first.version_id
    assert_locked(upgraded, EVIDENCE)
    assert versions(owner, bucket, key) == [first.version_id]


# --- few requests per file: what an answer already says is not asked again ---------------------

Request = tuple[str, str | None, dict[str, str]]


def record_requests(store: S3Store) -> list[Request]:
    """Every request the store sends from now on: (method, key, query)."""
    seen: list[Request] = []
    client = store._client
    url_open = client._url_open

    def recorded(
        method: str,
        region: str,
        bucket_name: str | None = None,
        object_name: str | None = None,
        *args: object,
        **kwargs: object,
    ) -> object:
        seen.append((method, object_name, dict(cast("dict[str, str]", kwargs.get("query_params") or {}))))
        return url_open(method, region, bucket_name, object_name, *args, **kwargs)  # type: ignore[arg-type]

    client._url_open = recorded  # type: ignore[method-assign,assignment]
    return seen


def methods(seen: list[Request]) -> list[str]:
    return [method for method, _, _ in seen]


def test_a_put_after_the_first_is_not_looked_up_again_and_is_locked_as_it_asked(
    store: S3Store, owner: Minio, bucket: str
) -> None:
    seen = record_requests(store)
    store.put_bytes(manifest_key(sha(b"first")), b"first", META, "evidence")
    assert methods(seen) == ["HEAD", "PUT", "HEAD"]  # the first PUT's lock is looked up
    seen.clear()
    key = manifest_key(sha(b"second"))

    stored = store.put_bytes(key, b"second", META, "evidence")

    assert methods(seen) == ["HEAD", "PUT"]  # nothing after the PUT
    assert stored.version_id and stored.version_id == headers(owner, bucket, key)["x-amz-version-id"]
    assert_locked(stored, EVIDENCE)
    assert store.stat(key) == stored  # what it said is what the server holds: the lock is on the object
    retention = owner.stat_object(bucket, key).metadata
    assert retention is not None and retention["x-amz-object-lock-mode"] == "COMPLIANCE"


def test_a_put_whose_answer_names_no_version_is_looked_up(
    store: S3Store, owner: Minio, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.put_bytes(manifest_key(sha(b"first")), b"first", META)  # the PUTs' locks are trusted now
    put_object = store._client._put_object

    def without_version(*args: object, **kwargs: object) -> ObjectWriteResult:
        result = put_object(*args, **kwargs)  # type: ignore[arg-type]
        return ObjectWriteResult(
            result.bucket_name, result.object_name, None, result.etag, result.http_headers
        )

    monkeypatch.setattr(store._client, "_put_object", without_version)
    seen = record_requests(store)
    key = manifest_key(sha(b"second"))

    stored = store.put_bytes(key, b"second", META)

    assert methods(seen) == ["HEAD", "PUT", "HEAD"]
    assert stored.version_id == headers(owner, bucket, key)["x-amz-version-id"]
    assert stored == store.stat(key)


def ignore_put_lock_headers(store: S3Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """The store's PUTs reach the server without their Object Lock headers, as if ignored."""
    put_object = store._client._put_object

    def lockless(bucket_name: str, object_name: str, data: bytes, headers: dict[str, str]) -> object:
        kept = {k: v for k, v in headers.items() if not k.lower().startswith("x-amz-object-lock")}
        return put_object(bucket_name, object_name, data, kept)

    monkeypatch.setattr(store._client, "_put_object", lockless)


def test_a_server_that_ignores_the_lock_headers_of_a_put_gets_every_lock_set_explicitly(
    store: S3Store, owner: Minio, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ignore_put_lock_headers(store, monkeypatch)
    seen = record_requests(store)
    for n in range(2):
        key = manifest_key(sha(b"%d" % n))
        # the bucket's default rule locks them for one day; the class asks for two
        stored = store.put_bytes(key, b"%d" % n, META, "evidence")
        assert_locked(stored, EVIDENCE)
        assert [q for m, k, q in seen if m == "PUT" and k == key and "retention" in q]  # set explicitly
        until = headers(owner, bucket, key)["x-amz-object-lock-retain-until-date"]
        assert parse_s3_datetime(until) == stored.retain_until


def test_a_put_locked_by_a_longer_default_rule_instead_of_its_headers_is_reported_as_the_server_holds_it(
    make_store: MakeStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_store(default_retention_class="evidence")  # the bucket's default rule: two days
    ignore_put_lock_headers(store, monkeypatch)
    for n in range(2):
        key = manifest_key(sha(b"%d" % n))
        stored = store.put_bytes(key, b"%d" % n, META, "ordinary")  # one day asked
        assert stored == store.stat(key)
        assert_locked(stored, EVIDENCE)


def test_full_verification_is_one_get(store: S3Store) -> None:
    data = os.urandom(7 * MiB)
    key = media_key(sha(data))
    stored = store.put_stream(key, io.BytesIO(data), len(data), sha(data), META)
    seen = record_requests(store)

    assert store.verify(key, sha(data), len(data), version_id=stored.version_id) == stored

    assert seen == [("GET", key, {"versionId": str(stored.version_id)})]


def test_a_file_no_larger_than_the_parts_in_flight_goes_up_in_one_locked_put(
    store: S3Store, owner: Minio, bucket: str
) -> None:
    seen = record_requests(store)
    limit = store.settings.part_size * store.settings.parallel_uploads  # 3 parts of 5 MiB
    for size, puts in ((limit, 1), (limit + 1, 4)):  # one PUT; or a multipart upload of 4 parts
        data = os.urandom(size)
        key = media_key(sha(data))
        seen.clear()
        stored = store.put_stream(key, io.BytesIO(data), size, sha(data), META, "evidence")
        assert len([q for m, _, q in seen if m == "PUT" and "retention" not in q]) == puts
        assert ("POST" in methods(seen)) == (size > limit)  # CreateMultipartUpload
        assert_locked(stored, EVIDENCE)
        assert stored == store.stat(key)
        assert store.get_bytes(key) == data


def test_manifest_and_signature_beside_new_media_are_put_without_a_look_up(
    make_store: MakeStore, owner: Minio, bucket: str
) -> None:
    store = make_store()
    data = os.urandom(3000)
    digest = sha(data)
    store.put_stream(media_key(digest), io.BytesIO(data), len(data), digest, META)
    seen = record_requests(store)

    store.put_bytes(manifest_key(digest), b"manifest", META)
    store.put_bytes(signature_key(digest), b"signature", META)

    assert methods(seen) == ["PUT", "PUT"]
    # beside media that was there already (a restart, another station): looked up, not stored again
    for again in (store, make_store()):
        again.put_stream(media_key(digest), io.BytesIO(data), len(data), digest, META)
        seen = record_requests(again)
        again.put_bytes(manifest_key(digest), b"manifest", META)
        assert methods(seen) == ["HEAD"]
    assert len(versions(owner, bucket, manifest_key(digest))) == 1


# --- nothing wrong is stored ----------------------------------------------------------------


@pytest.mark.parametrize("size", [1_000_000, 17 * MiB], ids=["single-put", "multipart"])
def test_hash_mismatch_raises_source_changed_and_stores_nothing(
    store: S3Store, owner: Minio, bucket: str, size: int
) -> None:
    expected = os.urandom(size)
    key = media_key(sha(expected))
    changed = bytearray(expected)
    changed[-1] ^= 0xFF  # the last byte: a multipart upload has sent every part by then

    with pytest.raises(SourceChanged) as caught:
        store.put_stream(key, io.BytesIO(bytes(changed)), size, sha(expected), META)

    assert sha(bytes(changed)) in str(caught.value)
    assert store.stat(key) is None
    assert versions(owner, bucket, key) == []
    assert incomplete_uploads(owner, bucket) == []


def test_a_put_whose_body_differs_from_its_declared_payload_hash_is_refused_by_the_server(
    store: S3Store, owner: Minio, bucket: str
) -> None:
    """What the single PUT relies on instead of hashing the body itself: RGW checks the
    signed x-amz-content-sha256 against the body it receives."""
    expected, sent = b"the bytes hashed at the dock", b"the bytes read for the upload"
    key = media_key(sha(expected))

    with pytest.raises(S3Error) as caught:
        store._client._put_object(bucket, key, sent, {PAYLOAD_SHA256_HEADER: sha(expected)})

    assert caught.value.code == "XAmzContentSHA256Mismatch"
    assert versions(owner, bucket, key) == []


def test_a_single_put_of_a_changed_source_is_sent_unhashed_and_refused_by_the_server(
    store: S3Store, owner: Minio, bucket: str
) -> None:
    expected = os.urandom(3 * MiB)
    changed = expected[:-1] + bytes([expected[-1] ^ 0xFF])
    key = media_key(sha(expected))
    seen = record_requests(store)

    with pytest.raises(SourceChanged, match="refused by the server") as caught:
        store.put_stream(key, io.BytesIO(changed), len(changed), sha(expected), META)

    assert methods(seen) == ["HEAD", "PUT"]  # the body went out, declared as the expected bytes
    assert sha(changed) in str(caught.value)
    assert versions(owner, bucket, key) == []


def test_an_empty_source_where_bytes_were_expected_stores_nothing(
    store: S3Store, owner: Minio, bucket: str
) -> None:
    expected = sha(b"the bytes hashed at the dock")
    key = media_key(expected)
    # RGW takes an empty body whatever payload hash it declares: that one is checked here
    with pytest.raises(SourceChanged, match=f"hash to {sha(b'')}, not the expected {expected}"):
        store.put_stream(key, io.BytesIO(b""), 0, expected, META)
    assert versions(owner, bucket, key) == []


class _RecordingPool(urllib3.PoolManager):
    """An urllib3 pool that answers every request with 200 and keeps its headers."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[Mapping[str, str]] = []

    def urlopen(  # type: ignore[override]
        self, method: str, url: str, body: bytes | None = None, **kwargs: object
    ) -> HTTPResponse:
        self.sent.append(cast("Mapping[str, str]", kwargs["headers"]))
        return HTTPResponse(body=b"", status=200, headers={"x-amz-version-id": "v1", "ETag": '"e"'})


def test_the_client_signs_a_declared_payload_hash_without_hashing_the_body(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Pins minio's private hook (``_build_headers``): after an upgrade that bypasses it the
    body would be hashed again, and this test fails."""
    body = os.urandom(1 * MiB)
    declared = sha(b"what the key says")  # not the body's: proves the header is not recomputed
    hashed: list[int] = []
    real_sha256_hash = minio.api.sha256_hash

    def spy(data: str | bytes | None) -> str:
        hashed.append(len(data or b""))
        return real_sha256_hash(data)

    monkeypatch.setattr(minio.api, "sha256_hash", spy)
    pool = _RecordingPool()
    client = _PayloadMinio(
        "127.0.0.1:9", access_key="a", secret_key="s", secure=False, region="us-east-1", http_client=pool
    )
    assert client.declares_payload

    client._put_object("bucket", "key", body, {PAYLOAD_SHA256_HEADER: declared})
    client._put_object("bucket", "other", body, {})  # nothing declared: minio hashes as before

    first, second = pool.sent
    assert first[PAYLOAD_SHA256_HEADER] == declared
    assert first["Content-Length"] == str(len(body))
    assert PAYLOAD_SHA256_HEADER in first["Authorization"]  # it is signed
    assert second[PAYLOAD_SHA256_HEADER] == sha(body)
    assert hashed.count(len(body)) == 1  # the second PUT's body only
    https = _PayloadMinio("127.0.0.1:9", access_key="a", secret_key="s", secure=True, http_client=pool)
    assert not https.declares_payload  # unsigned payload and MD5 there: the store hashes itself


def test_short_stream_raises_source_changed_and_stores_nothing(
    store: S3Store, owner: Minio, bucket: str
) -> None:
    data = os.urandom(17 * MiB)  # multipart (beyond three parts of 5 MiB)
    key = media_key(sha(data))
    with pytest.raises(SourceChanged, match="ended after"):
        store.put_stream(key, io.BytesIO(data[: 7 * MiB]), len(data), sha(data), META)
    assert versions(owner, bucket, key) == []
    assert incomplete_uploads(owner, bucket) == []


def test_short_stream_of_a_single_put_raises_source_changed_and_stores_nothing(
    store: S3Store, owner: Minio, bucket: str
) -> None:
    data = os.urandom(3 * MiB)
    key = media_key(sha(data))
    with pytest.raises(SourceChanged, match=f"ended after {2 * MiB} of {3 * MiB} bytes"):
        store.put_stream(key, io.BytesIO(data[: 2 * MiB]), len(data), sha(data), META)
    assert versions(owner, bucket, key) == []


def test_bodies_of_single_puts_share_memory_yet_each_object_holds_its_own_bytes(
    store: S3Store, owner: Minio, bucket: str
) -> None:
    files = [os.urandom(n * MiB // 2) for n in (6, 4, 5, 3, 6, 2, 4, 3)]  # longer, then shorter, ...

    def put(data: bytes) -> StoredObject:
        return store.put_stream(media_key(sha(data)), io.BytesIO(data), len(data), sha(data), META)

    put(files[0])
    put(files[1])  # into the memory of the first, which is longer
    with ThreadPoolExecutor(4) as pool:  # and several at once
        list(pool.map(put, files[2:]))

    for data in files:
        assert store.get_bytes(media_key(sha(data))) == data
        assert store.verify(media_key(sha(data)), sha(data), len(data)).size == len(data)


def test_put_bodies_reuse_memory_and_keep_at_most_two_buffers() -> None:
    buffers = _PutBuffers()
    with buffers.body(2 * MiB) as first:
        assert len(first) == 2 * MiB
        kept = first.obj
    with buffers.body(3 * MiB // 2) as second:
        assert second.obj is kept and len(second) == 3 * MiB // 2  # the same memory, cut to size
    with buffers.body(2 * MiB) as a, buffers.body(2 * MiB) as b, buffers.body(2 * MiB) as c:
        before = [a.obj, b.obj, c.obj]  # held here, so that no id is reused
        assert len({id(o) for o in before}) == 3  # bodies in flight at once never share
    with buffers.body(2 * MiB) as a, buffers.body(2 * MiB) as b, buffers.body(2 * MiB) as c:
        again = [a.obj, b.obj, c.obj]
    assert sum(any(o is p for p in before) for o in again) == 2  # two were kept, the third is new
    with buffers.body(1000) as small:
        assert not any(small.obj is o for o in before + again)  # a manifest takes no large buffer


# --- multipart ----------------------------------------------------------------------------------


def write_random_file(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as out:
        left = size
        while left:
            chunk = os.urandom(min(left, 8 * MiB))
            digest.update(chunk)
            out.write(chunk)
            left -= len(chunk)
    return digest.hexdigest()


def test_multipart_300mb_uploads_in_parts_verifies_and_is_locked(
    make_store: MakeStore, owner: Minio, bucket: str, tmp_path: Path
) -> None:
    size = 300 * 1000 * 1000
    path = tmp_path / "big.mp4"
    digest = write_random_file(path, size)
    key = media_key(digest)
    store = make_store(part_size=16 * MiB, parallel_uploads=4)
    uploaded: list[int] = []

    with path.open("rb") as stream:
        stored = store.put_stream(
            key, stream, size, digest, META, retention_class="evidence", progress=uploaded.append
        )

    parts = math.ceil(size / (16 * MiB))
    assert len(uploaded) == parts and sum(uploaded) == size
    assert stored.size == size
    assert_locked(stored, EVIDENCE)
    # A multipart ETag ends in "-<number of parts>"; it is checked here only as proof of
    # the upload's shape, never as an evidence hash.
    assert str(owner.stat_object(bucket, key).etag).endswith(f"-{parts}")
    assert headers(owner, bucket, key)["x-amz-meta-sha256"] == digest
    assert store.verify(key, digest, size) == stored
    assert incomplete_uploads(owner, bucket) == []


# --- write-once ----------------------------------------------------------------------------------


def test_compliance_object_cannot_be_deleted_nor_its_retention_shortened(
    store: S3Store, owner: Minio, bucket: str
) -> None:
    data = os.urandom(200_000)
    key = media_key(sha(data))
    stored = store.put_stream(key, io.BytesIO(data), len(data), sha(data), META)
    assert stored.retain_until is not None

    with pytest.raises(S3Error) as deleted:
        owner.remove_object(bucket, key, version_id=stored.version_id)
    assert deleted.value.code == "AccessDenied"

    # COMPLIANCE ignores the governance bypass.
    with pytest.raises(S3Error) as bypassed:
        owner._execute(
            "DELETE",
            bucket,
            key,
            query_params={"versionId": str(stored.version_id)},
            headers={"x-amz-bypass-governance-retention": "true"},
        )
    assert bypassed.value.code == "AccessDenied"

    shorter = Retention(COMPLIANCE, stored.retain_until - timedelta(hours=1))
    with pytest.raises(S3Error) as shortened:
        owner.set_object_retention(bucket, key, shorter, version_id=stored.version_id)
    assert shortened.value.code == "AccessDenied"

    # A delete without a version only stacks a delete marker: the locked version stays.
    owner.remove_object(bucket, key)
    assert store.stat(key) is None
    owner.stat_object(bucket, key, version_id=stored.version_id)
    assert stored.version_id in versions(owner, bucket, key)
    after = headers(owner, bucket, key, stored.version_id)
    assert parse_s3_datetime(after["x-amz-object-lock-retain-until-date"]) == stored.retain_until


def test_legal_hold_on_and_off(store: S3Store) -> None:
    data = os.urandom(10_000)
    key = media_key(sha(data))
    store.put_stream(key, io.BytesIO(data), len(data), sha(data), META)
    assert store.legal_hold(key) is False

    held = store.set_legal_hold(key, True)
    assert held.legal_hold is True
    assert store.legal_hold(key) is True
    stat = store.stat(key)
    assert stat is not None and stat.legal_hold is True

    released = store.set_legal_hold(key, False)
    assert released.legal_hold is not True
    assert store.legal_hold(key) is False
    with pytest.raises(NotFound):
        store.set_legal_hold(media_key(sha(b"absent")), True)


# --- verification failed vs could not check ---------------------------------------------------------


def test_tampered_object_fails_verification(store: S3Store, owner: Minio, bucket: str) -> None:
    data = os.urandom(500_000)
    digest = sha(data)
    key = media_key(digest)
    store.put_stream(key, io.BytesIO(data), len(data), digest, META)

    forged = os.urandom(len(data))  # same size, other bytes, even the sha256 metadata copied
    owner.put_object(bucket, key, io.BytesIO(forged), len(forged), metadata={"sha256": digest})

    with pytest.raises(IntegrityFailure) as caught:
        store.verify(key, digest, len(data))
    assert digest in str(caught.value) and sha(forged) in str(caught.value)
    assert len(versions(owner, bucket, key)) == 2  # the original stays, locked, as an older version


class Unreadable(io.RawIOBase):
    def readinto(self, b: object) -> int:
        raise AssertionError("nothing is uploaded over a latest version that verifies")


@pytest.mark.parametrize("damage", ["forged-version", "delete-marker"])
def test_restore_uploads_a_new_latest_version_over_a_damaged_one(
    store: S3Store, owner: Minio, bucket: str, damage: str
) -> None:
    """Issue 7, item 2: the damaged version is locked and stays; the good one goes on top."""
    data = os.urandom(16 * MiB + 5)  # multipart, as a real clip
    digest = sha(data)
    key = media_key(digest)
    first = store.put_stream(key, io.BytesIO(data), len(data), digest, META)
    if damage == "forged-version":
        forged = os.urandom(len(data))
        owner.put_object(bucket, key, io.BytesIO(forged), len(forged), metadata={"sha256": digest})
        # same size and sha256 metadata: a plain re-put trusts it and sends nothing
        trusted = store.put_stream(key, Unreadable(), len(data), digest, META)  # type: ignore[arg-type]
        assert trusted.version_id != first.version_id
    else:
        owner.remove_object(bucket, key)  # no version id: a delete marker hides the object
        assert store.stat(key) is None

    restored = store.restore_stream(key, io.BytesIO(data), len(data), digest, META)

    assert restored.version_id not in (None, first.version_id)
    assert_locked(restored, ORDINARY)
    assert store.stat(key) == restored  # the latest
    assert store.verify(key, digest, len(data)) == restored
    assert store.get_bytes(key) == data
    assert store.verify(key, digest, len(data), version_id=first.version_id).version_id == first.version_id
    again = store.restore_stream(key, Unreadable(), len(data), digest, META)  # type: ignore[arg-type]
    assert again == restored


def test_verify_reports_missing_object_and_wrong_size_as_integrity_failures(store: S3Store) -> None:
    data = os.urandom(20_000)
    key = media_key(sha(data))
    with pytest.raises(IntegrityFailure, match="no stored object"):
        store.verify(key, sha(data), len(data))
    store.put_stream(key, io.BytesIO(data), len(data), sha(data), META)
    with pytest.raises(IntegrityFailure, match="20000 bytes instead of 20001"):
        store.verify(key, sha(data), len(data) + 1)


def test_verify_reports_object_without_lock_as_integrity_failure(
    s3_server: S3Server, owner: Minio, bucket: str
) -> None:
    # A versioned bucket with Object Lock but no default rule, written around the store.
    owner.make_bucket(bucket, object_lock=True)
    data = os.urandom(1000)
    key = media_key(sha(data))
    owner.put_object(bucket, key, io.BytesIO(data), len(data))
    settings = S3Settings(
        endpoint=s3_server.endpoint,
        bucket=bucket,
        access_key=s3_server.owner.access_key,
        secret_key=s3_server.owner.secret_key,
    )
    store = S3Store(settings, utcnow)
    store.check()
    with pytest.raises(IntegrityFailure, match="without COMPLIANCE retention"):
        store.verify(key, sha(data), len(data))


def test_server_down_is_storage_unavailable_and_objects_survive_restart(
    s3_server: S3Server, store: S3Store
) -> None:
    data = os.urandom(2 * MiB)
    digest = sha(data)
    key = media_key(digest)
    stored = store.put_stream(key, io.BytesIO(data), len(data), digest, META)
    other = os.urandom(7 * MiB)

    s3_server.stop_rgw()
    try:
        with pytest.raises(StorageUnavailable):
            store.verify(key, digest, len(data))
        with pytest.raises(StorageUnavailable):
            store.stat(key)
        with pytest.raises(StorageUnavailable):
            store.put_stream(media_key(sha(other)), io.BytesIO(other), len(other), sha(other), META)
        with pytest.raises(StorageUnavailable):
            store.open_bucket()
    finally:
        s3_server.start_rgw()

    assert store.verify(key, digest, len(data)) == stored
    assert store.get_bytes(key) == data


def test_server_stopped_mid_upload_leaves_no_object_and_stale_upload_is_cleaned(
    s3_server: S3Server, make_store: MakeStore, owner: Minio, bucket: str
) -> None:
    store = make_store(parallel_uploads=1)
    data = os.urandom(30 * MiB)  # six parts of 5 MiB
    key = media_key(sha(data))
    stopped: list[int] = []

    def stop_after_first_part(n: int) -> None:
        if not stopped:
            stopped.append(n)
            s3_server.stop_rgw()

    try:
        with pytest.raises(StorageUnavailable):
            store.put_stream(
                key, io.BytesIO(data), len(data), sha(data), META, progress=stop_after_first_part
            )
    finally:
        s3_server.start_rgw()

    assert stopped and store.stat(key) is None
    # The abort could not reach the server; the next start-up cleans what is left.
    store.abort_stale_uploads(timedelta(0))
    assert incomplete_uploads(owner, bucket) == []
    assert store.put_stream(key, io.BytesIO(data), len(data), sha(data), META).size == len(data)


def test_nothing_listening_is_storage_unavailable(make_store: MakeStore) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    store = make_store(endpoint=f"http://127.0.0.1:{port}", open_bucket=False)
    with pytest.raises(StorageUnavailable, match="refused"):
        store.open_bucket()


def test_server_that_never_answers_is_storage_unavailable(make_store: MakeStore) -> None:
    with socket.socket() as silent:  # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        store = make_store(
            endpoint=f"http://127.0.0.1:{port}", open_bucket=False, read_timeout=0.3, retries=0
        )
        with pytest.raises(StorageUnavailable, match="timed out"):
            store.stat(media_key(sha(b"x")))


NO_POOL = cast(urllib3.HTTPConnectionPool, None)


def _s3_error(code: str, status: int) -> S3Error:
    return S3Error(HTTPResponse(status=status), code, "message", "/bucket/key", "req", "host")


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (_s3_error("SlowDown", 503), StorageUnavailable),
        (_s3_error("InternalError", 500), StorageUnavailable),
        (_s3_error("RequestTimeout", 400), StorageUnavailable),
        (_s3_error("AccessDenied", 403), StorageRejected),
        (_s3_error("InvalidAccessKeyId", 403), StorageRejected),
        (_s3_error("NoSuchBucket", 404), StorageRejected),
        (ServerError("bad gateway", 502), StorageUnavailable),
        (urllib3.exceptions.ReadTimeoutError(NO_POOL, "/", "read timed out"), StorageUnavailable),
        (
            urllib3.exceptions.MaxRetryError(NO_POOL, "/", urllib3.exceptions.SSLError("cert")),
            StorageRejected,
        ),
        (ConnectionResetError("reset"), StorageUnavailable),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else v.__name__,
)
def test_foreign_errors_are_translated(error: BaseException, expected: type[Exception]) -> None:
    assert type(translate(error, "doing it")) is expected


# --- start-up checks ----------------------------------------------------------------------------------


def test_bucket_without_object_lock_is_rejected(make_store: MakeStore, owner: Minio, bucket: str) -> None:
    owner.make_bucket(bucket)  # no Object Lock
    store = make_store(open_bucket=False)
    with pytest.raises(StorageRejected) as caught:
        store.open_bucket()
    message = str(caught.value)
    assert bucket in message and "Object Lock" in message
    with pytest.raises(StorageRejected, match="Object Lock"):
        store.check()


def test_missing_bucket_is_rejected_when_creation_is_not_allowed(make_store: MakeStore, bucket: str) -> None:
    store = make_store(open_bucket=False, create_bucket=False)
    with pytest.raises(StorageRejected, match=f"bucket '{bucket}' does not exist"):
        store.open_bucket()


def test_bad_credentials_are_rejected(make_store: MakeStore, store: S3Store) -> None:
    wrong_secret = S3User("nobody", store.settings.access_key, "x" * 40)
    unknown_key = S3User("nobody", "NOSUCHACCESSKEY00000", "x" * 40)
    for user in (wrong_secret, unknown_key):
        bad = make_store(user=user, open_bucket=False)
        with pytest.raises(StorageRejected, match="access key") as caught:
            bad.open_bucket()
        assert "secret_key" not in repr(bad.settings) and user.secret_key not in str(caught.value)
        with pytest.raises(StorageRejected):
            bad.put_bytes(manifest_key(sha(b"m")), b"m", {})


def test_abort_stale_uploads(make_store: MakeStore, owner: Minio, bucket: str) -> None:
    store = make_store()
    for name in ("stale-a", "stale-b"):
        owner._create_multipart_upload(bucket, name, {})
    assert sorted(incomplete_uploads(owner, bucket)) == ["stale-a", "stale-b"]

    assert store.abort_stale_uploads(timedelta(hours=1)) == 0  # too young: maybe still in flight
    assert len(incomplete_uploads(owner, bucket)) == 2

    later = make_store(clock=lambda: utcnow() + timedelta(hours=2), open_bucket=False)
    assert later.abort_stale_uploads(timedelta(hours=1)) == 2
    assert incomplete_uploads(owner, bucket) == []


# --- least privilege -----------------------------------------------------------------------------------


def station_policy(bucket: str, station: S3User) -> str:
    return bucket_policy(POLICY_FILE, bucket, station)


def test_least_privilege_policy_is_enough_and_forbids_delete(
    s3_server: S3Server, make_store: MakeStore, owner: Minio, bucket: str
) -> None:
    make_store()  # the owner creates the bucket with Object Lock and its default rule
    station = s3_server.create_user("station")
    owner.set_bucket_policy(bucket, station_policy(bucket, station))
    store = make_store(user=station, create_bucket=False)  # open_bucket with the station's rights

    data = os.urandom(16 * MiB)  # multipart with 5 MiB parts, three in flight
    digest = sha(data)
    key = media_key(digest)
    stored = store.put_stream(key, io.BytesIO(data), len(data), digest, META)
    assert_locked(stored, ORDINARY)
    assert store.put_stream(key, io.BytesIO(data), len(data), digest, META) == stored
    assert store.verify(key, digest, len(data)) == stored
    assert store.stat(media_key(sha(b"absent"))) is None
    manifest = store.put_bytes(manifest_key(digest), b"{}", {"recording-id": "rec-3"})
    assert_locked(manifest, ORDINARY)
    assert store.set_legal_hold(key, True).legal_hold is True
    assert store.legal_hold(key) is True
    store.set_legal_hold(key, False)
    wanted = os.urandom(len(data))
    with pytest.raises(SourceChanged):  # aborting its own failed multipart upload is allowed
        store.put_stream(media_key(sha(wanted)), io.BytesIO(data), len(data), sha(wanted), META)
    assert incomplete_uploads(owner, bucket) == []
    assert store.abort_stale_uploads(timedelta(0)) == 0

    client = s3_server.client(station)
    for version in (None, stored.version_id):
        with pytest.raises(S3Error) as denied:
            client.remove_object(bucket, key, version_id=version)
        assert denied.value.code == "AccessDenied"
    with pytest.raises(S3Error) as denied:
        client.delete_bucket_policy(bucket)
    assert denied.value.code == "AccessDenied"
    with pytest.raises(S3Error) as denied:
        client.make_bucket(new_bucket_name())
    assert denied.value.code in ("AccessDenied", "TooManyBuckets")
    assert versions(owner, bucket, key) == [stored.version_id]


def test_station_without_policy_is_rejected(s3_server: S3Server, make_store: MakeStore) -> None:
    make_store()
    station = s3_server.create_user("station")
    store = make_store(user=station, create_bucket=False, open_bucket=False)
    with pytest.raises(StorageRejected, match="denied"):
        store.open_bucket()


# --- pure helpers ----------------------------------------------------------------------------------------


def test_settings_defaults_and_validation() -> None:
    settings = S3Settings(
        endpoint="https://s3.example.org", bucket="evidence", access_key="a", secret_key="s"
    )
    assert settings.secure and settings.host == "s3.example.org"
    assert settings.part_size == 16 * MiB and settings.parallel_uploads == 4
    assert dict(settings.retention_days) == {"ordinary": 180, "evidence": 3650}
    assert settings.days_for(None) == 180 and settings.days_for("evidence") == 3650
    assert "secret_key" not in repr(settings) and "access_key" not in repr(settings)
    plain = S3Settings(endpoint="http://127.0.0.1:7480", bucket="evidence", access_key="a", secret_key="s")
    assert not plain.secure and plain.host == "127.0.0.1:7480"
    with pytest.raises(ConfigError, match="part_size"):
        S3Settings(endpoint="http://h", bucket="evidence", access_key="a", secret_key="s", part_size=MiB)
    with pytest.raises(ConfigError, match="endpoint"):
        S3Settings(endpoint="127.0.0.1:7480", bucket="evidence", access_key="a", secret_key="s")
    with pytest.raises(ConfigError, match="ca_bundle"):
        S3Settings(endpoint="http://h", bucket="evidence", access_key="a", secret_key="s", ca_bundle="ca.pem")
    with pytest.raises(ConfigError, match="default_retention_class"):
        S3Settings(
            endpoint="http://h", bucket="b-1", access_key="a", secret_key="s", default_retention_class="x"
        )
    with pytest.raises(ConfigError, match="unknown retention class"):
        settings.days_for("forever")


def test_parse_s3_datetime_tolerates_nine_digit_fractions() -> None:
    assert parse_s3_datetime("2026-11-30T04:13:05.210000000Z") == datetime(
        2026, 11, 30, 4, 13, 5, 210000, tzinfo=UTC
    )
    assert parse_s3_datetime("2026-11-30T04:13:05Z") == datetime(2026, 11, 30, 4, 13, 5, tzinfo=UTC)
    assert parse_s3_datetime("2026-11-30T06:13:05.5+02:00") == datetime(
        2026, 11, 30, 4, 13, 5, 500000, tzinfo=UTC
    )


def test_stat_verification_checks_metadata_not_bytes(
    make_store: MakeStore, owner: Minio, bucket: str
) -> None:
    """The documented trade-off of verify = "stat": no second transfer, but bytes are not re-hashed."""
    store = make_store(verify="stat")
    data = os.urandom(200_000)
    digest = sha(data)
    key = media_key(digest)
    store.put_stream(key, io.BytesIO(data), len(data), digest, META)
    assert store.verify(key, digest, len(data)).size == len(data)
    with pytest.raises(IntegrityFailure, match="bytes instead of"):
        store.verify(key, digest, len(data) + 1)
    with pytest.raises(IntegrityFailure, match="sha256 metadata"):
        store.verify(key, "0" * 64, len(data))
    # a forgery that copies our metadata passes a stat check; only the full re-read catches it
    owner.put_object(bucket, key, io.BytesIO(os.urandom(len(data))), len(data), metadata={"sha256": digest})
    store.verify(key, digest, len(data))
    with pytest.raises(IntegrityFailure):
        make_store(verify="full").verify(key, digest, len(data))


def test_a_log_checkpoint_is_published_under_compliance_retention(
    make_store: MakeStore, tmp_path: Path
) -> None:
    """The checkpoint of the custody log goes where the database cannot rewrite it: a locked
    object under the evidence's retention class, found again by listing its prefix."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from recorder_sync.adapters.db.engine import make_engine, upgrade
    from recorder_sync.adapters.db.log_repo import LogRepo
    from recorder_sync.adapters.db.repository import SqlCatalog
    from recorder_sync.domain.checkpoint import NoteKey, open_checkpoint
    from recorder_sync.domain.custody import EventKind
    from recorder_sync.services.checkpoints import CheckpointService

    engine = make_engine(f"sqlite:///{tmp_path / 'db'}")
    upgrade(engine)
    catalog = SqlCatalog(engine, station="st-1", actor="test")
    for i in range(3):
        catalog.note(EventKind.ACCESSED, utcnow(), details={"i": i})
    private = Ed25519PrivateKey.generate()
    key = NoteKey("recorder-sync/st-1", private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
    store = make_store()
    svc = CheckpointService(
        LogRepo(catalog),
        store,
        key.name,
        key=key,
        sign=private.sign,
        clock=utcnow,
        retention_class="evidence",
    )
    before = utcnow()
    cp = svc.publish()
    assert cp is not None and cp.size == 3
    [found] = store.list_keys("log/recorder-sync/st-1/checkpoint/")
    assert found == "log/recorder-sync/st-1/checkpoint/00000000000000000003"
    stored = store.stat(found)
    assert stored is not None and stored.lock_mode == COMPLIANCE and stored.retain_until is not None
    assert stored.retain_until >= before + timedelta(days=EVIDENCE) - timedelta(minutes=1)
    assert open_checkpoint(store.get_bytes(found), [key]) == cp
    assert svc.publish() is None and store.stat(found) == stored  # nothing new: no new version
    assert svc.check() is not None


# --- credentials that may not read an object's retention ---------------------------------
# RGW then leaves the lock headers out of HEAD, which looked like an object without
# COMPLIANCE retention (an integrity failure, exit 3). It is "could not check the
# retention" (exit 4): the bytes are still checked, and wrong bytes still fail.


def reader_policy(bucket: str, arn: str, *, retention: bool) -> str:
    """Get and stat of objects and versions; the right to read their retention only when asked."""
    actions = ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectLegalHold"]
    if retention:
        actions.append("s3:GetObjectRetention")
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": [arn]},
                    "Action": ["s3:ListBucket", "s3:GetBucketObjectLockConfiguration"],
                    "Resource": [f"arn:aws:s3:::{bucket}"],
                },
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": [arn]},
                    "Action": actions,
                    "Resource": [f"arn:aws:s3:::{bucket}/*"],
                },
            ],
        }
    )


def test_verify_without_the_retention_right_could_not_check_the_lock(
    make_store: MakeStore, s3_server: S3Server, bucket: str, owner: Minio
) -> None:
    store = make_store()
    data = b"evidence without a readable lock " * 500
    key = media_key(sha(data))
    stored = store.put_stream(key, io.BytesIO(data), len(data), sha(data), META, "ordinary")
    assert stored.lock_mode == "COMPLIANCE"
    user = s3_server.create_user("no-retention")
    owner.set_bucket_policy(bucket, reader_policy(bucket, user.arn, retention=False))
    reader = make_store(user, open_bucket=False)

    with pytest.raises(RetentionUnchecked) as unchecked:
        reader.verify(key, sha(data), len(data), version_id=stored.version_id)
    assert isinstance(unchecked.value, CouldNotCheck) and isinstance(unchecked.value, StorageRejected)
    assert not isinstance(unchecked.value, VerificationFailed) and unchecked.value.exit_code == 4
    assert f"Could not check the retention of {key}" in str(unchecked.value)
    assert "s3:GetObjectRetention" in str(unchecked.value)
    # the same in stat mode
    with pytest.raises(RetentionUnchecked):
        make_store(user, open_bucket=False, verify="stat").verify(key, sha(data), len(data))

    # wrong bytes are still a verification failure, lock readable or not
    other = b"x" * len(data)
    with pytest.raises(IntegrityFailure):
        reader.verify(key, sha(other), len(data), version_id=stored.version_id)

    # with the right, it verifies and reports the lock
    owner.set_bucket_policy(bucket, reader_policy(bucket, user.arn, retention=True))
    checked = reader.verify(key, sha(data), len(data), version_id=stored.version_id)
    assert checked.lock_mode == "COMPLIANCE" and checked.retain_until is not None
