#!/usr/bin/env python3
"""Check a recorder-sync evidence bundle: nothing but Python 3.11 and ``cryptography``.

Run it from inside the bundle (``python3 verify_bundle.py``) or give the bundle's folder
(``python3 verify_bundle.py DIR``).  It imports nothing of recorder-sync, opens no
database and no network: every check uses the bundle's own bytes, and the public keys in
``keys/`` and the TSA's certificates in ``timestamps/`` (compare their fingerprints, printed
below, with the ones the agency published).

The bundle (format ``recorder_sync.bundle/v1``):

  SHA256SUMS                 sha256sum format, over every other file
  case.json                  the case, its actions, links, flags, accesses; ``recordings``
                             lists every recording asked for, ``included`` false for a gap
  media/<sha256>.<ext>       the original files, byte for byte (``.sidecar`` beside when any)
  manifests/<sha256>.json    the exact signed manifest bytes, and .sig its 64-byte signature
  keys.json                  station keys (key id, station, PEM file, validity, revocation,
                             rotations) and the log key (origin, C2SP verifier key)
  keys/*.pem, keys/log.vkey  the public keys
  custody/events.jsonl       the custody events, one per line, exactly as stored
  custody/proofs/<seq>.tlog-proof   each event's C2SP tlog-proof to custody/checkpoint
  custody/checkpoint         the C2SP signed checkpoint the proofs lead to
  timestamps/checkpoint.tsr  when present: an RFC 3161 reply over custody/checkpoint, with
  timestamps/tsa-chain.pem   the TSA's certificates (checked here with ``openssl ts``)

Checks, in order: sums, keys, checkpoint, events, manifests, media, timestamp.  One line per
check, then a verdict.  Exit 0 when everything verifies, 3 naming the first check that did
not, 2 when the folder is not a bundle.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key
from cryptography.x509 import load_pem_x509_certificates

BUNDLE_TYPE = "recorder_sync.bundle/v1"
PROOF_HEADER = "c2sp.org/tlog-proof@v1"
SHA256 = re.compile(r"[0-9a-f]{64}")
CHUNK = 1 << 20


class Failed(Exception):
    """One check did not verify: ``str`` says what, naming the file or subject."""


# --- RFC 9162 Merkle tree (same hashing as recorder_sync.domain.merkle) -------------------


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """RFC 9162 §2.1.3.2, with the proof's length checked first."""
    if not 0 <= index < size:
        raise Failed(f"index {index} is not inside a tree of {size}")
    if any(len(h) != 32 for h in proof):
        raise Failed("a proof hash is not 32 bytes")
    inner = (index ^ (size - 1)).bit_length()
    length = inner + bin(index >> inner).count("1")
    if len(proof) != length:
        raise Failed(f"the proof has {len(proof)} hashes, not {length}")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise Failed(f"the inclusion path of leaf {index} is too short")
    if r != root:
        raise Failed(f"the inclusion path of leaf {index} does not lead to the checkpoint's root")


# --- C2SP signed notes and checkpoints ----------------------------------------------------


@dataclass(frozen=True)
class NoteKey:
    name: str
    raw: bytes = field(repr=False)

    @property
    def key_id(self) -> bytes:
        return hashlib.sha256(self.name.encode() + b"\n\x01" + self.raw).digest()[:4]

    @classmethod
    def parse(cls, vkey: str) -> NoteKey:
        name, _, rest = vkey.strip().partition("+")
        hex_id, _, b64 = rest.partition("+")
        try:
            blob = base64.b64decode(b64, validate=True)
        except binascii.Error:
            raise Failed(f"log key {vkey!r} is not a C2SP verifier key") from None
        if len(blob) != 33 or blob[0] != 1 or not name:
            raise Failed(f"log key {vkey!r} is not an Ed25519 C2SP verifier key")
        key = cls(name, blob[1:])
        if key.key_id.hex() != hex_id:
            raise Failed(f"log key {vkey!r}: its key id does not match the key")
        return key


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes


