"""A real S3 server (Ceph RGW) for the adapter tests.

By default a private single-node cluster is started with ``scripts/s3-server-start`` in a
fresh folder on free ports, and wiped at the end of the session (objects under COMPLIANCE
retention cannot be deleted, so a shared cluster would only grow).  To use a running
server instead, set::

    RECORDER_SYNC_TEST_S3_ENDPOINT, RECORDER_SYNC_TEST_S3_ACCESS_KEY, RECORDER_SYNC_TEST_S3_SECRET_KEY
    RECORDER_SYNC_TEST_S3_DIR   the server's s3-server-start folder (needed by the tests that
                                stop radosgw or create a second user with radosgw-admin);
                                by default the start script's folder (RECORDER_SYNC_S3_DIR or
                                /tmp/recorder-sync-ceph) when it serves that endpoint

The tests never skip: a server that cannot be started fails them, with the reason.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import socket
import string
import subprocess
import tempfile
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from minio import Minio

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = REPO / "scripts"
START_TIMEOUT = 180  # seconds; a cold start takes ~2 s
DEFAULT_STATE_DIR = "/tmp/recorder-sync-ceph"  # scripts/s3-server-start's default folder


class S3ServerError(RuntimeError):
    pass


@dataclass(frozen=True)
class S3User:
    uid: str
    access_key: str
    secret_key: str = field(repr=False)

    @property
    def arn(self) -> str:
        return f"arn:aws:iam:::user/{self.uid}"


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    owner: S3User
    state_dir: Path | None  # the s3-server-start folder; None for an external server

    def client(self, user: S3User | None = None) -> Minio:
        user = user or self.owner
        secure = self.endpoint.startswith("https://")
        host = self.endpoint.split("://", 1)[1].rstrip("/")
        return Minio(host, user.access_key, user.secret_key, secure=secure, region="us-east-1")

    def _need_dir(self, why: str) -> Path:
        if self.state_dir is None:
            raise S3ServerError(
                f"{why} needs the server's state folder: set RECORDER_SYNC_TEST_S3_DIR "
                "(the folder scripts/s3-server-start manages) along with RECORDER_SYNC_TEST_S3_ENDPOINT, "
                "or unset RECORDER_SYNC_TEST_S3_ENDPOINT to let the tests start their own server"
            )
        return self.state_dir

    def stop_rgw(self) -> None:
        _run([str(SCRIPTS / "s3-server-stop"), "--rgw-only"], self._need_dir("stopping radosgw"))

    def start_rgw(self) -> None:
        _run([str(SCRIPTS / "s3-server-start")], self._need_dir("starting radosgw"))

    def create_user(self, prefix: str, *, may_create_buckets: bool = False) -> S3User:
        """A new S3 user made with radosgw-admin; by default it cannot create buckets."""
        state = self._need_dir("creating a second S3 user")
        uid = f"{prefix}-{uuid.uuid4().hex[:8]}"
        alphabet = string.ascii_letters + string.digits
        user = S3User(
            uid=uid,
            access_key="".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(20)),
            secret_key="".join(secrets.choice(alphabet) for _ in range(40)),
        )
        command = [
            "radosgw-admin",
            "-c",
            str(state / "ceph.conf"),
            "user",
            "create",
            f"--uid={uid}",
            f"--display-name={uid}",
            f"--access-key={user.access_key}",
            f"--secret={user.secret_key}",
        ]
        if not may_create_buckets:
            command.append("--max-buckets=-1")  # RGW: a negative limit forbids creating buckets
        _run(command, state)
        return user


def _run(command: list[str], state_dir: Path) -> str:
    env = dict(os.environ, RECORDER_SYNC_S3_DIR=str(state_dir))
    try:
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=START_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise S3ServerError(f"{' '.join(command[:2])}: {exc}") from exc
    if done.returncode != 0:
        raise S3ServerError(
            f"{' '.join(command[:2])} failed (exit {done.returncode}):\n{done.stderr.strip()}\n"
            + _log_tail(state_dir)
        )
    return done.stdout


def _state_dir_of(endpoint: str) -> Path | None:
    """The s3-server-start folder of an external endpoint: given, or the script's default."""
    given = os.environ.get("RECORDER_SYNC_TEST_S3_DIR")
    if given:
        return Path(given)
    folder = Path(os.environ.get("RECORDER_SYNC_S3_DIR") or DEFAULT_STATE_DIR)
    url = urllib.parse.urlsplit(endpoint)
    with contextlib.suppress(OSError, ValueError):
        saved = (folder / "server.env").read_text().split()
        if url.hostname in ("127.0.0.1", "localhost") and f"SAVED_PORT={url.port}" in saved:
            return folder
    return None


