"""Whether a dock overlaps a folder or file of ours (pure: the facts come from an adapter).

A dock is emptied as it is ingested. A dock that is, holds or lies inside our home,
vault, key or database would ingest our own files as evidence and then delete them;
two docks that nest would ingest the same files twice. Paths alone do not show every
overlap (a bind mount shows one folder under two names), so each place also carries
the (device, inode) of itself and of every folder above it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

FileId = tuple[int, int]
"""(device, inode)"""


@dataclass(frozen=True)
class Place:
    """A folder or file as found on disk.

    ``path`` is absolute with every link resolved; ``own`` is its (device, inode), None
    when it does not exist (yet); ``above`` holds the (device, inode) of each existing
    folder above it."""

    what: str
    path: PurePosixPath
    own: FileId | None = None
    above: frozenset[FileId] = frozenset()


def relation(a: Place, b: Place) -> str | None:
    """How ``a`` lies against ``b``: 'the same as', 'inside', 'above', or None when apart."""
    if a.path == b.path or (a.own is not None and a.own == b.own):
        return "the same as"
    if b.path in a.path.parents or (b.own is not None and b.own in a.above):
        return "inside"
    if a.path in b.path.parents or (a.own is not None and a.own in b.above):
        return "above"
    return None


def dock_overlaps(docks: Sequence[Place], ours: Sequence[Place]) -> list[str]:
    """Each dock that overlaps one of ours or another dock; one sentence each, naming both.

    Against ours, one sentence per dock is enough, about the nearest of ours: a dock that
    is the home need not be said to hold the vault too."""
    problems: list[str] = []
    for i, dock in enumerate(docks):
        found = [(how, other) for other in ours if (how := relation(dock, other)) is not None]
        nearest = sorted(found, key=lambda f: _nearness(*f))[:1]
        nearest += [(how, other) for other in docks[i + 1 :] if (how := relation(dock, other)) is not None]
        problems += [f"{dock.what} {dock.path} is {how} {other.what} {other.path}" for how, other in nearest]
    return problems


def _nearness(how: str, other: Place) -> tuple[int, int]:
    """The same place first, then the deepest folder a dock lies in, then the highest one it holds."""
    depth = len(other.path.parts)
    return {"the same as": (0, 0), "inside": (1, -depth)}.get(how, (2, depth))
