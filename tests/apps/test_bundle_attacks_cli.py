"""A hostile recipient's or forger's bundle against ``verify_bundle.py``: files that are not
regular files, files that no signature covers, malformed JSON, and the README's own
commands run as written.  Each must end in a named ``FAIL`` and exit 3 (or verify, for the
README's commands), never a hang, a traceback or a ``VERIFIED`` over unsigned bytes."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from bundletools import resum
from clirunner import env_for
from test_bundle_cli import IN_CASE, RECIPIENT_ENV, Station

from recorder_sync.domain import bundle

# a hang guard only (a FIFO or /dev/zero read forever), not a timing assertion
HANG_GUARD = 120


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> tuple[Station, Path]:
    """One station and one good bundle of case C1 (SQLite and the vault), copied per test."""
    tmp = tmp_path_factory.mktemp("station")
    station = Station(tmp, env_for(tmp / "home", f"sqlite:///{tmp / 'db.sqlite'}"))
    out = tmp / "bundle"
    r = station.bundle(out)
    assert r.returncode == 0, r.stderr
    return station, out


@pytest.fixture
def copy(good: tuple[Station, Path], tmp_path: Path) -> Path:
    root = tmp_path / "bundle"
    shutil.copytree(good[1], root)
    return root


def checker(root: Path, python: str = sys.executable) -> subprocess.CompletedProcess[str]:
    """The bundle's own verify_bundle.py, run from inside it as the README says."""
    return subprocess.run(
        [python, "verify_bundle.py"],
        cwd=root,
        env=RECIPIENT_ENV,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
    )


def media_of(root: Path, which: int) -> tuple[str, Path]:
    """The sha256 and media file of IN_CASE[which] (0 has a sidecar, 1 has none)."""
    case = json.loads((root / "case.json").read_bytes())
    wanted = {r["original_name"]: r for r in case["recordings"]}
    rec = next(r for name, r in wanted.items() if name.endswith(IN_CASE[which].rsplit("_", 1)[-1]))
    return rec["sha256"], root / rec["media"]


def unlist(root: Path, rel: str) -> None:
    sums = root / "SHA256SUMS"
    kept = [x for x in sums.read_bytes().splitlines(True) if not x.endswith(f"  {rel}\n".encode())]
    sums.write_bytes(b"".join(kept))


def assert_fails(root: Path, check: str, message: str) -> None:
    done = checker(root)
    assert done.returncode == 3, done.stdout + done.stderr
    assert f"FAIL  {check}:" in done.stdout and message in done.stdout, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr


def test_the_good_bundle_verifies_and_shows_each_keys_window(copy: Path) -> None:
    done = checker(copy)
    assert done.returncode == 0 and done.stdout.rstrip().endswith("verdict: VERIFIED"), done.stdout
    # keys.json's windows travel unsigned: shown, to be compared with the agency's like the keys
    [entry] = json.loads((copy / "keys.json").read_bytes())["station_keys"]
    assert f"        valid from {entry['valid_from'].replace('Z', '+00:00')}, with no end\n" in done.stdout


# --- files that are not regular files ------------------------------------------------------


def test_a_fifo_in_place_of_a_media_file_is_refused_not_read_forever(copy: Path) -> None:
    _, media = media_of(copy, 1)
    rel = str(media.relative_to(copy))
    media.unlink()
    unlist(copy, rel)
    os.mkfifo(media)
    assert_fails(copy, "sums", f"{rel} is not a regular file")


def test_a_symlink_to_an_endless_device_is_refused_not_read_forever(copy: Path) -> None:
    _, media = media_of(copy, 1)
    rel = str(media.relative_to(copy))
    media.unlink()
    unlist(copy, rel)
    media.symlink_to("/dev/zero")
    assert_fails(copy, "sums", f"{rel} is not a regular file")


def test_a_symlink_out_of_the_bundle_is_refused_even_when_its_bytes_match(copy: Path, tmp_path: Path) -> None:
    """The bundle is checked on its own bytes: a key read from elsewhere proves nothing."""
    key = sorted(copy.glob("keys/*.pem"))[0]
    outside = tmp_path / "elsewhere.pem"
    shutil.copyfile(key, outside)
    key.unlink()
    key.symlink_to(outside)
    assert subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=copy).returncode == 0
    assert_fails(copy, "sums", f"{key.relative_to(copy)} is not a regular file")


# --- files that no signature covers ---------------------------------------------------------


