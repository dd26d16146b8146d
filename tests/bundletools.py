"""What a forger does to a bundle in the tests: change a byte, then recompute SHA256SUMS."""

from __future__ import annotations

import hashlib
from pathlib import Path

from recorder_sync.domain import bundle


def flip(path: Path, at: int = -1) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


def first(root: Path, pattern: str) -> Path:
    return sorted(root.glob(pattern))[0]


def resum(root: Path) -> None:
    """Recompute SHA256SUMS, as a forger would after a change."""
    digests = {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file() and p.name != "SHA256SUMS"
    }
    (root / "SHA256SUMS").write_bytes(bundle.sha256sums(digests))
