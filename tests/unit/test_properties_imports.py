"""Property test of the import parsers: whatever an actions or ledger file holds, the only
answer is a refusal with rows and columns (``ImportRejected``), never another exception.

Needs the import checks of issue 7, items 10 and 19 (absurd dates, deep JSON refused)."""

from __future__ import annotations

import csv
import io
import json
from contextlib import suppress

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import TEXT, TIMES

from recorder_sync.domain import cases
from recorder_sync.domain.errors import Error

VALUES = st.one_of(
    TIMES,
    TEXT,
    st.sampled_from(["seizure", "031245;031246", "9999-12-31T23:00:00Z", "0001-01-01T00:00:00+01:00"]),
)
ACTIONS = st.lists(st.fixed_dictionaries({c: VALUES for c in cases.ACTION_COLUMNS}), max_size=3)
LEDGER = st.lists(st.fixed_dictionaries({c: VALUES for c in cases.CHECKOUT_COLUMNS}), max_size=3)


def _csv(rows: list[dict[str, str]], columns: tuple[str, ...]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, columns)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(actions=ACTIONS, ledger=LEDGER, depth=st.integers(1, 100_000), raw=st.text(max_size=200))
def test_import_files_raise_nothing_but_our_errors(
    actions: list[dict[str, str]], ledger: list[dict[str, str]], depth: int, raw: str
) -> None:
    policy = ["seizure", "other"]
    attempts = [
        lambda: cases.parse_actions_json(json.dumps(actions), policy),
        lambda: cases.parse_actions_csv(_csv(actions, cases.ACTION_COLUMNS), policy),
        lambda: cases.parse_checkouts_json(json.dumps(ledger)),
        lambda: cases.parse_checkouts_csv(_csv(ledger, cases.CHECKOUT_COLUMNS)),
        lambda: cases.parse_actions_json("[" * depth + "]" * depth, policy),
        lambda: cases.parse_actions_csv(raw, policy),
        lambda: cases.parse_checkouts_json(raw),
    ]
    for parse in attempts:
        with suppress(Error):  # a refusal listing rows and columns is the answer to bad input
            parse()
