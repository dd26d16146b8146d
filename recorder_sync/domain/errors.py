"""One error root for the whole product.

The class docstring is the message template; the class owns its exit code; only
``apps.cli.main`` turns exceptions into exit codes.  Two families must never be
confused: *verification failed* (the evidence is not what it should be) and
*could not check* (storage, database or file unavailable).

The first class of each exit code says what the code means (``exit_meaning``);
``exit_codes()`` gathers them, with the codes the process itself ends with, into the
table that ``--help`` prints and that a test holds the README to.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

# codes that no Error carries: the process ends with them itself
EXIT_DONE = 0
EXIT_BUG = 70
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for Ctrl-C
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports when the reader went away
_PROCESS_EXITS = {
    EXIT_DONE: "done",
    EXIT_BUG: "internal error (a bug)",
    EXIT_INTERRUPTED: (
        "interrupted by SIGINT or SIGTERM (every command but `run`, which stops cleanly with 0)"
    ),
    EXIT_BROKEN_PIPE: "the reader of the output went away (e.g. `head` stopped reading)",
}


class Error(Exception):
    """Error: {}"""

    exit_code: ClassVar[int] = 2
    # said once per code, on the first class of its family; see exit_codes()
    exit_meaning: ClassVar[str | None] = None

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
    exit_meaning = "usage or configuration error"


class ConfigError(UsageError):
    """Configuration error in {}: key '{}': {}"""


class OutputUnwritable(UsageError):
    """Cannot write the output to standard output: {}"""

    # Not a bug of ours (exit 70) and not a reader that went away (141): where the operator
    # sent the output cannot take it, and a command must not end as if it had printed.


class MetricsListenFailed(UsageError):
    """Cannot serve metrics on {} ([metrics] listen): {}"""


class SchemaMismatch(UsageError):
    """Database {} has schema revision {}, this recorder-sync needs {}: {}"""


class AccessRefused(UsageError):
    """Access refused: {} {}"""


class ClipFailed(UsageError):
    """ffmpeg could not make a clip of {}: {}"""

    # the source verified; it is not media that ffmpeg can cut: not a verification failure


class NotFound(Error):
    """Not found: {}"""

    exit_code = 6
    exit_meaning = "not found"


class ImportRejected(UsageError):
    """Import of {} rejected, nothing imported; {} problem(s):\n{}"""

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


class KeyProblem(Error):
    """Key problem: {}"""

    exit_code = 5
    exit_meaning = "key problem"


class KeyPermissionError(KeyProblem):
    """Refusing private key {}: mode {} lets group or others read it; run: chmod 600 {}"""


class KeyFolderPermissionError(KeyProblem):
    """Refusing key folder {}: mode {} lets group or others in; run: chmod 700 {}"""


class KeyLost(KeyProblem):
    """No signing key at {}, but this station signed evidence with {}; restore the key file or, \
if it is really gone, run: recorder-sync keys init --replace --reason WHY"""


class KeyMismatch(KeyProblem):
    """The key at {} is {}, but this station signs with {}; restore the right key file or, \
if the change is intended, run: recorder-sync keys init --replace --reason WHY"""


class KeyRevoked(KeyProblem):
    """This station signs with {}, which was revoked at {} ({}); its signatures no longer count: \
run: recorder-sync keys init --replace --reason WHY"""


class KeyReplaced(KeyProblem):
    """{} key {} was replaced at {}: it signs nothing more (a process that loaded it before \
takes the new key)"""


# --- verification failed: the evidence is not what it should be ---------------


class VerificationFailed(Error):
    """Verification failed: {}"""

    exit_code = 3
    exit_meaning = "verification failed: the evidence is not what it should be"


class IntegrityFailure(VerificationFailed):
    """Integrity failure for {}: expected sha256 {}, found {}"""


class SignatureInvalid(VerificationFailed):
    """Signature does not verify for {}: {}"""


class CustodyChainBroken(VerificationFailed):
    """Custody chain broken at event {}: {}"""


class ProofInvalid(VerificationFailed):
    """Merkle proof does not verify ({}): {}"""


class TimestampInvalid(VerificationFailed):
    """Time-stamp token does not verify for {}: {}"""


class LogRolledBack(VerificationFailed):
    """Custody log does not match what was published of it: {}"""


# --- could not check: something needed is unavailable -------------------------


class CouldNotCheck(Error):
    """Could not check: {}"""

    exit_code = 4
    exit_meaning = "could not check: storage or database unavailable, or storage refused the request"


class StorageUnavailable(CouldNotCheck):
    """Object storage unavailable: {}"""


class StorageRejected(CouldNotCheck):
    """Object storage refused the request (not retried): {}"""

    # The evidence was not checked, as with an outage (so exit 4); unlike an outage a retry
    # cannot fix it, so ingest flags it (storage-rejected) and catches it before its parent.


class DatabaseUnavailable(CouldNotCheck):
    """Database unavailable: {}"""


class TsaUnavailable(CouldNotCheck):
    """Time-stamping authority unavailable: {}"""


class DerivedNotStored(CouldNotCheck):
    """The derived file was not stored as evidence at {}, so it was not handed out: {}"""


class RetentionUnchecked(StorageRejected):
    """Could not check the retention of {}: {}"""

    # The bytes may be the evidence; only the lock could not be read (the credentials lack
    # s3:GetObjectRetention): not a verification failure, and no retry will fix it.


# --- ingest -------------------------------------------------------------------


class NotFullyProcessed(Error):
    """{}"""

    exit_code = 1
    exit_meaning = (
        "some file could not be fully processed (e.g. a refused symbolic link, a file that left the dock)"
    )


class SourceChanged(NotFullyProcessed):
    """Source file changed while it was being read: {} ({})"""


class SourceUnavailable(NotFullyProcessed):
    """Source file unavailable: {} ({})"""


class ReleaseBlocked(NotFullyProcessed):
    """Cannot release {} from the dock: {}; the dock copy is kept and tried again"""


class UnsafePath(NotFullyProcessed):
    """Refusing {}: {}"""


class IngestIncomplete(NotFullyProcessed):
    """{} of {} file(s) could not be fully processed; see 'recorder-sync status' and 'recorder-sync flags'"""


class DockOverlap(UsageError):
    """Refusing to ingest: a dock must not be, hold or lie inside our files or another dock:\n{}"""


class ClaimLost(NotFullyProcessed):
    """Work claim lost: {} ({}); left to the process that holds it"""


def _classes(root: type[Error] = Error) -> Iterator[type[Error]]:
    yield root
    for sub in root.__subclasses__():
        yield from _classes(sub)


def exit_codes() -> dict[int, str]:
    """Every exit code of ``recorder-sync`` and what it means, in order: from the error
    classes, each code said once (a test checks that every class's code is said, and that
    the README's table is this one)."""
    said: dict[int, str] = dict(_PROCESS_EXITS)
    for cls in _classes():
        meaning = cls.__dict__.get("exit_meaning")
        if meaning is not None:
            said[cls.exit_code] = meaning
    return dict(sorted(said.items()))
