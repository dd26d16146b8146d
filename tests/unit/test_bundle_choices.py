"""The bundle's pure choices: which custody events are about the evidence, which sidecars
can be shown byte for byte, and the export event the access report reads."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

from recorder_sync.domain import bundle, layout
from recorder_sync.domain.access_report import accesses_from_events

T0 = datetime(2026, 11, 27, 8, 30, tzinfo=UTC)


def test_an_event_is_about_the_evidence_by_recording_subject_or_details() -> None:
    ids, subjects = {"rec-1"}, {"action:A1"}
    assert bundle.is_about({"recording_id": "rec-1"}, ids, subjects)
    assert bundle.is_about({"subject": "action:A1", "action": "action-imported"}, ids, subjects)
    assert bundle.is_about({"details": {"recordings": [{"id": "rec-1"}]}}, ids, subjects)
    assert not bundle.is_about({"recording_id": "rec-2", "subject": "action:A2"}, ids, subjects)
    assert not bundle.is_about({"details": {"recordings": ["rec-1"]}}, ids, subjects)  # not our shape
    assert not bundle.is_about({"details": "rec-1"}, ids, subjects)


def test_a_sidecar_is_shown_only_when_its_text_gives_back_the_dock_bytes() -> None:
    text = '{"important": true}\n'
    sha = hashlib.sha256(text.encode()).hexdigest()
    assert bundle.sidecar_bytes(text, sha) == text.encode()
    assert bundle.sidecar_bytes(text, hashlib.sha256(b"other").hexdigest()) is None
    assert bundle.sidecar_bytes(None, sha) is None and bundle.sidecar_bytes(text, None) is None


def test_the_timestamp_sits_beside_its_checkpoint() -> None:
    key = layout.timestamp_key("recorder-sync/st-1", 38)
    assert key == "log/recorder-sync/st-1/timestamp/00000000000000000038"


def test_case_json_marks_the_gaps_and_the_export_counts_as_an_access() -> None:
    entries = [
        bundle.Entry("rec-1", "a" * 64, "A.MP4", media=bundle.media_name("a" * 64, "MP4")),
        bundle.Entry("rec-2", "b" * 64, "B.MP4", missing="the stored copy does not verify"),
    ]
    doc = json.loads(
        bundle.case_json(
            selection={"case": "C1"}, made_at=T0, made_by="u@h", reason="why", cases={}, actions=[],
            links=[], flags=[], accesses=[], recordings=entries, checkpoint_size=9, unproven=[10],
        )
    )  # fmt: skip
    assert doc["type"] == bundle.BUNDLE_TYPE
    assert [(r["id"], r["included"]) for r in doc["recordings"]] == [("rec-1", True), ("rec-2", False)]
    assert doc["recordings"][1]["reason"] == "the stored copy does not verify"
    assert doc["recordings"][1]["media"] is None and doc["recordings"][1]["manifest"] is None
    assert doc["custody"] == {"checkpoint_size": 9, "events_after_checkpoint": [10]}
    details = bundle.exported_details(entries, "c" * 64, {"case": "C1"})
    [access] = accesses_from_events(
        [{"seq": 11, "at": "2026-11-27T08:30:00+00:00", "action": "exported", "actor": "u@h",
          "reason": "why", "details": details}]
    )  # fmt: skip
    assert access.kind == "exported" and access.how == "bundle"
    assert access.recordings == (("rec-1", "a" * 64), ("rec-2", "b" * 64))
