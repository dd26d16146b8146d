"""The daemon as a real process: watches a dock, survives SIGKILL anywhere, stops cleanly on SIGTERM."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import socket
import subprocess
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sample_dock
from clirunner import EXE, env_for, run, run_json

from recorder_sync.adapters.db.engine import make_engine
from recorder_sync.adapters.db.repository import SqlCatalog
from recorder_sync.adapters.dockfs import identity_of
from recorder_sync.domain.custody import verify_chain
from recorder_sync.domain.layout import media_key
from recorder_sync.domain.model import Kind


class Systemd:
    """A real AF_UNIX datagram socket in $NOTIFY_SOCKET, as systemd gives a Type=notify service
    (in the abstract namespace: no path-length limit, nothing left on disk)."""

    def __init__(self) -> None:
        self.address = f"@recorder-sync-test-{uuid.uuid4().hex}"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + self.address[1:])
        self.sock.settimeout(0.5)

    def env(self, env: dict[str, str]) -> dict[str, str]:
        return env | {"NOTIFY_SOCKET": self.address}

    def wait_for(
        self, proc: subprocess.Popen[bytes], assignment: str, timeout: float = 60, *, prefix: bool = False
    ) -> dict[str, str]:
        """The next datagram from ``proc`` that holds ``assignment`` (e.g. READY=1), as a dict
        (with ``prefix``, a line that starts with it: a STATUS= text that names a time)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data = self.sock.recv(4096).decode()
            except TimeoutError:
                assert proc.poll() is None, f"exited {proc.returncode} before sending {assignment}"
                continue
            fields = dict(line.split("=", 1) for line in data.splitlines())
            # a killed predecessor's last words may still be queued: only this process counts
            lines = data.splitlines()
            held = any(line.startswith(assignment) for line in lines) if prefix else assignment in lines
            if held and fields.get("MAINPID", str(proc.pid)) == str(proc.pid):
                return fields
        raise AssertionError(f"no {assignment} from pid {proc.pid} after {timeout}s")


def start(
    env: dict[str, str], dock: Path, log: Path, systemd: Systemd | None = None, *options: str
) -> subprocess.Popen[bytes]:
    """Start the daemon (``options`` added to ``run``'s); with ``systemd``, return once it has
    said READY=1."""
    proc = subprocess.Popen(
        [EXE, "-v", "run", "--dock", str(dock), "--stable-seconds", "0.3", *options],
        env=systemd.env(env) if systemd else env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
    )
    if systemd is not None:
        try:
            systemd.wait_for(proc, "READY=1")
        except BaseException:
            proc.kill()  # a failing test leaves no daemon behind
            proc.wait()
            raise
    return proc


