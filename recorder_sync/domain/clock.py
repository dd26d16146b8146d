"""Camera clock evidence: a time file the camera leaves at the dock root when docked.

``clock.json``: ``{"device": "DSJ-A1B2C3", "camera_time": "2026-11-27T18:02:11"}``.
The camera writes its own clock's reading; the station's clock stamps the file's
mtime at the same moment, so ``offset = camera_time - mtime`` is how far the camera
clock runs ahead.  A naive ``camera_time`` is read in the dock's time zone, as the
camera's file names are.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from recorder_sync.domain.linking import RecordingFacts
from recorder_sync.domain.timebounds import DEFAULT_BOUNDS
from recorder_sync.domain.times import parse_lenient
from recorder_sync.domain.untrusted import load_json, shown, text_problem, to_utc

CLOCK_FILE = "clock.json"
# A camera clock this far off the station clock (or drifting this much between dockings)
# makes decisions to the second unsafe: flags say so.
UNCERTAIN_CLOCK = timedelta(seconds=60)
# A docking recorded a little after the recording was first seen still brought it in
# (the time file and the media are read in the same scan, in either order).
_SCAN_SLACK = timedelta(minutes=5)


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
        camera = parse_lenient(raw)
    except ValueError:
        return f"{CLOCK_FILE}: 'camera_time' is not an ISO 8601 time: {shown(raw)}"
    utc = to_utc(camera, tz)  # None: off the calendar in UTC
    why = DEFAULT_BOUNDS.problem(utc)
    if utc is None or why is not None:  # a year-1 or year-9999 clock would shift every time by millennia
        return f"{CLOCK_FILE}: 'camera_time' {shown(raw)} is {why}"
    return ClockReading(device.strip(), utc, station_time.astimezone(UTC))


class ClockEvidence:
    """What the dockings said about each device's clock: (docked_at, offset) by device,
    sorted by docking time."""

    def __init__(self, readings: Iterable[tuple[str, datetime, timedelta]]) -> None:
        self.by_device: dict[str, list[tuple[datetime, timedelta]]] = defaultdict(list)
        for device, at, offset in readings:
            self.by_device[device].append((at, offset))
        for items in self.by_device.values():
            items.sort()

    def facts(
        self,
        recording_id: str,
        device: str | None,
        officer: str | None,
        start: datetime | None,
        end: datetime | None,
        verified_at: datetime | None,
        ingested_at: datetime,
    ) -> RecordingFacts:
        """The recording with the clock offset of the docking that brought it in, and
        whether that clock can be trusted to the second: uncertain when its offset, or
        the spread of the device's offsets over all its dockings, exceeds
        ``UNCERTAIN_CLOCK``."""
        if not self.by_device:  # no camera exposed its clock: the common case, kept cheap
            return RecordingFacts(
                recording_id, device, officer, start, end, verified_at, ingested_at=ingested_at
            )
        offset: timedelta | None = None
        uncertain = False
        evidence = self.by_device.get(device) if device else None
        if evidence:
            # the docking that brought the recording in: the last one at or before it was seen
            before = [item for item in evidence if item[0] <= ingested_at + _SCAN_SLACK]
            if before:
                offset = before[-1][1]
                offsets = [o for _, o in evidence]
                uncertain = abs(offset) > UNCERTAIN_CLOCK or (max(offsets) - min(offsets)) > UNCERTAIN_CLOCK
        return RecordingFacts(
            id=recording_id,
            device=device,
            officer=officer,
            start=start,
            end=end,
            stored_verified_at=verified_at,
            clock_uncertain=uncertain,
            clock_offset=offset,
            ingested_at=ingested_at,
        )
