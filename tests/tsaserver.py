"""A real RFC 3161 time-stamping authority for the tests: OpenSSL's ``openssl ts -reply``
behind a small HTTP server, with its own CA and a timeStamping certificate.

The fixture makes the CA and the TSA's key and certificate, then runs this file as a
separate process (``python tsaserver.py DIR PORT``) that answers each POSTed
``application/timestamp-query`` with what ``openssl ts -reply`` makes of it.  Replies embed
only the signer's certificate (no ``certs`` chain in the configuration): rfc3161-client
refuses the unsorted certificate set OpenSSL writes for a chain.
"""

from __future__ import annotations

import datetime
import http.server
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

CONFIG = """\
[ tsa ]
default_tsa = tsa_config1

[ tsa_config1 ]
dir = {dir}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.crt
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.3.6.1.4.1.99999.1.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = no
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


@dataclass
class TsaServer:
    url: str
    root_pem: Path  # the CA certificate an auditor trusts
    folder: Path
    process: subprocess.Popen[bytes]
    port: int = 0

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)

    def restart(self) -> None:
        """The same authority (CA, key, serial file) back on the same port, after ``stop``."""
        self.process = _spawn(self.folder, self.port)


def make_ca_and_signer(folder: Path) -> None:
    """A CA and a TSA certificate signed by it (critical extendedKeyUsage timeStamping)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key, tsa_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "recorder-sync test TSA root")])
    tsa_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "recorder-sync test TSA")])

    def cert(subject: x509.Name, key: ec.EllipticCurvePrivateKey, ca: bool) -> x509.Certificate:
        b = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        )
        if ca:
            b = b.add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )
        else:
            b = b.add_extension(
                x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True
            ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        return b.sign(ca_key, hashes.SHA256())

    pem = serialization.Encoding.PEM
    (folder / "root.crt").write_bytes(cert(ca_name, ca_key, True).public_bytes(pem))
    (folder / "tsa.crt").write_bytes(cert(tsa_name, tsa_key, False).public_bytes(pem))
    (folder / "tsa.key").write_bytes(
        tsa_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    (folder / "serial").write_text("01\n")
    (folder / "tsa.cnf").write_text(CONFIG.format(dir=folder))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(folder: Path) -> TsaServer:
    make_ca_and_signer(folder)
    port = _free_port()
    process = _spawn(folder, port)
    return TsaServer(f"http://127.0.0.1:{port}/tsr", folder / "root.crt", folder, process, port)


def _spawn(folder: Path, port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen([sys.executable, __file__, str(folder), str(port)], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while True:  # wait until it listens (or has died)
        if process.poll() is not None:
            raise RuntimeError(
                f"the test TSA did not start: {process.stderr.read().decode() if process.stderr else ''}"
            )
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                break
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("the test TSA did not listen within 30 s")
        time.sleep(0.05)
    return process


@pytest.fixture(name="tsa_server")
def tsa_server_fixture() -> Iterator[TsaServer]:
    """A running TSA, its own per test (a test may stop it to play an outage)."""
    with tempfile.TemporaryDirectory(prefix="rs-tsa-") as d:
        server = start(Path(d))
        try:
            yield server
        finally:
            if server.process.poll() is None:
                server.stop()


def _serve(folder: Path, port: int) -> None:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            query = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with tempfile.TemporaryDirectory() as tmp:
                (Path(tmp) / "q.tsq").write_bytes(query)
                done = subprocess.run(
                    [
                        "openssl",
                        "ts",
                        "-reply",
                        "-config",
                        str(folder / "tsa.cnf"),
                        "-queryfile",
                        f"{tmp}/q.tsq",
                        "-out",
                        f"{tmp}/r.tsr",
                    ],
                    capture_output=True,
                    check=False,
                )
                if done.returncode != 0:
                    self.send_error(400, done.stderr.decode(errors="replace")[:200])
                    return
                reply = (Path(tmp) / "r.tsr").read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: object) -> None:
            pass

    http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    _serve(Path(sys.argv[1]), int(sys.argv[2]))
