"""The file-system vault and the fast hashing path, on real files (and one real kill -9)."""

from __future__ import annotations

import fcntl
import hashlib
import io
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from fakes import MemoryStore

from recorder_sync.adapters.vault import MARKER, TMP, Vault
from recorder_sync.domain.errors import (
    CouldNotCheck,
    IntegrityFailure,
    NotFound,
    SourceChanged,
    SourceUnavailable,
    StorageUnavailable,
    VerificationFailed,
)
from recorder_sync.domain.layout import manifest_key, media_key
from recorder_sync.domain.ports import Staging
from recorder_sync.io.hashing import SinkWriteError, sha256_copy, sha256_file

ROOT = Path(__file__).resolve().parents[2]
MiB = 1 << 20


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def payload(n: int, seed: int = 1) -> bytes:
    return hashlib.shake_256(seed.to_bytes(4, "big")).digest(n) if n else b""


@pytest.fixture
def vault(tmp_path: Path) -> Vault:
    return Vault(tmp_path / "vault")


def put(vault: Vault, data: bytes, progress: list[int] | None = None) -> str:
    digest = sha(data)
    key = media_key(digest)
    vault.put_stream(
        key, io.BytesIO(data), len(data), digest, {}, progress=progress.append if progress else None
    )
    return key


def object_path(vault: Vault, key: str) -> Path:
    return vault.root / key


def flip_byte(path: Path, offset: int) -> None:
    path.chmod(0o644)
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0x80]))
    path.chmod(0o444)


def tmp_files(vault: Vault) -> list[str]:
    return sorted(os.listdir(vault.root / TMP))


# --- round trip ----------------------------------------------------------------


def test_round_trip_from_a_real_file(vault: Vault, tmp_path: Path) -> None:
    data = payload(3 * MiB + 17)
    src = tmp_path / "clip.mp4"
    src.write_bytes(data)
    digest = sha(data)
    key = media_key(digest)
    seen: list[int] = []
    with open(src, "rb") as f:
        stored = vault.put_stream(key, f, len(data), digest, {"station": "st-1"}, "evidence", seen.append)
    assert sum(seen) == len(data)
    assert stored.key == key and stored.size == len(data)
    assert vault.stat(key) == stored
    assert vault.get_bytes(key) == data
    with vault.open(key) as f:
        assert f.read(10) == data[:10]
    assert vault.verify(key, digest, len(data)) == stored
    path = object_path(vault, key)
    assert path == vault.root / "sha256" / digest[:2] / digest[2:4] / digest
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert stored.uri == path.as_uri() and stored.uri.startswith("file:///")
    assert tmp_files(vault) == []


def test_empty_object(vault: Vault) -> None:
    key = put(vault, b"")
    assert vault.get_bytes(key) == b""
    assert vault.verify(key, sha(b""), 0).size == 0


def test_uri_is_percent_quoted(tmp_path: Path) -> None:
    vault = Vault(tmp_path / "证据 vault#1")
    key = put(vault, b"abc")
    uri = vault.stat(key).uri  # type: ignore[union-attr]
    assert " " not in uri and "#" not in uri.split("file://", 1)[1]
    assert Path(unquote(urlparse(uri).path)) == object_path(vault, key)
    assert vault.uri(key) == uri


def test_stat_of_missing_key_is_none(vault: Vault) -> None:
    assert vault.stat(media_key("0" * 64)) is None


def test_open_missing_key_is_not_found(vault: Vault) -> None:
    with pytest.raises(NotFound):
        vault.get_bytes(media_key("0" * 64))


# --- write once ------------------------------------------------------------------


class Unreadable(io.RawIOBase):
    def readinto(self, b: object) -> int:
        raise AssertionError("a no-op put must not read its source")


def test_re_put_of_same_key_is_a_no_op(vault: Vault) -> None:
    data = payload(MiB + 1)
    key = put(vault, data)
    before = object_path(vault, key).stat()
    again = vault.put_stream(key, Unreadable(), len(data), sha(data), {})  # type: ignore[arg-type]
    after = object_path(vault, key).stat()
    assert again.size == len(data)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert tmp_files(vault) == []


