"""The test harness's own promise: a test run that was killed leaves its Ceph cluster running,
and the next run stops and wipes it, never the cluster of a run still going beside it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from s3server import OWNER_FILE, reap_orphans


def test_a_killed_runs_cluster_is_reaped_and_a_running_ones_is_not(tmp_path: Path) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()  # the pid of a test process that has ended
    folders = {name: tmp_path / f"rs-ceph-{name}" for name in ("orphan", "running", "starting")}
    for folder in folders.values():
        folder.mkdir()
    (folders["orphan"] / OWNER_FILE).write_text(f"{gone.pid}\n")
    (folders["running"] / OWNER_FILE).write_text(f"{os.getpid()}\n")
    # "starting": no owner written yet, so not known to be ours
    assert reap_orphans(tmp_path) == [folders["orphan"]]
    assert not folders["orphan"].exists()
    assert folders["running"].exists() and folders["starting"].exists()