def wait_until_done(env: dict[str, str], dock: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        remaining = [p for p in dock.rglob("*") if p.is_file()]
        if not remaining:
            status = run_json(env, "status")
            if status["backlog"] == 0:
                return
        time.sleep(0.3)
    raise AssertionError(f"not done after {timeout}s: {remaining}")


def test_daemon_ingests_new_files_and_stops_on_sigterm(tmp_path: Path, db_url: str) -> None:
    dock = tmp_path / "dock"
    dock.mkdir()
    # no periodic rescan during the test: only the watcher can find a file that arrives later
    env = env_for(tmp_path / "home", db_url, RECORDER_SYNC_RECONCILE_SECONDS="3600")
    log = tmp_path / "daemon.log"
    proc = subprocess.Popen(
        [EXE, "-vv", "run", "--dock", str(dock), "--stable-seconds", "0.3"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
    )
    try:
        _wait_for_line(log, b"ready: ingesting 1 dock(s)", proc)
        _wait_for_line(log, b"full scan of 1 dock(s) done", proc)
        # arrives after the start-up scan, whole (made aside, then moved in): found only
        # through a watcher event
        staging = tmp_path / "staging"
        staging.mkdir()
        name = "DSJ-A1_031245_20261127083015_0001.MP4"
        sample_dock.make_video(staging / name, start=sample_dock.sample_plan()[0].start, seconds=2)
        (staging / name).rename(dock / name)
        wait_until_done(env, dock, timeout=60)
        recs = run_json(env, "list")
        assert [(r["device"], r["state"]) for r in recs] == [("DSJ-A1", "released")]
        text = log.read_text()
        assert "dock dock changed: rescanning it" in text, text
        assert text.count("full scan of 1 dock(s) done") == 1, text
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    assert code == 0, log.read_text()
    assert "stopped cleanly" in log.read_text()


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_nothing_and_stores_once(tmp_path: Path, db_url: str) -> None:
    dock = tmp_path / "dock"
    sample_dock.build_sample_dock(dock)
    rng = random.Random(20261128)
    for i in range(5):  # larger files, so that kills land inside hashing, storing and verifying
        (dock / f"DSJ-BIG{i}_031250_20261127120000_000{i}.MP4").write_bytes(rng.randbytes(48 * 1024 * 1024))
    before = {hashlib.sha256(p.read_bytes()).hexdigest() for p in dock.rglob("*") if p.is_file()}
    env = env_for(tmp_path / "home", db_url)
    log = tmp_path / "daemon.log"
    in_flight: list[dict[str, int]] = []
    systemd = Systemd()
    for _ in range(12):
        offset = log.stat().st_size if log.exists() else 0
        proc = start(env, dock, log, systemd)
        # kill at a random moment just after the daemon set to work on something: soon enough
        # that this round cannot finish everything (a later kill would let it clear the dock
        # in a round or two, and the test would then prove nothing about mid-pipeline kills)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and proc.poll() is None:
            if any(
                w in log.read_bytes()[offset:]
                for w in (b" hashing ", b" storing ", b" verified ", b" signed ")
            ):
                break
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.05))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        status = run_json(env, "status")
        if status["backlog"]:
            in_flight.append(status["recordings"] | status["sightings"])
        if not any(p.is_file() for p in dock.rglob("*")):
            break
    # the kills interrupted real work: evidence was caught mid-pipeline several times
    assert len(in_flight) >= 3, in_flight
    # ready before "done?" is asked: a stop request must find the daemon at work, not starting
    proc = start(env, dock, log, systemd)
    try:
        wait_until_done(env, dock, timeout=180)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0

    vault = tmp_path / "home" / "vault"
    stored = {p.name for p in (vault / "sha256").rglob("*") if p.is_file() and "." not in p.name}
    assert stored == before  # every file, nothing else
    for digest in before:
        assert hashlib.sha256((vault / media_key(digest)).read_bytes()).hexdigest() == digest
    assert not [p for p in (vault / "tmp").iterdir()] if (vault / "tmp").exists() else True

    catalog = SqlCatalog(make_engine(db_url), station="x", actor="x")
    events = catalog.events()
    assert verify_chain(events) == len(events)
    per_rec = Counter((e.fields.get("recording_id"), e.fields["action"]) for e in events)
    recs = run_json(env, "list")
    assert {r["sha256"] for r in recs} == before
    for r in recs:
        assert r["state"] == "released"
        for action in ("hashed", "probed", "signed", "stored", "verified"):
            assert per_rec[(r["id"], action)] == 1, (r["id"], action, json.dumps(r))


