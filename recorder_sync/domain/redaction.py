"""Redacting an export: regions blurred, spans muted, a watermark burned in — read from the
command line, checked against the recording, and planned here; ``adapters.clips`` turns the
plan into an ffmpeg filter graph.

Times of ``--blur`` and ``--mute`` are on the *recording's* clock (from its start, like
``--from``/``--to``), whatever part of it is exported: a supervisor reads them off the whole
recording, and one list of redactions serves every export of it. A trimmed export's filter
graph runs on the *clip's* clock, which starts at ``--from``: ``plan_edits`` shifts every
time by ``--from`` and cuts it to the exported range. A span wholly outside that range is
refused rather than silently dropped: it is most likely a time read off the clip by mistake.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from recorder_sync.domain.errors import UsageError
from recorder_sync.domain.model import Kind, ProbeResult, Recording
from recorder_sync.domain.replay import ClipRange, clip_time_text, parse_clip_time

# Smaller than this, a region cannot hide a face or a line of text anyway, and boxblur's
# radius (at most half the region's smaller side) would be too small to blur anything.
MIN_REGION_SIDE = 8
# Box blur passes: two passes of the widest box the region allows leave no edge of a face or a
# letter (one pass leaves faint ghosts of strong edges).
BLUR_POWER = 2

_SECONDS = re.compile(r"^\d{1,7}(?:\.\d{1,3})?$")
_BLUR = re.compile(r"^(\d{1,5}),(\d{1,5}),(\d{1,5}),(\d{1,5})(?:@(.+))?$")


@dataclass(frozen=True)
class Span:
    """From ``start`` to ``end`` on the recording's clock."""

    start: timedelta
    end: timedelta

    def text(self) -> str:
        return f"{clip_time_text(self.start)}-{clip_time_text(self.end)}"


@dataclass(frozen=True)
class Region:
    """A rectangle of the picture, in pixels from its top-left corner."""

    x: int
    y: int
    width: int
    height: int

    def as_json(self) -> dict[str, int]:
        return {"x": self.x, "y": self.y, "width": self.width, "height": self.height}


@dataclass(frozen=True)
class Blur:
    region: Region
    span: Span | None  # None: the whole export
    given: str  # as typed, for messages


@dataclass(frozen=True)
class Mute:
    span: Span
    given: str


@dataclass(frozen=True)
class Redactions:
    """What ``export`` was asked to hide or add; any of it means the clip is re-encoded."""

    blurs: tuple[Blur, ...] = ()
    mutes: tuple[Mute, ...] = ()
    watermark: bool = False

    @property
    def any(self) -> bool:
        return bool(self.blurs or self.mutes or self.watermark)

    def as_text(self) -> str:
        """As asked, for the access event: ``blur 0,0,80,40@2-4; mute 2-4; watermark``."""
        asked = [f"blur {b.given}" for b in self.blurs] + [f"mute {m.given}" for m in self.mutes]
        return "; ".join(asked + (["watermark"] if self.watermark else []))


NO_REDACTIONS = Redactions()


def _time(text: str) -> timedelta:
    """``HH:MM:SS`` (or ``MM:SS``) as ``--from``/``--to`` take it, or plain seconds (``90``, ``2.5``)."""
    text = text.strip()
    if _SECONDS.match(text):
        return timedelta(seconds=float(text))
    return parse_clip_time(text)


def parse_span(text: str, given: str) -> Span:
    """``FROM-TO``; ``UsageError`` naming the option as ``given`` when it is not one or is empty."""
    start_text, dash, end_text = text.partition("-")
    if not dash:
        raise UsageError(f"{given}: expected FROM-TO (HH:MM:SS or seconds from the recording's start)")
    try:
        start, end = _time(start_text), _time(end_text)
    except ValueError as e:
        raise UsageError(f"{given}: {e}") from None
    if end <= start:
        raise UsageError(f"{given}: FROM must be before TO")
    return Span(start, end)