def test_existing_object_of_wrong_size_is_not_kept_silently(vault: Vault) -> None:
    data = payload(1000)
    key = put(vault, data)
    with pytest.raises(IntegrityFailure, match="1000 bytes"):
        vault.put_stream(key, io.BytesIO(data + b"x"), 1001, sha(data), {})
    assert vault.get_bytes(key) == data


def test_hash_mismatch_stores_nothing(vault: Vault) -> None:
    data = payload(2 * MiB)
    wrong = sha(b"something else")
    with pytest.raises(SourceChanged, match=wrong):
        vault.put_stream(media_key(wrong), io.BytesIO(data), len(data), wrong, {})
    assert vault.stat(media_key(wrong)) is None
    assert sorted(os.listdir(vault.root)) == sorted([MARKER, TMP]), "no folders made for a failed put"
    assert tmp_files(vault) == []


@pytest.mark.parametrize("actual", [999, 1001, 5000])
def test_source_of_another_size_is_changed(vault: Vault, actual: int) -> None:
    data = payload(actual)
    expected = data[:1000] if actual > 1000 else data + b"\0" * (1000 - actual)
    with pytest.raises(SourceChanged, match="bytes, expected 1000"):
        vault.put_stream(media_key(sha(expected)), io.BytesIO(data), 1000, sha(expected), {})
    assert vault.stat(media_key(sha(expected))) is None
    assert tmp_files(vault) == []


def test_source_read_error_is_source_unavailable(vault: Vault) -> None:
    class Failing(io.RawIOBase):
        name = "dock/clip.mp4"

        def readable(self) -> bool:
            return True

        def readinto(self, b: object) -> int:
            raise OSError(5, "Input/output error")

    with pytest.raises(SourceUnavailable, match=re.escape("dock/clip.mp4")):
        vault.put_stream(media_key("a" * 64), Failing(), 10, "a" * 64, {})  # type: ignore[arg-type]
    assert tmp_files(vault) == []


def test_put_bytes_round_trip_and_write_once(vault: Vault) -> None:
    key = manifest_key(sha(b"media"))
    manifest = b'{"a":1}'
    stored = vault.put_bytes(key, manifest, {})
    assert stored.size == len(manifest)
    assert vault.get_bytes(key) == manifest
    assert stat.S_IMODE(object_path(vault, key).stat().st_mode) == 0o444
    assert vault.put_bytes(key, manifest, {}) == stored
    with pytest.raises(IntegrityFailure, match=sha(b'{"a":2}')):
        vault.put_bytes(key, b'{"a":2}', {})
    assert vault.get_bytes(key) == manifest


@pytest.mark.parametrize(
    "key", ["", "../x", "/etc/x", "a//b", "tmp/x", "tmp", MARKER, "sha256/./x", "a/-b", "a b", "a\nb"]
)
def test_keys_that_would_leave_the_layout_are_refused(vault: Vault, key: str) -> None:
    with pytest.raises(ValueError):
        vault.put_bytes(key, b"x", {})


# --- restoring a damaged object (issue 7, item 2) ---------------------------------


def damage(path: Path, how: str) -> None:
    if how == "missing":
        path.unlink()
    elif how == "flipped":
        flip_byte(path, 7)
    else:  # truncated
        path.chmod(0o644)
        os.truncate(path, 10)
        path.chmod(0o444)


class WatchedSource(io.RawIOBase):
    """A source that notes, at every read, whether the key still names a file."""

    def __init__(self, data: bytes, watched: Path) -> None:
        self._data = io.BytesIO(data)
        self._watched = watched
        self.seen: list[bool] = []

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        self.seen.append(self._watched.exists())
        return self._data.readinto(b)


