"""The test harness's own promise: a test run that was killed leaves its Ceph cluster running,
and the next run stops and wipes it, never the cluster of a run still going beside it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from s3server import reap_orphans, running_server


def test_a_killed_runs_cluster_is_reaped_and_a_running_ones_is_not(tmp_path: Path) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()  # the pid of a test process that has ended
    orphan = tmp_path / f"rs-ceph-{gone.pid}-a1b2c3"
    running = tmp_path / f"rs-ceph-{os.getpid()}-d4e5f6"
    older = tmp_path / "rs-ceph-g7h8i9"  # named before clusters named their process: left alone
    for folder in (orphan, running, older):
        folder.mkdir()
    assert reap_orphans(tmp_path) == [orphan]
    assert not orphan.exists()
    assert running.exists() and older.exists()


def test_a_cluster_is_named_after_its_test_process() -> None:
    with running_server(private=True) as server:
        assert server.state_dir.name.startswith(f"rs-ceph-{os.getpid()}-"), server.state_dir
