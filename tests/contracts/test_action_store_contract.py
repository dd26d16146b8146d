"""The ``ActionStore`` contract, on the in-memory fake and on the SQL case book (SQLite and
PostgreSQL): what an import says it did (added, changed, unchanged), the versions it keeps,
the custody event of each change and of nothing else, and the queries' filters and order."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from casebooks import CASE_BACKENDS, Cases, case_stores

from recorder_sync.domain.cases import Action, ActionQuery, ImportOutcome
from recorder_sync.domain.subjects import action_subject

T0 = datetime(2026, 6, 1, 8, tzinfo=UTC)
H = timedelta(hours=1)


@pytest.fixture(params=CASE_BACKENDS)
def cases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cases]:
    with case_stores(request.param, request, tmp_path) as c:
        yield c


def action(aid: str, start: datetime, *, officers: str = "001", case: str = "", target: str = "") -> Action:
    return Action(
        case or f"C-{aid}",
        aid,
        "seizure",
        "Unit 1",
        tuple(officers.split(";")),
        start,
        start + H,
        target_id=target,
        target_name=f"name of {target}" if target else "",
    )


def test_an_import_says_what_it_added_changed_and_left_alone(cases: Cases) -> None:
    store = cases.stores
    a, b = action("A", T0), action("B", T0 + H)
    assert store.upsert_actions([a, b], T0, "first.csv", "clerk 1") == ImportOutcome(("A", "B"), (), 0)
    moved = action("B", T0 + 2 * H, officers="001;002")
    again = store.upsert_actions([a, moved, action("C", T0)], T0 + H, "second.csv", "clerk 2")
    assert again == ImportOutcome(("C",), ("B",), 1)
    assert store.actions(ActionQuery(action_id="B")) == [moved]
    # each change is a custody event naming who imported it; the unchanged line wrote none
    assert [(kind, subject, actor) for kind, subject, _, actor, _ in cases.events()] == [
        ("action-imported", action_subject("A"), "clerk 1"),
        ("action-imported", action_subject("B"), "clerk 1"),
        ("action-imported", action_subject("B"), "clerk 2"),
        ("action-imported", action_subject("C"), "clerk 2"),
    ]


def test_the_same_import_twice_writes_nothing_the_second_time(cases: Cases) -> None:
    store = cases.stores
    actions = [action("A", T0), action("B", T0)]
    store.upsert_actions(actions, T0, "a.csv", "clerk")
    before = cases.events()
    assert store.upsert_actions(actions, T0 + H, "a.csv", "clerk") == ImportOutcome((), (), 2)
    assert cases.events() == before
    assert [h["version"] for h in store.action_history("A")] == [1]


def test_every_version_of_an_action_is_kept_with_who_when_and_from_where(cases: Cases) -> None:
    store = cases.stores
    store.upsert_actions([action("A", T0)], T0, "first.csv", "clerk 1")
    store.upsert_actions([action("A", T0, officers="001;002")], T0 + H, "second.json", "clerk 2")
    history = store.action_history("A")
    assert [(h["version"], h["at"], h["source"], h["actor"]) for h in history] == [
        (1, "2026-06-01T08:00:00+00:00", "first.csv", "clerk 1"),
        (2, "2026-06-01T09:00:00+00:00", "second.json", "clerk 2"),
    ]
    assert [h["record"]["officers"] for h in history] == ["001", "001;002"]
    assert history[1]["record"] == action("A", T0, officers="001;002").as_record()
    assert store.action_history("never imported") == []


def test_queries_filter_on_every_field_given_in_start_order(cases: Cases) -> None:
    store = cases.stores
    late = action("A1", T0 + 2 * H, officers="001;002", case="C1", target="P-1")
    early = action("A2", T0, officers="002", case="C1", target="P-2")
    other = action("A0", T0, officers="003", case="C2", target="P-1")
    store.upsert_actions([late, early, other], T0, "a.csv", "clerk")

    def ids(**query: str) -> list[str]:
        return [a.action_id for a in store.actions(ActionQuery(**query))]

    assert ids() == ["A0", "A2", "A1"]  # by start, then by id
    assert ids(case_id="C1") == ["A2", "A1"]
    assert ids(officer="002") == ["A2", "A1"]
    assert ids(target="P-1") == ["A0", "A1"]
    assert ids(target="name of P-2") == ["A2"]  # the party's name finds it too
    assert ids(case_id="C1", officer="001") == ["A1"]
    assert ids(case_id="C2", officer="001") == []
    assert ids(case_id="") == ["A0", "A2", "A1"]  # an empty field asks for nothing
    assert ids(action_id="nope") == []


def test_overlap_is_inclusive_at_both_ends(cases: Cases) -> None:
    store = cases.stores
    a = action("A", T0)  # 08:00 to 09:00
    store.upsert_actions([a, action("B", T0 + 3 * H)], T0, "a.csv", "clerk")

    def overlapping(lo: datetime, hi: datetime) -> list[str]:
        return sorted(x.action_id for x in store.actions_overlapping(lo, hi))

    assert overlapping(T0 + H, T0 + H) == ["A"]  # touching its end
    assert overlapping(T0 - H, T0) == ["A"]  # touching its start
    assert overlapping(T0 + H + timedelta(seconds=1), T0 + 3 * H - timedelta(seconds=1)) == []
    assert overlapping(T0 - 10 * H, T0 + 10 * H) == ["A", "B"]
