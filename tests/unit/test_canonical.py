"""Canonical JSON: the fast encoder writes byte for byte what RFC 8785 (the ``rfc8785``
reference the project always hashed with) writes, or leaves the value to it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from recorder_sync.domain import canonical
from recorder_sync.domain.canonical import canonical_bytes
from recorder_sync.domain.custody import EventKind, make_event

# every code point, lone surrogates and controls included
CHARS = st.characters(codec=None, exclude_categories=())
KEYS = st.one_of(st.text(CHARS, max_size=6), st.text(st.sampled_from("aAbB_é\U0001f600\uff21"), max_size=4))
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**60), max_value=2**60),
    st.sampled_from([2**53 - 1, -(2**53 - 1), 2**53, -(2**53), 0]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(CHARS, max_size=20),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.tuples(inner, inner), st.dictionaries(KEYS, inner, max_size=5)
    ),
    max_leaves=20,
)


def reference(value: Any) -> bytes | type[Exception]:
    try:
        return rfc8785.dumps(value)
    except Exception as e:
        return type(e)


def ours(value: Any) -> bytes | type[Exception]:
    try:
        return canonical_bytes(value)
    except Exception as e:
        return type(e)


@settings(max_examples=1000, deadline=None)
@given(VALUES)
def test_canonical_bytes_equal_rfc8785_or_the_same_error(value: Any) -> None:
    assert ours(value) == reference(value)


@pytest.mark.parametrize(
    "value",
    [
        {"b": 1, "a": [True, False, None], "c": {"z": '\x00\x1f\x7f"\\\b\f\n\r\t', "y": "ü€\U0001f600"}},
        {"\uff21": 1, "\U0001f600": 2, "a": 3},  # UTF-16 order: the emoji sorts first
        {"n": 2**53 - 1, "m": -(2**53 - 1)},
        {"f": 1.0, "g": 1e21, "h": 1e-7, "i": 0.1},  # JCS numbers, not Python's repr
        {"s": "\ud800"},  # a lone surrogate: refused as rfc8785 refuses it
        {"big": 2**53},  # beyond a double's integers: refused
        ["\u2028\u2029", "/", "<>&'"],
    ],
)
def test_awkward_values_equal_rfc8785(value: Any) -> None:
    assert ours(value) == reference(value)


def test_a_sweep_event_takes_the_fast_path_and_hashes_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    details = {"kind": "footage-missing", "severity": "critical", "detail": "officer ü05: no footage"}
    doc = {
        "seq": 12,
        "prev": "0" * 64,
        "at": "2026-12-20T12:00:00+00:00",
        "action": "flagged",
        "actor": "deadline engine",
        "station": "s",
        "subject": "action:A1",
        "details": details,
    }
    expected = rfc8785.dumps(doc)

    def refused(value: Any) -> bytes:
        raise AssertionError("a plain event went through rfc8785")

    monkeypatch.setattr(canonical.rfc8785, "dumps", refused)
    assert canonical_bytes(doc) == expected
    event = make_event(
        seq=12,
        prev_hash="0" * 64,
        at=datetime(2026, 12, 20, 12, 0, tzinfo=UTC),
        action=EventKind.FLAGGED,
        actor="deadline engine",
        station="s",
        subject="action:A1",
        details=details,
    )
    assert event.body == expected