@pytest.mark.parametrize("how", ["flipped", "truncated", "missing"])
def test_restore_puts_back_a_damaged_or_missing_object(vault: Vault, how: str) -> None:
    data = payload(3 * MiB + 3)
    key = put(vault, data)
    path = object_path(vault, key)
    damage(path, how)
    source = WatchedSource(data, path)
    stored = vault.restore_stream(key, source, len(data), sha(data), {})  # type: ignore[arg-type]
    assert stored.size == len(data) and stored.uri == vault.uri(key)
    assert vault.verify(key, sha(data), len(data)).size == len(data)
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    # the damaged file stayed under the key until the new copy took its place
    assert source.seen and all(source.seen) == (how != "missing")
    assert tmp_files(vault) == []


def test_restore_of_a_good_object_writes_nothing(vault: Vault) -> None:
    data = payload(MiB + 1)
    key = put(vault, data)
    before = object_path(vault, key).stat()
    vault.restore_stream(key, Unreadable(), len(data), sha(data), {})  # type: ignore[arg-type]
    after = object_path(vault, key).stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_restore_from_a_source_that_does_not_hash_keeps_what_is_there(vault: Vault) -> None:
    data = payload(5000)
    key = put(vault, data)
    flip_byte(object_path(vault, key), 0)
    damaged = object_path(vault, key).read_bytes()
    other = payload(5000, seed=2)
    with pytest.raises(SourceChanged, match="expected " + sha(data)):
        vault.restore_stream(key, io.BytesIO(other), len(other), sha(data), {})
    assert object_path(vault, key).read_bytes() == damaged  # neither replaced by wrong bytes nor removed
    assert tmp_files(vault) == []


def test_restore_of_a_manifest_and_into_an_unmounted_vault(vault: Vault) -> None:
    key = manifest_key(sha(b"media"))
    manifest = b'{"a":1}'
    vault.put_bytes(key, manifest, {})
    object_path(vault, key).unlink()
    vault.restore_stream(key, io.BytesIO(manifest), len(manifest), sha(manifest), {})
    assert vault.get_bytes(key) == manifest
    (vault.root / MARKER).unlink()  # unmounted: could not check, not a damaged object
    with pytest.raises(StorageUnavailable):
        vault.restore_stream(key, Unreadable(), len(manifest), sha(manifest), {})  # type: ignore[arg-type]


# --- verification ------------------------------------------------------------------


@pytest.mark.parametrize("offset", [0, MiB, 2 * MiB + 4])
def test_flipped_byte_is_an_integrity_failure(vault: Vault, offset: int) -> None:
    data = payload(2 * MiB + 5)
    key = put(vault, data)
    flip_byte(object_path(vault, key), offset)
    with pytest.raises(IntegrityFailure) as info:
        vault.verify(key, sha(data), len(data))
    assert isinstance(info.value, VerificationFailed) and not isinstance(info.value, CouldNotCheck)
    message = str(info.value)
    assert key in message and sha(data) in message
    assert sha(object_path(vault, key).read_bytes()) in message


def test_missing_object_in_available_vault_is_an_integrity_failure(vault: Vault) -> None:
    data = payload(100)
    key = put(vault, data)
    object_path(vault, key).unlink()
    with pytest.raises(IntegrityFailure, match="missing"):
        vault.verify(key, sha(data), len(data))


def test_verify_reports_progress(vault: Vault) -> None:
    data = payload(3 * MiB + 1)
    key = put(vault, data)
    seen: list[int] = []
    vault.verify(key, sha(data), len(data), seen.append)
    assert sum(seen) == len(data) and len(seen) >= 4


def test_removed_vault_root_is_storage_unavailable(vault: Vault) -> None:
    data = payload(100)
    key = put(vault, data)
    shutil.rmtree(vault.root)
    with pytest.raises(StorageUnavailable) as info:
        vault.verify(key, sha(data), len(data))
    assert not isinstance(info.value, VerificationFailed)
    with pytest.raises(StorageUnavailable):
        vault.stat(key)
    with pytest.raises(StorageUnavailable):
        vault.get_bytes(key)
    with pytest.raises(StorageUnavailable):
        put(vault, b"new")


