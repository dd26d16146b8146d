"""Property test through the real ``recorder-sync ingest``: a dock of generated file names,
contents, sidecars and a clock file never ends the process with 70 (or a trace), and no
file's bytes are lost: each is in the vault or still on the dock."""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import pytest
import sample_dock
from clirunner import env_for, run
from conftest import BACKENDS, pg_database
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import TEXT, TIMES, sidecar_docs

from recorder_sync.domain.clock import CLOCK_FILE
from recorder_sync.domain.layout import media_key

Databases = Callable[[], AbstractContextManager[str]]


@pytest.fixture(params=BACKENDS)
def databases(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Databases:
    """A fresh database for each generated example (a shared one would mix their evidence)."""
    if request.param == "sqlite":
        return lambda: nullcontext(f"sqlite:///{tmp_path_factory.mktemp('db') / 'catalog.db'}")
    base: str = request.getfixturevalue("pg_server_url")
    return lambda: pg_database(base)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    sample_dock.make_video(path, start=sample_dock.sample_plan()[0].start, seconds=1)
    return path.read_bytes()


def _stems() -> st.SearchStrategy[str]:
    free = st.text(
        st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"), min_size=1, max_size=40
    )
    shaped = st.builds(
        lambda start, seq: f"DSJ-A1_031245_{start}_{seq:04d}",
        st.sampled_from(["00010101000000", "99991231235959", "20261127083015", "19700101000000"]),
        st.integers(0, 9999),
    )
    return st.one_of(shaped, free).filter(
        lambda s: s not in (".", "..") and s != CLOCK_FILE.removesuffix(".json") and len(s.encode()) < 200
    )


FILES = st.dictionaries(
    _stems(),
    st.tuples(
        st.sampled_from([".MP4", ".wav", ".jpg", ".bin"]),
        st.one_of(st.binary(max_size=64), st.just(b"clip")),  # b"clip": the real 1 s video
        st.none() | sidecar_docs(),
    ),
    min_size=1,
    max_size=4,
)
CLOCK = st.none() | st.one_of(
    st.binary(max_size=100),
    st.builds(lambda d, t: json.dumps({"device": d, "camera_time": t}).encode(), TEXT, TIMES),
)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@pytest.mark.slow
@given(files=FILES, clock=CLOCK)
def test_no_dock_content_ends_ingest_with_70_or_loses_a_file(
    files: dict[str, tuple[str, bytes, str | None]],
    clock: bytes | None,
    clip: bytes,
    databases: Databases,
    tmp_path: Path,
) -> None:
    work = Path(tempfile.mkdtemp(dir=tmp_path))
    dock = work / "dock"
    dock.mkdir()
    for stem, (ext, data, sidecar) in files.items():
        (dock / (stem + ext)).write_bytes(clip if data == b"clip" else data)
        if sidecar is not None:
            (dock / (stem + ".json")).write_bytes(sidecar.encode("utf-8", "surrogatepass"))
    if clock is not None:
        (dock / CLOCK_FILE).write_bytes(clock)
    before = {p.name: _sha(p.read_bytes()) for p in dock.iterdir()}
    with databases() as db_url:
        env = env_for(work / "home", db_url)
        r = run(env, "ingest", str(dock), "--stable-seconds", "0", "--max-attempts", "1", "-q")
    assert r.returncode in (0, 1), r.stderr
    assert "internal error" not in r.stderr and "unexpected failure" not in r.stderr, r.stderr
    vault = work / "home" / "vault"
    for name, digest in before.items():
        kept = dock / name
        stored = vault / media_key(digest)
        assert (kept.exists() and _sha(kept.read_bytes()) == digest) or (
            stored.exists() and _sha(stored.read_bytes()) == digest
        ), (name, r.stderr)
    shutil.rmtree(work)