def _log_tail(state_dir: Path, lines: int = 15) -> str:
    out = []
    for log in sorted((state_dir / "log").glob("*.out")):
        with contextlib.suppress(OSError):
            tail = log.read_text(errors="replace").splitlines()[-lines:]
            if tail:
                out.append(f"--- {log.name}\n" + "\n".join(tail))
    return "\n".join(out)


ORPHAN_PREFIX = "rs-ceph-"


def reap_orphans(folder: Path) -> list[Path]:
    """Stop and wipe the clusters in ``folder`` whose test process is gone: a run that was
    killed never reached its ``finally``, and its Ceph daemons would run on. A cluster's
    folder is named after its test process (``rs-ceph-PID-…``). Returns the ones reaped."""
    reaped = []
    for state_dir in folder.glob(f"{ORPHAN_PREFIX}*-*"):
        try:
            os.kill(int(state_dir.name.removeprefix(ORPHAN_PREFIX).split("-")[0]), 0)
            continue  # its test process still runs (another run beside this one)
        except ProcessLookupError:
            pass
        except (OSError, ValueError):
            continue  # not named after a process: not ours to judge
        with contextlib.suppress(S3ServerError):
            _run([str(SCRIPTS / "s3-server-stop"), "--wipe"], state_dir)
        shutil.rmtree(state_dir, ignore_errors=True)
        reaped.append(state_dir)
    return reaped


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def exported(stdout: str) -> dict[str, str]:
    """The ``export NAME=value`` lines a start script prints for ``eval``."""
    lines = (line.removeprefix("export ") for line in stdout.splitlines() if "=" in line)
    return dict(line.split("=", 1) for line in lines)


def parse_start_output(stdout: str) -> dict[str, str]:
    values = exported(stdout)
    missing = {"S3_ENDPOINT", "S3_ACCESS_KEY", "S3_SECRET_KEY"} - values.keys()
    if missing:
        raise S3ServerError(f"s3-server-start printed no {', '.join(sorted(missing))}:\n{stdout}")
    return values


@contextlib.contextmanager
def running_server(*, private: bool = False) -> Iterator[S3Server]:
    """``private``: always a cluster of our own (a test that stops RGW for minutes must not
    take the server of every other test down with it)."""
    env = os.environ
    if env.get("RECORDER_SYNC_TEST_S3_ENDPOINT") and not private:
        try:
            owner = S3User(
                "external", env["RECORDER_SYNC_TEST_S3_ACCESS_KEY"], env["RECORDER_SYNC_TEST_S3_SECRET_KEY"]
            )
        except KeyError as exc:
            raise S3ServerError(f"RECORDER_SYNC_TEST_S3_ENDPOINT is set but {exc.args[0]} is not") from exc
        endpoint = env["RECORDER_SYNC_TEST_S3_ENDPOINT"]
        yield S3Server(endpoint, owner, _state_dir_of(endpoint))
        return

    reap_orphans(Path(tempfile.gettempdir()))
    # Short path: the daemons' admin sockets live below it (Unix socket paths are limited).
    state_dir = Path(tempfile.mkdtemp(prefix=f"{ORPHAN_PREFIX}{os.getpid()}-"))
    port, mon_port = _free_port(), _free_port()
    while mon_port == port:
        mon_port = _free_port()
    try:
        stdout = _run(
            [str(SCRIPTS / "s3-server-start"), "--port", str(port), "--mon-port", str(mon_port)], state_dir
        )
        values = parse_start_output(stdout)
        # The owner's uid is fixed by the start script.
        owner = S3User("recorder-sync", values["S3_ACCESS_KEY"], values["S3_SECRET_KEY"])
        yield S3Server(values["S3_ENDPOINT"], owner, state_dir)
    finally:
        with contextlib.suppress(S3ServerError):
            _run([str(SCRIPTS / "s3-server-stop"), "--wipe"], state_dir)
        shutil.rmtree(state_dir, ignore_errors=True)


@pytest.fixture(scope="session", name="s3_server")
def s3_server_fixture() -> Iterator[S3Server]:
    """The session's S3 server; a failure to start it fails the tests (never a skip)."""
    with running_server() as server:
        yield server


def new_bucket_name() -> str:
    return f"rs-test-{uuid.uuid4().hex[:16]}"


def bucket_policy(policy_file: Path, bucket: str, user: S3User) -> str:
    """One of the policies in ``config/`` made for ``user`` on ``bucket``: the files name the
    user ``recorder-sync-<role>`` and the bucket ``recorder-sync-evidence``."""
    text = re.sub(r"arn:aws:iam:::user/recorder-sync-[a-z]+", user.arn, policy_file.read_text())
    text = text.replace("arn:aws:s3:::recorder-sync-evidence", f"arn:aws:s3:::{bucket}")
    json.loads(text)
    return text
