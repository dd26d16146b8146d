"""Legal holds: a hold on a recording's stored copy, and its custody event (who and why).

While a hold is on, no one can delete the object version, even after its retention ends.
"""

from __future__ import annotations

from datetime import datetime

from recorder_sync.domain import layout
from recorder_sync.domain.custody import EventKind
from recorder_sync.domain.model import StoredObject
from recorder_sync.domain.ports import CustodyNotes, LegalHolds


def set_legal_hold(
    catalog: CustodyNotes, holds: LegalHolds, ref: str, on: bool, reason: str, now: datetime
) -> tuple[str, StoredObject]:
    """Set (``on``) or release the hold on the recording ``ref`` names; the custody event is
    written only once the store has done it. Returns the recording's id and the held object."""
    rec = catalog.recording(ref)
    obj = holds.set_legal_hold(layout.media_key(rec.sha256), on)
    catalog.note(
        EventKind.LEGAL_HOLD if on else EventKind.LEGAL_HOLD_RELEASED,
        now,
        recording_id=rec.id,
        details={"uri": obj.uri, "version_id": obj.version_id or ""},
        reason=reason,
    )
    return rec.id, obj
