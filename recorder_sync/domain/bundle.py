"""An offline evidence bundle's layout: every name, and every small file's bytes.

The bundle is for a court or an outside auditor, years later, on their own machine: the
original media and sidecars, the signed manifests, the public keys, the custody events with
an inclusion proof each to one signed checkpoint, the checkpoint's time-stamp token, the
case, ``SHA256SUMS`` over all of it, ``VERIFY.md`` (the checks by hand) and the standalone
``verify_bundle.py`` (``recorder_sync/standalone``), which defines the format this module
writes.  Large files (media) are named here and streamed by the service.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from recorder_sync.domain.checkpoint import NoteKey, TlogProof
from recorder_sync.domain.times import utc_iso
from recorder_sync.domain.trust import StationKey

BUNDLE_TYPE = "recorder_sync.bundle/v1"
LOG_KEY_FILE = "keys/log.vkey"
CHECKPOINT_FILE = "custody/checkpoint"
EVENTS_FILE = "custody/events.jsonl"
TOKEN_FILE = "timestamps/checkpoint.tsr"
TSA_CHAIN_FILE = "timestamps/tsa-chain.pem"


def media_name(sha256: str, ext: str) -> str:
    ext = "".join(c for c in ext.lower().lstrip(".") if c.isalnum())[:10] or "bin"
    return f"media/{sha256}.{ext}"


def sidecar_name(sha256: str) -> str:
    return f"media/{sha256}.sidecar"


def manifest_name(sha256: str) -> str:
    return f"manifests/{sha256}.json"


def signature_name(sha256: str) -> str:
    return f"manifests/{sha256}.sig"


def station_key_name(key_id: str) -> str:
    return "keys/" + key_id.replace(":", "-") + ".pem"


def proof_name(seq: int) -> str:
    return f"custody/proofs/{seq}.tlog-proof"


def _json(doc: Any) -> bytes:
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False).encode("utf-8") + b"\n"


def key_files(station_keys: Sequence[StationKey], log_key: NoteKey) -> dict[str, bytes]:
    """``keys.json``, one PEM per station key and the log's C2SP verifier key. A key that
    replaced another carries its rotation statement (its raw public bytes signed by the old
    key) when the old key is in the bundle too, so a recipient can check the chain."""
    files: dict[str, bytes] = {LOG_KEY_FILE: (log_key.vkey + "\n").encode("ascii")}
    present = {k.key_id for k in station_keys}
    entries = []
    for k in station_keys:
        files[station_key_name(k.key_id)] = k.public_pem
        entry: dict[str, Any] = {
            "key_id": k.key_id,
            "station": k.station,
            "public_key": station_key_name(k.key_id),
            "valid_from": utc_iso(k.valid_from),
            "valid_until": utc_iso(k.valid_until) if k.valid_until else None,
            "revoked_at": utc_iso(k.revoked_at) if k.revoked_at else None,
        }
        if k.previous_key_id in present and k.rotation_signature:
            entry["rotation"] = {
                "previous_key_id": k.previous_key_id,
                "signature": base64.b64encode(k.rotation_signature).decode(),
            }
        entries.append(entry)
    files["keys.json"] = _json(
        {
            "station_keys": entries,
            "log_key": {"origin": log_key.name, "file": LOG_KEY_FILE, "vkey": log_key.vkey},
        }
    )
    return files


def custody_files(
    events: Iterable[bytes], proofs: Mapping[int, TlogProof], checkpoint_note: bytes
) -> dict[str, bytes]:
    """The events as stored, one per line (canonical JSON holds no raw newline), their proofs
    (keyed by sequence number) and the checkpoint every proof leads to."""
    lines = []
    for body in events:
        if b"\n" in body:
            raise ValueError("a custody event's bytes hold a newline; they are not canonical JSON")
        lines.append(body)
    files = {EVENTS_FILE: b"".join(line + b"\n" for line in lines), CHECKPOINT_FILE: checkpoint_note}
    for seq, proof in proofs.items():
        if proof.checkpoint_note != checkpoint_note:
            raise ValueError(f"the proof of event {seq} leads to another checkpoint")
        files[proof_name(seq)] = proof.encode()
    return files


def sha256sums(digests: Mapping[str, str]) -> bytes:
    """``sha256sum`` format, sorted, so ``sha256sum -c SHA256SUMS`` checks the bundle."""
    return "".join(f"{digests[name]}  {name}\n" for name in sorted(digests)).encode("utf-8")


def verify_md(
    *, manifests: Sequence[tuple[str, str]], media: Sequence[tuple[str, str]], token: bool
) -> bytes:
    """The checks by hand, in order, with the exact commands (``manifests``: sha256 and the
    signing key's file; ``media``: file name and the sha256 its manifest signs)."""
    out = [
        "# Verifying this evidence bundle by hand",
        "",
        "Everything below uses standard tools only (coreutils, OpenSSL 3). `python3 verify_bundle.py`",
        "runs the same checks and also the Merkle inclusion proofs of the custody events; it needs",
        "Python 3.11 and `cryptography`, nothing else. Compare the public keys' fingerprints it",
        "prints (and the TSA certificates', with a time-stamp) with the ones the agency published",
        "before trusting any of them.",
        "",
        "## 1. Nothing changed since the bundle was made",
        "",
        "```sh",
        "sha256sum -c SHA256SUMS",
        "```",
        "",
        "## 2. Each manifest is signed by its station key",
        "",
        "```sh",
    ]
    for sha, key_file in manifests:
        out.append(
            f"openssl pkeyutl -verify -pubin -inkey {key_file} -rawin "
            f"-in {manifest_name(sha)} -sigfile {signature_name(sha)}"
        )
    out += [
        "```",
        "",
        "## 3. Each media file is the one its manifest signs",
        "",
        'Each line prints the file\'s SHA-256 and the `"sha256"` of its manifest; they must be equal.',
        "",
        "```sh",
    ]
    for name, sha in media:
        out.append(f'sha256sum {name}; grep -o \'"sha256":"[0-9a-f]*"\' {manifest_name(sha)}')
    out += ["```", ""]
    if token:
        out += [
            "## 4. The custody checkpoint existed at the time the TSA states",
            "",
            "```sh",
            f"openssl ts -verify -data {CHECKPOINT_FILE} -in {TOKEN_FILE} -CAfile {TSA_CHAIN_FILE}",
            f"openssl ts -reply -in {TOKEN_FILE} -text | grep 'Time stamp'",
            "```",
            "",
        ]
    else:
        out += ["## 4. No time-stamp token: no time-stamping authority was configured.", ""]
    out += [
        "## 5. The custody events are in the signed log",
        "",
        "`custody/events.jsonl` holds each event exactly as logged; `custody/proofs/N.tlog-proof`",
        "is its C2SP inclusion proof to `custody/checkpoint`, a C2SP checkpoint signed by the log",
        "key in `keys/log.vkey`. `python3 verify_bundle.py` checks them; any RFC 9162 tool can too.",
        "",
    ]
    return "\n".join(out).encode("utf-8")


# --- what goes in: the choices the bundle service makes -------------------------------------


def sidecar_bytes(text: str | None, sha256: str | None) -> bytes | None:
    """The sidecar as it was on the dock, when the catalog's text gives back those very bytes
    (UTF-8 sidecars); None otherwise (a sidecar the bundle cannot show byte for byte is left
    out rather than shown altered: the manifest still names its hash)."""
    if text is None or sha256 is None:
        return None
    data = text.encode("utf-8")
    return data if hashlib.sha256(data).hexdigest() == sha256 else None


def is_about(fields: Mapping[str, Any], recording_ids: Collection[str], subjects: Collection[str]) -> bool:
    """Whether a custody event is about one of the recordings (their links, flags, accesses
    included) or one of the actions; an export or access names its recordings in details."""
    if fields.get("recording_id") in recording_ids or fields.get("subject") in subjects:
        return True
    details = fields.get("details")
    if isinstance(details, dict):
        for r in details.get("recordings") or ():
            if isinstance(r, dict) and r.get("id") in recording_ids:
                return True
    return False


@dataclass(frozen=True)
class Entry:
    """One recording asked for, and whether (else why not) its media is in the bundle."""

    id: str
    sha256: str
    original_name: str
    media: str | None = None
    sidecar: str | None = None
    missing: str | None = None

    def as_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "id": self.id,
            "sha256": self.sha256,
            "original_name": self.original_name,
            "included": self.missing is None,
            "manifest": manifest_name(self.sha256) if self.missing is None else None,
            "media": self.media,
            "sidecar": self.sidecar,
        }
        if self.missing is not None:
            doc["reason"] = self.missing
        return doc


