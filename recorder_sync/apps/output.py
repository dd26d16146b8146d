"""Lists print as aligned tables or as JSON; progress goes to stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any


def emit_json(value: Any) -> None:
    json.dump(value, sys.stdout, ensure_ascii=False, indent=2, default=str)
    sys.stdout.write("\n")


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> None:
    def cell(v: Any) -> str:
        return "" if v is None else printable(str(v))

    cells = [[cell(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    print("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def printable(text: str) -> str:
    """File names from cameras may hold newlines or control characters: show them escaped."""
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


def progress(what: str, subject: str) -> None:
    print(f"{what:>10}  {printable(subject)}", file=sys.stderr, flush=True)
