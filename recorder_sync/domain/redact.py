"""Take secrets out of URLs before they are shown: in log lines and error messages.

Webhook URLs carry tokens in their query strings, and any URL may carry
``user:password@``. Both are replaced by ``***``; scheme, host, port and path
stay, so the operator still sees which endpoint failed. Our own storage URIs
(``s3://bucket/key?versionId=…``, ``file://…``) carry no secret and are kept
whole: their version id is how an object is found again.
"""

from __future__ import annotations

import re

MASK = "***"
_KEEP_QUERY = frozenset({"s3", "file"})
# A scheme, "://", then everything up to a space, quote or angle bracket: the way URLs
# appear inside messages, reprs and tracebacks.
_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>]*")


def redact_url(url: str) -> str:
    """``url`` without its userinfo and query string (and fragment). Never raises."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority, tail = rest[:end], rest[end:]
    if "@" in authority:
        authority = f"{MASK}@{authority.rpartition('@')[2]}"
    if scheme.lower() not in _KEEP_QUERY:
        cut = min((i for i in (tail.find(c) for c in "?#") if i >= 0), default=-1)
        if cut >= 0:
            tail = f"{tail[:cut]}{tail[cut]}{MASK}"
    return f"{scheme}://{authority}{tail}"


def redact(text: str) -> str:
    """Every URL in ``text`` passed through ``redact_url``."""
    return _URL.sub(lambda m: redact_url(m.group(0)), text)
