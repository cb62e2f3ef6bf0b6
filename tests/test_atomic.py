"""atomic_write's temporary names: within the file system's name limit whatever the name, and
found again (only they) after a kill."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from animalsort.atomic import leftover_temporaries, replace_bytes, temporary_prefix

NAMES = {
    "short": "a.jpg",
    "ascii-255": "x" * 251 + ".jpg",
    "2-byte": "é" * 125 + ".jpg",
    "not-utf8": os.fsdecode(b"\xff" * 250 + b".jpg"),
}


@pytest.mark.parametrize("name", NAMES.values(), ids=NAMES.keys())
def test_a_replace_fits_any_name_and_its_leftovers_are_found(tmp_path, name):
    path = tmp_path / name
    replace_bytes(path, b"one")
    replace_bytes(path, b"two", like=os.stat(path))
    assert path.read_bytes() == b"two" and os.listdir(tmp_path) == [name]
    prefix = temporary_prefix(path)
    assert len(os.fsencode(prefix)) + 8 + len(".tmp") <= 255
    leftover = tmp_path / f"{prefix}k1ll3d_x.tmp"  # what a kill between write and rename leaves
    leftover.write_bytes(b"half")
    assert leftover_temporaries(path) == [leftover]


def test_leftovers_of_a_longer_name_or_of_a_person_are_not_ours(tmp_path):
    photo = tmp_path / "a.jpg"
    theirs = [
        tmp_path / ".a.jpg.xmp.abcdefgh.tmp",  # the sidecar's temporary, not the photo's
        tmp_path / ".a.jpg.notes.tmp",  # a person's file
        tmp_path / ".a.jpg.ABCDEFGH.tmp",  # mkstemp never writes capitals
    ]
    for p in theirs:
        p.write_bytes(b"")
    ours = tmp_path / ".a.jpg.abcd_567.tmp"
    ours.write_bytes(b"")
    assert leftover_temporaries(photo) == [ours]


def test_two_long_names_that_start_alike_get_temporary_names_of_their_own(tmp_path):
    a, b = (Path(tmp_path / ("x" * 245 + tail)) for tail in ("-a.jpeg", "-b.jpeg"))
    assert temporary_prefix(a) != temporary_prefix(b)
    (tmp_path / f"{temporary_prefix(b)}abcdefgh.tmp").write_bytes(b"")
    assert leftover_temporaries(a) == []
