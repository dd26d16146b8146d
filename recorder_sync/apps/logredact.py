"""Log output with every URL's userinfo and query string replaced by ``***``.

Applied to the handlers the CLI installs, so it covers every log line, ours and the
libraries' (urllib3, botocore, alembic), including exception traces: a token in a
webhook URL or a password in a database URL never reaches the journal.
"""

from __future__ import annotations

import logging

from recorder_sync.domain.redact import redact


class RedactingFormatter(logging.Formatter):
    def __init__(self, inner: logging.Formatter | None = None) -> None:
        super().__init__()
        self.inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        return redact(self.inner.format(record))


def redact_handlers(logger: logging.Logger | None = None) -> None:
    """Wrap the formatter of each handler of ``logger`` (default: the root logger)."""
    for handler in (logger or logging.getLogger()).handlers:
        if not isinstance(handler.formatter, RedactingFormatter):
            handler.setFormatter(RedactingFormatter(handler.formatter))
