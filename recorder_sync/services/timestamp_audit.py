"""The trusted-time half of ``recorder-audit verify``: every checkpoint's RFC 3161 token.

For each log the trust anchors name, every token stored at ``log/<origin>/timestamp/<size>``
is checked with nothing but the trust anchors: it is a granted reply whose imprint is the
hash of the exact bytes of ``log/<origin>/checkpoint/<size>``, its signature verifies and its
signer chains to a ``tsa_roots`` certificate of ``trust.json``, and its time is not before
the checkpoint's last event (the ``at`` of event number ``size``): a token cannot vouch for
a checkpoint of events that had not happened yet.

A checkpoint without a token is no problem (tokens wait for the authority); a token that does
not verify is one (check ``timestamp``, subject ``checkpoint:N``); tokens checked against no
root are reported as not checked.
"""

from __future__ import annotations

from datetime import datetime

from recorder_sync.domain.audit import AuditResult
from recorder_sync.domain.canonical import parse
from recorder_sync.domain.errors import CouldNotCheck, NotFound, TimestampInvalid
from recorder_sync.domain.layout import timestamp_prefix, timestamp_size
from recorder_sync.domain.ports import AuditedLog, ObjectStore
from recorder_sync.domain.times import parse_strict
from recorder_sync.domain.timestamps import load_roots, not_before, verify_token
from recorder_sync.domain.trust import TrustAnchors
from recorder_sync.services.checkpoints import published_sizes

TIMESTAMP = "timestamp"


def audit_timestamps(log: AuditedLog, store: ObjectStore, trust: TrustAnchors, result: AuditResult) -> None:
    """Check every token of every log the trust anchors name a key for, into ``result``."""
    try:
        roots = load_roots(b"".join(trust.tsa_roots)) if trust.tsa_roots else []
    except TimestampInvalid as e:
        result.could_not_check(TIMESTAMP, "trust", str(e))
        return
    for origin in sorted({k.name for k in trust.log_keys}):
        try:
            checkpoints = published_sizes(store, origin)
            tokens = {
                size: key
                for key in store.list_keys(timestamp_prefix(origin))
                if (size := timestamp_size(origin, key)) is not None
            }
        except CouldNotCheck as e:
            result.could_not_check(TIMESTAMP, f"log:{origin}", str(e))
            continue
        result.checked["checkpoints with a token"] += len(tokens.keys() & checkpoints.keys())
        if not tokens:
            continue
        if not roots:
            # a token checked against no root proves nothing: say so rather than pass it
            result.could_not_check(
                TIMESTAMP,
                f"log:{origin}",
                f"{len(tokens)} time-stamp token(s) found, but the trust anchors name no time-stamping "
                "root (tsa_roots): the tokens were not checked",
            )
            continue
        times = _event_times(log, set(tokens))
        for size, key in sorted(tokens.items()):
            subject = f"checkpoint:{size}"
            if size not in checkpoints:
                result.problem(
                    TIMESTAMP, subject, "a time-stamp token, but no checkpoint of this size is published"
                )
                continue
            try:
                reply, note = store.get_bytes(key), store.get_bytes(checkpoints[size])
                stamped = verify_token(reply, note, roots, f"checkpoint {size}")
                last = times.get(size)
                if last is not None:
                    not_before(stamped, last, f"checkpoint {size}")
            except NotFound:
                continue  # listed, then gone: nothing to check
            except TimestampInvalid as e:
                result.problem(TIMESTAMP, subject, str(e))
            except CouldNotCheck as e:
                result.could_not_check(TIMESTAMP, subject, str(e))


def _event_times(log: AuditedLog, seqs: set[int]) -> dict[int, datetime]:
    """The time each event of ``seqs`` gives itself, in one pass that stops at the last one
    (an event missing or unreadable is left out: the log checks report it)."""
    found: dict[int, datetime] = {}
    if not seqs:
        return found
    last = max(seqs)
    for ev in log.iter_events():
        if ev.seq > last:
            break
        if ev.seq not in seqs:
            continue
        try:
            fields = parse(ev.body)
            found[ev.seq] = parse_strict(fields["at"])
        except (ValueError, KeyError, TypeError):
            continue
    return found
