"""``legal-hold`` as a real process; the hold itself on RGW is in test_s3_pipeline.py."""

from __future__ import annotations

from pathlib import Path

from clirunner import env_for, run


def test_legal_hold_on_the_local_vault_is_refused_before_anything_opens(tmp_path: Path) -> None:
    home = tmp_path / "home"
    r = run(env_for(home, f"sqlite:///{home / 'db'}"), "legal-hold", "rec-abab", "on", "--reason", "x")
    assert r.returncode == 2 and "S3 Object Lock feature" in r.stderr, r.stderr
    assert not home.exists()
