"""The case service through the in-memory case stores (no database): how an import file is
read and told apart, what an import hands on to linking, which recordings each linking run
looks at, and what a person's link or unlink must name."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fakes import Clock, MemoryCaseStores

from recorder_sync.domain.cases import Action, ActionQuery, Checkout, ImportOutcome
from recorder_sync.domain.errors import ImportRejected, NotFound, UsageError
from recorder_sync.domain.policy import DEFAULT_POLICY, DeadlineSettings
from recorder_sync.services import cases as cases_module
from recorder_sync.services.cases import LINK_CURSOR, CaseService

T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
M = timedelta(minutes=1)
H = timedelta(hours=1)
HEADER = "case_id,action_id,action_type,unit,officers,start,end,target_id,target_name,place"


class World:
    def __init__(self) -> None:
        self.stores = MemoryCaseStores()
        self.clock = Clock()
        self.service = CaseService(self.stores, DEFAULT_POLICY, DeadlineSettings(), self.clock)

    def recording(self, device: str, officer: str | None, start: datetime, end: datetime) -> str:
        return self.stores.add_recording(device, officer, start, end, ingested_at=self.clock())

    def links(self, *, include_removed: bool = False) -> set[tuple[str, str, str]]:
        found = self.stores.links(include_removed=include_removed)
        return {(x.recording_id, x.action_id, x.confidence) for x in found}


@pytest.fixture
def world() -> World:
    return World()


def action(aid: str, start: datetime, minutes: int = 10, officers: str = "001", case: str = "") -> Action:
    return Action(
        case or f"C-{aid}", aid, "seizure", "Unit 1", tuple(officers.split(";")), start, start + minutes * M
    )


def csv_file(path: Path, *actions: Action) -> Path:
    lines = [HEADER] + [",".join(a.as_record().values()) for a in actions]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --- reading import files ---------------------------------------------------------------


def test_an_import_links_the_footage_of_the_actions_it_added(world: World, tmp_path: Path) -> None:
    rid = world.recording("CAM1", "001", T0, T0 + 10 * M)
    outcome, run = world.service.import_actions(csv_file(tmp_path / "a.csv", action("A", T0)), "clerk")
    assert outcome == ImportOutcome(("A",), (), 0)
    assert (run.examined, [(x.recording_id, x.action_id, x.confidence) for x in run.created]) == (
        1,
        [(rid, "A", "auto")],
    )
    assert world.stores.action_history("A")[0]["source"] == str(tmp_path / "a.csv")
    assert world.stores.action_history("A")[0]["actor"] == "clerk"


def test_the_same_file_again_changes_nothing_and_looks_at_no_recording(world: World, tmp_path: Path) -> None:
    world.recording("CAM1", "001", T0, T0 + 10 * M)
    path = csv_file(tmp_path / "a.csv", action("A", T0), action("B", T0 + 5 * H))
    world.service.import_actions(path, "clerk")
    outcome, run = world.service.import_actions(path, "clerk")
    assert outcome == ImportOutcome((), (), 2)
    assert (run.examined, run.created) == (0, ())


def test_a_changed_action_is_linked_anew_over_its_new_window(world: World, tmp_path: Path) -> None:
    world.service.import_actions(csv_file(tmp_path / "a.csv", action("A", T0)), "clerk")
    later = world.recording("CAM1", "001", T0 + 3 * H, T0 + 3 * H + 5 * M)
    moved = action("A", T0 + 3 * H)  # the case system corrected its time
    outcome, run = world.service.import_actions(csv_file(tmp_path / "b.csv", moved), "clerk")
    assert outcome == ImportOutcome((), ("A",), 0)
    assert [(x.recording_id, x.action_id) for x in run.created] == [(later, "A")]


def test_json_is_told_from_csv_by_the_name_or_else_by_the_first_character(
    world: World, tmp_path: Path
) -> None:
    record = action("J", T0).as_record()
    named = tmp_path / "export.json"
    named.write_text(json.dumps([record]), encoding="utf-8")
    unnamed = tmp_path / "export"  # no extension: a leading "[" (after a BOM and blanks) says JSON
    unnamed.write_text("\ufeff \n" + json.dumps([record | {"action_id": "K"}]), encoding="utf-8")
    as_csv = csv_file(tmp_path / "export.txt", action("L", T0))
    for path in (named, unnamed, as_csv):
        world.service.import_actions(path, "clerk")
    assert [a.action_id for a in world.service.actions()] == ["J", "K", "L"]
    # a .csv name is read as CSV whatever it holds: JSON in it is a bad CSV, not JSON
    wrong = tmp_path / "wrong.csv"
    wrong.write_text(json.dumps([record]), encoding="utf-8")
    with pytest.raises(ImportRejected, match="missing column"):
        world.service.import_actions(wrong, "clerk")


def test_a_bad_file_stores_nothing_and_names_every_problem(world: World, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        HEADER
        + "\nC9,A90,seizure,Unit 1,001,2026-11-27T08:00:00+08:00,2026-11-27T09:00:00+08:00,,,\n"
        + "C9,A91,arrest,Unit 1,,2026-11-27T08:00:00,2026-11-27T07:00:00+08:00,,,\n",
        encoding="utf-8",
    )
    with pytest.raises(ImportRejected) as info:
        world.service.import_actions(bad, "clerk")
    assert {(p.row, p.column) for p in info.value.problems} >= {
        (2, "action_type"),
        (2, "officers"),
        (2, "start"),
    }
    assert world.stores.held_actions == {} and world.stores.log == []  # not even the good row


@pytest.mark.parametrize(
    ("content", "why"),
    [(None, "no such file"), (b"case_id\n\xff\xfe\n", "not UTF-8 text"), ("folder", "cannot read")],
)
def test_a_file_that_cannot_be_read_is_a_usage_error(
    world: World, tmp_path: Path, content: bytes | str | None, why: str
) -> None:
    path = tmp_path / "actions.csv"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content == "folder":
        path.mkdir()
    with pytest.raises(UsageError, match=f"{path}: {why}"):
        world.service.import_actions(path, "clerk")
    with pytest.raises(UsageError, match=f"{path}: {why}"):
        world.service.import_checkouts(path, "clerk")
    assert world.stores.log == []


def test_an_action_added_by_hand_is_checked_like_an_import_and_linked(world: World) -> None:
    rid = world.recording("CAM1", "001", T0, T0 + 10 * M)
    record = action("H", T0).as_record()
    outcome, run = world.service.add_action(record, "clerk")
    assert outcome.added == ("H",) and [x.recording_id for x in run.created] == [rid]
    assert world.stores.action_history("H")[0]["source"] == "case add"
    outcome, run = world.service.add_action(record, "clerk")  # the same again
    assert outcome == ImportOutcome((), (), 1) and run.examined == 0
    with pytest.raises(ImportRejected, match="unknown action type"):
        world.service.add_action(record | {"action_id": "X", "action_type": "arrest"}, "clerk")
    assert [a.action_id for a in world.service.actions()] == ["H"]


# --- the ledger ---------------------------------------------------------------------------


def test_a_camera_still_out_is_linked_up_to_now(world: World, tmp_path: Path) -> None:
    world.clock.now = T0 + 4 * H
    world.service.import_actions(csv_file(tmp_path / "a.csv", action("A", T0 + 2 * H)), "clerk")
    # no officer in the clip's metadata: only the ledger says who wore CAM1
    rid = world.recording("CAM1", None, T0 + 2 * H, T0 + 2 * H + 5 * M)
    ledger = tmp_path / "ledger.json"
    ledger.write_text(json.dumps([{"device": "CAM1", "officer": "001", "start": "2026-11-26T07:00:00Z"}]))
    outcome, run = world.service.import_checkouts(ledger, "clerk")
    assert outcome.added and world.service.checkouts(device="CAM1") == [Checkout("CAM1", "001", T0 - H)]
    assert [(x.recording_id, x.action_id, x.basis, x.confidence) for x in run.created] == [
        (rid, "A", "checkout", "auto")
    ]


# --- which recordings a linking run looks at ----------------------------------------------


def test_the_window_is_widened_by_the_slack_each_side(world: World, tmp_path: Path) -> None:
    slack = DeadlineSettings().link_slack
    end = T0 + 10 * M
    inside = world.recording("CAM1", "001", end + slack - M, end + slack + M)
    world.recording("CAM1", "001", end + slack + M, end + slack + 2 * M)  # beyond the slack
    _, run = world.service.import_actions(csv_file(tmp_path / "a.csv", action("A", T0)), "clerk")
    assert run.examined == 1 and [x.recording_id for x in run.created] == [inside]


def test_close_actions_are_looked_at_in_one_window(world: World, tmp_path: Path) -> None:
    # A and B are 40 minutes apart: one window, so the clip across both is looked at once
    a, b = action("A", T0), action("B", T0 + 50 * M)
    across = world.recording("CAM1", "001", T0, T0 + H)
    far = action("C", T0 + 5 * H)
    world.recording("CAM1", "001", far.start, far.end)
    _, run = world.service.import_actions(csv_file(tmp_path / "a.csv", a, b, far), "clerk")
    assert run.examined == 2
    assert {(x.recording_id, x.action_id) for x in run.created if x.recording_id == across} == {
        (across, "A"),
        (across, "B"),
    }


def test_new_recordings_are_linked_once_each_in_batches(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cases_module, "_BATCH", 2)
    # a backlog over three days, one action a day
    days = [T0 + timedelta(days=n) for n in range(3)]
    world.stores.upsert_actions([action(f"D{n}", day) for n, day in enumerate(days)], T0, "a.csv", "clerk")
    clips = [world.recording("CAM1", "001", day, day + 5 * M) for day in days for _ in range(2)]
    run = world.service.link_new_recordings()
    assert run.examined == 6
    assert {(x.recording_id, x.action_id) for x in run.created} == {
        (clip, f"D{n // 2}") for n, clip in enumerate(clips)
    }
    assert world.stores.cursor(LINK_CURSOR) > 0
    again = world.service.link_new_recordings()
    assert (again.examined, again.created) == (0, ())
    newer = world.recording("CAM1", "001", days[0], days[0] + M)
    assert [(x.recording_id, x.action_id) for x in world.service.link_new_recordings().created] == [
        (newer, "D0")
    ]


# --- a person's links ------------------------------------------------------------------------


def test_a_person_confirms_a_suggestion_and_removes_a_wrong_link(world: World, tmp_path: Path) -> None:
    # two actions of 001 overlap the clip: both only suggested
    world.service.import_actions(
        csv_file(tmp_path / "a.csv", action("A", T0), action("B", T0 + 5 * M)), "clerk"
    )
    rid = world.recording("CAM1", "001", T0 + 2 * M, T0 + 8 * M)
    world.service.link_new_recordings()
    assert world.links() == {(rid, "A", "suggested"), (rid, "B", "suggested")}
    world.clock.advance(60)
    confirmed = world.service.link(rid, "A", "sgt 9", "inspection per the notes")
    assert (confirmed.confidence, confirmed.created_by) == ("confirmed", "sgt 9")
    assert world.service.unlink(rid, "B", "sgt 9", "wrong action") == 1
    assert world.links() == {(rid, "A", "confirmed")}
    [removed] = [x for x in world.stores.links(include_removed=True) if x.removed_at is not None]
    assert (removed.removed_at, removed.removed_by, removed.removed_reason) == (
        world.clock(),
        "sgt 9",
        "wrong action",
    )
    # relinking the action does not bring the removed link back
    world.service.relink(world.service.case("B"))
    assert world.links() == {(rid, "A", "confirmed")}


@pytest.mark.parametrize(("by", "reason"), [("", "inspection"), ("sgt 9", ""), (" ", "x"), ("sgt 9", "\t ")])
def test_a_link_or_unlink_without_who_and_why_changes_nothing(world: World, by: str, reason: str) -> None:
    world.stores.upsert_actions([action("A", T0)], T0, "a.csv", "clerk")
    rid = world.recording("CAM1", "001", T0, T0 + M)
    world.service.link(rid, "A", "sgt 9", "seen on the footage")
    before = list(world.stores.log)
    with pytest.raises(UsageError, match=r"a manual link needs who \(--by\) and why \(--reason\)"):
        world.service.link(rid, "A", by, reason)
    with pytest.raises(UsageError, match=r"an unlink needs who \(--by\) and why \(--reason\)"):
        world.service.unlink(rid, "A", by, reason)
    assert world.stores.log == before and world.links() == {(rid, "A", "manual")}


def test_links_and_unlinks_of_what_does_not_exist_are_not_found(world: World) -> None:
    world.stores.upsert_actions([action("A", T0)], T0, "a.csv", "clerk")
    rid = world.recording("CAM1", "001", T0 + 5 * H, T0 + 6 * H)
    with pytest.raises(NotFound, match="action 'Z'"):
        world.service.link(rid, "Z", "sgt 9", "why")
    with pytest.raises(NotFound, match="link"):
        world.service.unlink(rid, "A", "sgt 9", "never linked")


# --- queries ----------------------------------------------------------------------------------


def test_a_case_is_found_by_its_id_or_by_one_of_its_actions(world: World) -> None:
    world.stores.upsert_actions(
        [action("A5", T0, case="C5"), action("A6", T0 + H, case="C5"), action("A7", T0, case="C7")],
        T0,
        "a.csv",
        "clerk",
    )
    assert [a.action_id for a in world.service.case("C5")] == ["A5", "A6"]
    assert [a.action_id for a in world.service.case("A6")] == ["A5", "A6"]
    assert world.service.action("A7").case_id == "C7"
    with pytest.raises(NotFound, match="case 'C9'"):
        world.service.case("C9")
    with pytest.raises(NotFound, match="action 'C5'"):
        world.service.action("C5")


def test_links_of_the_actions_a_query_finds_and_none_when_it_finds_none(world: World) -> None:
    world.stores.upsert_actions([action("A", T0), action("B", T0, officers="002")], T0, "a.csv", "clerk")
    mine = world.recording("CAM1", "001", T0, T0 + M)
    theirs = world.recording("CAM2", "002", T0, T0 + M)
    world.service.link_new_recordings()

    def linked(query: ActionQuery) -> list[tuple[str, str]]:
        return [(x.recording_id, x.action_id) for x in world.service.links_for(query)]

    assert linked(ActionQuery(officer="002")) == [(theirs, "B")]
    assert linked(ActionQuery(device="CAM1")) == [(mine, "A")]
    assert linked(ActionQuery(case_id="no such case")) == []  # not every link
    world.service.unlink(mine, "A", "sgt 9", "wrong")
    assert linked(ActionQuery(action_id="A")) == []
    assert [
        x.removed_by for x in world.service.links_for(ActionQuery(action_id="A"), include_removed=True)
    ] == ["sgt 9"]
