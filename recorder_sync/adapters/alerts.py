"""Alert delivery: the log (journal), webhooks (JSON POST) and e-mail (SMTP).

Delivery never blocks the caller: ``AlertDispatcher(alert)`` puts the alert on each
channel's bounded queue, served by that channel's background thread, which retries it
with exponential backoff.  When the queue is full the alert is dropped with an error in
the log (the flag itself is in the database either way: alerts are a courtesy,
the flags table is the record).

Secrets stay out of the log: a webhook URL is shown without its userinfo and
query string (where tokens live), and ``user:password@`` in a webhook URL is sent
as HTTP Basic authentication, never as part of the request line. SMTP credentials
are only ever sent over TLS (STARTTLS, or implicit TLS on port 465) with the
server's certificate verified against the system CAs (or ``SSL_CERT_FILE``).
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import queue
import smtplib
import ssl
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from email.message import EmailMessage
from typing import Any

# re-exported: the settings live apart so that reading the configuration imports no SMTP nor TLS
from recorder_sync.adapters.alert_settings import IMPLICIT_TLS_PORTS as IMPLICIT_TLS_PORTS
from recorder_sync.adapters.alert_settings import AlertSettings as AlertSettings
from recorder_sync.domain.errors import ConfigError
from recorder_sync.domain.model import Severity
from recorder_sync.domain.redact import redact, redact_url

log = logging.getLogger(__name__)
_RANK = list(Severity)
# What a failed delivery can raise; anything else is a bug and ends in the log with a trace.
_DELIVERY_ERRORS = (OSError, smtplib.SMTPException, http.client.HTTPException, ValueError)


Channel = Callable[[Mapping[str, Any]], None]


class _EveryStatus(urllib.request.HTTPErrorProcessor):
    """Hands every answer back as it is, a 3xx included, instead of following redirects.

    urllib would follow a 301/302/303 to any host as a GET: the alert's body left behind,
    the Basic credentials sent along, and the delivery counted as done.
    """

    def http_response(self, request: urllib.request.Request, response: Any) -> Any:
        return response

    https_response = http_response


_OPENER = urllib.request.build_opener(_EveryStatus)


class WebhookChannel:
    def __init__(self, url: str, timeout: float) -> None:
        parts = urllib.parse.urlsplit(url)
        self.headers = {"Content-Type": "application/json; charset=utf-8"}
        if "@" in parts.netloc:
            userinfo, _, host = parts.netloc.rpartition("@")
            user, _, password = userinfo.partition(":")
            pair = f"{urllib.parse.unquote(user)}:{urllib.parse.unquote(password)}".encode()
            self.headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
            parts = parts._replace(netloc=host)
        self.url = urllib.parse.urlunsplit(parts)
        self.shown = redact_url(url)
        self.timeout = timeout

    def __call__(self, alert: Mapping[str, Any]) -> None:
        body = json.dumps(alert, ensure_ascii=False, sort_keys=True).encode("utf-8")
        req = urllib.request.Request(self.url, data=body, method="POST", headers=self.headers)
        with _OPENER.open(req, timeout=self.timeout) as resp:
            if 300 <= resp.status < 400:
                raise OSError(f"webhook {self.shown} answered {resp.status}: redirects are not followed")
            if resp.status >= 400:
                raise OSError(f"webhook {self.shown} answered {resp.status}")

    def __repr__(self) -> str:
        return f"webhook {self.shown}"


class SmtpChannel:
    def __init__(self, settings: AlertSettings) -> None:
        assert settings.smtp_host
        self.s = settings
        self.implicit_tls = (
            settings.smtp_port in IMPLICIT_TLS_PORTS
            if settings.smtp_implicit_tls is None
            else settings.smtp_implicit_tls
        )
        credentials = settings.smtp_user or settings.smtp_password
        if credentials and not (self.implicit_tls or settings.smtp_starttls):
            raise ConfigError(
                "alerts",
                "smtp_starttls",
                "refusing SMTP AUTH without TLS: the password would be sent in clear",
            )

    def __call__(self, alert: Mapping[str, Any]) -> None:
        msg = EmailMessage()
        msg["From"] = self.s.smtp_from
        msg["To"] = ", ".join(self.s.smtp_to)
        msg["Subject"] = (
            f"[recorder-sync] {alert.get('severity', '')} {alert.get('kind', '')}: {alert.get('subject', '')}"
        )
        lines = [f"{k}: {alert[k]}" for k in ("change", "kind", "severity", "subject", "due") if k in alert]
        lines += ["", str(alert.get("detail", ""))]
        msg.set_content("\n".join(lines))
        assert self.s.smtp_host is not None
        # smtplib's own default context checks no certificate; a man in the middle would
        # then get the password despite TLS.
        tls = ssl.create_default_context()
        smtp = (
            smtplib.SMTP_SSL(self.s.smtp_host, self.s.smtp_port, timeout=self.s.timeout, context=tls)
            if self.implicit_tls
            else smtplib.SMTP(self.s.smtp_host, self.s.smtp_port, timeout=self.s.timeout)
        )
        with smtp:
            if self.s.smtp_starttls and not self.implicit_tls:
                smtp.starttls(context=tls)
            if self.s.smtp_user and self.s.smtp_password:
                smtp.login(self.s.smtp_user, self.s.smtp_password)
            smtp.send_message(msg)

    def __repr__(self) -> str:
        return f"smtp {self.s.smtp_host}:{self.s.smtp_port}"


def log_channel(alert: Mapping[str, Any]) -> None:
    """The journal: one WARNING line per alert (systemd keeps it)."""
    log.warning(
        "ALERT %s %s %s: %s",
        alert.get("change"),
        alert.get("severity"),
        alert.get("kind"),
        alert.get("detail"),
    )


class _Lane:
    """One channel's own queue and thread: a receiver that hangs holds up only itself."""

    def __init__(self, channel: Channel, size: int) -> None:
        self.channel = channel
        self.queue: queue.Queue[Mapping[str, Any] | None] = queue.Queue(maxsize=size)
        self.thread: threading.Thread | None = None


