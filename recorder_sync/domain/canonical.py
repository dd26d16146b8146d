"""Canonical JSON (RFC 8785, JCS): the only way bytes that get signed or hashed are made.

Bytes are produced once, stored, and from then on only ever read back —
never re-serialized (a re-serialization could differ, and the signature with it).
"""

from __future__ import annotations

import json
from typing import Any

import rfc8785


def canonical_bytes(value: Any) -> bytes:
    data: bytes = rfc8785.dumps(value)
    return data


def parse(data: bytes) -> Any:
    return json.loads(data.decode("utf-8"))
