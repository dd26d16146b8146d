"""The ``LinkStore`` contract, on the in-memory fake and on the SQL case book (SQLite and
PostgreSQL): what automatic proposals make and leave alone, a person's link and unlink (who
and why kept, a removed link never proposed again), and what the queries return."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from casebooks import CASE_BACKENDS, Cases, case_stores

from recorder_sync.domain.cases import Action, ActionQuery
from recorder_sync.domain.errors import NotFound
from recorder_sync.domain.linking import Basis, Confidence, LinkProposal
from recorder_sync.domain.subjects import action_subject
from recorder_sync.domain.times import utc_iso

T0 = datetime(2026, 6, 1, 8, tzinfo=UTC)
H = timedelta(hours=1)


@dataclass
class World:
    """Actions A and B of officer 001; recordings r1 and r2 from CAM1, r3 from CAM2."""

    cases: Cases
    r1: str
    r2: str
    r3: str


@pytest.fixture(params=CASE_BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    with case_stores(request.param, request, tmp_path) as cases:
        actions = [Action(f"C-{a}", a, "seizure", "Unit 1", ("001",), T0, T0 + H) for a in ("A", "B")]
        cases.stores.upsert_actions(actions, T0, "a.csv", "clerk")
        r1, r2, r3 = (
            cases.add_recording(device, "001", T0, T0 + H, ingested_at=T0 + 2 * H)
            for device in ("CAM1", "CAM1", "CAM2")
        )
        yield World(cases, r1, r2, r3)


def proposal(rid: str, aid: str, confidence: Confidence = Confidence.AUTO) -> LinkProposal:
    return LinkProposal(rid, aid, Basis.OFFICER, confidence, "001")


def pairs(
    world: World,
    *,
    recording_ids: list[str] | None = None,
    action_ids: list[str] | None = None,
    include_removed: bool = False,
    device: str | None = None,
) -> list[tuple[str, str, str]]:
    found = world.cases.stores.links(
        recording_ids=recording_ids, action_ids=action_ids, include_removed=include_removed, device=device
    )
    return [(x.recording_id, x.action_id, x.confidence) for x in found]


def test_proposals_make_links_once(world: World) -> None:
    store, now = world.cases.stores, T0 + 3 * H
    proposals = [proposal(world.r1, "A"), proposal(world.r2, "A", Confidence.SUGGESTED)]
    made = store.apply_proposals(proposals, now)
    p = proposal(world.r1, "A")
    assert [
        (x.recording_id, x.action_id, x.basis, x.confidence, x.officer, x.created_by, x.reason, x.created_at)
        for x in made
    ] == [
        (world.r1, "A", "officer", "auto", "001", "auto-link", p.reason, now),
        (world.r2, "A", "officer", "suggested", "001", "auto-link", p.reason, now),
    ]
    assert store.apply_proposals(proposals, now) == []
    assert len(store.links()) == 2
    assert [(k, s, r, a) for k, s, r, a, _ in world.cases.events() if k == "linked"] == [
        ("linked", action_subject("A"), world.r1, "auto-link"),
        ("linked", action_subject("A"), world.r2, "auto-link"),
    ]


def test_a_suggestion_the_evidence_now_supports_becomes_auto(world: World) -> None:
    store = world.cases.stores
    store.apply_proposals([proposal(world.r1, "A", Confidence.SUGGESTED)], T0 + 3 * H)
    assert store.apply_proposals([proposal(world.r1, "A")], T0 + 4 * H) == []  # nothing new made
    [link] = store.links()
    assert (link.confidence, link.created_at) == ("auto", T0 + 3 * H)
    assert len([e for e in world.cases.events() if e[0] == "linked"]) == 2  # the upgrade is an event
    # and an auto link is never taken back down by a weaker proposal
    store.apply_proposals([proposal(world.r1, "A", Confidence.SUGGESTED)], T0 + 5 * H)
    assert pairs(world) == [(world.r1, "A", "auto")]


def test_a_person_links_and_confirms_with_who_and_why(world: World) -> None:
    store = world.cases.stores
    store.apply_proposals([proposal(world.r2, "A", Confidence.SUGGESTED)], T0 + 3 * H)
    manual = store.link(world.r1, "B", "sgt 9", "seen on the footage", T0 + 4 * H)
    assert (manual.basis, manual.confidence, manual.officer, manual.created_by, manual.reason) == (
        "manual",
        "manual",
        None,
        "sgt 9",
        "seen on the footage",
    )
    assert manual.created_at == T0 + 4 * H
    confirmed = store.link(world.r2, "A", "sgt 9", "checked the notes", T0 + 5 * H)
    assert (confirmed.basis, confirmed.confidence, confirmed.created_by, confirmed.reason) == (
        "officer",
        "confirmed",
        "sgt 9",
        "checked the notes",
    )
    assert confirmed.created_at == T0 + 3 * H  # when it was first proposed
    before = world.cases.events()
    # linking a pair that is already linked for good changes nothing
    assert store.link(world.r2, "A", "sgt 10", "again", T0 + 6 * H) == confirmed
    assert world.cases.events() == before
    assert [(k, r, a, why) for k, _, r, a, why in before if k == "linked"][-2:] == [
        ("linked", world.r1, "sgt 9", "seen on the footage"),
        ("linked", world.r2, "sgt 9", "checked the notes"),
    ]


def test_a_link_needs_a_known_recording_and_action(world: World) -> None:
    store = world.cases.stores
    with pytest.raises(NotFound, match="recording 'rec-nope'"):
        store.link("rec-nope", "A", "sgt 9", "why", T0)
    with pytest.raises(NotFound, match="action 'Z'"):
        store.link(world.r1, "Z", "sgt 9", "why", T0)
    assert store.links(include_removed=True) == []


def test_an_unlink_keeps_the_link_with_who_and_why_and_it_is_not_proposed_again(world: World) -> None:
    store, now = world.cases.stores, T0 + 4 * H
    store.apply_proposals([proposal(world.r1, "A")], T0 + 3 * H)
    assert store.unlink(world.r1, "A", "sgt 9", "wrong action", now) == 1
    assert store.links() == []
    [gone] = store.links(include_removed=True)
    assert (gone.removed_at, gone.removed_by, gone.removed_reason) == (now, "sgt 9", "wrong action")
    assert world.cases.events()[-1] == ("unlinked", action_subject("A"), world.r1, "sgt 9", "wrong action")
    assert store.apply_proposals([proposal(world.r1, "A")], T0 + 5 * H) == []
    assert store.links() == []
    with pytest.raises(NotFound, match="link"):
        store.unlink(world.r1, "A", "sgt 9", "twice", now)
    # a person may link it again: a new manual link beside the removed one
    store.link(world.r1, "A", "sgt 9", "right action after all", T0 + 6 * H)
    assert pairs(world) == [(world.r1, "A", "manual")]
    assert pairs(world, include_removed=True) == [(world.r1, "A", "auto"), (world.r1, "A", "manual")]


def test_queries_by_recording_action_and_device(world: World) -> None:
    store = world.cases.stores
    store.apply_proposals(
        [proposal(world.r3, "A"), proposal(world.r1, "B"), proposal(world.r1, "A"), proposal(world.r2, "B")],
        T0 + 3 * H,
    )
    store.unlink(world.r2, "B", "sgt 9", "not there", T0 + 4 * H)
    r1, r3 = world.r1, world.r3
    by_pair = sorted([(r1, "A"), (r3, "A"), (r1, "B")], key=lambda p: (p[1], p[0]))
    assert [(x.recording_id, x.action_id) for x in store.links()] == by_pair  # by action, then recording
    assert pairs(world, recording_ids=[r1]) == [(r1, "A", "auto"), (r1, "B", "auto")]
    assert pairs(world, action_ids=["B"]) == [(r1, "B", "auto")]
    assert [p[:2] for p in pairs(world, action_ids=["B"], include_removed=True)] == sorted(
        [(r1, "B"), (world.r2, "B")]
    )
    assert pairs(world, device="CAM2") == [(r3, "A", "auto")]
    assert pairs(world, action_ids=["A"], device="CAM1") == [(r1, "A", "auto")]
    assert pairs(world, action_ids=[]) == []  # no action asked for: no link, not every link
    assert pairs(world, recording_ids=["rec-nope"]) == []


def test_actions_with_footage_from_a_device_go_through_the_active_links(world: World) -> None:
    store = world.cases.stores
    store.apply_proposals([proposal(world.r3, "A"), proposal(world.r1, "B")], T0 + 3 * H)

    def filmed_by(device: str) -> list[str]:
        return [a.action_id for a in store.actions(ActionQuery(device=device))]

    assert (filmed_by("CAM1"), filmed_by("CAM2"), filmed_by("CAM9")) == (["B"], ["A"], [])
    store.unlink(world.r3, "A", "sgt 9", "not there", T0 + 4 * H)
    assert filmed_by("CAM2") == []


def test_times_come_back_as_they_went_in(world: World) -> None:
    store = world.cases.stores
    odd = T0 + timedelta(seconds=7, microseconds=250_000)
    link = store.link(world.r1, "A", "sgt 9", "why", odd)
    [stored] = store.links()
    assert stored == link and utc_iso(stored.created_at) == utc_iso(odd)
