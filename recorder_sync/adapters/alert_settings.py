"""Where alerts go: the one settings type of ``adapters.alerts``.

Kept apart from the dispatcher so that reading the configuration (every command) does not
import the HTTP, SMTP and TLS modules; only the daemon, which sends alerts, imports them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from recorder_sync.domain.model import Severity

IMPLICIT_TLS_PORTS = (465,)  # SMTPS: TLS from the first byte (RFC 8314)


@dataclass(frozen=True)
class AlertSettings:
    webhooks: tuple[str, ...] = ()
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_from: str = "recorder-sync@localhost"
    smtp_to: tuple[str, ...] = ()
    smtp_starttls: bool = False
    smtp_user: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_implicit_tls: bool | None = None  # None: by port (465)
    min_severity: Severity = Severity.MEDIUM
    timeout: float = 10.0
    attempts: int = 5
    backoff: float = 1.0  # seconds before the 2nd attempt; doubles each time
    queue_size: int = 1000
