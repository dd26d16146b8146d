"""One error root for the whole product.

The class docstring is the message template; the class owns its exit code; only
``apps.cli.main`` turns exceptions into exit codes.  Two families must never be
confused: *verification failed* (the evidence is not what it should be) and
*could not check* (storage, database or file unavailable).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


class Error(Exception):
    """Error: {}"""

    exit_code = 2

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.args = args

    def get_message(self) -> str:
        return (type(self).__doc__ or "{}").format(*self.args)

    def __str__(self) -> str:
        return self.get_message()


# --- usage and configuration -------------------------------------------------


class UsageError(Error):
    """{}"""

    exit_code = 2


class ConfigError(Error):
    """Configuration error in {}: key '{}': {}"""

    exit_code = 2


class NotFound(Error):
    """Not found: {}"""

    exit_code = 6


class ImportRejected(Error):
    """Import of {} rejected, nothing imported; {} problem(s):\n{}"""

    exit_code = 2

    @dataclass(frozen=True)
    class Problem:
        """One thing wrong with an import file.

        ``row`` counts data records from 1 (the header is not a record; JSON: list
        index + 1); ``line`` is the CSV line where the record starts (header = line 1).
        Both are None for whole-file problems such as a missing column.
        """

        row: int | None
        column: str | None
        value: str | None
        why: str
        line: int | None = None

        def __str__(self) -> str:
            where = "file" if self.row is None else f"row {self.row}"
            if self.line is not None:
                where += f" (line {self.line})"
            if self.column is not None:
                where += f", column '{self.column}'"
            shown = "" if self.value is None else f" (value {self.value!r})"
            return f"{where}: {self.why}{shown}"

    def __init__(self, source: str, problems: Sequence[ImportRejected.Problem]) -> None:
        self.source = source
        self.problems: tuple[ImportRejected.Problem, ...] = tuple(problems)
        super().__init__(source, len(self.problems), "\n".join(f"  {p}" for p in self.problems))


# --- keys ---------------------------------------------------------------------


class KeyError_(Error):
    """Key problem: {}"""

    exit_code = 5


class KeyPermissionError(KeyError_):
    """Refusing private key {}: mode {} lets group or others read it; run: chmod 600 {}"""


class KeyFolderPermissionError(KeyError_):
    """Refusing key folder {}: mode {} lets group or others in; run: chmod 700 {}"""


class KeyLost(KeyError_):
    """No signing key at {}, but this station signed evidence with {}; restore the key file or, \
if it is really gone, run: recorder-sync keys init --replace --reason WHY"""


class KeyMismatch(KeyError_):
    """The key at {} is {}, but this station signs with {}; restore the right key file or, \
if the change is intended, run: recorder-sync keys init --replace --reason WHY"""


# --- verification failed: the evidence is not what it should be ---------------


class VerificationFailed(Error):
    """Verification failed: {}"""

    exit_code = 3


class IntegrityFailure(VerificationFailed):
    """Integrity failure for {}: expected sha256 {}, found {}"""


class SignatureInvalid(VerificationFailed):
    """Signature does not verify for {}: {}"""


class CustodyChainBroken(VerificationFailed):
    """Custody chain broken at event {}: {}"""


class ProofInvalid(VerificationFailed):
    """Merkle proof does not verify ({}): {}"""


# --- could not check: something needed is unavailable -------------------------


class CouldNotCheck(Error):
    """Could not check: {}"""

    exit_code = 4


class StorageUnavailable(CouldNotCheck):
    """Object storage unavailable: {}"""


class StorageRejected(Error):
    """Object storage refused the request (not retried): {}"""

    exit_code = 4


class DatabaseUnavailable(CouldNotCheck):
    """Database unavailable: {}"""


# --- ingest -------------------------------------------------------------------


class SourceChanged(Error):
    """Source file changed while it was being read: {} ({})"""

    exit_code = 1


class SourceUnavailable(Error):
    """Source file unavailable: {} ({})"""

    exit_code = 1


class UnsafePath(Error):
    """Refusing {}: {}"""

    exit_code = 1


class IngestIncomplete(Error):
    """{} of {} file(s) could not be fully processed; see 'recorder-sync status' and 'recorder-sync flags'"""

    exit_code = 1


class DockOverlap(UsageError):
    """Refusing to ingest: a dock must not be, hold or lie inside our files or another dock:\n{}"""


class ClaimLost(Error):
    """Work claim lost: {} ({}); left to the process that holds it"""

    exit_code = 1
