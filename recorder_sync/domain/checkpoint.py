"""Signed checkpoints of the custody log, in the C2SP formats any tlog tool reads.

A checkpoint (C2SP ``tlog-checkpoint``) is three lines: the log's origin, its size in
leaves, and the base64 of its RFC 9162 root.  It travels as a C2SP ``signed-note``: the
text, a blank line, then one line per signature, ``— <key name> <base64(key id || sig)>``,
where the key id is the first four bytes of ``SHA-256(name || 0x0A || 0x01 || public key)``
for an Ed25519 key.  A verifier key is written ``<name>+<key id hex>+<base64(0x01 || key)>``,
the form Go's ``sumdb/note``, transparency-dev and the C2SP witnesses use.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from recorder_sync.domain import merkle
from recorder_sync.domain.errors import SignatureInvalid
from recorder_sync.domain.merkle import HASH_SIZE

ALG_ED25519 = 0x01
_DASH = "— "  # an em dash and a space open every signature line
_MAX_SIGNATURES = 100
_SIZE = re.compile(r"0|[1-9][0-9]{0,19}")


def _malformed(why: str) -> SignatureInvalid:
    return SignatureInvalid("signed note", f"malformed: {why}")


def _check_name(name: str) -> None:
    if not name or "+" in name or any(c.isspace() for c in name):
        raise _malformed(f"key name {name!r} is empty or holds '+' or white space")


@dataclass(frozen=True)
class NoteKey:
    """An Ed25519 verifier key with its name: who may sign which notes."""

    name: str
    public_raw: bytes = field(repr=False)

    def __post_init__(self) -> None:
        _check_name(self.name)
        if len(self.public_raw) != 32:
            raise _malformed("an Ed25519 public key is 32 bytes")

    @property
    def key_id(self) -> bytes:
        return hashlib.sha256(self.name.encode() + b"\n" + bytes([ALG_ED25519]) + self.public_raw).digest()[
            :4
        ]

    @property
    def vkey(self) -> str:
        material = base64.b64encode(bytes([ALG_ED25519]) + self.public_raw).decode()
        return f"{self.name}+{self.key_id.hex()}+{material}"

    @classmethod
    def parse(cls, vkey: str) -> NoteKey:
        name, _, rest = vkey.partition("+")
        key_hash, _, material = rest.partition("+")
        try:
            raw = base64.b64decode(material, validate=True)
        except binascii.Error as e:
            raise _malformed(f"verifier key {vkey!r}: {e}") from None
        if len(key_hash) != 8 or not raw or raw[0] != ALG_ED25519:
            raise _malformed(f"verifier key {vkey!r} is not an Ed25519 key in name+id+key form")
        key = cls(name, raw[1:])
        if key.key_id.hex() != key_hash.lower():
            raise _malformed(f"verifier key {vkey!r}: its id does not match its name and key")
        return key

    def verify(self, text: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_raw).verify(signature, text)
        except InvalidSignature:
            return False
        return True


def _check_text(text: bytes) -> str:
    try:
        s = text.decode("utf-8")
    except UnicodeDecodeError:
        raise _malformed("the text is not UTF-8") from None
    if not s.endswith("\n") or any(ord(c) < 0x20 and c != "\n" for c in s):
        raise _malformed("the text must end in a newline and hold no other control character")
    return s


def sign_note(text: bytes, key: NoteKey, sign: Callable[[bytes], bytes]) -> bytes:
    """The signed note of ``text``; ``sign`` is the private half of ``key``."""
    _check_text(text)
    signature = sign(text)
    if not key.verify(text, signature):
        raise SignatureInvalid(key.name, "the signer does not hold this verifier key's private key")
    line = f"{_DASH}{key.name} {base64.b64encode(key.key_id + signature).decode()}\n"
    return text + b"\n" + line.encode()


def cosign(note: bytes, key: NoteKey, sign: Callable[[bytes], bytes]) -> bytes:
    """``note`` with one more signature line, by ``key``, over the same text."""
    text, _ = _split(note)
    return note + sign_note(text, key, sign)[len(text) + 1 :]


def _split(note: bytes) -> tuple[bytes, list[tuple[str, bytes, bytes]]]:
    at = note.rfind(b"\n\n")
    if at < 0:
        raise _malformed("no blank line before the signatures")
    text, block = note[: at + 1], note[at + 2 :]
    _check_text(text)
    try:
        lines = block.decode("utf-8")
    except UnicodeDecodeError:
        raise _malformed("a signature line is not UTF-8") from None
    if not lines.endswith("\n"):
        raise _malformed("the signatures must end in a newline")
    sigs: list[tuple[str, bytes, bytes]] = []
    for line in lines[:-1].split("\n"):
        if not line.startswith(_DASH):
            raise _malformed(f"signature line {line!r} does not start with '— '")
        name, _, b64 = line[len(_DASH) :].partition(" ")
        _check_name(name)
        try:
            blob = base64.b64decode(b64, validate=True)
        except binascii.Error:
            raise _malformed(f"the signature of {name!r} is not base64") from None
        if len(blob) < 5:
            raise _malformed(f"the signature of {name!r} is too short")
        sigs.append((name, blob[:4], blob[4:]))
    if len(sigs) > _MAX_SIGNATURES:
        raise _malformed(f"more than {_MAX_SIGNATURES} signatures")
    return text, sigs


def open_note(note: bytes, keys: Iterable[NoteKey]) -> tuple[bytes, tuple[NoteKey, ...]]:
    """The text of ``note`` and the trusted keys that signed it.

    Signatures by keys we do not know are ignored, as the format asks; a signature by a
    known key that does not verify, or a note no known key signed, is refused."""
    text, sigs = _split(note)
    known = {(k.name, k.key_id): k for k in keys}
    signed: list[NoteKey] = []
    for name, key_id, signature in sigs:
        key = known.get((name, key_id))
        if key is None:
            continue
        if not key.verify(text, signature):
            raise SignatureInvalid(f"signed note by {name}", "signature does not match the text")
        if key not in signed:
            signed.append(key)
    if not signed:
        names = ", ".join(sorted({n for n, _, _ in sigs})) or "nobody"
        raise SignatureInvalid("signed note", f"signed by {names}, none of them a trusted key")
    return text, tuple(signed)


@dataclass(frozen=True)
class Checkpoint:
    """A log's size and root as its origin states them (C2SP tlog-checkpoint)."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def text(self) -> bytes:
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode(), *self.extensions]
        return ("\n".join(lines) + "\n").encode()

    @classmethod
    def parse(cls, text: bytes) -> Checkpoint:
        lines = _check_text(text)[:-1].split("\n")
        if len(lines) < 3:
            raise _malformed("a checkpoint has an origin, a size and a root hash")
        origin, size, root_b64, *extensions = lines
        if not origin or not _SIZE.fullmatch(size):
            raise _malformed(f"origin {origin!r} or size {size!r} is not valid")
        try:
            root = base64.b64decode(root_b64, validate=True)
        except binascii.Error:
            root = b""
        if len(root) != HASH_SIZE or base64.b64encode(root).decode() != root_b64:
            raise _malformed(f"root hash {root_b64!r} is not the base64 of {HASH_SIZE} bytes")
        if any(not e for e in extensions):
            raise _malformed("an empty extension line")
        return cls(origin, int(size), root, tuple(extensions))


