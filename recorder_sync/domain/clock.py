"""Camera clock evidence: a time file the camera leaves at the dock root when docked.

``clock.json``: ``{"device": "DSJ-A1B2C3", "camera_time": "2026-11-27T18:02:11"}``.
The camera writes its own clock's reading; the station's clock stamps the file's
mtime at the same moment, so ``offset = camera_time - mtime`` is how far the camera
clock runs ahead.  A naive ``camera_time`` is read in the dock's time zone, as the
camera's file names are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from recorder_sync.domain.timebounds import DEFAULT_BOUNDS
from recorder_sync.domain.untrusted import load_json, shown, text_problem, to_utc

CLOCK_FILE = "clock.json"


@dataclass(frozen=True)
class ClockReading:
    device: str
    camera_time: datetime  # aware, UTC
    station_time: datetime  # aware, UTC

    @property
    def offset(self) -> timedelta:
        return self.camera_time - self.station_time


def parse_clock_file(data: bytes, station_time: datetime, tz: tzinfo) -> ClockReading | str:
    """The reading, or why the file is unusable."""
    try:
        doc = load_json(data.decode("utf-8"))
    except ValueError as e:  # UnicodeDecodeError is one too
        return f"{CLOCK_FILE} is not JSON: {e}"
    if not isinstance(doc, dict):
        return f"{CLOCK_FILE} is not a JSON object"
    device, raw = doc.get("device"), doc.get("camera_time")
    if not isinstance(device, str) or not device.strip():
        return f"{CLOCK_FILE}: 'device' missing"
    why = text_problem(device.strip())
    if why is not None:
        return f"{CLOCK_FILE}: 'device' {why}: {shown(device)}"
    if not isinstance(raw, str):
        return f"{CLOCK_FILE}: 'camera_time' missing"
    try:
        camera = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return f"{CLOCK_FILE}: 'camera_time' is not an ISO 8601 time: {shown(raw)}"
    utc = to_utc(camera, tz)  # None: off the calendar in UTC
    why = DEFAULT_BOUNDS.problem(utc)
    if utc is None or why is not None:  # a year-1 or year-9999 clock would shift every time by millennia
        return f"{CLOCK_FILE}: 'camera_time' {shown(raw)} is {why}"
    return ClockReading(device.strip(), utc, station_time.astimezone(UTC))
