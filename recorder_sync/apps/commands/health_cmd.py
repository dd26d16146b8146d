"""``health [--json] [--max-age S]``: exit 0 when this station's daemon beat recently, the database
and the store answer, and no critical flag is open; 1 otherwise, each reason on its own line.

Light on purpose (a check every few seconds): SQLAlchemy and the standard library only, no S3
client, no schema upgrade, a read-only engine with a short connect timeout.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

from recorder_sync.adapters.db.engine import make_readonly_engine
from recorder_sync.adapters.db.heartbeat_repo import critical_flags, last_beats
from recorder_sync.adapters.storage_probe import s3_problem, vault_problem
from recorder_sync.apps.config import Settings
from recorder_sync.apps.output import emit_json
from recorder_sync.domain.errors import Error
from recorder_sync.domain.health import DEFAULT_MAX_AGE, Facts, reasons
from recorder_sync.domain.redact import redact

CONNECT_TIMEOUT = 5


def cmd_health(args: argparse.Namespace, settings: Settings) -> int:
    max_age = DEFAULT_MAX_AGE if args.max_age is None else timedelta(seconds=args.max_age)
    database_error = None
    beats: list[datetime] = []
    flags: dict[str, int] = {}
    url = settings.database_url
    if url.startswith("postgresql") and "connect_timeout" not in url:
        url += ("&" if "?" in url else "?") + f"connect_timeout={CONNECT_TIMEOUT}"
    try:
        engine = make_readonly_engine(url)
        try:
            beats = last_beats(engine, settings.station_id)
            flags = critical_flags(engine)
        finally:
            engine.dispose()
    except Error as e:
        database_error = str(e)
    except Exception as e:  # the driver's own errors: the database did not answer as it should
        database_error = " ".join(str(getattr(e, "orig", None) or e).split())
    if settings.s3 is not None:
        storage_error = s3_problem(settings.s3.endpoint, settings.s3.ca_bundle)
    else:
        storage_error = vault_problem(settings.vault_path)
    facts = Facts(settings.station_id, database_error, storage_error, beats, flags)
    found = [redact(r) for r in reasons(facts, datetime.now(UTC), max_age)]
    if args.json:
        emit_json({"healthy": not found, "station": settings.station_id, "reasons": found})
    else:
        print("\n".join(found) if found else f"healthy: station {settings.station_id}")
    return 1 if found else 0