def open_checkpoint(note: bytes, log_keys: Iterable[NoteKey]) -> Checkpoint:
    """The checkpoint in ``note``, signed by a trusted key named after its origin."""
    keys = tuple(log_keys)
    text, signers = open_note(note, keys)
    checkpoint = Checkpoint.parse(text)
    if not any(k.name == checkpoint.origin for k in signers):
        raise SignatureInvalid(
            f"checkpoint of {checkpoint.origin}", "not signed by a trusted key of that origin"
        )
    return checkpoint


PROOF_HEADER = "c2sp.org/tlog-proof@v1"


@dataclass(frozen=True)
class TlogProof:
    """A C2SP ``tlog-proof``: one entry's index and inclusion path, and the signed checkpoint
    they lead to, verifiable offline with the log's public key alone."""

    index: int
    path: tuple[bytes, ...]
    checkpoint_note: bytes
    extra: bytes | None = None

    def encode(self) -> bytes:
        lines = [PROOF_HEADER]
        if self.extra is not None:
            lines.append("extra " + base64.b64encode(self.extra).decode())
        lines.append(f"index {self.index}")
        lines += [base64.b64encode(h).decode() for h in self.path]
        return ("\n".join(lines) + "\n\n").encode() + self.checkpoint_note

    @classmethod
    def parse(cls, data: bytes) -> TlogProof:
        head, sep, note = data.partition(b"\n\n")
        try:
            lines = head.decode("ascii").split("\n")
        except UnicodeDecodeError:
            raise _malformed("a tlog-proof's header is ASCII") from None
        if not sep or lines[0] != PROOF_HEADER:
            raise _malformed(f"a tlog-proof starts with {PROOF_HEADER!r} and a blank line ends its path")
        rest = lines[1:]
        extra = None
        try:
            if rest and rest[0].startswith("extra "):
                extra = base64.b64decode(rest.pop(0)[6:], validate=True)
            if not rest or not rest[0].startswith("index ") or not _SIZE.fullmatch(rest[0][6:]):
                raise _malformed("no 'index N' line")
            path = tuple(base64.b64decode(h, validate=True) for h in rest[1:])
        except binascii.Error:
            raise _malformed("a tlog-proof line is not base64") from None
        if any(len(h) != HASH_SIZE for h in path):
            raise _malformed(f"a proof hash is not {HASH_SIZE} bytes")
        return cls(int(rest[0][6:]), path, note, extra)

    def verify(self, leaf_hash: bytes, log_keys: Iterable[NoteKey]) -> Checkpoint:
        """The checkpoint, once it is signed by a trusted log key and includes ``leaf_hash``."""
        checkpoint = open_checkpoint(self.checkpoint_note, log_keys)
        merkle.verify_inclusion(leaf_hash, self.index, checkpoint.size, self.path, checkpoint.root)
        return checkpoint
