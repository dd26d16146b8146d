"""Hypothesis strategies for what a camera or a dock can hold: times at the calendar's edges,
text with the characters that hurt, JSON of any shape and depth."""

from __future__ import annotations

import json

from hypothesis import strategies as st

# times a camera with a reset, broken or hostile clock writes, at and around the calendar's edges
EDGE_TIMES = st.sampled_from(
    [
        "0001-01-01T00:00:00",
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59",
        "9999-12-31T23:59:59-12:00",
        "9999-12-31T23:59:59.999999Z",
        "1904-01-01T00:00:00Z",
        "1970-01-01T00:00:00",
        "2000-01-01T00:00:00+00:01",
        "2099-12-31T23:59:59-01:00",
        "2026-11-27T08:30:15",
        "2026-02-30T00:00:00",
        "2026-11-27T24:00:00",
        "",
    ]
)
TIMES = st.one_of(
    EDGE_TIMES,
    st.datetimes(timezones=st.none() | st.timezones()).map(lambda t: t.isoformat()),
    st.text(max_size=40),
)
# text with the characters that hurt: NUL, escapes, newlines, bidi overrides, lone surrogates
HOSTILE_CHARS = st.sampled_from(
    ["\x00", "\x1b[2J", "\n", "\r", "\u202e", "\u2028", "\ud800", "\x85", "\xa0", "%s", "{}"]
)
TEXT = st.one_of(
    st.text(max_size=120),
    st.lists(st.one_of(HOSTILE_CHARS, st.text(max_size=5)), max_size=8).map("".join),
)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), TEXT, TIMES)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
KEYS = st.sampled_from(["device", "officer", "seq", "start", "end", "important", "camera_time", "x"])


def sidecar_docs() -> st.SearchStrategy[str]:
    objects = st.dictionaries(KEYS, st.one_of(JSON_VALUES, TIMES), max_size=7)
    nested = st.integers(min_value=1, max_value=200_000).map(lambda n: "[" * n + "]" * n)
    return st.one_of(
        objects.map(json.dumps),
        objects.map(lambda d: json.dumps(d, ensure_ascii=False)),
        JSON_VALUES.map(json.dumps),
        nested,
        st.text(max_size=200),
    )
