"""The timeline as a person sees it: ``recorder-replay timeline`` in a real terminal (tmux) at
two widths, and its HTML page rendered by a real browser (headless chromium)."""

from __future__ import annotations

import json
import shlex
import subprocess
import zlib
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import pytest
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
            # the pane's own size, not the COLUMNS/LINES a test runner may export (xdist: 80x24)
            env={k: v for k, v in env.items() if k not in ("COLUMNS", "LINES")} | {"TERM": "xterm-256color"},
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


@pytest.mark.slow
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


def read_png(path: Path) -> tuple[int, list[bytes]]:
    """Width and RGB(A) rows of an 8-bit, non-interlaced PNG (what chromium writes)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, bpp = 8, b"", 0, 0, 0
    while pos < len(data):
        n = int.from_bytes(data[pos : pos + 4], "big")
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            width, height = int.from_bytes(body[0:4], "big"), int.from_bytes(body[4:8], "big")
            assert body[8] == 8 and body[12] == 0, "8-bit, not interlaced"
            bpp = {2: 3, 6: 4}[body[9]]
        elif kind == b"IDAT":
            idat += body
    raw, stride = zlib.decompress(idat), width * bpp
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        kind_of_filter = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if kind_of_filter == 1:
                line[i] = (line[i] + a) & 255
            elif kind_of_filter == 2:
                line[i] = (line[i] + b) & 255
            elif kind_of_filter == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind_of_filter == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return bpp, rows


def runs(row: bytes, bpp: int, wanted: Callable[[int, int, int], bool]) -> list[tuple[int, int]]:
    """The [first, last] pixel columns of each run of pixels the colour test accepts."""
    found: list[tuple[int, int]] = []
    for x in range(len(row) // bpp):
        r, g, b = row[x * bpp : x * bpp + 3]
        if wanted(r, g, b):
            if found and found[-1][1] == x - 1:
                found[-1] = (found[-1][0], x)
            else:
                found.append((x, x))
    return found


class Rects(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rects: list[dict[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "rect":
            self.rects.append({k: v or "" for k, v in attrs})


def chromium(*args: str) -> subprocess.CompletedProcess[str]:
    # --no-sandbox: the tests may run as root, where chromium's sandbox refuses to start
    base = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    return subprocess.run([*base, *args], capture_output=True, text=True, timeout=120, check=True)


@pytest.mark.slow
def test_the_html_timeline_in_a_browser_has_each_bar_and_gap_in_place(tmp_path: Path) -> None:
    station = Station(tmp_path, f"sqlite:///{tmp_path / 'catalog.db'}")
    set_roster(station.env, station.tmp, f"{USER},,supervisor,")
    # a recording from 08:30:15 to 08:30:45 (its sidecar gives the end) in A1, 08:30 to 08:31
    dock = tmp_path / "dock2"
    dock.mkdir()
    name = "DSJ-C3_031245_20261127083015_0003.MP4"
    (dock / name).write_bytes(b"half a minute " * 300)
    (dock / name).with_suffix(".json").write_text('{"end": "2026-11-27T08:30:45+08:00"}', encoding="utf-8")
    assert run(station.env, "ingest", str(dock), "--stable-seconds", "0").returncode == 0
    (tmp_path / "a1.csv").write_text(A1_SHORT.replace(";077777", ""), encoding="utf-8")
    assert run(station.env, "cases", "import", str(tmp_path / "a1.csv")).returncode == 0
    page = tmp_path / "a1.html"
    r = subprocess.run(
        [REPLAY, "timeline", "--action", "A1", "--html", str(page), "--json"],
        env=station.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    [timeline] = json.loads(r.stdout)
    bars = {b["recording_id"]: b for lane in timeline["lanes"] for b in lane["bars"]}
    half = next(rid for rid, b in bars.items() if b["end"] == "2026-11-27T00:30:45+00:00")

    # the DOM as the browser built it: every recording a bar, every gap marked, where they belong
    dom = Rects()
    dom.feed(chromium("--dump-dom", page.as_uri()).stdout)
    frame = next(r for r in dom.rects if r.get("class") == "lane-bg")
    x0, w = float(frame["x"]), float(frame["width"])
    drawn = {r["data-recording"]: r for r in dom.rects if r.get("class", "").startswith("bar")}
    assert set(drawn) == set(bars)
    assert abs(float(drawn[half]["x"]) - (x0 + 0.25 * w)) < 0.5
    assert abs(float(drawn[half]["x"]) + float(drawn[half]["width"]) - (x0 + 0.75 * w)) < 0.5
    gaps = sorted((r["data-start"], r["data-end"]) for r in dom.rects if r.get("class") == "gap")
    assert gaps == [(g["start"], g["end"]) for g in timeline["gaps"]] and len(gaps) == 2

    # the pixels as a person sees them: green bar from 1/4 to 3/4 of the lane, red gaps outside
    shot = tmp_path / "a1.png"
    chromium("--force-device-scale-factor=1", "--window-size=1100,700", f"--screenshot={shot}", page.as_uri())
    bpp, rows = read_png(shot)
    green = [
        (y, run_)
        for y, row in enumerate(rows)
        for run_ in runs(row, bpp, lambda r, g, b: (r, g, b) == (46, 125, 50))
    ]
    assert green, "no bar drawn"
    y, (left, right) = max(green, key=lambda item: item[1][1] - item[1][0])
    # the window is all bar or gap here: the red gaps left and right of the bar span the lane
    reddish = runs(rows[y], bpp, lambda r, g, b: r > g + 30 and r > b + 30)
    assert len(reddish) == 2, reddish
    (lane_left, gap_end), (gap_start, lane_right) = reddish
    assert abs(gap_end + 1 - left) <= 1 and abs(right + 1 - gap_start) <= 1  # the gaps meet the bar
    span = lane_right - lane_left
    assert abs(span - w) <= 2  # the lane as wide as the DOM says: nothing else is red on this row
    assert abs((left - lane_left) / span - 0.25) < 0.01 and abs((right - lane_left) / span - 0.75) < 0.01