def parse_blur(text: str) -> Blur:
    """``X,Y,W,H@FROM-TO`` (``@FROM-TO`` left out: the whole export)."""
    m = _BLUR.match(text.strip())
    if m is None:
        raise UsageError(
            f"--blur {text}: expected X,Y,W,H@FROM-TO (pixels from the top-left corner; "
            "times HH:MM:SS or seconds from the recording's start)"
        )
    x, y, w, h = (int(g) for g in m.groups()[:4])
    if w < MIN_REGION_SIDE or h < MIN_REGION_SIDE:
        raise UsageError(f"--blur {text}: a region is at least {MIN_REGION_SIDE}x{MIN_REGION_SIDE} pixels")
    span = None if m.group(5) is None else parse_span(m.group(5), f"--blur {text}")
    return Blur(Region(x, y, w, h), span, text)


def parse_mute(text: str) -> Mute:
    return Mute(parse_span(text, f"--mute {text}"), text)


def redactions(blurs: Sequence[str] | None, mutes: Sequence[str] | None, watermark: bool) -> Redactions:
    """The command line's ``--blur``… ``--mute``… ``--watermark``, parsed (``UsageError``, exit 2)."""
    return Redactions(
        tuple(parse_blur(b) for b in blurs or ()),
        tuple(parse_mute(m) for m in mutes or ()),
        watermark,
    )


@dataclass(frozen=True)
class MediaShape:
    """What the checks need to know of a recording: its picture size, its length, whether it
    has a picture and a sound track (None: not known)."""

    picture: bool
    sound: bool | None
    width: int | None = None
    height: int | None = None
    duration: timedelta | None = None

    @classmethod
    def of_recording(cls, rec: Recording) -> MediaShape:
        """From what ingest's probe stored (before anything is read from the store)."""
        width, height = rec.media.get("width"), rec.media.get("height")
        ms = rec.duration_ms
        return cls(
            picture=rec.kind is Kind.VIDEO,
            sound=True if rec.kind is Kind.AUDIO else None,
            width=width if isinstance(width, int) and width > 0 else None,
            height=height if isinstance(height, int) and height > 0 else None,
            duration=timedelta(milliseconds=ms) if ms is not None and ms > 0 else None,
        )

    @classmethod
    def of_probe(cls, probe: ProbeResult) -> MediaShape:
        """From ffprobe on the very copy about to be redacted."""
        ms = probe.duration_ms
        return cls(
            picture=probe.readable and probe.kind is Kind.VIDEO,
            sound=probe.readable and probe.has_audio,
            width=probe.width,
            height=probe.height,
            duration=timedelta(milliseconds=ms) if ms is not None and ms > 0 else None,
        )


def check_redactions(asked: Redactions, shape: MediaShape, span: ClipRange) -> None:
    """``UsageError`` (exit 2) naming the flag when a redaction does not fit the recording:
    a region outside the picture, a time past its end or outside the exported range, a blur
    or watermark on a recording without a picture, a mute on one without sound."""
    if (asked.blurs or asked.watermark) and not shape.picture:
        flag = "--blur" if asked.blurs else "--watermark"
        raise UsageError(f"{flag}: this recording has no moving picture to draw on")
    if asked.mutes and shape.sound is False:
        raise UsageError(f"--mute {asked.mutes[0].given}: this recording has no sound track")
    for blur in asked.blurs:
        _check_region(blur, shape)
    exported = _exported(span, shape.duration)
    spans = [(f"--blur {b.given}", b.span) for b in asked.blurs]
    spans += [(f"--mute {m.given}", m.span) for m in asked.mutes]
    for flag, s in spans:
        if s is None:
            continue
        if shape.duration is not None and s.end > shape.duration:
            raise UsageError(
                f"{flag}: {clip_time_text(s.end)} is past the recording's end "
                f"({clip_time_text(shape.duration)})"
            )
        lo, hi = exported
        if s.end <= lo or (hi is not None and s.start >= hi):
            shown = f"{clip_time_text(lo)}-{'end' if hi is None else clip_time_text(hi)}"
            raise UsageError(
                f"{flag}: lies outside the exported range {shown} (blur and mute times are "
                "from the recording's start, like --from/--to, not from the clip's)"
            )