def test_empty_mount_point_is_unavailable_not_lost_evidence(vault: Vault) -> None:
    data = payload(100)
    key = put(vault, data)
    shutil.rmtree(vault.root)
    vault.root.mkdir()  # what an unmounted mount point looks like
    with pytest.raises(StorageUnavailable, match="not mounted"):
        vault.verify(key, sha(data), len(data))
    with pytest.raises(StorageUnavailable):
        Vault(vault.root, create=False)


def test_existing_folder_with_files_is_not_made_a_vault(tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "a.jpg").write_bytes(b"x")
    with pytest.raises(StorageUnavailable, match="refusing"):
        Vault(tmp_path / "photos")


def test_reopening_a_vault_keeps_its_objects(vault: Vault) -> None:
    key = put(vault, b"kept")
    again = Vault(vault.root, create=False)
    assert again.get_bytes(key) == b"kept"


# --- temporary files -----------------------------------------------------------------


def test_leftover_temp_files_are_removed_but_not_those_in_use(vault: Vault) -> None:
    tmp = vault.root / TMP
    (tmp / "put-dead1").write_bytes(b"partial")
    (tmp / "put-dead2").write_bytes(b"")
    (tmp / "put-dead2").chmod(0o444)
    (tmp / "put-alive").write_bytes(b"in progress")
    with open(tmp / "put-alive", "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        Vault(vault.root)
        assert tmp_files(vault) == ["put-alive"]
    Vault(vault.root)
    assert tmp_files(vault) == []


CHILD = textwrap.dedent(
    """
    import io, sys, time
    from pathlib import Path
    from recorder_sync.adapters.vault import Vault

    class Slow(io.RawIOBase):
        sent = 0
        def readable(self):
            return True
        def readinto(self, b):
            if self.sent:
                print("reading", flush=True)
                time.sleep(60)
            self.sent = len(b)
            b[:] = b"x" * len(b)
            return len(b)

    Vault(Path(sys.argv[1])).put_stream("sha256/aa/aa/" + "a" * 64, Slow(), 10 << 20, "a" * 64, {})
    """
)


def test_temp_file_of_a_killed_writer_is_cleaned(vault: Vault) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(vault.root)], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "reading\n"
        assert len(tmp_files(vault)) == 1
        Vault(vault.root)  # e.g. a CLI started while the daemon writes
        assert len(tmp_files(vault)) == 1, "a live writer's file must survive"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    assert len(tmp_files(vault)) == 1
    Vault(vault.root)
    assert tmp_files(vault) == []


# --- staging: the first hash copies the dock file into tmp/, the store step links it ----------


def stage(vault: Vault, data: bytes, *, keep: bool = True) -> str:
    seen: list[int] = []
    with vault.stage(io.BytesIO(data), len(data) + 1, seen.append) as s:
        assert (s.sha256, s.size) == (sha(data), len(data))
        assert sum(seen) == len(data)
        # the copy, written on the same read as the hash
        assert len([n for n in tmp_files(vault) if n.startswith("put-")]) == 1
        if keep:
            s.keep()
    return s.sha256


def test_a_kept_staged_copy_is_linked_to_its_key_without_reading_a_source(vault: Vault) -> None:
    data = payload(3 * MiB + 5)
    digest = stage(vault, data)
    assert tmp_files(vault) == [f"staged-{digest}"] and vault.staged() == [digest]
    assert stat.S_IMODE((vault.root / TMP / f"staged-{digest}").stat().st_mode) == 0o444
    key = media_key(digest)
    stored = vault.put_staged(key, digest, len(data))
    assert stored is not None and stored.key == key and stored.size == len(data)
    assert vault.verify(key, digest, len(data)) == stored
    assert stat.S_IMODE(object_path(vault, key).stat().st_mode) == 0o444
    # the staged copy stays until the caller has recorded the object (a kill in between
    # redoes put_staged, which finds the key and stores nothing new)
    assert vault.put_staged(key, digest, len(data)) == stored
    vault.unstage(digest)
    vault.unstage(digest)  # gone already: nothing to do
    assert tmp_files(vault) == [] and vault.staged() == []
    assert vault.put_staged(key, digest, len(data)) is None  # no copy left: store from the source
    assert vault.get_bytes(key) == data


