"""Alert delivery against real receivers: an HTTP server and an SMTP server (aiosmtpd)
on 127.0.0.1, started by the tests."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from recorder_sync.adapters.alerts import AlertDispatcher, AlertSettings
from recorder_sync.domain.model import Severity

ALERT = {
    "change": "raised",
    "kind": "footage-missing",
    "severity": "high",
    "subject": "action:A4:officer:002",
    "detail": "Seizure of property (查封) A4 …: full recording required, no footage linked for officer 002",
    "due": "2026-11-28T04:05:00+00:00",
}


class Receiver:
    def __init__(self, fail_first: int = 0, delay: float = 0.0) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.fail_first = fail_first
        self.delay = delay
        self.calls = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                outer.calls += 1
                body = self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(outer.delay)
                if outer.calls <= outer.fail_first:
                    self.send_response(503)
                    self.end_headers()
                    return
                outer.bodies.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(fail_first=2)
    yield r
    r.close()


class Inbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope.content)
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Controller, Inbox]]:
    inbox = Inbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield controller, inbox
    controller.stop()


def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_webhook_retried_and_email_delivered(receiver: Receiver, smtp: tuple[Controller, Inbox]) -> None:
    controller, inbox = smtp
    port = controller.port
    sleeps: list[float] = []
    dispatcher = AlertDispatcher(
        AlertSettings(
            webhooks=(receiver.url,),
            smtp_host="127.0.0.1",
            smtp_port=port,
            smtp_from="station@example.org",
            smtp_to=("duty@example.org",),
            attempts=4,
            backoff=0.01,
        ),
        sleep=lambda s: sleeps.append(s) or time.sleep(s),  # type: ignore[func-returns-value]
    )
    dispatcher(ALERT)
    dispatcher({**ALERT, "severity": "info", "kind": "below-threshold"})  # filtered out
    assert dispatcher.flush(20)
    dispatcher.close()
    assert receiver.bodies == [ALERT]
    assert receiver.calls == 3 and sleeps == [0.01, 0.02]  # two 503s, backoff doubling
    assert len(inbox.messages) == 1
    mail = message_from_bytes(inbox.messages[0])
    assert mail["To"] == "duty@example.org"
    assert "footage-missing" in mail["Subject"] and "action:A4:officer:002" in mail["Subject"]
    body = mail.get_payload(decode=True)
    assert isinstance(body, bytes) and "查封" in body.decode("utf-8")
    assert dispatcher.delivered == 2 and dispatcher.failed == 0


def test_a_slow_or_dead_receiver_never_blocks_and_the_queue_is_bounded() -> None:
    slow = Receiver(delay=0.5)
    try:
        dispatcher = AlertDispatcher(
            AlertSettings(webhooks=(slow.url,), attempts=1, queue_size=3, min_severity=Severity.INFO)
        )
        started = time.monotonic()
        for n in range(10):
            dispatcher({**ALERT, "subject": f"s{n}"})
        assert time.monotonic() - started < 0.3  # queued, not sent inline
        assert dispatcher.dropped >= 5
        assert dispatcher.flush(20)
        dispatcher.close()
        assert 1 <= len(slow.bodies) <= 5
    finally:
        slow.close()
    dead = AlertDispatcher(AlertSettings(webhooks=("http://127.0.0.1:9/none",), attempts=2, backoff=0.01))
    dead(ALERT)
    assert dead.flush(20)
    dead.close()
    assert dead.failed == 1 and dead.delivered == 0