def open_checkpoint(note: bytes, key: NoteKey) -> Checkpoint:
    at = note.rfind(b"\n\n")
    if at < 0:
        raise Failed("the checkpoint is not a signed note (no blank line before the signatures)")
    text, block = note[: at + 1], note[at + 2 :]
    good = False
    for line in block.decode("utf-8", "replace").splitlines():
        name, _, b64 = line.removeprefix("— ").partition(" ")
        try:
            blob = base64.b64decode(b64, validate=True)
        except binascii.Error:
            raise Failed(f"signature line {line!r} is not base64") from None
        if name != key.name or blob[:4] != key.key_id:
            continue  # another signer (a witness): not ours to judge
        try:
            Ed25519PublicKey.from_public_bytes(key.raw).verify(blob[4:], text)
        except InvalidSignature:
            raise Failed(f"the signature by {key.name} does not match the checkpoint") from None
        good = True
    if not good:
        raise Failed(f"the checkpoint is not signed by the log key {key.name}")
    lines = text.decode("utf-8").split("\n")
    if len(lines) < 4 or not re.fullmatch(r"0|[1-9][0-9]*", lines[1]):
        raise Failed("the checkpoint text is not origin, size and root")
    try:
        root = base64.b64decode(lines[2], validate=True)
    except binascii.Error:
        root = b""
    if len(root) != 32:
        raise Failed("the checkpoint's root is not the base64 of 32 bytes")
    if lines[0] != key.name:
        raise Failed(f"the checkpoint's origin {lines[0]!r} is not the log key's name {key.name!r}")
    return Checkpoint(lines[0], int(lines[1]), root)


def parse_proof(data: bytes, where: str) -> tuple[int, list[bytes], bytes]:
    head, sep, note = data.partition(b"\n\n")
    lines = head.decode("ascii", "replace").split("\n")
    if not sep or lines[0] != PROOF_HEADER:
        raise Failed(f"{where} is not a {PROOF_HEADER}")
    rest = [x for x in lines[1:] if not x.startswith("extra ")]
    if not rest or not re.fullmatch(r"index (0|[1-9][0-9]*)", rest[0]):
        raise Failed(f"{where} has no 'index N' line")
    try:
        path = [base64.b64decode(h, validate=True) for h in rest[1:]]
    except binascii.Error:
        raise Failed(f"{where}: a proof line is not base64") from None
    return int(rest[0][6:]), path, note


# --- the bundle ---------------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def parse_time(text: str | None) -> datetime | None:
    if text is None:
        return None
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def station_key_id(public: Ed25519PublicKey) -> str:
    return "ed25519:" + hashlib.sha256(public.public_bytes(Encoding.Raw, PublicFormat.Raw)).hexdigest()[:16]


@dataclass
class StationKey:
    key_id: str
    public: Ed25519PublicKey
    valid_from: datetime | None
    valid_until: datetime | None
    revoked_at: datetime | None

    def window(self) -> str:
        shown = [f"valid from {self.valid_from.isoformat() if self.valid_from else 'any time'}"]
        shown.append(f"until {self.valid_until.isoformat()}" if self.valid_until else "with no end")
        if self.revoked_at:
            shown.append(f"revoked at {self.revoked_at.isoformat()}")
        return ", ".join(shown)

    def why_not_valid_at(self, at: datetime) -> str | None:
        if self.valid_from and at < self.valid_from:
            return f"signed at {at.isoformat()}, before key {self.key_id} was valid"
        if self.revoked_at and at >= self.revoked_at:
            return f"signed at {at.isoformat()}, after key {self.key_id} was revoked"
        if self.valid_until and at >= self.valid_until:
            return f"signed at {at.isoformat()}, after key {self.key_id} expired"
        return None