@pytest.mark.slow
def test_daemon_sweeps_deadlines_and_resolves_when_footage_arrives(tmp_path: Path, db_url: str) -> None:
    """The daemon's own tick: a seizure three days ago with no footage is flagged while the
    daemon runs; the late footage then docks, is linked, resolves the flag, and the upload
    counts as late."""
    dock = tmp_path / "dock"
    dock.mkdir()
    env = env_for(tmp_path / "home", db_url, RECORDER_SYNC_RECONCILE_SECONDS="3600")
    shanghai = ZoneInfo("Asia/Shanghai")
    start_at = (datetime.now(tz=shanghai) - timedelta(days=3)).replace(microsecond=0)
    end_at = start_at + timedelta(seconds=3)
    actions = tmp_path / "actions.csv"
    actions.write_text(
        "case_id,action_id,action_type,unit,officers,start,end,target_id,target_name,place\n"
        f"C-1,A-1,seizure,Unit 3,031245,{start_at.isoformat()},{end_at.isoformat()},P-1,某某商贸,Road 8\n",
        encoding="utf-8",
    )
    r = run(env, "cases", "import", str(actions))
    assert r.returncode == 0, r.stderr
    log = tmp_path / "daemon.log"
    systemd = Systemd()
    proc = subprocess.Popen(
        # the default period (300 s): the sweep at start raises the flag, and the one right
        # after the late footage is ingested settles it
        [EXE, "-v", "run", "--dock", str(dock), "--stable-seconds", "0.3"],
        env=systemd.env(env),
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
    )
    systemd.wait_for(proc, "READY=1")

    def flags() -> set[tuple[str, str, str]]:
        return {(f["kind"], f["state"], f["subject"]) for f in run_json(env, "flags", "--all")}

    def wait_for(flag: tuple[str, str, str], timeout: float = 60) -> set[tuple[str, str, str]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seen = flags()
            if flag in seen:
                return seen
            time.sleep(0.3)
        raise AssertionError(f"{flag} not seen after {timeout}s: {flags()}\n{log.read_text()}")

    try:
        missing = ("footage-missing", "open", "action:A-1:officer:031245")
        assert wait_for(missing) == {missing}
        name = f"DSJ-A1_031245_{start_at.strftime('%Y%m%d%H%M%S')}_0001.MP4"
        sample_dock.make_video(dock / name, start=start_at, seconds=3)
        wait_until_done(env, dock, timeout=60)
        [rec] = run_json(env, "list")
        late = ("upload-late", "resolved-late", f"recording:{rec['id']}")
        seen = wait_for(("footage-missing", "resolved", "action:A-1:officer:031245"))
        seen = wait_for(late)
        assert {f for f in seen if f[1] == "open"} == set(), seen
        [link] = run_json(env, "links", "--action", "A-1")
        assert (link["recording_id"], link["confidence"]) == (rec["id"], "auto")
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    assert code == 0, log.read_text()


# --- stop requests -------------------------------------------------------------------------


def _blocking_sigterm() -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})