def test_a_sidecar_added_to_a_recording_whose_manifest_signs_none_fails(copy: Path) -> None:
    sha, _ = media_of(copy, 1)
    manifest = json.loads((copy / bundle.manifest_name(sha)).read_bytes())
    assert "sidecar_sha256" not in manifest
    (copy / bundle.sidecar_name(sha)).write_bytes(b'{"officer": "someone else"}\n')
    resum(copy)
    assert_fails(copy, "media", f"{bundle.sidecar_name(sha)}: its manifest signs no sidecar")


def test_a_sidecar_the_case_lists_but_the_bundle_lacks_fails(copy: Path) -> None:
    sha, _ = media_of(copy, 0)
    (copy / bundle.sidecar_name(sha)).unlink()
    resum(copy)
    assert_fails(copy, "media", f"{bundle.sidecar_name(sha)} is missing")


def test_a_media_file_of_no_recording_fails(copy: Path) -> None:
    forged = b"a video no station signed"
    name = bundle.media_name(hashlib.sha256(forged).hexdigest(), "mp4")
    (copy / name).write_bytes(forged)
    resum(copy)
    assert_fails(copy, "media", f"{name}: no included recording of case.json has it")


def test_an_unsigned_file_among_the_manifests_fails(copy: Path) -> None:
    (copy / "manifests" / "note.txt").write_bytes(b"officer 031245 was not there\n")
    resum(copy)
    assert_fails(copy, "manifests", "manifests/note.txt: not a manifest or its signature")


# --- malformed files: a named failure, not a traceback ---------------------------------------


def _edit_json(rel: str, change: Callable[[dict[str, object]], None]) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        doc = json.loads((root / rel).read_bytes())
        change(doc)
        (root / rel).write_bytes(json.dumps(doc).encode())
        resum(root)

    return edit


def _no_key_id(doc: dict[str, object]) -> None:
    keys = doc["station_keys"]
    assert isinstance(keys, list)
    del keys[0]["key_id"]


def _bad_date(doc: dict[str, object]) -> None:
    keys = doc["station_keys"]
    assert isinstance(keys, list)
    keys[0]["valid_from"] = "0000-13-45"


def _recordings_as_strings(doc: dict[str, object]) -> None:
    doc["recordings"] = ["REC-1"]


def _not_utf8_sums(root: Path) -> None:
    (root / "SHA256SUMS").write_bytes((root / "SHA256SUMS").read_bytes() + b"\xff\xfe\n")


def _twice_in_sums(root: Path) -> None:
    sums = (root / "SHA256SUMS").read_bytes()
    first = sums.splitlines(True)[0]
    wrong = b"0" * 64 + first[64:]
    (root / "SHA256SUMS").write_bytes(wrong + sums)


def _key_twice(doc: dict[str, object]) -> None:
    """The same key again, its revocation left out: the last entry would have won."""
    keys = doc["station_keys"]
    assert isinstance(keys, list)
    keys.append({**keys[0], "revoked_at": None, "valid_until": None})


def _case_json_nested_deep(root: Path) -> None:
    (root / "case.json").write_bytes(b"[" * 200_000 + b"]" * 200_000)
    resum(root)


def _keys_json_a_list(root: Path) -> None:
    (root / "keys.json").write_bytes(b"[]")
    resum(root)


MALFORMED: dict[str, tuple[Callable[[Path], None], str, str]] = {
    "a station key without key_id": (_edit_json("keys.json", _no_key_id), "keys", "keys.json"),
    "a validity date that is no date": (_edit_json("keys.json", _bad_date), "keys", "keys.json"),
    "a station key listed twice": (_edit_json("keys.json", _key_twice), "keys", "twice"),
    "keys.json a list": (_keys_json_a_list, "keys", "keys.json"),
    "case.json recordings as strings": (
        _edit_json("case.json", _recordings_as_strings),
        "media",
        "case.json",
    ),
    "case.json nested 200000 deep": (_case_json_nested_deep, "media", "case.json: cannot read it as JSON"),
    "SHA256SUMS not UTF-8": (_not_utf8_sums, "sums", "SHA256SUMS"),
    "SHA256SUMS naming a file twice": (_twice_in_sums, "sums", "twice"),
}


@pytest.mark.parametrize("what", list(MALFORMED))
def test_a_malformed_file_fails_its_check_by_name(copy: Path, what: str) -> None:
    change, check, message = MALFORMED[what]
    change(copy)
    assert_fails(copy, check, message)


# --- the README's commands as written --------------------------------------------------------


