"""Whether the evidence store answers, cheaply enough for a load balancer's check every few
seconds: the vault folder is there and writable; an S3 endpoint answers HTTP at all (any
status, even 403: the server is up; credentials and the bucket are the daemon's business and
show in its flags and metrics). Only the standard library: ``health`` imports no S3 client."""

from __future__ import annotations

import os
import ssl
import urllib.error
import urllib.request
from pathlib import Path

TIMEOUT = 5.0


def vault_problem(path: Path) -> str | None:
    if not path.is_dir():
        return f"{path}: the vault folder does not exist"
    if not os.access(path, os.R_OK | os.W_OK | os.X_OK):
        return f"{path}: the vault folder is not readable and writable by this user"
    return None


def s3_problem(endpoint: str, ca_bundle: str | None = None, timeout: float = TIMEOUT) -> str | None:
    context = ssl.create_default_context(cafile=ca_bundle) if endpoint.startswith("https:") else None
    request = urllib.request.Request(endpoint.rstrip("/") + "/", method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context):
            return None
    except urllib.error.HTTPError:
        return None  # an answer, whatever it says
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        return f"{endpoint}: {reason}"
