"""Alert delivery against real receivers: an HTTP server and an SMTP server (aiosmtpd)
on 127.0.0.1, started by the tests."""

from __future__ import annotations

import base64
import json
import logging
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from recorder_sync.adapters.alerts import AlertDispatcher, AlertSettings
from recorder_sync.apps.logredact import RedactingFormatter
from recorder_sync.domain.errors import ConfigError
from recorder_sync.domain.model import Severity

ALERT = {
    "change": "raised",
    "kind": "footage-missing",
    "severity": "high",
    "subject": "action:A4:officer:002",
    "detail": "Seizure of property (查封) A4 …: full recording required, no footage linked for officer 002",
    "due": "2026-11-28T04:05:00+00:00",
}


class HttpServer:
    """A real HTTP server on 127.0.0.1, serving ``handler`` from a thread of its own."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()  # joins the request threads
        self.thread.join()


class Receiver:
    def __init__(self, fail_first: int = 0, hold: bool = False) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str | None]] = []  # path with query, Authorization header
        self.fail_first = fail_first
        self.calls = 0
        self.answered = 0
        self.arrived = threading.Event()  # a request is in
        self.release = threading.Event()  # with ``hold``: answer only once this is set
        if not hold:
            self.release.set()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                outer.calls += 1
                outer.requests.append((self.path, self.headers.get("Authorization")))
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.arrived.set()
                # bounded, so that a sender that waits on us fails the test instead of hanging it
                outer.release.wait(30)
                outer.answered += 1
                if outer.calls <= outer.fail_first:
                    self.send_response(503)
                    self.end_headers()
                    return
                outer.bodies.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.http = HttpServer(Handler)
        self.url = f"http://127.0.0.1:{self.http.port}/hook"

    def close(self) -> None:
        self.http.close()


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
    # the receiver holds every request until the test lets it answer: the sender would be
    # stuck there if it sent inline
    slow = Receiver(hold=True)
    try:
        dispatcher = AlertDispatcher(
            AlertSettings(webhooks=(slow.url,), attempts=1, queue_size=3, min_severity=Severity.INFO)
        )
        dispatcher({**ALERT, "subject": "s0"})
        assert slow.arrived.wait(30)  # the sending thread is now held by the receiver
        for n in range(1, 10):
            dispatcher({**ALERT, "subject": f"s{n}"})
        # every call returned while the receiver had answered nothing: queued, not sent inline
        assert slow.answered == 0 and slow.calls == 1
        assert dispatcher.dropped == 6  # s1-s3 fill the queue (3); the other six are dropped
        slow.release.set()
        assert dispatcher.flush(20)
        dispatcher.close()
        assert [b["subject"] for b in slow.bodies] == ["s0", "s1", "s2", "s3"]
    finally:
        slow.release.set()
        slow.close()
    dead = AlertDispatcher(AlertSettings(webhooks=("http://127.0.0.1:9/none",), attempts=2, backoff=0.01))
    dead(ALERT)
    assert dead.flush(20)
    dead.close()
    assert dead.failed == 1 and dead.delivered == 0


def test_webhook_tokens_and_passwords_never_reach_the_log(caplog: pytest.LogCaptureFixture) -> None:
    receiver = Receiver(fail_first=1)
    port = receiver.http.port
    secret_url = f"http://alice:s3cr%40t@127.0.0.1:{port}/hook?token=TOPSECRET"
    caplog.set_level(logging.WARNING, logger="recorder_sync.adapters.alerts")
    try:
        dispatcher = AlertDispatcher(
            AlertSettings(
                webhooks=(secret_url, "http://127.0.0.1:9/dead?token=DEADSECRET"), attempts=2, backoff=0.01
            )
        )
        dispatcher(ALERT)
        assert dispatcher.flush(20)
        dispatcher.close()
    finally:
        receiver.close()
    # delivered as meant: token in the request, userinfo as Basic authentication
    assert receiver.bodies == [ALERT]
    basic = "Basic " + base64.b64encode(b"alice:s3cr@t").decode()
    assert receiver.requests == [("/hook?token=TOPSECRET", basic)] * 2
    lines = [r.getMessage() for r in caplog.records]
    assert any(f"webhook http://***@127.0.0.1:{port}/hook?***" in line and "503" in line for line in lines)
    assert any("given up" in line and "http://127.0.0.1:9/dead?***" in line for line in lines)
    for secret in ("TOPSECRET", "DEADSECRET", "s3cr", "alice"):
        assert not [line for line in lines if secret in line], secret


def test_every_log_line_of_the_cli_is_redacted_even_in_traces() -> None:
    formatter = RedactingFormatter(logging.Formatter("%(levelname)s %(message)s"))
    try:
        raise OSError("cannot reach https://u:hunter2@hooks.example/x?sig=abc")
    except OSError:
        record = logging.LogRecord(
            "urllib3", logging.ERROR, __file__, 1, "retrying %s", ("https://hooks.example/y?key=K1",), True
        )
        import sys

        record.exc_info = sys.exc_info()
    out = formatter.format(record)
    assert "retrying https://hooks.example/y?***" in out
    assert "OSError: cannot reach https://***@hooks.example/x?***" in out
    assert "hunter2" not in out and "sig=abc" not in out and "K1" not in out
    # our own storage URIs keep their version id: it is not a secret
    record = logging.LogRecord("rs", logging.INFO, __file__, 1, "stored s3://b/k?versionId=v1", (), None)
    assert formatter.format(record) == "INFO stored s3://b/k?versionId=v1"


def test_smtp_auth_without_tls_is_refused_before_connecting() -> None:
    with pytest.raises(ConfigError, match="refusing SMTP AUTH without TLS"):
        AlertDispatcher(
            AlertSettings(smtp_host="127.0.0.1", smtp_to=("d@example.org",), smtp_user="u", smtp_password="p")
        )


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made with the real openssl."""
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return d / "cert.pem", d / "key.pem"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # implicit: see below
@pytest.mark.parametrize("mode", ["starttls", "implicit"])
@pytest.mark.parametrize("trusted", [True, False], ids=["trusted", "untrusted"])
def test_smtp_auth_goes_only_over_verified_tls(
    certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, mode: str, trusted: bool
) -> None:
    cert, key = certificate
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    logins: list[tuple[bytes, bytes]] = []
    inbox = Inbox()

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        from aiosmtpd.smtp import AuthResult

        logins.append((data.login, data.password))
        return AuthResult(success=data.password == b"pw")

    port = free_port()
    # STARTTLS: the server offers AUTH only once TLS is up. Implicit: the server speaks
    # nothing but TLS (aiosmtpd does not notice that TLS itself, hence auth_require_tls off).
    tls: dict[str, Any] = (
        {"tls_context": server_tls, "require_starttls": True}
        if mode == "starttls"
        else {"ssl_context": server_tls, "auth_require_tls": False}
    )
    controller = Controller(
        inbox, hostname="127.0.0.1", port=port, auth_required=True, authenticator=authenticator, **tls
    )
    if trusted:
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    controller.start()
    try:
        dispatcher = AlertDispatcher(
            AlertSettings(
                smtp_host="127.0.0.1",
                smtp_port=port,
                smtp_to=("duty@example.org",),
                smtp_starttls=mode == "starttls",
                smtp_implicit_tls=mode == "implicit",
                smtp_user="rs",
                smtp_password="pw",
                attempts=1,
            )
        )
        dispatcher(ALERT)
        assert dispatcher.flush(20)
        dispatcher.close()
    finally:
        controller.stop()
    if trusted:
        assert logins == [(b"rs", b"pw")] and len(inbox.messages) == 1
        assert dispatcher.delivered == 1
    else:
        # a certificate we cannot verify could be a man in the middle: no password for it
        assert logins == [] and inbox.messages == [] and dispatcher.failed == 1


