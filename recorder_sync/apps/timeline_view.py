"""Timelines as people see them: in the terminal (``rich``, as wide as the terminal) and as a
self-contained HTML page with an SVG drawing that a supervisor opens in a browser and prints.

Both draw the same ``domain.timeline.Timeline``: a bar per recording at its clock-corrected
times, the gaps in the footage the deadline engine counts, a lane per officer without footage.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from datetime import tzinfo

from rich.console import Console
from rich.text import Text

from recorder_sync.domain.timeline import Timeline
from recorder_sync.domain.times import display, utc_iso
from recorder_sync.domain.untrusted import escape

BAR, SUGGESTED, GAP, EMPTY = "█", "▒", "░", "·"
_MAX_LABEL = 36


def cells(timeline: Timeline, start: float, end: float, width: int) -> range:
    """The character cells (of ``width``) that the fractions ``start``..``end`` cover: at least one."""
    first = min(width - 1, math.floor(start * width))
    last = max(first + 1, min(width, math.ceil(end * width)))
    return range(first, last)


def render_terminal(timelines: Sequence[Timeline], console: Console, zone: tzinfo) -> None:
    for timeline in timelines:
        labels = [escape(lane.label) for lane in timeline.lanes] + ["gaps"]
        label_width = min(_MAX_LABEL, max(len(label) for label in labels))
        width = max(10, console.width - label_width - 3)
        # words wrap at the terminal's width; the rows below are made to fit it
        console.print(Text(escape(timeline.title), style="bold"))
        summary = (
            f"{display(timeline.start, zone)} to {display(timeline.end, zone)}; "
            f"{len(timeline.gaps)} gap(s); "
            + (
                f"no footage from officer(s) {', '.join(timeline.missing_officers)}"
                if timeline.missing_officers
                else "every officer has footage"
                if timeline.action_id
                else ""
            )
        )
        console.print(Text(escape(summary.rstrip("; "))))
        for lane, label in zip(timeline.lanes, labels, strict=False):
            line = [(EMPTY, "dim")] * width
            if lane.missing:
                line = [(GAP, "red")] * width
            for bar in lane.bars:
                mark = (BAR, "green") if bar.counted else (SUGGESTED, "yellow")
                for i in cells(timeline, timeline.fraction(bar.start), timeline.fraction(bar.end), width):
                    line[i] = mark
            console.print(_row(label, label_width, line), soft_wrap=True)
        gaps = [(EMPTY, "dim")] * width
        for gap in timeline.gaps:
            for i in cells(timeline, timeline.fraction(gap.start), timeline.fraction(gap.end), width):
                gaps[i] = (GAP, "bold red")
        console.print(_row("gaps", label_width, gaps), soft_wrap=True)
        console.print(Text(_axis(timeline, zone, label_width, width), style="dim"), soft_wrap=True)
        if timeline.untimed:
            console.print(Text(f"without times (not drawn): {', '.join(timeline.untimed)}"))
        console.print()


def _axis(timeline: Timeline, zone: tzinfo, label_width: int, width: int) -> str:
    """The window's ends under the bars: with their dates where they fit, else the time of day
    (the line above gives the dates and zone), else the start alone."""
    room = width + 1  # up to the closing border
    first, last = display(timeline.start, zone), display(timeline.end, zone)
    if len(first) + 1 + len(last) > room:
        first, last = first.split(" ")[-1][:8], last.split(" ")[-1][:8]
    if len(first) + 1 + len(last) > room:
        last = ""
    return " " * (label_width + 2) + first + last.rjust(room - len(first))


def _row(label: str, label_width: int, line: Sequence[tuple[str, str]]) -> Text:
    shown = label if len(label) <= label_width else label[: label_width - 1] + "…"
    text = Text(shown.ljust(label_width) + " │")
    for char, style in line:
        text.append(char, style=style)
    text.append("│")
    return text


# --- HTML ---------------------------------------------------------------------------

_W, _LABEL_W, _LANE_H, _TOP = 1000, 260, 28, 40
_STYLE = """
body { font-family: sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.3em; } h2 { font-size: 1.1em; margin-top: 2em; }
svg text { font-size: 12px; } .bar { fill: #2e7d32; } .bar.suggested { fill: #f9a825; }
.gap { fill: #c62828; fill-opacity: 0.35; stroke: #c62828; } .missing { fill: #c62828; }
.lane-bg { fill: #f4f4f4; } .axis { stroke: #888; } table { border-collapse: collapse; }
td, th { border: 1px solid #ccc; padding: 2px 6px; font-size: 12px; text-align: left; }
@media print { body { margin: 0; } section { break-inside: avoid; } }
"""


def _x(timeline: Timeline, fraction: float) -> float:
    return round(_LABEL_W + fraction * (_W - _LABEL_W - 10), 2)


def svg(timeline: Timeline, zone: tzinfo) -> str:
    """One timeline as SVG: each element carries its recording id and UTC times as data."""
    e = html.escape
    height = _TOP + _LANE_H * (len(timeline.lanes) + 1) + 30
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="{_W}" height="{height}" '
        f'viewBox="0 0 {_W} {height}" data-start="{utc_iso(timeline.start)}" '
        f'data-end="{utc_iso(timeline.end)}">'
    ]
    x0, x1 = _x(timeline, 0.0), _x(timeline, 1.0)
    out.append(f'<text x="{x0}" y="{_TOP - 20}">{e(display(timeline.start, zone))}</text>')
    out.append(f'<text x="{x1}" y="{_TOP - 20}" text-anchor="end">{e(display(timeline.end, zone))}</text>')
    for n, lane in enumerate(timeline.lanes):
        y = _TOP + n * _LANE_H
        officer, device = e(lane.officer or ""), e(lane.device or "")
        out.append(f'<g class="lane" data-officer="{officer}" data-device="{device}">')
        out.append(
            f'<rect class="lane-bg" x="{x0}" y="{y}" width="{round(x1 - x0, 2)}" height="{_LANE_H - 6}"/>'
        )
        label_class = ' class="missing"' if lane.missing else ""
        out.append(f'<text x="4" y="{y + 15}"{label_class}>{e(lane.label)}</text>')
        for bar in lane.bars:
            bx0, bx1 = _x(timeline, timeline.fraction(bar.start)), _x(timeline, timeline.fraction(bar.end))
            cls = "bar" if bar.counted else "bar suggested"
            title = f"{bar.recording_id}: {display(bar.start, zone)} to {display(bar.end, zone)}"
            if bar.clock_correction_s is not None:
                title += f" (camera clock corrected by {bar.clock_correction_s:+g} s)"
            out.append(
                f'<rect class="{cls}" data-recording="{e(bar.recording_id)}" '
                f'data-start="{utc_iso(bar.start)}" data-end="{utc_iso(bar.end)}" '
                f'x="{bx0}" y="{y}" width="{max(1.0, round(bx1 - bx0, 2))}" '
                f'height="{_LANE_H - 6}"><title>{e(title)}</title></rect>'
            )
        out.append("</g>")
    y = _TOP + len(timeline.lanes) * _LANE_H
    out.append(f'<text x="4" y="{y + 15}">gaps</text>')
    for gap in timeline.gaps:
        gx0, gx1 = _x(timeline, timeline.fraction(gap.start)), _x(timeline, timeline.fraction(gap.end))
        out.append(
            f'<rect class="gap" data-start="{utc_iso(gap.start)}" data-end="{utc_iso(gap.end)}" '
            f'x="{gx0}" y="{_TOP - 4}" width="{max(1.0, round(gx1 - gx0, 2))}" '
            f'height="{y - _TOP + _LANE_H}"><title>gap: {e(display(gap.start, zone))} to '
            f"{e(display(gap.end, zone))}</title></rect>"
        )
    out.append(f'<line class="axis" x1="{x0}" y1="{y + _LANE_H}" x2="{x1}" y2="{y + _LANE_H}"/>')
    out.append("</svg>")
    return "".join(out)


def render_html(timelines: Sequence[Timeline], zone: tzinfo, generated: str) -> str:
    """A page that needs nothing but itself: no script, no font, no image from elsewhere."""
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"/><title>recorder-replay timeline</title>',
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>Timeline</h1><p>Generated {e(generated)}. Times are clock-corrected; bars are "
        "recordings, red areas gaps in the counted footage.</p>",
    ]
    for timeline in timelines:
        parts.append(f"<section><h2>{e(timeline.title)}</h2>")
        missing = ", ".join(timeline.missing_officers)
        parts.append(
            f"<p>{e(display(timeline.start, zone))} to {e(display(timeline.end, zone))}; "
            f"{len(timeline.gaps)} gap(s)"
            + (f"; no footage from officer(s) {e(missing)}" if missing else "")
            + "</p>"
        )
        parts.append(svg(timeline, zone))
        rows = [
            f"<tr><td>{e(b.recording_id)}</td><td>{e(lane.officer or '')}</td><td>{e(lane.device or '')}</td>"
            f"<td>{e(display(b.start, zone))}</td><td>{e(display(b.end, zone))}</td>"
            f"<td>{'' if b.clock_correction_s is None else f'{b.clock_correction_s:+g} s'}</td>"
            f"<td>{'counted' if b.counted else 'suggested link'}</td><td>{e(', '.join(b.flags))}</td></tr>"
            for lane in timeline.lanes
            for b in lane.bars
        ]
        parts.append(
            "<table><tr><th>recording</th><th>officer</th><th>device</th><th>from</th><th>to</th>"
            "<th>clock correction</th><th>link</th><th>flags</th></tr>" + "".join(rows) + "</table></section>"
        )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
