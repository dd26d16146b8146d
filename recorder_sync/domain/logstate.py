"""Decisions about the custody log against what was published of it: rolled back, rewritten,
acknowledged.  Pure: the caller reads the database and the store, and passes what it found."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from recorder_sync.domain.custody import CustodyEvent

if TYPE_CHECKING:  # cryptography (under domain.checkpoint) stays out of the views' start-up
    from recorder_sync.domain.checkpoint import Checkpoint

ACK_HINT = (
    "if this is known and accepted (a database restored from a backup), run: "
    "recorder-sync log acknowledge --size {size} --reason WHY"
)


@dataclass(frozen=True)
class RecordedCheckpoint:
    """A checkpoint this station signed and published, as the database remembers it."""

    size: int
    root: bytes
    note: bytes
    key: str
    published_at: datetime


@dataclass(frozen=True)
class Acknowledgement:
    """An operator's statement that the database's log no longer extends the published
    checkpoint of ``size`` and ``root`` (restored from a backup, rows lost), and why."""

    size: int
    root: bytes
    reason: str

    def covers(self, published: Checkpoint) -> bool:
        return published.size == self.size and published.root == self.root

    def details(self, *, database_size: int) -> dict[str, Any]:
        return {
            "published_size": self.size,
            "published_root": base64.b64encode(self.root).decode(),
            "database_size": database_size,
        }

    @classmethod
    def from_event(cls, ev: CustodyEvent) -> Acknowledgement:
        f = ev.fields
        d = f.get("details") or {}
        return cls(int(d["published_size"]), base64.b64decode(d["published_root"]), str(f.get("reason", "")))


def rollback_problem(db_size: int, db_root_at: bytes | None, published: Checkpoint) -> str | None:
    """What is wrong with a database log of ``db_size`` events whose root at the published
    size is ``db_root_at`` (None when it is shorter), measured against ``published``."""
    if db_size < published.size:
        return (
            f"the database's custody log has {db_size} events, but a checkpoint of {published.size} "
            "was published: the database was rolled back or its log truncated"
        )
    if db_root_at != published.root:
        return (
            f"the database's custody log has {db_size} events, but its first {published.size} are not "
            f"the ones of the checkpoint of {published.size} that was published: the log was rewritten"
        )
    return None


def refusal(problem: str, published: Checkpoint) -> str:
    return f"{problem}; {ACK_HINT.format(size=published.size)}"