def case_json(
    *,
    selection: Mapping[str, Any],
    made_at: datetime,
    made_by: str,
    reason: str,
    cases: Mapping[str, Any],
    actions: Sequence[Mapping[str, Any]],
    links: Sequence[Mapping[str, Any]],
    flags: Sequence[Mapping[str, Any]],
    accesses: Sequence[Mapping[str, Any]],
    recordings: Sequence[Entry],
    checkpoint_size: int,
    unproven: Sequence[int],
) -> bytes:
    """``case.json``: what was asked for, by whom and why, and what the database says of it.
    ``unproven``: events about these recordings logged after the checkpoint, so not in the
    bundle (a later bundle, after the next checkpoint, holds them)."""
    return _json(
        {
            "type": BUNDLE_TYPE,
            "selection": dict(selection),
            "made_at": utc_iso(made_at),
            "made_by": made_by,
            "reason": reason,
            "case": dict(cases),
            "actions": list(actions),
            "links": list(links),
            "flags": list(flags),
            "accesses": list(accesses),
            "recordings": [r.as_json() for r in recordings],
            "custody": {
                "checkpoint_size": checkpoint_size,
                "events_after_checkpoint": list(unproven),
            },
        }
    )


def exported_details(
    recordings: Sequence[Entry], sums_sha256: str, selection: Mapping[str, Any]
) -> dict[str, Any]:
    """The ``exported`` custody event's details: the same shape as a replay export's
    (``how``, ``recordings``), so the access report counts a bundle like any export."""
    return {
        "how": "bundle",
        "selection": dict(selection),
        "recordings": [{"id": r.id, "sha256": r.sha256, "included": r.missing is None} for r in recordings],
        "sha256sums_sha256": sums_sha256,
    }