def test_a_virtual_environment_made_inside_the_bundle_is_named_as_such(copy: Path) -> None:
    """README step 5 as it was written (``python3 -m venv v`` from inside the folder): the
    environment's files are no part of the bundle, and the failure says so and what to do."""
    made = subprocess.run([sys.executable, "-m", "venv", "--without-pip", "v"], cwd=copy, env=RECIPIENT_ENV)
    assert made.returncode == 0
    assert_fails(copy, "sums", "v/ is a Python virtual environment made inside the bundle folder")
    assert "python3 -m venv ../v" in checker(copy).stdout


@pytest.mark.slow
def test_the_readmes_virtual_environment_beside_the_bundle_verifies(copy: Path, tmp_path: Path) -> None:
    """README step 5, run from inside the bundle folder as its step list says: the virtual
    environment is made outside the bundle (``../v``), so it adds no file to the bundle."""

    def here(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(args, cwd=copy, env=RECIPIENT_ENV, capture_output=True, text=True)

    assert here(sys.executable, "-m", "venv", "../v").returncode == 0
    pip = here("../v/bin/pip", "install", "--quiet", "--disable-pip-version-check", "cryptography")
    assert pip.returncode == 0, pip.stderr
    done = checker(copy, "../v/bin/python")
    assert done.returncode == 0 and done.stdout.rstrip().endswith("verdict: VERIFIED"), done.stdout


# --- what the recipient reads ----------------------------------------------------------------


def test_a_file_name_with_terminal_escapes_cannot_fake_or_hide_the_verdict(copy: Path) -> None:
    """A forger's unlisted file named to hide what follows (ESC[8m) after a fake verdict."""
    name = "media/x\r\x1b[2Kverdict: VERIFIED\x1b[8m"
    (copy / name).write_bytes(b"x")
    done = checker(copy)
    assert done.returncode == 3
    assert "\x1b" not in done.stdout and "\r" not in done.stdout, repr(done.stdout)
    assert (
        "FAIL  sums: media/x\\r\\x1b[2Kverdict: VERIFIED\\x1b[8m is in the bundle but not in" in done.stdout
    )
    assert done.stdout.rstrip().endswith("verdict: NOT VERIFIED (first failing check: sums)")


def test_each_hand_check_of_verify_md_step_3_prints_two_equal_hashes(copy: Path) -> None:
    """README step 4 / VERIFY.md step 3, as written: sha256sum and the manifest's "sha256"."""
    lines = [x for x in (copy / "VERIFY.md").read_text().splitlines() if x.startswith("sha256sum media/")]
    assert len(lines) == len(list(copy.glob("manifests/*.json"))) == 2
    for line in lines:
        done = subprocess.run(["sh", "-c", line], cwd=copy, capture_output=True, text=True, check=True)
        file_sha, manifest_sha = done.stdout.split()[0], done.stdout.split()[-1]
        assert len(done.stdout.splitlines()) == 2, done.stdout
        assert manifest_sha == f'"sha256":"{file_sha}"', done.stdout


def test_the_checker_runs_from_another_folder_and_changes_nothing(copy: Path, tmp_path: Path) -> None:
    """From elsewhere (by path, or given the folder), on a copy made read-only: it verifies
    and leaves the bundle as it was (no __pycache__, no file touched)."""
    before = {p: p.stat().st_mtime_ns for p in copy.rglob("*")}
    for p in [*copy.rglob("*"), copy]:
        p.chmod(p.stat().st_mode & ~0o222)
    try:
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        for args in ([str(copy / "verify_bundle.py")], [str(copy / "verify_bundle.py"), str(copy)]):
            done = subprocess.run(
                [sys.executable, *args], cwd=elsewhere, env=RECIPIENT_ENV, capture_output=True, text=True
            )
            assert done.returncode == 0 and done.stdout.rstrip().endswith("verdict: VERIFIED"), done.stdout
        assert {p: p.stat().st_mtime_ns for p in copy.rglob("*")} == before
    finally:
        for p in [copy, *copy.rglob("*")]:
            p.chmod(p.stat().st_mode | 0o200)


def test_the_part_file_of_a_killed_tar_bundle_is_named_when_it_blocks_the_next(
    good: tuple[Station, Path], tmp_path: Path
) -> None:
    """A ``--tar`` bundle killed while written (kill -9) leaves ``X.tar.part``; the next
    attempt at ``X.tar`` is refused naming that file, not 'X.tar exists' (it does not)."""
    station, _ = good
    part = tmp_path / "c1.tar.part"
    part.write_bytes(b"half a tar")
    r = station.bundle(tmp_path / "c1.tar", "--case", "C1", "--tar")
    assert r.returncode == 2, r.stderr
    assert f"{part} exists, the part of a bundle that was never finished" in r.stderr, r.stderr
    assert part.read_bytes() == b"half a tar" and not (tmp_path / "c1.tar").exists()
