"""The timeline as a person sees it: ``recorder-replay timeline`` in a real terminal (tmux) at
two widths, and its HTML page rendered by a real browser (headless chromium)."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

from clirunner import run
from test_replay_cli import ACTIONS, REPLAY, USER, Station, set_roster

A1_SHORT = (
    ACTIONS.splitlines()[0]
    + "\nC1,A1,seizure,Unit 1,031245;077777,2026-11-27T08:30:00+08:00,2026-11-27T08:31:00+08:00,,,\n"
)


def station_with_a_gap(tmp_path: Path) -> Station:
    """A1 from 08:30:00 to 08:31:00: officer 031245 filmed at 08:30:15 (an instant: the file
    is no real video), officer 077777 filmed nothing."""
    station = Station(tmp_path, f"sqlite:///{tmp_path / 'catalog.db'}")
    set_roster(station.env, station.tmp, f"{USER},,supervisor,")
    (tmp_path / "a1.csv").write_text(A1_SHORT, encoding="utf-8")
    assert run(station.env, "cases", "import", str(tmp_path / "a1.csv")).returncode == 0
    return station


def in_tmux(tmp_path: Path, env: dict[str, str], width: int, *args: str) -> list[str]:
    """The screen of a ``width``-column terminal after the command ran in it."""
    sock = str(tmp_path / f"tmux-{width}")
    tmux = ["tmux", "-S", sock]
    signal = f"tmux -S {shlex.quote(sock)} wait-for -S shown"
    command = f"{shlex.join([REPLAY, *args])}; {signal}; cat"  # cat keeps the pane open
    try:
        subprocess.run(
            [*tmux, "new-session", "-d", "-x", str(width), "-y", "40", command],
            env=env | {"TERM": "xterm-256color"},
            check=True,
            timeout=60,
        )
        subprocess.run([*tmux, "wait-for", "shown"], check=True, timeout=120)
        shown = subprocess.run(
            [*tmux, "capture-pane", "-p", "-J"], check=True, timeout=60, capture_output=True, text=True
        )
    finally:
        subprocess.run([*tmux, "kill-server"], timeout=60, capture_output=True)
    return [line.rstrip() for line in shown.stdout.splitlines() if line.strip()]


def test_the_terminal_timeline_fits_the_terminal_at_two_widths(tmp_path: Path) -> None:
    station = station_with_a_gap(tmp_path)
    rows: dict[int, dict[str, str]] = {}
    for width in (70, 140):
        screen = in_tmux(tmp_path, station.env, width, "timeline", "--action", "A1")
        assert screen[0].startswith("seizure A1 of case C1 (Unit 1)")
        assert max(len(line) for line in screen) <= width, "\n".join(screen)
        rows[width] = {
            line.split("│")[0].strip(): line.split("│")[1] for line in screen if line.count("│") == 2
        }
    for width, lanes in rows.items():
        cells = len(lanes["gaps"])
        assert cells == width - len("officer 077777 (no footage)") - 3
        # 08:30:15 in a minute-long window: a quarter in
        filmed = lanes["officer 031245 / DSJ-A1"]
        assert filmed.index("█") == cells // 4 and filmed.count("█") == 1
        assert set(lanes["officer 077777 (no footage)"]) == {"░"}
        assert set(lanes["gaps"]) == {"░"}  # two gaps, each side of the instant, fill the row
