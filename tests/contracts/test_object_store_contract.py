"""The ``ObjectStore`` contract, run on the in-memory fake, the vault and S3 on a real Ceph RGW,
so that a service test passing on the fake passes for the reason it would on a real store.

Each backend comes with the test's hand on it (damage an object, lose it, take the store away)
as the real world does it: a flipped bit on disk, a forged newer version in the bucket."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import pytest
from fakes import MemoryStore

from recorder_sync.adapters.vault import MARKER, Vault
from recorder_sync.domain.errors import IntegrityFailure, NotFound, SourceChanged, StorageUnavailable
from recorder_sync.domain.layout import manifest_key, media_key
from recorder_sync.domain.ports import EvidenceReader, ObjectStore

META = {"recording-id": "rec-0001", "station": "station-7"}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Backend:
    store: ObjectStore
    damage: Callable[[str], None]
    """Same size, other bytes under the key (what a reader of the key gets)."""
    lose: Callable[[str], None]
    """A reader of the key finds nothing."""
    unmount: Callable[[], None] | None
    """The store goes away (None for S3: a stopped server is tested in tests/adapters/test_s3store.py,
    and stopping the shared one here would slow every other S3 test)."""


def _memory(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Backend]:
    store = MemoryStore()

    def unmount() -> None:
        store.available = False

    yield Backend(store, store.damage, store.lose, unmount)


def _vault(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Backend]:
    root = tmp_path / "vault"
    vault = Vault(root)

    def damage(key: str) -> None:
        path = root / key
        path.chmod(0o644)  # vault objects are read-only files
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))
        path.chmod(0o444)

    def lose(key: str) -> None:
        (root / key).unlink()

    def unmount() -> None:
        (root / MARKER).unlink()  # the vault's disk is not mounted

    yield Backend(vault, damage, lose, unmount)


def _s3(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Backend]:
    from s3server import S3Server, new_bucket_name

    from recorder_sync.adapters.s3settings import S3Settings
    from recorder_sync.adapters.s3store import S3Store

    server: S3Server = request.getfixturevalue("s3_server")
    bucket = new_bucket_name()
    settings = S3Settings(
        endpoint=server.endpoint,
        bucket=bucket,
        access_key=server.owner.access_key,
        secret_key=server.owner.secret_key,
        part_size=5 * 1024 * 1024,
        parallel_uploads=2,
        retries=1,
        retention_days={"ordinary": 1, "evidence": 2},
    )
    store = S3Store(settings, lambda: datetime.now(UTC))
    store.open_bucket()
    owner = server.client()

    def damage(key: str) -> None:
        # a newer version of the same size, even its sha256 metadata copied: the locked original stays
        stored = owner.stat_object(bucket, key)
        size = stored.size or 0
        data = bytearray(store.get_bytes(key))
        data[size // 2] ^= 0x01
        digest = (stored.metadata or {}).get("x-amz-meta-sha256", "")
        owner.put_object(bucket, key, io.BytesIO(bytes(data)), size, metadata={"sha256": digest})

    def lose(key: str) -> None:
        owner.remove_object(bucket, key)  # a delete marker hides the object

    yield Backend(store, damage, lose, None)


BACKENDS = {"memory": _memory, "vault": _vault, "s3": _s3}


@pytest.fixture(params=list(BACKENDS))
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    yield from BACKENDS[request.param](tmp_path, request)


class Unreadable(io.RawIOBase):
    def readinto(self, b: object) -> int:
        raise AssertionError("nothing is read from the source when the stored object is good")


def _put(store: ObjectStore, data: bytes) -> str:
    key = media_key(sha(data))
    store.put_stream(key, io.BytesIO(data), len(data), sha(data), META)
    return key


def test_put_stat_verify_open_round_trip(backend: Backend) -> None:
    store = backend.store
    data = os.urandom(300_000)
    key = media_key(sha(data))
    seen: list[int] = []
    stored = store.put_stream(key, io.BytesIO(data), len(data), sha(data), META, progress=seen.append)
    assert stored.key == key and stored.size == len(data)
    assert sum(seen) == len(data)
    assert store.stat(key) == stored
    assert store.stat(media_key(sha(b"nothing here"))) is None
    checked: list[int] = []
    assert store.verify(key, sha(data), len(data), progress=checked.append) == stored
    assert sum(checked) == len(data)
    assert store.get_bytes(key) == data
    with store.open(key) as reader:
        assert reader.read(10) == data[:10]
        assert reader.read() == data[10:]


def test_reput_of_the_same_bytes_reads_nothing_and_changes_nothing(backend: Backend) -> None:
    store = backend.store
    data = os.urandom(50_000)
    key = _put(store, data)
    first = store.stat(key)
    again = store.put_stream(key, Unreadable(), len(data), sha(data), META)  # type: ignore[arg-type]
    assert again == first == store.stat(key)


def test_small_objects_beside_the_media(backend: Backend) -> None:
    store = backend.store
    manifest = b'{"sha256":"...","size":1}'
    key = manifest_key(sha(b"media"))
    stored = store.put_bytes(key, manifest, {"recording-id": "rec-0002"}, retention_class="evidence")
    assert stored.key == key and stored.size == len(manifest)
    assert store.get_bytes(key) == manifest
    assert store.verify(key, sha(manifest), len(manifest)) == stored
    assert store.put_bytes(key, manifest, {"recording-id": "rec-0002"}) == stored
    with pytest.raises(NotFound):
        store.get_bytes(manifest_key(sha(b"other")))


def test_list_keys_gives_every_key_under_a_prefix_and_nothing_else(backend: Backend) -> None:
    store = backend.store
    assert store.list_keys("log/recorder-sync/st-1/checkpoint/") == []
    for size in (3, 12, 7):
        store.put_bytes(f"log/recorder-sync/st-1/checkpoint/{size}", b"note %d\n" % size, {})
    store.put_bytes("log/recorder-sync/st-10/checkpoint/5", b"another log\n", {})
    media = _put(store, b"media beside the log")
    assert store.list_keys("log/recorder-sync/st-1/checkpoint/") == [
        f"log/recorder-sync/st-1/checkpoint/{n}" for n in ("12", "3", "7")
    ]
    assert store.list_keys("log/recorder-sync/st-1") == [
        *[f"log/recorder-sync/st-1/checkpoint/{n}" for n in ("12", "3", "7")],
        "log/recorder-sync/st-10/checkpoint/5",
    ]
    assert media in store.list_keys("sha256/")
    assert not any(k.startswith("log/") for k in store.list_keys("sha256/"))
    after = store.list_keys(
        "log/recorder-sync/st-1/checkpoint/", start_after="log/recorder-sync/st-1/checkpoint/3"
    )
    assert after == ["log/recorder-sync/st-1/checkpoint/7"]
    assert (
        store.list_keys(
            "log/recorder-sync/st-1/checkpoint/", start_after="log/recorder-sync/st-1/checkpoint/7"
        )
        == []
    )


def test_bytes_that_do_not_hash_as_promised_are_not_stored(backend: Backend) -> None:
    store = backend.store
    expected = os.urandom(100_000)
    key = media_key(sha(expected))
    changed = bytearray(expected)
    changed[-1] ^= 0xFF
    with pytest.raises(SourceChanged) as caught:
        store.put_stream(key, io.BytesIO(bytes(changed)), len(expected), sha(expected), META)
    assert sha(bytes(changed)) in str(caught.value)
    assert store.stat(key) is None


def test_a_stream_that_ends_early_is_not_stored(backend: Backend) -> None:
    """(A stream longer than ``size`` is not part of the contract: the vault refuses it, S3
    stores the first ``size`` bytes; the ingest service re-reads the file's identity after
    the copy either way.)"""
    store = backend.store
    data = os.urandom(100_000)
    key = media_key(sha(data))
    with pytest.raises(SourceChanged):
        store.put_stream(key, io.BytesIO(data[:70_000]), len(data), sha(data), META)
    assert store.stat(key) is None


def test_a_key_that_is_not_a_sha256_is_refused(backend: Backend) -> None:
    with pytest.raises(ValueError, match="SHA-256"):
        backend.store.put_stream(media_key(sha(b"x")), io.BytesIO(b"x"), 1, "not-a-hash", META)


def test_missing_wrong_size_and_damaged_objects_fail_verification(backend: Backend) -> None:
    store = backend.store
    data = os.urandom(40_000)
    key = media_key(sha(data))
    with pytest.raises(IntegrityFailure):
        store.verify(key, sha(data), len(data))
    _put(store, data)
    with pytest.raises(IntegrityFailure):
        store.verify(key, sha(data), len(data) + 1)
    backend.damage(key)
    with pytest.raises(IntegrityFailure) as caught:
        store.verify(key, sha(data), len(data))
    assert sha(data) in str(caught.value)


@pytest.mark.parametrize("how", ["damaged", "lost"])
def test_restore_puts_the_good_bytes_back(backend: Backend, how: str) -> None:
    store = backend.store
    data = os.urandom(60_000)
    key = _put(store, data)
    (backend.damage if how == "damaged" else backend.lose)(key)
    restored = store.restore_stream(key, io.BytesIO(data), len(data), sha(data), META)
    assert store.verify(key, sha(data), len(data)) == restored == store.stat(key)
    assert store.get_bytes(key) == data
    again = store.restore_stream(key, Unreadable(), len(data), sha(data), META)  # type: ignore[arg-type]
    assert again == restored


def test_restore_checks_the_source_as_a_put_does(backend: Backend) -> None:
    store = backend.store
    data = os.urandom(60_000)
    key = _put(store, data)
    backend.lose(key)
    with pytest.raises(SourceChanged):
        store.restore_stream(key, io.BytesIO(b"y" * len(data)), len(data), sha(data), META)
    with pytest.raises(IntegrityFailure):
        store.verify(key, sha(data), len(data))


@pytest.mark.parametrize("backend", ["memory", "vault"], indirect=True)
def test_a_store_that_went_away_is_unavailable_never_an_integrity_failure(backend: Backend) -> None:
    assert backend.unmount is not None
    store = backend.store
    data = os.urandom(10_000)
    key = _put(store, data)
    backend.unmount()
    with pytest.raises(StorageUnavailable):
        store.verify(key, sha(data), len(data))
    with pytest.raises(StorageUnavailable):
        store.stat(key)
    with pytest.raises(StorageUnavailable):
        store.put_stream(media_key(sha(b"new")), io.BytesIO(b"new"), 3, sha(b"new"), META)


def test_a_stored_object_is_protected_from_change(backend: Backend) -> None:
    """What ``recorder-audit``'s metadata level asks of every store (``EvidenceReader``): an
    object as the store keeps it cannot be overwritten or deleted (a lock, a read-only file)."""
    store = cast(EvidenceReader, backend.store)
    key = _put(store, os.urandom(1000))
    obj = store.stat(key)
    assert obj is not None
    assert store.protection_problem(obj, datetime.now(UTC)) is None
