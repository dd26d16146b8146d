"""Which docks overlap our own folders and files, or each other (pure decisions)."""

from __future__ import annotations

from pathlib import PurePosixPath as P

from recorder_sync.domain.places import Place, dock_overlaps, relation


def test_paths_equal_inside_above_and_apart() -> None:
    home = Place("home", P("/srv/rs"))
    assert relation(Place("dock", P("/srv/rs")), home) == "the same as"
    assert relation(Place("dock", P("/srv/rs/vault/x")), home) == "inside"
    assert relation(Place("dock", P("/srv")), home) == "above"
    assert relation(Place("dock", P("/")), home) == "above"
    assert relation(Place("dock", P("/srv/rs2")), home) is None  # a shared prefix is not nesting
    assert relation(Place("dock", P("/mnt/cam")), home) is None


def test_a_bind_mount_is_caught_by_device_and_inode() -> None:
    # /mnt/cam is /srv under another name: paths differ, identities do not
    vault = Place("vault", P("/srv/rs/vault"), own=(1, 30), above=frozenset({(1, 2), (1, 10), (1, 20)}))
    assert relation(Place("dock", P("/mnt/cam"), own=(1, 10), above=frozenset({(5, 2)})), vault) == "above"
    assert relation(Place("dock", P("/mnt/cam"), own=(1, 30)), vault) == "the same as"
    inside = Place("dock", P("/mnt/cam/disk"), own=(1, 40), above=frozenset({(1, 30), (5, 2)}))
    assert relation(inside, vault) == "inside"
    apart = Place("dock", P("/mnt/cam"), own=(9, 1), above=frozenset({(5, 2)}))
    assert relation(apart, vault) is None


def test_every_overlap_is_named_with_both_paths_and_docks_are_compared_with_each_other() -> None:
    ours = [Place("the vault", P("/mnt/disk/vault")), Place("the database", P("/var/lib/rs/rs.db"))]
    docks = [
        Place("dock 'a'", P("/mnt")),
        Place("dock 'b'", P("/media/cam1")),
        Place("dock 'c'", P("/media/cam1/DCIM")),
        Place("dock 'd'", P("/media/cam2")),
    ]
    assert dock_overlaps(docks, ours) == [
        "dock 'a' /mnt is above the vault /mnt/disk/vault",
        "dock 'b' /media/cam1 is above dock 'c' /media/cam1/DCIM",
    ]
    assert dock_overlaps([Place("dock 'x'", P("/var/lib/rs"))], ours) == [
        "dock 'x' /var/lib/rs is above the database /var/lib/rs/rs.db"
    ]
    assert dock_overlaps(docks[1:2] + docks[3:], ours) == []
    # the first of ours that a dock overlaps is enough to say
    said = dock_overlaps([Place("dock 'y'", P("/"))], ours)
    assert said == ["dock 'y' / is above the vault /mnt/disk/vault"]


def test_one_sentence_per_dock_about_the_nearest_of_ours() -> None:
    ours = [Place("home", P("/srv/rs")), Place("vault", P("/srv/rs/vault")), Place("key", P("/srv/rs/k/a"))]
    for dock, said in (
        ("/srv/rs/vault/x", "inside vault /srv/rs/vault"),
        ("/srv/rs", "the same as home /srv/rs"),
        ("/srv", "above home /srv/rs"),
        ("/srv/rs/k", "inside home /srv/rs"),
    ):
        assert dock_overlaps([Place("d", P(dock))], ours) == [f"d {dock} is {said}"]