def test_sigterm_at_the_first_instruction_stops_run_and_ingest_cleanly(tmp_path: Path) -> None:
    """The strictest "right after start": the child starts with SIGTERM blocked and the signal
    is sent before it runs a line, so it is pending from the first instruction. main()
    installs its handlers, then unblocks: the signal must reach them, never the default
    action (-15), and nothing on the dock may be touched."""
    dock = tmp_path / "dock"
    dock.mkdir()
    clip = dock / "DSJ-A1_031245_20261127083015_0001.MP4"
    clip.write_bytes(b"\0" * 4096)
    env = env_for(tmp_path / "home", f"sqlite:///{tmp_path / 'home' / 'recorder-sync.db'}")
    for argv, expected, said in (
        (["run", "--dock", str(dock), "--stable-seconds", "0"], 0, b"stopped cleanly"),
        (["ingest", str(dock), "--stable-seconds", "0"], 130, b"interrupted by SIGTERM"),
    ):
        proc = subprocess.Popen(
            [EXE, "-v", *argv],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=_blocking_sigterm,
        )
        proc.send_signal(signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()  # it ignored the stop request: the test fails, and leaves nothing behind
                proc.wait()
        assert proc.returncode == expected, (argv[0], proc.returncode, err.decode())
        assert said in err, err.decode()
        assert clip.read_bytes() == b"\0" * 4096
    status = run_json(env, "status")
    assert status["recordings"] == {}, status


def _wait_for_line(
    log: Path, word: bytes, proc: subprocess.Popen[bytes], timeout: float = 120, times: int = 1
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.read_bytes().count(word) >= times:
            return
        assert proc.poll() is None, log.read_text()
        time.sleep(0.05)
    raise AssertionError(f"{word!r} not logged after {timeout}s:\n{log.read_text()}")


def _stop(proc: subprocess.Popen[bytes]) -> int:
    """SIGTERM, and its exit code; one that ignores it is killed (the test then fails on the code)."""
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise


def _big_sparse_files(dock: Path, count: int) -> dict[Path, int]:
    # sparse: hashing 16 GiB of zeros takes long, writing them takes nothing
    sizes = {}
    for i in range(count):
        path = dock / f"DSJ-BIG{i}_031250_20261127120000_000{i}.MP4"
        with path.open("wb") as f:
            f.truncate(16 << 30)
        sizes[path] = path.stat().st_size
    return sizes


def test_sigterm_during_long_hashes_stops_run_at_once(tmp_path: Path) -> None:
    """Two 16 GiB files hashed side by side (worker threads): SIGTERM ends both hashes at their
    next buffer; the daemon exits 0; nothing was recorded half-way and the dock is untouched."""
    dock = tmp_path / "dock"
    dock.mkdir()
    sizes = _big_sparse_files(dock, 2)
    env = env_for(
        tmp_path / "home",
        f"sqlite:///{tmp_path / 'home' / 'recorder-sync.db'}",
        RECORDER_SYNC_WORKERS="2",
    )
    log = tmp_path / "daemon.log"
    proc = start(env, dock, log, Systemd())
    try:
        # both hashes under way: each worker marks its file stable just before hashing it, so
        # a stop after the first line alone may find the second file not yet stable
        _wait_for_line(log, b" hashing ", proc, times=2)
    finally:
        code = _stop(proc)
    text = log.read_text()
    assert code == 0, text
    assert "stop requested in the middle of a step" in text and "stopped cleanly" in text, text
    status = run_json(env, "status")
    # the hashes never finished: no recording, both files still waiting on the dock
    assert status["recordings"] == {} and status["sightings"] == {"stable": 2}, status
    assert {p: p.stat().st_size for p in dock.iterdir()} == sizes


def test_sigterm_during_a_long_hash_interrupts_ingest(tmp_path: Path) -> None:
    dock = tmp_path / "dock"
    dock.mkdir()
    sizes = _big_sparse_files(dock, 1)
    env = env_for(tmp_path / "home", f"sqlite:///{tmp_path / 'home' / 'recorder-sync.db'}")
    log = tmp_path / "ingest.log"
    proc = subprocess.Popen(
        [EXE, "ingest", str(dock), "--stable-seconds", "0"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
    )
    try:
        _wait_for_line(log, b"hashing  ", proc)
    finally:
        code = _stop(proc)
    text = log.read_text()
    assert code == 130, text
    assert "interrupted by SIGTERM" in text, text
    status = run_json(env, "status")
    assert status["recordings"] == {} and status["sightings"] == {"stable": 1}, status
    assert {p: p.stat().st_size for p in dock.iterdir()} == sizes


# --- one dock, two processes --------------------------------------------------------------


def _home_env(tmp_path: Path, name: str) -> dict[str, str]:
    """Its own home and SQLite database; the lock folder is the one of every home in tmp_path."""
    home = tmp_path / name
    return env_for(home, f"sqlite:///{home / 'recorder-sync.db'}", RECORDER_SYNC_STATION_ID=f"st-{name}")


def _clip(dock: Path, n: int) -> Path:
    start_at = sample_dock.sample_plan()[0].start
    path = dock / f"DSJ-A{n}_031245_{start_at.strftime('%Y%m%d%H%M%S')}_000{n}.MP4"
    sample_dock.make_video(path, start=start_at, seconds=n)  # clip n: its own content
    return path


def test_ingest_is_refused_on_a_dock_a_daemon_of_another_home_holds(tmp_path: Path) -> None:
    dock = tmp_path / "dock"
    dock.mkdir()
    # 'keep': the clip stays on the dock, so that b can be asked for it by name at any time
    env_a = _home_env(tmp_path, "a") | {"RECORDER_SYNC_RELEASE_POLICY": "keep"}
    env_b = _home_env(tmp_path, "b")
    log = tmp_path / "a.log"
    proc = start(env_a, dock, log, Systemd())
    try:
        clip = _clip(dock, 1)
        for target in (dock, clip):  # the dock itself, or one file on it
            r = run(env_b, "ingest", str(target), "--stable-seconds", "0")
            assert r.returncode == 2, r.stderr
            assert f"dock {dock.resolve()} is being ingested by another recorder-sync process" in r.stderr
            assert f"pid {proc.pid}, station st-a, home {tmp_path / 'a'}" in r.stderr, r.stderr
        deadline = time.monotonic() + 60
        while run_json(env_a, "status")["sightings"] != {"kept": 1}:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.3)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, log.read_text()
    assert [r["device"] for r in run_json(env_a, "list")] == ["DSJ-A1"]
    assert run_json(env_b, "list") == []  # b stored nothing, and flagged nothing
    assert run_json(env_b, "flags", "--all") == []


def test_second_daemon_stands_by_and_takes_the_dock_over_when_the_first_dies(tmp_path: Path) -> None:
    dock = tmp_path / "dock"
    dock.mkdir()
    env_a, env_b = _home_env(tmp_path, "a"), _home_env(tmp_path, "b")
    systemd_a, systemd_b = Systemd(), Systemd()
    a = start(env_a, dock, tmp_path / "a.log", systemd_a)
    b = subprocess.Popen(
        [EXE, "-v", "run", "--dock", str(dock), "--stable-seconds", "0.3"],
        env=systemd_b.env(env_b),
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "b.log").open("ab"),
    )
    try:
        ready = systemd_b.wait_for(b, "READY=1")
        assert ready["STATUS"] == "ingesting 0 dock(s), standby for dock", ready
        assert f"is held by another process (pid {a.pid}, station st-a" in (tmp_path / "b.log").read_text()

        _clip(dock, 1)
        wait_until_done(env_a, dock, timeout=60)
        assert [(r["device"], r["state"]) for r in run_json(env_a, "list")] == [("DSJ-A1", "released")]

        os.kill(a.pid, signal.SIGKILL)
        a.wait()
        took = systemd_b.wait_for(b, "STATUS=ingesting 1 dock(s)")
        assert took == {"STATUS": "ingesting 1 dock(s)"}
        _clip(dock, 2)
        wait_until_done(env_b, dock, timeout=60)
    finally:
        for proc in (a, b):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        assert b.wait(timeout=30) == 0, (tmp_path / "b.log").read_text()
    # each clip in exactly one vault, no spurious flags from the other daemon's releases
    assert [r["device"] for r in run_json(env_a, "list")] == ["DSJ-A1"]
    assert [(r["device"], r["state"]) for r in run_json(env_b, "list")] == [("DSJ-A2", "released")]
    for env in (env_a, env_b):
        assert [f for f in run_json(env, "flags", "--all") if f["kind"] == "source-unavailable"] == []


def test_processes_sharing_a_database_leave_each_others_recordings_alone(tmp_path: Path, db_url: str) -> None:
    """Another process (here: as a daemon of dock 'elsewhere' leaves it, between two steps) has
    a recording in flight. A one-shot ``ingest`` of another dock on the same database must not
    take it up: it has no source for it, and would flag ``source-unavailable`` on sound work."""
    env = env_for(tmp_path / "home", db_url)
    assert run(env, "status").returncode == 0  # creates the schema
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    theirs = _clip(elsewhere, 1)
    catalog = SqlCatalog(make_engine(db_url), station="st-other", actor="recorder-sync@st-other")
    now = datetime.now(tz=ZoneInfo("UTC"))
    ident = identity_of(theirs.stat())
    s = catalog.observe("elsewhere", theirs.name, ident, now)
    catalog.mark_stable(s.id, now)
    digest = hashlib.sha256(theirs.read_bytes()).hexdigest()
    rec, _ = catalog.attach_hash(
        s.id, sha256=digest, ident=ident, kind_hint=Kind.VIDEO, sidecar=None, now=now
    )

    dock = tmp_path / "dock"
    dock.mkdir()
    _clip(dock, 2)
    r = run(env, "ingest", str(dock), "--stable-seconds", "0")
    assert r.returncode == 0, r.stderr

    left = catalog.recording(rec.id)
    assert (left.state.value, left.attempts, left.last_error) == ("hashed", 0, None)
    assert catalog.flags(recording_id=rec.id) == []
    assert [(x["device"], x["state"]) for x in run_json(env, "list") if x["id"] != rec.id] == [
        ("DSJ-A2", "released")
    ]


def test_sigterm_stops_run_and_ingest_even_when_a_read_blocks_for_ever(tmp_path: Path) -> None:
    """A FIFO named like the clip's sidecar blocks whoever opens it. Whether the read blocks
    (the open waits for a writer that never comes) or the FIFO is refused, a stop request
    must end the process with its documented code, and the clip must be on the dock or
    stored: never lost."""
    for argv, expected in ((["-v", "run", "--dock"], 0), (["ingest"], 130)):
        dock = tmp_path / argv[-1].strip("-") / "dock"
        dock.mkdir(parents=True)
        clip = _clip(dock, 1)
        digest = hashlib.sha256(clip.read_bytes()).hexdigest()
        os.mkfifo(clip.with_suffix(".json"))
        home = dock.parent / "home"
        env = env_for(home, f"sqlite:///{home / 'recorder-sync.db'}")
        log = dock.parent / "log"
        proc = subprocess.Popen(
            [EXE, *argv, str(dock), "--stable-seconds", "0"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log.open("ab"),
        )
        try:
            _wait_for_line(log, b"hashing ", proc)
        finally:
            code = _stop(proc)
        assert code == expected, (argv, log.read_text())
        stored = home / "vault" / media_key(digest)
        assert clip.exists() or hashlib.sha256(stored.read_bytes()).hexdigest() == digest


def test_two_docks_with_one_name_are_refused_before_anything_is_read(tmp_path: Path) -> None:
    """Files are recorded under their dock's name: two folders named alike would be one dock
    to the pipeline, and one of them would be locked and watched but never ingested."""
    first, second = tmp_path / "x" / "dock", tmp_path / "y" / "dock"
    for d in (first, second):
        d.mkdir(parents=True)
        _clip(d, 1)
    env = _home_env(tmp_path, "a")
    r = run(env, "run", "--dock", str(first), "--dock", str(second), "--stable-seconds", "0", timeout=60)
    assert r.returncode == 2, r.stderr
    assert f"two docks are named 'dock' ({first} and {second})" in r.stderr, r.stderr
    assert all(len(list(d.iterdir())) == 1 for d in (first, second))
    # the same folder given twice is one dock, not a conflict
    systemd = Systemd()
    proc = subprocess.Popen(
        [EXE, "run", "--dock", str(first), "--dock", str(first), "--stable-seconds", "0"],
        env=systemd.env(env),
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "a.log").open("ab"),
    )
    try:
        assert systemd.wait_for(proc, "READY=1")["STATUS"] == "ingesting 1 dock(s)"
    finally:
        assert _stop(proc) == 0, (tmp_path / "a.log").read_text()
