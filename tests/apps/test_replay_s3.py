"""``recorder-replay play`` on a real Ceph RGW: it fetches the version that was stored and
verified, not whatever was written under the key later."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

from clirunner import run, run_json
from s3server import S3Server, new_bucket_name
from test_replay_cli import PLAYER, USER, replay, set_roster, trust_for
from test_s3_pipeline import s3_env

from recorder_sync.adapters.keys import load_key
from recorder_sync.domain.layout import media_key


def test_play_fetches_the_pinned_version_not_a_later_one(tmp_path: Path, s3_server: S3Server) -> None:
    home = tmp_path / "home"
    env = s3_env(home, f"sqlite:///{tmp_path / 'db.sqlite'}", s3_server, new_bucket_name())
    env["PLAYER_LOG"] = str(tmp_path / "player.json")
    dock = tmp_path / "dock"
    dock.mkdir()
    (dock / "DSJ-A1_031245_20261127083015_0001.MP4").write_bytes(b"evidence on rgw " * 300)
    r = run(env, "ingest", str(dock), "--stable-seconds", "0")
    assert r.returncode == 0, r.stderr
    [rec] = run_json(env, "list")
    assert "?versionId=" in rec["storage_uri"]
    # a later write under the same key (a new version; the locked one stays)
    client = s3_server.client()
    key = media_key(rec["sha256"])
    other = b"not the evidence " * 300
    client.put_object(env["RECORDER_SYNC_S3_BUCKET"], key, io.BytesIO(other), len(other))
    latest = client.get_object(env["RECORDER_SYNC_S3_BUCKET"], key)
    assert latest.read() == other
    latest.close()

    set_roster(env, tmp_path, f"{USER},,supervisor,")
    signer = load_key(home / "keys" / "station.key")
    trust = tmp_path / "trust.json"
    trust.write_bytes(trust_for(signer.key_id, signer.public_key_pem()))
    player = tmp_path / "player.py"
    player.write_text(PLAYER.format(python=sys.executable), encoding="utf-8")
    player.chmod(0o755)
    r = replay(env, "play", rec["id"], "--player", str(player), "--trust", str(trust), "--reason", "review")
    assert r.returncode == 0, r.stderr
    played = json.loads(Path(env["PLAYER_LOG"]).read_text(encoding="utf-8"))
    assert played["sha256"] == rec["sha256"]
