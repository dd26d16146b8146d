"""Trusted time: an RFC 3161 token over every published checkpoint of this station's log.

For each checkpoint published at ``log/<origin>/checkpoint/<size>`` without a token beside it,
newest first and at most ``per_pass`` in one pass, the time-stamping authority is asked for a
token over the checkpoint's exact bytes; the reply (verified by the client against the
configured roots) is stored write-once at ``log/<origin>/timestamp/<size>`` with the
checkpoints' retention, and recorded as a ``timestamped`` custody event with the station
clock's drift against the authority's time.  A drift above ``DRIFT_LIMIT`` raises
``station-clock-drift``; a later token back within it resolves the flag.

An authority that cannot be reached ends the pass (``TsaUnavailable`` is logged, never
raised): the tokens wait for the next pass, ingestion and checkpoints never wait for them.

The store is listed in full once per process, then only past the last key seen (it lists in
order), so a pass costs two short listings however many checkpoints a station published.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from recorder_sync.domain.errors import Error, IntegrityFailure, TsaUnavailable
from recorder_sync.domain.layout import checkpoint_key, timestamp_key, timestamp_prefix, timestamp_size
from recorder_sync.domain.model import Flag, FlagKind, Severity
from recorder_sync.domain.ports import Clock, ObjectStore
from recorder_sync.domain.timestamps import DRIFT_LIMIT, Stamp, drift_ms, drift_too_large, token_details
from recorder_sync.services.checkpoints import published_sizes

log = logging.getLogger(__name__)

PER_PASS = 20
"""Tokens asked for in one pass: a station that was long without its authority catches up
over several passes, newest first, without holding up the loop."""


class Stamper(Protocol):
    def stamp(self, data: bytes, what: str) -> Stamp: ...


class TimestampLog(Protocol):
    def record_timestamp(
        self, size: int, details: Mapping[str, Any], now: datetime, *, drift: Flag, drifted: bool
    ) -> None: ...


@dataclass
class StampRun:
    stamped: list[int] = field(default_factory=list)
    missing: int = 0  # published checkpoints still without a token after this pass
    problem: str | None = None  # why the pass stopped early (the authority down, a bad reply)


class TimestampService:
    def __init__(
        self,
        log: TimestampLog,
        store: ObjectStore,
        origin: str,
        tsa: Stamper,
        *,
        clock: Clock,
        retention_class: str | None = None,
        per_pass: int = PER_PASS,
    ) -> None:
        self.log = log
        self.store = store
        self.origin = origin
        self.tsa = tsa
        self.clock = clock
        self.retention_class = retention_class
        self.per_pass = per_pass
        self._unstamped: set[int] = set()
        self._after_checkpoint: int | None = None  # the store was listed up to these sizes
        self._after_token: str | None = None

    def run(self) -> StampRun:
        """One pass; never raises for an authority that is down or a store that cannot list."""
        run = StampRun()
        try:
            self._list()
        except Error as e:
            run.problem = f"the published checkpoints could not be listed: {e}"
            log.warning("no time-stamp tokens this time: %s", run.problem)
            return run
        for size in sorted(self._unstamped, reverse=True)[: self.per_pass]:
            try:
                if self._stamp(size):
                    run.stamped.append(size)
            except TsaUnavailable as e:
                run.problem = str(e)
                log.warning("%s; the checkpoints' tokens wait for the next pass", e)
                break
            except Error as e:  # a reply that does not verify, a store that refuses: next pass
                run.problem = str(e)
                log.warning("no time-stamp token for checkpoint %d this time: %s", size, e)
                break
        run.missing = len(self._unstamped)
        return run

    def _list(self) -> None:
        """The published checkpoints without a token: all of them the first time, then only
        what was published or stamped since (another process's tokens included)."""
        new = published_sizes(self.store, self.origin, after=self._after_checkpoint)
        tokens = self.store.list_keys(timestamp_prefix(self.origin), start_after=self._after_token)
        self._unstamped |= set(new)
        if new:
            self._after_checkpoint = max(new)
        for key in tokens:
            size = timestamp_size(self.origin, key)
            if size is not None:
                self._unstamped.discard(size)
        if tokens:
            self._after_token = tokens[-1]

    def _stamp(self, size: int) -> bool:
        """Ask for, store and record the token of checkpoint ``size``; False when another
        process stored one first."""
        key = timestamp_key(self.origin, size)
        if self.store.stat(key) is not None:
            self._unstamped.discard(size)  # stamped by another process, below the listing mark
            return False
        note = self.store.get_bytes(checkpoint_key(self.origin, size))
        stamp = self.tsa.stamp(note, f"checkpoint {size}")
        now = self.clock()  # the station's clock as the reply arrives, against the authority's
        meta = {"log-origin": self.origin, "tree-size": str(size)}
        try:
            self.store.put_bytes(key, stamp.reply, meta, retention_class=self.retention_class)
        except IntegrityFailure:
            # another process stored its own token between our stat and our put: keep theirs
            self._unstamped.discard(size)
            return False
        self._unstamped.discard(size)
        drift = drift_ms(now, stamp.time.at)
        drifted = drift_too_large(drift)
        self.log.record_timestamp(
            size,
            token_details(size, stamp.time, drift),
            now,
            drift=self._drift_flag(drift, stamp),
            drifted=drifted,
        )
        if drifted:
            log.warning("the station clock is %d ms off the time-stamping authority's time", drift)
        log.info("time-stamped checkpoint %d (%s, drift %d ms)", size, stamp.time.tsa, drift)
        return True

    def _drift_flag(self, drift: int, stamp: Stamp) -> Flag:
        ahead = "ahead of" if drift > 0 else "behind"
        return Flag(
            kind=FlagKind.STATION_CLOCK_DRIFT,
            severity=Severity.MEDIUM,
            subject=f"log:{self.origin}",
            detail=(
                f"the station clock is {abs(drift) / 1000:.1f} s {ahead} the time-stamping authority "
                f"({stamp.time.tsa}), more than {DRIFT_LIMIT.total_seconds():.0f} s: "
                "check the station's time synchronisation"
            ),
        )