def test_only_the_vault_can_stage(vault: Vault) -> None:
    """Staging is an optional capability: the ingest service asks the store whether it has it."""
    assert isinstance(vault, Staging)
    assert not isinstance(MemoryStore(), Staging)


def test_an_empty_file_is_staged_and_stored(vault: Vault) -> None:
    digest = stage(vault, b"")
    stored = vault.put_staged(media_key(digest), digest, 0)
    assert stored is not None and stored.size == 0 and vault.get_bytes(media_key(digest)) == b""


def test_a_staged_copy_not_kept_is_removed_and_never_stored(vault: Vault) -> None:
    digest = stage(vault, payload(MiB + 1), keep=False)
    assert tmp_files(vault) == [] and vault.staged() == []
    assert vault.put_staged(media_key(digest), digest, MiB + 1) is None
    assert vault.stat(media_key(digest)) is None


def test_staging_stops_after_max_bytes(vault: Vault) -> None:
    data = payload(2 * MiB)
    with vault.stage(io.BytesIO(data), MiB + 1) as s:  # a file that grew: one byte more tells
        assert s.size == MiB + 1 and s.sha256 == sha(data[: MiB + 1])


def test_staged_copies_survive_a_restart_but_unfinished_ones_do_not(vault: Vault) -> None:
    digest = stage(vault, b"kept for the store step")
    (vault.root / TMP / "put-dead").write_bytes(b"a copy whose writer was killed")
    (vault.root / TMP / "staged-not-a-hash").write_bytes(b"not a name staging gives")
    Vault(vault.root)  # the next process
    assert tmp_files(vault) == [f"staged-{digest}"] and vault.staged() == [digest]


def test_the_same_content_staged_twice_is_one_copy_and_one_object(vault: Vault) -> None:
    data = payload(MiB + 3, seed=7)
    assert stage(vault, data) == stage(vault, data)
    digest = sha(data)
    assert tmp_files(vault) == [f"staged-{digest}"]
    key = put(vault, data)  # stored meanwhile from another source
    stored = vault.put_staged(key, digest, len(data))
    assert stored is not None and stored.size == len(data) and vault.get_bytes(key) == data


def test_a_staged_copy_of_another_size_is_dropped_not_stored(vault: Vault) -> None:
    digest = stage(vault, b"twelve bytes")
    assert vault.put_staged(media_key(digest), digest, 13) is None
    assert vault.staged() == [] and vault.stat(media_key(digest)) is None


def test_an_existing_object_of_another_size_is_an_integrity_failure(vault: Vault) -> None:
    digest = stage(vault, b"staged bytes")
    key = media_key(digest)
    object_path(vault, key).parent.mkdir(parents=True)
    object_path(vault, key).write_bytes(b"something else")
    with pytest.raises(IntegrityFailure):
        vault.put_staged(key, digest, len(b"staged bytes"))


def test_staging_into_an_unmounted_vault_is_storage_unavailable(vault: Vault) -> None:
    (vault.root / MARKER).unlink()
    with pytest.raises(StorageUnavailable), vault.stage(io.BytesIO(b"x"), 2):
        pass
    with pytest.raises(StorageUnavailable):
        vault.staged()


