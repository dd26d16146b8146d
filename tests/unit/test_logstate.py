"""The pure decisions about the log against what was published, and the checkpoint keys."""

from __future__ import annotations

import pytest

from recorder_sync.domain.checkpoint import Checkpoint
from recorder_sync.domain.layout import check_origin, checkpoint_key, checkpoint_size
from recorder_sync.domain.logstate import Acknowledgement, rollback_problem

ROOT, OTHER = b"\x01" * 32, b"\x02" * 32
PUBLISHED = Checkpoint("recorder-sync/st-1", 10, ROOT)


def test_a_log_that_extends_the_published_checkpoint_has_no_problem() -> None:
    assert rollback_problem(10, ROOT, PUBLISHED) is None
    assert rollback_problem(25, ROOT, PUBLISHED) is None


def test_a_shorter_or_rewritten_log_is_named_with_both_sizes() -> None:
    assert rollback_problem(7, None, PUBLISHED) == (
        "the database's custody log has 7 events, but a checkpoint of 10 was published: "
        "the database was rolled back or its log truncated"
    )
    rewritten = rollback_problem(12, OTHER, PUBLISHED)
    assert rewritten is not None and "its first 10 are not the ones of the checkpoint of 10" in rewritten


def test_an_acknowledgement_covers_exactly_the_checkpoint_it_names() -> None:
    ack = Acknowledgement(10, ROOT, "restored")
    assert ack.covers(PUBLISHED)
    assert not ack.covers(Checkpoint(PUBLISHED.origin, 10, OTHER))
    assert not ack.covers(Checkpoint(PUBLISHED.origin, 11, ROOT))


def test_checkpoint_keys_name_their_size_and_nothing_else() -> None:
    key = checkpoint_key("recorder-sync/st-1", 42)
    assert key == "log/recorder-sync/st-1/checkpoint/00000000000000000042"  # sorts as sizes do
    assert checkpoint_size("recorder-sync/st-1", key) == 42
    nine, ten = checkpoint_key("o", 9), checkpoint_key("o", 10)
    assert sorted([ten, nine]) == [nine, ten]
    for other in (
        "log/recorder-sync/st-1/checkpoint/42",
        "log/recorder-sync/st-1/checkpoint/x",
        "sha256/aa",
    ):
        assert checkpoint_size("recorder-sync/st-1", other) is None


@pytest.mark.parametrize("origin", ["", "a b", "a/../b", "/abs", "a//b", "-x", "a+b"])
def test_an_origin_that_is_not_a_clean_key_prefix_and_note_name_is_refused(origin: str) -> None:
    with pytest.raises(ValueError, match="log origin"):
        check_origin(origin)