class AlertDispatcher:
    """Callable sink: ``dispatcher(alert)`` queues and returns at once.

    Each channel has its own bounded queue and thread, so a webhook that hangs (or answers
    a byte at a time, which no socket timeout ends) never delays the e-mail, nor another
    webhook: a single thread for all channels waited on it for each alert in turn."""

    def __init__(
        self,
        settings: AlertSettings,
        channels: Sequence[Channel] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        if channels is None:
            built: list[Channel] = [WebhookChannel(u, settings.timeout) for u in settings.webhooks]
            if settings.smtp_host and settings.smtp_to:
                built.append(SmtpChannel(settings))
            channels = built
        self.channels = list(channels)
        self._sleep = sleep
        self._lanes = [_Lane(c, settings.queue_size) for c in self.channels]
        self._lock = threading.Lock()
        self.delivered = 0
        self.failed = 0
        self.dropped = 0

    def wants(self, alert: Mapping[str, Any]) -> bool:
        try:
            severity = Severity(str(alert.get("severity")))
        except ValueError:
            return True
        return _RANK.index(severity) >= _RANK.index(self.settings.min_severity)

    def __call__(self, alert: Mapping[str, Any]) -> None:
        if not self.wants(alert):
            return
        log_channel(alert)
        for lane in self._lanes:
            self._start(lane)
            try:
                lane.queue.put_nowait(dict(alert))
            except queue.Full:
                self._count("dropped")
                log.error(
                    "alert queue of %r full (%d): dropped alert %s %s",
                    lane.channel,
                    self.settings.queue_size,
                    alert.get("kind"),
                    alert.get("subject"),
                )

    def _count(self, what: str) -> None:
        with self._lock:  # the lanes' threads count at once
            setattr(self, what, getattr(self, what) + 1)

    def _start(self, lane: _Lane) -> None:
        with self._lock:
            if lane.thread is None or not lane.thread.is_alive():
                lane.thread = threading.Thread(target=self._run, args=(lane,), name="alerts", daemon=True)
                lane.thread.start()

    def _run(self, lane: _Lane) -> None:
        while True:
            alert = lane.queue.get()
            try:
                if alert is None:
                    return
                self._send(lane.channel, alert)
            finally:
                lane.queue.task_done()

    def _send(self, channel: Channel, alert: Mapping[str, Any]) -> None:
        delay = self.settings.backoff
        for attempt in range(1, self.settings.attempts + 1):
            try:
                channel(alert)
                self._count("delivered")
                return
            except _DELIVERY_ERRORS as e:
                # The error's text may quote the URL (an invalid one, say): redact it too.
                log.warning(
                    "alert to %r failed (attempt %d of %d): %s",
                    channel,
                    attempt,
                    self.settings.attempts,
                    redact(str(e)),
                )
                if attempt < self.settings.attempts:
                    self._sleep(delay)
                    delay *= 2
        self._count("failed")
        log.error("alert to %r given up after %d attempts", channel, self.settings.attempts)

    def queued(self) -> int:
        """Alerts accepted and not yet sent, summed over the channels (for the metrics)."""
        return sum(lane.queue.unfinished_tasks for lane in self._lanes)

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every queue is empty (for one-shot commands and tests)."""
        deadline = time.monotonic() + timeout
        while self.queued() and time.monotonic() < deadline:
            time.sleep(0.02)
        return not self.queued()

    def close(self, timeout: float = 30.0) -> None:
        self.flush(timeout)
        for lane in self._lanes:
            if lane.thread is not None and lane.thread.is_alive():
                try:
                    lane.queue.put_nowait(None)
                except queue.Full:
                    # its receiver still holds the thread (a daemon one): waiting for room
                    # in the queue would hold the station's shutdown with it
                    log.error(
                        "alerts to %r not all sent at shutdown: its receiver does not answer", lane.channel
                    )
                    continue
                lane.thread.join(timeout)
