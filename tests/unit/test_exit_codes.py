"""Exit codes: each error class owns its code, and the table people read (``--help``, the
README) is made from the classes or held to them, so the two cannot disagree."""

from __future__ import annotations

import re
from pathlib import Path

import recorder_sync.adapters.s3store  # every module that defines an Error is loaded
import recorder_sync.apps.cli
from recorder_sync.apps.cli import build_parser
from recorder_sync.domain import errors
from recorder_sync.domain.errors import CouldNotCheck, Error, StorageRejected, exit_codes

README = Path(__file__).resolve().parents[2] / "README.md"


def every_error_class(root: type[Error] = Error) -> list[type[Error]]:
    found = [root]
    for sub in root.__subclasses__():
        found += every_error_class(sub)
    return found


def test_every_error_class_has_a_code_the_table_explains() -> None:
    table = exit_codes()
    for cls in every_error_class():
        assert cls.exit_code in table, f"{cls.__name__}: exit {cls.exit_code} is not in the table"
    # a code is explained once: two families must not give one code two meanings
    said: dict[int, str] = {}
    for cls in every_error_class():
        meaning = cls.__dict__.get("exit_meaning")
        if meaning is not None:
            assert said.setdefault(cls.exit_code, meaning) == meaning, cls.__name__
    assert {errors.EXIT_DONE, errors.EXIT_BUG, errors.EXIT_INTERRUPTED, errors.EXIT_BROKEN_PIPE} <= set(table)


def test_storage_rejected_is_a_could_not_check_error() -> None:
    assert issubclass(StorageRejected, CouldNotCheck)
    assert StorageRejected("x").exit_code == CouldNotCheck.exit_code == 4


def test_help_prints_the_table_from_the_classes() -> None:
    text = build_parser().format_help()
    for code, meaning in exit_codes().items():
        assert re.search(rf"^\s+{code}\s+{re.escape(meaning)}$", text, re.MULTILINE), code
    # the module's docstring keeps no copy of the table that could go stale
    assert "130" not in (recorder_sync.apps.cli.__doc__ or "")


def test_readme_exit_code_table_is_the_classes_table() -> None:
    text = README.read_text(encoding="utf-8")
    section = text.split("### Exit codes", 1)[1].split("\n#", 1)[0]
    rows = re.findall(r"^\| (\d+) \| (.+?) \|$", section, re.MULTILINE)
    assert {int(code): meaning for code, meaning in rows} == exit_codes()
