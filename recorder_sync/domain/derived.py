"""Derived material as evidence: what is stored for a derived file, what its ``derived``
custody event says, and what ``recorder-audit verify`` checks of it (no I/O).

A derived file (an exported clip, still frames, a mosaic) is made by ``recorder-replay`` from
verified evidence, with a provenance signed by the station key (``domain.provenance``). It is
then stored like the evidence: the file under ``layout.derived_key``, the provenance and its
signature beside it, each write-once under retention, and a ``derived`` custody event links
it to its sources. The event names every key, version and hash, so an auditor finds each
object from the log alone and checks that the log, the signed provenance and the stored
bytes tell one story, and that the sources it names are evidence the station holds.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from recorder_sync.domain import layout
from recorder_sync.domain.canonical import parse
from recorder_sync.domain.custody import CustodyEvent, EventKind
from recorder_sync.domain.errors import SignatureInvalid
from recorder_sync.domain.model import Recording, StoredObject
from recorder_sync.domain.provenance import PROVENANCE_TYPE
from recorder_sync.domain.times import parse_lenient

if TYPE_CHECKING:  # cryptography: only for the checks that verify
    from recorder_sync.domain.trust import TrustAnchors

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class DerivedOutput:
    """One derived file as its provenance names it."""

    name: str
    sha256: str
    size: int

    @property
    def key(self) -> str:
        return layout.derived_key(self.sha256)


@dataclass(frozen=True)
class Derived:
    """A derivation as its provenance describes it: the files made (one clip, or a set of
    frames), from which sources, how, by whom, under which access; and where it is stored."""

    outputs: tuple[DerivedOutput, ...]
    provenance_sha256: str
    sources: tuple[tuple[str, str], ...]  # (recording id, sha256), in the provenance's order
    operations: tuple[Any, ...]
    actor: str
    key_id: str
    access_seq: int | None

    @property
    def provenance_key(self) -> str:
        return layout.provenance_key(self.provenance_sha256)

    @property
    def signature_key(self) -> str:
        return layout.provenance_signature_key(self.provenance_sha256)


def _output(value: Any) -> DerivedOutput:
    if not isinstance(value, dict):
        raise ValueError("an output of the provenance is not an object")
    sha256, size = value.get("sha256"), value.get("size")
    if not isinstance(sha256, str) or not _SHA256.match(sha256) or not _count(size):
        raise ValueError("an output of the provenance has no SHA-256 or size")
    return DerivedOutput(str(value.get("name", "")), sha256, cast(int, size))


def read_provenance(provenance: bytes) -> Derived:
    """The derivation a provenance describes (its ``output``, or its set of ``outputs``);
    ``ValueError`` when the bytes are not a provenance."""
    try:
        doc = parse(provenance)
    except (ValueError, RecursionError) as e:
        raise ValueError(f"the provenance is not JSON: {e}") from None
    if not isinstance(doc, dict) or doc.get("type") != PROVENANCE_TYPE:
        raise ValueError(f"not a {PROVENANCE_TYPE} document")
    many = doc.get("outputs")
    outputs = [_output(o) for o in many] if isinstance(many, list) else [_output(doc.get("output"))]
    sources = doc.get("sources")
    if not outputs or not isinstance(sources, list) or not sources:
        raise ValueError("the provenance names no output or no source")
    named: list[tuple[str, str]] = []
    for s in sources:
        if (
            not isinstance(s, dict)
            or not isinstance(s.get("recording_id"), str)
            or not isinstance(s.get("sha256"), str)
        ):
            raise ValueError("a source of the provenance has no recording id or SHA-256")
        named.append((s["recording_id"], s["sha256"]))
    access_seq = doc.get("access_seq")
    return Derived(
        outputs=tuple(outputs),
        provenance_sha256=hashlib.sha256(provenance).hexdigest(),
        sources=tuple(named),
        operations=tuple(doc.get("operations") or ()),
        actor=str(doc.get("exported_by", "")),
        key_id=str(doc.get("key_id", "")),
        access_seq=access_seq if _count(access_seq) else None,
    )


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def check_sources(derived: Derived, sources: Sequence[Recording]) -> None:
    """The recordings a caller says it derived from are the ones the signed provenance names
    (a mismatch is a bug of the caller: the event would contradict the provenance)."""
    given = tuple((r.id, r.sha256) for r in sources)
    if given != derived.sources:
        raise ValueError(f"the provenance names the sources {derived.sources}, not {given}")


def _stored(obj: StoredObject, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"key": obj.key, **extra}
    if obj.version_id is not None:
        out["version_id"] = obj.version_id
    return out


def derived_details(
    derived: Derived, files: Sequence[StoredObject], provenance: StoredObject, signature: StoredObject
) -> dict[str, Any]:
    """The details of a ``derived`` event: the sources, the derived files, the provenance and
    its signature (each with the key and version stored), the operations, and the access."""
    details: dict[str, Any] = {
        "sources": [{"id": rid, "sha256": sha} for rid, sha in derived.sources],
        "files": [
            _stored(obj, sha256=o.sha256, size=o.size) for o, obj in zip(derived.outputs, files, strict=True)
        ],
        "provenance": _stored(provenance, sha256=derived.provenance_sha256),
        "signature": _stored(signature, key_id=derived.key_id),
        "operations": list(derived.operations),
    }
    if derived.access_seq is not None:
        details["access_seq"] = derived.access_seq
    return details


# --- what recorder-audit checks -----------------------------------------------------------


@dataclass(frozen=True)
class StoredRef:
    key: str
    version_id: str | None


@dataclass(frozen=True)
class DerivedEvent:
    """A ``derived`` event as the auditor reads it (from the log: nothing else is trusted)."""

    seq: int
    at: datetime
    actor: str
    files: tuple[tuple[StoredRef, str, int], ...]  # (where, sha256, size)
    provenance_sha256: str
    provenance: StoredRef
    signature: StoredRef
    sources: tuple[tuple[str, str], ...]
    operations: tuple[Any, ...]
    access_seq: int | None


def read_derived_event(event: CustodyEvent) -> DerivedEvent:
    """``ValueError`` when the event is not a ``derived`` event that names its objects."""
    f = event.fields
    d = f.get("details")
    if f.get("action") != EventKind.DERIVED.value or not isinstance(d, dict):
        raise ValueError("not a derived event with details")

    def ref(part: Any, name: str) -> StoredRef:
        if not isinstance(part, dict) or not isinstance(part.get("key"), str):
            raise ValueError(f"it names no {name} key")
        version = part.get("version_id")
        return StoredRef(part["key"], version if isinstance(version, str) else None)

    files = []
    for part in d.get("files") or ():
        sha256, size = part.get("sha256") if isinstance(part, dict) else None, (part or {}).get("size")
        if not isinstance(sha256, str) or not _count(size):
            raise ValueError("it names a derived file without SHA-256 or size")
        files.append((ref(part, "derived file"), sha256, cast(int, size)))
    provenance = d.get("provenance") or {}
    prov_sha = provenance.get("sha256") if isinstance(provenance, dict) else None
    if not files or not isinstance(prov_sha, str):
        raise ValueError("it names no derived file or no provenance SHA-256")
    sources = d.get("sources")
    if not isinstance(sources, list) or not all(isinstance(s, dict) for s in sources):
        raise ValueError("it names no sources")
    try:
        at = parse_lenient(str(f.get("at")))
    except ValueError as e:
        raise ValueError(f"it has no usable time: {e}") from None
    access_seq = d.get("access_seq")
    return DerivedEvent(
        seq=event.seq,
        at=at,
        actor=str(f.get("actor", "")),
        files=tuple(files),
        provenance_sha256=prov_sha,
        provenance=ref(provenance, "provenance"),
        signature=ref(d.get("signature"), "signature"),
        sources=tuple((str(s.get("id")), str(s.get("sha256"))) for s in sources),
        operations=tuple(d.get("operations") or ()),
        access_seq=access_seq if _count(access_seq) else None,
    )


@dataclass(frozen=True)
class SourceFacts:
    """What the database holds of a source recording: its SHA-256 and signed manifest."""

    sha256: str
    manifest: bytes | None


def provenance_problems(
    ev: DerivedEvent,
    provenance: bytes | None,
    signature: bytes | None,
    trust: TrustAnchors,
    known: Mapping[str, SourceFacts],
) -> list[str]:
    """The stored provenance is the one the event names, signed by a key of the trust anchors
    valid when the event was written; it describes the file the event names, made from the
    same sources by the same operations at the same access; and every source is a recording
    the database holds, with the SHA-256 and manifest the provenance names."""
    problems: list[str] = []
    where = f"the derived event (seq {ev.seq})"
    if provenance is None:
        problems.append(f"provenance {ev.provenance.key}: missing from the store")
    elif (found := hashlib.sha256(provenance).hexdigest()) != ev.provenance_sha256:
        problems.append(
            f"provenance {ev.provenance.key}: the stored bytes (sha256 {found}) are not the provenance "
            f"{where} names (sha256 {ev.provenance_sha256})"
        )
    if signature is None:
        problems.append(f"signature {ev.signature.key}: missing from the store")
    doc: dict[str, Any] | None = None
    if provenance is not None and signature is not None:
        try:
            doc = trust.verify_manifest(provenance, signature, ev.at)
        except SignatureInvalid as e:
            problems.append(f"provenance {ev.provenance.key}: its signature does not verify: {e.args[-1]}")
    sources = ev.sources
    if doc is not None:
        try:
            described = read_provenance(provenance or b"")
        except ValueError as e:
            problems.append(f"provenance {ev.provenance.key}: {e}")
        else:
            problems += _disagreements(ev, described, where)
            sources = described.sources  # signed: these are the sources to check
    for rid, sha in sources:
        facts = known.get(rid)
        if facts is None:
            problems.append(f"its source recording {rid} does not exist in the database")
            continue
        if facts.sha256 != sha:
            problems.append(
                f"its source recording {rid} has sha256 {facts.sha256}, the provenance names {sha}"
            )
        if doc is not None and facts.manifest is not None:
            signed = hashlib.sha256(facts.manifest).hexdigest()
            named = {s.get("recording_id"): s.get("manifest_sha256") for s in doc.get("sources", [])}
            if named.get(rid) not in (None, signed):
                problems.append(
                    f"its source recording {rid}'s manifest (sha256 {signed}) is not the one the "
                    f"provenance names ({named.get(rid)})"
                )
    return problems


def _disagreements(ev: DerivedEvent, described: Derived, where: str) -> list[str]:
    out: list[str] = []
    for name, logged, signed in (
        (
            "files",
            [[sha, size] for _, sha, size in ev.files],
            [[o.sha256, o.size] for o in described.outputs],
        ),
        ("sources", [list(s) for s in ev.sources], [list(s) for s in described.sources]),
        ("operations", list(ev.operations), list(described.operations)),
        ("access_seq", ev.access_seq, described.access_seq),
        ("actor", ev.actor, described.actor),
    ):
        if logged != signed:
            out.append(f"{where} says {name} {logged!r}, its signed provenance {signed!r}")
    for ref, sha, _ in ev.files:
        if ref.key != layout.derived_key(sha):
            out.append(f"{where} names the key {ref.key} for the file of sha256 {sha}")
    return out
