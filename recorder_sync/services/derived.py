"""Derived material kept as evidence: every file ``recorder-replay`` makes from evidence (an
exported clip, frames, a mosaic) is stored before it is handed out.

``DerivedEvidence.keep`` stores each derived file under its content address
(``derived/sha256/…``), the signed provenance and its signature under the provenance's own
(``derived/provenance/…``), each write-once under the same retention as the evidence, then
writes the ``derived`` custody event that links them to their sources (``domain.derived``).
The original recordings are only named, never written. The caller
hands the files out only once ``keep`` has returned: nothing leaves the station that is not
in the store and in the log. When any of it fails, ``DerivedNotStored`` (exit 4) says why,
and the caller's access records the outcome.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from recorder_sync.domain.custody import EventKind
from recorder_sync.domain.derived import Derived, check_sources, derived_details, read_provenance
from recorder_sync.domain.errors import DerivedNotStored, Error
from recorder_sync.domain.model import Recording
from recorder_sync.domain.ports import Clock, CustodyNotes, ObjectStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DerivedStored:
    """Derived files as stored, and the ``derived`` event that links them to their sources."""

    keys: tuple[str, ...]
    provenance_key: str
    signature_key: str
    event_seq: int


class DerivedEvidence:
    def __init__(
        self,
        *,
        store: Callable[[], ObjectStore],
        log: CustodyNotes,
        clock: Clock,
        station: str,
        retention_class: str | None = None,
    ) -> None:
        """``store`` is called on first use: a command that makes nothing never opens it."""
        self._open_store = store
        self._store: ObjectStore | None = None
        self.log = log
        self.clock = clock
        self.station = station
        self.retention_class = retention_class

    def keep(
        self,
        files: Sequence[Path],
        provenance: bytes,
        signature: bytes,
        sources: Sequence[Recording],
        access_seq: int,
    ) -> DerivedStored:
        """Store the derived ``files`` (in the order of the provenance's outputs; each hashed
        on the way: it must be the file the provenance describes), the provenance and its
        signature, and log the ``derived`` event.

        ``access_seq`` is the access event under which the files were made; the provenance
        names it too. ``DerivedNotStored`` when the store or the log refuses."""
        derived = read_provenance(provenance)
        check_sources(derived, sources)
        if derived.access_seq != access_seq:
            raise ValueError(f"the provenance names access {derived.access_seq}, not {access_seq}")
        if len(files) != len(derived.outputs):
            raise ValueError(f"{len(files)} file(s) for the {len(derived.outputs)} the provenance names")
        try:
            return self._keep(files, provenance, signature, derived)
        except Error as e:
            raise DerivedNotStored(derived.provenance_key, e) from e
        except OSError as e:  # a file made a moment ago cannot be read back
            raise DerivedNotStored(derived.provenance_key, f"{e.filename}: {e.strerror or e}") from e

    def _keep(
        self, paths: Sequence[Path], provenance: bytes, signature: bytes, derived: Derived
    ) -> DerivedStored:
        if self._store is None:
            self._store = self._open_store()
        store = self._store
        meta = self._metadata(derived)
        files = []
        for path, out in zip(paths, derived.outputs, strict=True):
            with path.open("rb") as f:
                files.append(store.put_stream(out.key, f, out.size, out.sha256, meta, self.retention_class))
        prov = store.put_bytes(derived.provenance_key, provenance, meta, self.retention_class)
        sig = store.put_bytes(derived.signature_key, signature, meta, self.retention_class)
        # the sources' custody history shows the derivation when there is one source; a mosaic
        # of several names them all in its details
        one = derived.sources[0][0] if len(derived.sources) == 1 else None
        event = self.log.note(
            EventKind.DERIVED,
            self.clock(),
            recording_id=one,
            details=derived_details(derived, files, prov, sig),
        )
        log.info("stored %d derived file(s) from %s, event %d", len(files), derived.sources, event.seq)
        return DerivedStored(tuple(f.key for f in files), prov.key, sig.key, event.seq)

    def _metadata(self, derived: Derived) -> Mapping[str, str]:
        return {
            "derived-from": ",".join(rid for rid, _ in derived.sources),
            "station": self.station,
        }