def test_a_read_error_while_staging_propagates_and_leaves_nothing(vault: Vault) -> None:
    class Broken(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
            raise OSError(5, "Input/output error")

    with pytest.raises(OSError, match="Input/output error"), vault.stage(Broken(), 10):
        pass
    assert tmp_files(vault) == []


# --- hashing --------------------------------------------------------------------------


SIZES = [0, 1, MiB - 1, MiB, MiB + 1, 5 * MiB + 3]


@pytest.mark.parametrize("size", SIZES)
def test_sha256_file_matches_hashlib(tmp_path: Path, size: int) -> None:
    data = payload(size, seed=size)
    path = tmp_path / "f"
    path.write_bytes(data)
    seen: list[int] = []
    with open(path, "rb", buffering=0) as f:
        assert sha256_file(f, seen.append) == (sha(data), size)
    assert sum(seen) == size
    with open(path, "rb") as f:
        assert sha256_file(f, bufsize=4096) == (sha(data), size)


@pytest.mark.parametrize("size", SIZES)
def test_sha256_copy_copies_exactly(tmp_path: Path, size: int) -> None:
    data = payload(size, seed=size + 1)
    with open(tmp_path / "out", "wb", buffering=0) as out:
        assert sha256_copy(io.BytesIO(data), out) == (sha(data), size)
    assert (tmp_path / "out").read_bytes() == data


def test_stream_without_readinto(tmp_path: Path) -> None:
    data = payload(MiB * 2 + 7)

    class ReadOnly:
        def __init__(self) -> None:
            self._f = io.BytesIO(data)

        def read(self, n: int = -1) -> bytes:
            return self._f.read(min(n, 1000))  # short reads too

    assert sha256_file(ReadOnly(), bufsize=MiB) == (sha(data), len(data))  # type: ignore[arg-type]


def test_max_bytes_stops_reading() -> None:
    data = payload(3 * MiB)
    src = io.BytesIO(data)
    out = io.BytesIO()
    assert sha256_copy(src, out, max_bytes=MiB + 1) == (sha(data[: MiB + 1]), MiB + 1)
    assert out.getvalue() == data[: MiB + 1]


def _hash_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("sha256-")]


def test_read_error_propagates_and_threads_end() -> None:
    class Failing(io.RawIOBase):
        calls = 0

        def readinto(self, b: object) -> int:
            self.calls += 1
            if self.calls > 2:
                raise OSError(5, "Input/output error")
            return len(b)  # type: ignore[arg-type]

    with pytest.raises(OSError, match="Input/output error"):
        sha256_file(Failing())  # type: ignore[arg-type]
    assert _hash_threads() == []


def test_write_error_is_a_sink_error_and_threads_end() -> None:
    class Full:
        def write(self, data: memoryview) -> int:
            raise OSError(28, "No space left on device")

    with pytest.raises(SinkWriteError, match="No space left"):
        sha256_copy(io.BytesIO(payload(8 * MiB)), Full())
    assert _hash_threads() == []


def test_progress_callback_error_ends_threads() -> None:
    def stop(n: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sha256_copy(io.BytesIO(payload(8 * MiB)), io.BytesIO(), stop)
    assert _hash_threads() == []


def test_large_file_round_trip_through_the_threaded_path(vault: Vault, tmp_path: Path) -> None:
    data = payload(40 * MiB + 3, seed=9)
    src = tmp_path / "big"
    src.write_bytes(data)
    key = media_key(sha(data))
    with open(src, "rb") as f:
        vault.put_stream(key, f, len(data), sha(data), {})
    assert vault.verify(key, sha(data), len(data)).size == len(data)


@pytest.mark.parametrize("thing", ["fifo", "folder"])
def test_something_other_than_a_file_in_an_objects_place_is_no_object(vault: Vault, thing: str) -> None:
    """A FIFO put in an object's place blocked its reader (replay, verify) for ever."""
    data = payload(100)
    key = put(vault, data)
    path = object_path(vault, key)
    path.chmod(0o600)
    path.unlink()
    os.mkfifo(path) if thing == "fifo" else path.mkdir()
    what = "a FIFO" if thing == "fifo" else "a folder"
    with pytest.raises(IntegrityFailure, match=f"no object: {what} in its place"):
        vault.verify(key, sha(data), len(data))
    with pytest.raises(NotFound, match=f"{what} in its place"):
        vault.open(key)
