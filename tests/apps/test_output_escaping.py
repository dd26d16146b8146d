"""Names and metadata with control characters are shown escaped wherever output is for people,
and exactly in ``--json`` (issue 7, item 17); through the real ``recorder-sync`` process."""

from __future__ import annotations

from pathlib import Path

import pytest
from clirunner import env_for, run, run_json
from test_hostile_files import daemon

# a name a camera (or whoever writes the card) controls: a fake alert line and a screen clear
EVIL = "DSJ-A1_031245_20261127083015_0001\nWARNING ALERT fake\x1b[2J.MP4"
SHOWN = "DSJ-A1_031245_20261127083015_0001\\nWARNING ALERT fake\\x1b[2J.MP4"


def _no_raw(text: str) -> None:
    assert "\x1b" not in text
    assert not [line for line in text.splitlines() if line.startswith("WARNING ALERT fake")], text


@pytest.mark.slow
def test_show_and_flags_escape_names_and_json_stays_exact(tmp_path: Path) -> None:
    dock = tmp_path / "dock"
    dock.mkdir()
    (dock / EVIL).write_bytes(b"not really a video" * 100)
    env = env_for(tmp_path / "home", f"sqlite:///{tmp_path / 'c.db'}")
    r = run(env, "ingest", str(dock), "--stable-seconds", "0")
    assert r.returncode == 0, r.stderr
    _no_raw(r.stderr)
    [rec] = run_json(env, "list")
    assert rec["source_path"] == EVIL  # --json: the exact name
    shown = run(env, "show", rec["id"])
    assert shown.returncode == 0, shown.stderr
    _no_raw(shown.stdout)
    assert SHOWN in shown.stdout  # custody events and flags name the file, escaped
    flags = run(env, "flags")
    _no_raw(flags.stdout)
    assert "WARNING ALERT fake" in flags.stdout
    [flag] = run_json(env, "flags")
    assert flag["kind"] == "unreadable-media" and EVIL in flag["detail"]
    # an error message quotes what the operator typed (or pasted from a name): escaped too
    missing = run(env, "show", "rec-00000000\nWARNING ALERT fake\x1b[2J")
    assert missing.returncode == 6
    _no_raw(missing.stderr)
    assert "rec-00000000\\nWARNING ALERT fake" in missing.stderr


def test_daemon_log_lines_escape_names(tmp_path: Path) -> None:
    dock = tmp_path / "dock"
    dock.mkdir()
    (dock / EVIL).write_bytes(b"not really a video" * 100)
    env = env_for(tmp_path / "home", f"sqlite:///{tmp_path / 'c.db'}")
    log = tmp_path / "daemon.log"
    with daemon(env, dock, log):
        pass
    text = log.read_text()
    _no_raw(text)
    assert f"released dock/{SHOWN}" in text, text


def test_escaping_formatter_wraps_the_handlers_formatter_and_keeps_trace_lines() -> None:
    import io
    import logging

    from recorder_sync.apps.output import escape_log_lines

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("test-escaping")
    logger.addHandler(handler)
    logger.propagate = False
    escape_log_lines(logger)
    escape_log_lines(logger)  # once is enough: not wrapped twice
    try:
        try:
            raise KeyError("cause\nWARNING ALERT fake")
        except KeyError as cause:
            raise ValueError("bad name\nWARNING ALERT fake\x1b[2J") from cause
    except ValueError:
        logger.exception("hashing %s", EVIL)
    logger.removeHandler(handler)
    text = stream.getvalue()
    _no_raw(text)
    lines = text.splitlines()
    assert lines[0] == f"ERROR test-escaping: hashing {SHOWN}"  # the handler's own format
    assert lines[1] == "Traceback (most recent call last):"  # a trace keeps its line breaks
    assert lines[-1] == "ValueError: bad name\\nWARNING ALERT fake\\x1b[2J"
    assert "KeyError: 'cause\\nWARNING ALERT fake'" in lines  # the cause, on its own line too
    assert "The above exception was the direct cause of the following exception:" in lines
