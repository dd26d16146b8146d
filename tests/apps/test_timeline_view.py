"""Timelines drawn as people see them: the terminal at two widths, and the SVG of the HTML page."""

from __future__ import annotations

import io
import math
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from rich.console import Console

from recorder_sync.apps.timeline_view import render_html, render_terminal
from recorder_sync.domain.flags import Gap
from recorder_sync.domain.timeline import Bar, Lane, Timeline

T = datetime(2026, 11, 27, 0, 30, tzinfo=UTC)
M = timedelta(minutes=1)
SH = ZoneInfo("Asia/Shanghai")
TIMELINE = Timeline(
    "seizure A1 of case C1 (Unit 1)",
    T,
    T + 10 * M,
    (
        Lane("001", "CAM1", (Bar("rec-first", T, T + 5 * M),)),  # the first half
        Lane("002", "CAM2", (Bar("rec-late", T + 7 * M, T + 10 * M, clock_correction_s=-90.0),)),
        Lane("003", None, (), missing=True),
    ),
    (Gap(T + 5 * M, T + 7 * M),),
    ("003",),
    "A1",
)


def drawn(width: int) -> list[str]:
    out = io.StringIO()
    render_terminal([TIMELINE], Console(file=out, width=width, color_system=None), SH)
    return out.getvalue().splitlines()


@pytest.mark.parametrize("width", [60, 120])
def test_the_terminal_view_fills_the_width_with_bars_where_they_belong(width: int) -> None:
    lines = drawn(width)
    rows = {line.split("│")[0].strip(): line.split("│")[1] for line in lines if line.count("│") == 2}
    cells = len(rows["gaps"])
    assert cells == width - len("officer 003 (no footage)") - 3  # as wide as the terminal allows
    first, late = rows["officer 001 / CAM1"], rows["officer 002 / CAM2"]
    # a bar covers every cell it touches: from floor(start) to ceil(end)
    half = math.ceil(cells / 2)
    assert first == "█" * half + "·" * (cells - half)
    assert late.index("█") == math.floor(cells * 0.7) and late.endswith("█")
    assert rows["gaps"].strip("·") == "░" * len(rows["gaps"].strip("·"))
    assert rows["gaps"].index("░") == cells // 2
    assert set(rows["officer 003 (no footage)"]) == {"░"}
    assert "no footage from officer(s) 003" in "\n".join(lines)
    # the window's ends under the bars: with dates where they fit, else the time of day
    axis = lines[-2].split()
    assert len(lines[-2]) <= width
    assert axis == (
        ["08:30:00", "08:40:00"]
        if width < 80
        else ["2026-11-27", "08:30:00+08:00", "2026-11-27", "08:40:00+08:00"]
    )


def test_the_html_page_is_self_contained_and_its_svg_places_every_bar_and_gap() -> None:
    page = render_html([TIMELINE], SH, "2026-11-28 09:00:00+08:00")
    assert "<script" not in page and "src=" not in page and "href=" not in page
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", page)
    svg = ET.fromstring(page[page.index("<svg") : page.index("</svg>") + 6])
    ns = "{http://www.w3.org/2000/svg}"
    frame = next(r for r in svg.iter(f"{ns}rect") if r.get("class") == "lane-bg")
    x0, w = float(frame.get("x", 0)), float(frame.get("width", 0))

    def at(fraction: float) -> float:
        return round(x0 + fraction * w, 1)

    bars = {r.get("data-recording"): r for r in svg.iter(f"{ns}rect") if "bar" in (r.get("class") or "")}
    assert set(bars) == {"rec-first", "rec-late"}
    first, late = bars["rec-first"], bars["rec-late"]
    assert round(float(first.get("x", 0)), 1) == at(0.0)
    assert round(float(first.get("x", 0)) + float(first.get("width", 0)), 1) == at(0.5)
    assert round(float(late.get("x", 0)), 1) == at(0.7)
    assert late.get("data-start") == "2026-11-27T00:37:00+00:00"
    assert "corrected by -90 s" in "".join(late.itertext())
    [gap] = [r for r in svg.iter(f"{ns}rect") if r.get("class") == "gap"]
    assert (round(float(gap.get("x", 0)), 1), gap.get("data-end")) == (at(0.5), "2026-11-27T00:37:00+00:00")
    labels = [t.text for t in svg.iter(f"{ns}text")]
    assert "officer 003 (no footage)" in labels
    assert "no footage from officer(s) 003" in page