def _check_region(blur: Blur, shape: MediaShape) -> None:
    r = blur.region
    if shape.width is None or shape.height is None:
        return  # checked again on the fetched copy, whose size ffprobe reads
    if r.x + r.width > shape.width or r.y + r.height > shape.height:
        raise UsageError(
            f"--blur {blur.given}: the region ({r.x},{r.y})-({r.x + r.width},{r.y + r.height}) "
            f"is not inside the {shape.width}x{shape.height} picture"
        )


def _exported(span: ClipRange, duration: timedelta | None) -> tuple[timedelta, timedelta | None]:
    lo = span.start or timedelta(0)
    hi = span.end if span.end is not None else duration
    if hi is not None and duration is not None:
        hi = min(hi, duration)
    return lo, hi


# --- the plan the filter graph carries out -------------------------------------------


def _ms(t: timedelta) -> int:
    return round(t.total_seconds() * 1000)


@dataclass(frozen=True)
class BlurStep:
    region: Region
    window_ms: tuple[int, int] | None  # on the clip's clock; None: all along
    radius: int  # boxblur's radius: half the region's smaller side, the widest it allows


@dataclass(frozen=True)
class MuteStep:
    window_ms: tuple[int, int]  # on the clip's clock


@dataclass(frozen=True)
class EditPlan:
    """What the re-encode does, on the clip's clock, and what the provenance says of it."""

    asked: Redactions
    span: ClipRange
    blurs: tuple[BlurStep, ...]
    mutes: tuple[MuteStep, ...]
    watermark: tuple[str, ...]  # its lines; () for none
    operations: tuple[Mapping[str, Any], ...]


def watermark_lines(actor: str, at: datetime, access_seq: int) -> tuple[str, ...]:
    """Who exported and when, and the custody event that logged it: burned into every frame."""
    return (f"exported by {actor}", f"{at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC, access event {access_seq}")


def plan_edits(asked: Redactions, span: ClipRange, watermark: Sequence[str] = ()) -> EditPlan:
    """The redactions on the clip's clock (shifted by ``--from``, cut at ``--to``), with one
    provenance operation each, giving both clocks."""
    offset = span.start or timedelta(0)

    def window(s: Span) -> tuple[int, int]:
        end = s.end if span.end is None else min(s.end, span.end)
        return max(0, _ms(s.start - offset)), _ms(end - offset)

    def times(s: Span | None) -> dict[str, Any]:
        if s is None:
            return {"from": "start", "to": "end"}
        lo, hi = window(s)
        return {"from": clip_time_text(s.start), "to": clip_time_text(s.end), "output_window_ms": [lo, hi]}

    blurs = tuple(
        BlurStep(
            b.region, None if b.span is None else window(b.span), min(b.region.width, b.region.height) // 2
        )
        for b in asked.blurs
    )
    mutes = tuple(MuteStep(window(m.span)) for m in asked.mutes)
    operations: list[Mapping[str, Any]] = [
        {
            "op": "blur",
            "region": b.region.as_json(),
            **times(b.span),
            "filter": "boxblur",
            "radius": step.radius,
            "power": BLUR_POWER,
        }
        for b, step in zip(asked.blurs, blurs, strict=True)
    ]
    operations += [{"op": "mute", **times(m.span), "filter": "volume=0"} for m in asked.mutes]
    if asked.watermark:
        operations.append({"op": "watermark", "text": "\n".join(watermark), "filter": "drawtext"})
    return EditPlan(asked, span, blurs, mutes, tuple(watermark) if asked.watermark else (), tuple(operations))