class Redirector:
    """A webhook that answers every POST with a redirect to ``target``."""

    def __init__(self, code: int, target: str) -> None:
        self.calls = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                outer.calls += 1
                self.rfile.read(int(self.headers["Content-Length"]))
                self.send_response(code)
                self.send_header("Location", target)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.http = HttpServer(Handler)
        self.port = self.http.port

    def close(self) -> None:
        self.http.close()


class Catcher:
    """Another host's server: records every request of any method, with its Authorization."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str | None]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                outer.requests.append((self.command, self.headers.get("Authorization")))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = do_HEAD = _any

            def log_message(self, *args: Any) -> None:
                pass

        self.http = HttpServer(Handler)
        self.port = self.http.port

    def close(self) -> None:
        self.http.close()


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_a_redirecting_webhook_is_a_failed_delivery_and_the_credentials_stay_home(
    code: int, caplog: pytest.LogCaptureFixture
) -> None:
    # A webhook that redirects elsewhere (another host: "localhost" is not "127.0.0.1") must
    # get neither the Basic credentials nor count as delivered: urllib would follow a 301/302/303
    # as a GET without the alert and with the Authorization header, and report success.
    catcher = Catcher()
    redirector = Redirector(code, f"http://localhost:{catcher.port}/steal")
    caplog.set_level(logging.WARNING, logger="recorder_sync.adapters.alerts")
    try:
        dispatcher = AlertDispatcher(
            AlertSettings(
                webhooks=(f"http://alice:s3cret@127.0.0.1:{redirector.port}/hook",), attempts=2, backoff=0.01
            )
        )
        dispatcher(ALERT)
        assert dispatcher.flush(20)
        dispatcher.close()
    finally:
        redirector.close()
        catcher.close()
    assert catcher.requests == []
    assert redirector.calls == 2
    assert dispatcher.delivered == 0 and dispatcher.failed == 1
    lines = [r.getMessage() for r in caplog.records]
    assert any(f"answered {code}" in line and "redirects are not followed" in line for line in lines)
    assert not any("s3cret" in line or "alice" in line for line in lines)


def test_a_hanging_webhook_delays_neither_the_email_nor_the_shutdown(
    smtp: tuple[Controller, Inbox], caplog: pytest.LogCaptureFixture
) -> None:
    # The webhook takes each request and never answers (until the test lets it): one thread
    # for all channels held every e-mail behind it, alert after alert.
    controller, inbox = smtp
    hung = Receiver(hold=True)
    try:
        dispatcher = AlertDispatcher(
            AlertSettings(
                webhooks=(hung.url,),
                smtp_host="127.0.0.1",
                smtp_port=controller.port,
                smtp_to=("duty@example.org",),
                timeout=120,  # longer than the test waits: only the webhook's own thread waits on it
                attempts=1,
                queue_size=2,
            )
        )
        for n in range(4):
            dispatcher({**ALERT, "subject": f"s{n}"})
            wait_for(lambda: len(inbox.messages) == n + 1, timeout=60)  # noqa: B023 (n is current)
        assert hung.answered == 0 and hung.calls == 1
        assert dispatcher.dropped == 1  # s0 held, s1-s2 queued, s3 dropped: the webhook's queue only
        # the webhook's queue is full and its thread held: closing neither waits for room
        # in it nor forever for the thread
        closer = threading.Thread(target=dispatcher.close, kwargs={"timeout": 0.2})
        closer.start()
        closer.join(60)
        assert not closer.is_alive()
        assert any("not all sent at shutdown" in r.getMessage() for r in caplog.records)
        hung.release.set()
        dispatcher.close()  # now it answers: the rest goes, and the thread ends
    finally:
        hung.release.set()
        hung.close()
    subjects = sorted(str(message_from_bytes(m)["Subject"]).rsplit(" ", 1)[-1] for m in inbox.messages)
    assert subjects == ["s0", "s1", "s2", "s3"]
    assert [b["subject"] for b in hung.bodies] == ["s0", "s1", "s2"]


def test_a_webhook_answering_an_endless_body_is_delivered_without_reading_it() -> None:
    # 2xx, then a body of "10 GiB" sent until the sender hangs up: the status is the answer,
    # the body is never read (reading it would hold the channel's thread, and its memory)
    hung_up = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Length", str(10 << 30))
            self.end_headers()
            try:
                while True:
                    self.wfile.write(b"x" * 65536)
            except OSError:
                hung_up.set()

        def log_message(self, *args: Any) -> None:
            pass

    http = HttpServer(Handler)
    try:
        dispatcher = AlertDispatcher(
            AlertSettings(webhooks=(f"http://127.0.0.1:{http.port}/hook",), attempts=1)
        )
        dispatcher(ALERT)
        assert dispatcher.flush(60)
        dispatcher.close()
        assert hung_up.wait(60)
    finally:
        http.close()
    assert dispatcher.delivered == 1 and dispatcher.failed == 0