@dataclass
class Bundle:
    root: Path
    say: Callable[[str], None]
    station_keys: dict[str, StationKey] = field(default_factory=dict)
    log_key: NoteKey | None = None
    checkpoint: Checkpoint | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    manifests: dict[str, dict[str, Any]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def file(self, rel: str) -> Path:
        return self.root / rel

    def json(self, rel: str) -> Any:
        try:
            doc = json.loads(self.file(rel).read_bytes())
        except (OSError, ValueError, RecursionError) as e:
            raise Failed(f"{rel}: cannot read it as JSON ({type(e).__name__}: {e})") from None
        if not isinstance(doc, dict):
            raise Failed(f"{rel}: not a JSON object")
        return doc

    # each check: raises Failed, or says what it verified

    def check_sums(self) -> str:
        listed: dict[str, str] = {}
        try:
            text = self.file("SHA256SUMS").read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            raise Failed("SHA256SUMS is not UTF-8 text") from None
        for n, line in enumerate(text.splitlines(), 1):
            m = re.fullmatch(r"([0-9a-f]{64}) [ *](.+)", line)
            if not m:
                raise Failed(f"SHA256SUMS line {n} is not '<sha256>  <file>'")
            if m.group(2) in listed:  # sha256sum -c checks both lines; a dict would keep one
                raise Failed(f"SHA256SUMS names {m.group(2)} twice")
            listed[m.group(2)] = m.group(1)
        present = self._regular_files(listed)
        if missing := sorted(set(listed) - present):
            raise Failed(f"{missing[0]} is listed in SHA256SUMS but missing")
        if unlisted := sorted(present - set(listed)):
            raise Failed(f"{unlisted[0]} is in the bundle but not in SHA256SUMS")
        for rel, expected in sorted(listed.items()):
            if sha256_file(self.file(rel)) != expected:
                raise Failed(f"{rel}: its SHA-256 is not the one in SHA256SUMS")
        return f"{len(listed)} files match SHA256SUMS"

    def _regular_files(self, listed: dict[str, str]) -> set[str]:
        """Every file of the bundle but SHA256SUMS, once each holds only regular files and
        folders: a symbolic link reads bytes from outside the bundle, and a FIFO or a device
        (/dev/zero) would be read forever by the checks that follow."""
        for top in sorted(self.root.iterdir()):
            if (
                top.is_dir()
                and not top.is_symlink()
                and (top / "pyvenv.cfg").is_file()
                and not any(name.startswith(f"{top.name}/") for name in listed)
            ):  # README's step 5 run with the environment made here rather than beside
                raise Failed(
                    f"{top.name}/ is a Python virtual environment made inside the bundle folder, "
                    "not part of the bundle: make it outside (python3 -m venv ../v)"
                )
        present: set[str] = set()
        for folder, dirs, files in os.walk(self.root):
            for name in sorted(dirs + files):
                path = Path(folder, name)
                rel = str(path.relative_to(self.root))
                mode = path.lstat().st_mode
                if stat.S_ISDIR(mode):
                    continue
                if not stat.S_ISREG(mode):
                    raise Failed(f"{rel} is not a regular file (a link, FIFO or device): a bundle holds none")
                if rel != "SHA256SUMS":
                    present.add(rel)
        return present

    def check_keys(self) -> str:
        doc = self.json("keys.json")
        for entry in doc.get("station_keys", []):
            rel = entry["public_key"]
            try:
                public = load_pem_public_key(self.file(rel).read_bytes())
            except (OSError, ValueError) as e:
                raise Failed(f"{rel}: not a PEM public key ({e})") from None
            if not isinstance(public, Ed25519PublicKey):
                raise Failed(f"{rel}: not an Ed25519 key")
            if station_key_id(public) != entry["key_id"]:
                raise Failed(f"{rel}: its key id is {station_key_id(public)}, not {entry['key_id']}")
            if entry["key_id"] in self.station_keys:  # a dict would keep the last entry's window
                raise Failed(f"keys.json lists station key {entry['key_id']} twice")
            self.station_keys[entry["key_id"]] = StationKey(
                entry["key_id"],
                public,
                parse_time(entry.get("valid_from")),
                parse_time(entry.get("valid_until")),
                parse_time(entry.get("revoked_at")),
            )
        for entry in doc.get("station_keys", []):  # once all are loaded, in whatever order
            rotation = entry.get("rotation")
            if rotation:  # the new key's raw public bytes, signed by the key it replaced
                old = self.station_keys.get(rotation["previous_key_id"])
                if old is None:
                    raise Failed(f"key {entry['key_id']}: the key it replaced is not in keys.json")
                new = self.station_keys[entry["key_id"]].public.public_bytes(Encoding.Raw, PublicFormat.Raw)
                try:
                    old.public.verify(base64.b64decode(rotation["signature"]), new)
                except (InvalidSignature, binascii.Error):
                    raise Failed(f"key {entry['key_id']}: rotation not signed by {old.key_id}") from None
        log = doc.get("log_key")
        if not log:
            raise Failed("keys.json names no log key")
        self.log_key = NoteKey.parse(self.file(log["file"]).read_text("ascii"))
        for k, v in sorted(self.station_keys.items()):
            raw = v.public.public_bytes(Encoding.Raw, PublicFormat.Raw)
            self.say(f"      station key {k}  sha256:{hashlib.sha256(raw).hexdigest()}")
            # the window comes with the bundle too: compare it with the agency's as well
            self.say(f"        {v.window()}")
        self.say(f"      log key {self.log_key.name}+{self.log_key.key_id.hex()}")
        return f"{len(self.station_keys)} station key(s) and the log key load and match their ids"

    def check_checkpoint(self) -> str:
        assert self.log_key is not None
        self.checkpoint = open_checkpoint(self.file("custody/checkpoint").read_bytes(), self.log_key)
        cp = self.checkpoint
        return f"checkpoint of {cp.origin} at size {cp.size} is signed by the log key"

    def check_events(self) -> str:
        assert self.checkpoint is not None
        data = self.file("custody/events.jsonl").read_bytes()
        lines = data.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        for line in lines:
            try:
                event = json.loads(line)
                seq = int(event["seq"])
            except (ValueError, KeyError, TypeError):
                raise Failed(f"custody/events.jsonl: a line is not a custody event: {line[:80]!r}") from None
            where = f"custody event {seq}"
            rel = f"custody/proofs/{seq}.tlog-proof"
            if not self.file(rel).is_file():
                raise Failed(f"{where}: no inclusion proof ({rel})")
            index, path, note = parse_proof(self.file(rel).read_bytes(), rel)
            if note != self.file("custody/checkpoint").read_bytes():
                raise Failed(f"{where}: its proof leads to another checkpoint than custody/checkpoint")
            if index != seq - 1:
                raise Failed(f"{where}: its proof is for leaf {index}, not {seq - 1}")
            try:
                verify_inclusion(leaf_hash(line), index, self.checkpoint.size, path, self.checkpoint.root)
            except Failed as e:
                raise Failed(f"{where}: {e}") from None
            self.events.append(event)
        return f"{len(self.events)} custody events are in the signed log (inclusion proofs verify)"

    def check_manifests(self) -> str:
        signed_at: dict[str, tuple[datetime | None, str | None]] = {}
        for e in self.events:
            if e.get("action") == "signed" and e.get("recording_id"):
                details = e.get("details") or {}
                signed_at[e["recording_id"]] = (parse_time(e.get("at")), details.get("manifest_sha256"))
        for path in sorted(self.file("manifests").glob("*.json")):
            rel, sha = f"manifests/{path.name}", path.name.removesuffix(".json")
            body = path.read_bytes()
            try:
                doc = json.loads(body)
            except ValueError:
                raise Failed(f"{rel}: not JSON") from None
            if doc.get("sha256") != sha:
                raise Failed(f"{rel}: it is the manifest of {doc.get('sha256')}, not of {sha}")
            key = self.station_keys.get(doc.get("key_id", ""))
            if key is None:
                raise Failed(f"{rel}: signed by {doc.get('key_id')}, a key not in keys.json")
            try:
                key.public.verify(self.file(f"manifests/{sha}.sig").read_bytes(), body)
            except (InvalidSignature, OSError):
                raise Failed(f"{rel}: manifests/{sha}.sig does not verify with {key.key_id}") from None
            when, bound = signed_at.get(doc.get("recording_id", ""), (None, None))
            if bound is None:
                raise Failed(f"{rel}: no 'signed' custody event in the bundle binds it")
            if bound != hashlib.sha256(body).hexdigest():
                raise Failed(f"{rel}: the 'signed' custody event binds another manifest")
            if when is not None and (why := key.why_not_valid_at(when)):
                raise Failed(f"{rel}: {why}")
            self.manifests[sha] = doc
        for path in sorted(self.file("manifests").iterdir()):
            stem, dot, ext = path.name.rpartition(".")
            if not (dot and ext in ("json", "sig") and stem in self.manifests):
                raise Failed(f"manifests/{path.name}: not a manifest or its signature")
        return f"{len(self.manifests)} manifests are signed by their station key and bound by the log"

    def check_media(self) -> str:
        case = self.json("case.json")
        if not isinstance(case.get("recordings", []), list) or not all(
            isinstance(r, dict) for r in case.get("recordings", [])
        ):
            raise Failed("case.json: 'recordings' is not a list of recordings")
        recordings = {r.get("sha256"): r for r in case.get("recordings", [])}
        if orphans := sorted(self.manifests.keys() - recordings.keys()):
            raise Failed(f"manifests/{orphans[0]}.json is in the bundle but not in case.json")
        found, gaps, accounted = 0, [], set()
        for sha, rec in sorted(recordings.items()):
            if not rec.get("included", True):
                gaps.append(str(rec.get("id")))
                continue
            doc = self.manifests.get(str(sha))
            if doc is None:
                raise Failed(f"recording {rec.get('id')}: included, but manifests/{sha}.json is missing")
            files = [p for p in self.file("media").glob(f"{sha}.*") if not p.name.endswith(".sidecar")]
            if len(files) != 1:
                raise Failed(f"recording {rec.get('id')}: included, but media/{sha}.* is missing")
            if sha256_file(files[0]) != sha:
                raise Failed(f"media/{files[0].name}: its SHA-256 is not {sha}, the one its manifest signs")
            if files[0].stat().st_size != doc.get("size"):
                raise Failed(f"media/{files[0].name}: not the {doc.get('size')} bytes its manifest signs")
            accounted.add(files[0].name)
            sidecar = self.file(f"media/{sha}.sidecar")
            side_sha = doc.get("sidecar_sha256")
            if sidecar.exists():  # a sidecar only its manifest's hash vouches for
                if not side_sha:
                    raise Failed(f"media/{sha}.sidecar: its manifest signs no sidecar")
                if sha256_file(sidecar) != side_sha:
                    raise Failed(f"media/{sha}.sidecar: its SHA-256 is not the one its manifest signs")
                accounted.add(sidecar.name)
            elif rec.get("sidecar"):  # the bundle may leave a sidecar out, but then says so
                raise Failed(f"media/{sha}.sidecar is missing, while case.json lists it")
            found += 1
        for path in sorted(self.file("media").iterdir()) if self.file("media").is_dir() else ():
            if path.name not in accounted:
                raise Failed(f"media/{path.name}: no included recording of case.json has it")
        gap_text = f"; {len(gaps)} recording(s) of the case not included: {', '.join(gaps)}" if gaps else ""
        return f"{found} media files are the bytes their manifests sign{gap_text}"

    def check_timestamp(self) -> str:
        token = self.file("timestamps/checkpoint.tsr")
        if not token.exists():
            return "no time-stamp token in this bundle (no TSA was configured)"
        openssl = shutil.which("openssl")
        if openssl is None:
            raise Failed("timestamps/checkpoint.tsr is present, but openssl (which checks it) is not")
        done = subprocess.run(
            [openssl, "ts", "-verify", "-data", "custody/checkpoint", "-in", "timestamps/checkpoint.tsr",
             "-CAfile", "timestamps/tsa-chain.pem"],
            cwd=self.root, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0 or "Verification: OK" not in done.stdout:
            said = (done.stdout + done.stderr).strip()[:200]
            raise Failed(f"timestamps/checkpoint.tsr does not verify: {said}")
        # the chain comes with the bundle, so anyone can make one that verifies: it proves
        # the time only once its certificates are the TSA's the agency published
        try:
            chain = load_pem_x509_certificates(self.file("timestamps/tsa-chain.pem").read_bytes())
        except ValueError as e:
            raise Failed(f"timestamps/tsa-chain.pem: not PEM certificates ({e})") from None
        for cert in chain:
            fingerprint = hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()
            self.say(f"      TSA certificate {cert.subject.rfc4514_string()}  sha256:{fingerprint}")
        return "the RFC 3161 token over custody/checkpoint verifies (openssl ts -verify)"


CHECKS = ("sums", "keys", "checkpoint", "events", "manifests", "media", "timestamp")
# what each check reads, to name it when its content is not what the format says
READS = {
    "sums": "SHA256SUMS",
    "keys": "keys.json or a key file",
    "checkpoint": "custody/checkpoint",
    "events": "custody/events.jsonl or a proof",
    "manifests": "a manifest",
    "media": "case.json",
    "timestamp": "timestamps/",
}


def printable(text: str) -> str:
    """A line for a terminal: a file name in a forged bundle may hold escape sequences (hide
    what follows, move the cursor) or a carriage return, to fake or hide the verdict; they
    are shown escaped.  (recorder_sync.domain.untrusted.escape, which this file cannot import.)"""
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


def verify(root: Path, say: Callable[[str], None] = print) -> int:
    """Run every check in order; 0 when all verify, 3 at the first that does not."""
    shown = say
    say = lambda line: shown(printable(line))  # noqa: E731
    if not (root / "SHA256SUMS").is_file() or not (root / "case.json").is_file():
        say(f"{root}: not an evidence bundle (no SHA256SUMS or case.json)")
        return 2
    bundle = Bundle(root, say)
    for name in CHECKS:
        try:
            said = getattr(bundle, f"check_{name}")()
        except Failed as e:
            say(f"FAIL  {name}: {e}")
            say(f"verdict: NOT VERIFIED (first failing check: {name})")
            return 3
        except OSError as e:
            say(f"FAIL  {name}: {e.filename or ''} {e.strerror or e}")
            say(f"verdict: NOT VERIFIED (first failing check: {name})")
            return 3
        except (KeyError, TypeError, AttributeError, ValueError, RecursionError) as e:
            # a forged or damaged file of the wrong shape: a failed check, never a traceback
            say(f"FAIL  {name}: {READS[name]} is malformed ({type(e).__name__}: {e})")
            say(f"verdict: NOT VERIFIED (first failing check: {name})")
            return 3
        say(f"ok    {name}: {said}")
    say("verdict: VERIFIED")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    root = Path(args[0]) if args else Path(os.path.dirname(os.path.abspath(__file__)))
    return verify(root.resolve())


if __name__ == "__main__":
    sys.exit(main())
