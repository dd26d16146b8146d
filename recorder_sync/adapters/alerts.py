"""Alert delivery: the log (journal), webhooks (JSON POST) and e-mail (SMTP).

Delivery never blocks the caller: ``AlertDispatcher.submit`` puts the alert on a
bounded queue served by one background thread, which retries each channel with
exponential backoff.  When the queue is full the alert is dropped with an error in
the log (the flag itself is in the database either way: alerts are a courtesy,
the flags table is the record).
"""

from __future__ import annotations

import json
import logging
import queue
import smtplib
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from recorder_sync.domain.model import Severity

log = logging.getLogger(__name__)
_RANK = list(Severity)


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
    min_severity: Severity = Severity.MEDIUM
    timeout: float = 10.0
    attempts: int = 5
    backoff: float = 1.0  # seconds before the 2nd attempt; doubles each time
    queue_size: int = 1000


Channel = Callable[[Mapping[str, Any]], None]


class WebhookChannel:
    def __init__(self, url: str, timeout: float) -> None:
        self.url = url
        self.timeout = timeout

    def __call__(self, alert: Mapping[str, Any]) -> None:
        body = json.dumps(alert, ensure_ascii=False, sort_keys=True).encode("utf-8")
        req = urllib.request.Request(
            self.url, data=body, method="POST", headers={"Content-Type": "application/json; charset=utf-8"}
        )
        with urllib.request.urlopen(req, timeout=self.timeout) as resp:
            if resp.status >= 300:
                raise OSError(f"webhook {self.url} answered {resp.status}")

    def __repr__(self) -> str:
        return f"webhook {self.url}"


class SmtpChannel:
    def __init__(self, settings: AlertSettings) -> None:
        assert settings.smtp_host
        self.s = settings

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
        with smtplib.SMTP(self.s.smtp_host, self.s.smtp_port, timeout=self.s.timeout) as smtp:
            if self.s.smtp_starttls:
                smtp.starttls()
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


class AlertDispatcher:
    """Callable sink: ``dispatcher(alert)`` queues and returns at once."""

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
        self._queue: queue.Queue[Mapping[str, Any] | None] = queue.Queue(maxsize=settings.queue_size)
        self._thread: threading.Thread | None = None
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
        if not self.channels:
            return
        self._start()
        try:
            self._queue.put_nowait(dict(alert))
        except queue.Full:
            self.dropped += 1
            log.error(
                "alert queue full (%d): dropped alert %s %s",
                self.settings.queue_size,
                alert.get("kind"),
                alert.get("subject"),
            )

    def _start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="alerts", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            alert = self._queue.get()
            try:
                if alert is None:
                    return
                for channel in self.channels:
                    self._send(channel, alert)
            finally:
                self._queue.task_done()

    def _send(self, channel: Channel, alert: Mapping[str, Any]) -> None:
        delay = self.settings.backoff
        for attempt in range(1, self.settings.attempts + 1):
            try:
                channel(alert)
                self.delivered += 1
                return
            except (OSError, smtplib.SMTPException, urllib.error.URLError) as e:
                log.warning(
                    "alert to %r failed (attempt %d of %d): %s", channel, attempt, self.settings.attempts, e
                )
                if attempt < self.settings.attempts:
                    self._sleep(delay)
                    delay *= 2
        self.failed += 1
        log.error("alert to %r given up after %d attempts", channel, self.settings.attempts)

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until the queue is empty (for one-shot commands and tests)."""
        if self._thread is None:
            return True
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.02)
        return not self._queue.unfinished_tasks

    def close(self, timeout: float = 30.0) -> None:
        if self._thread is not None and self._thread.is_alive():
            self.flush(timeout)
            self._queue.put(None)
            self._thread.join(timeout)
