"""sort, tried as a hostile user would (#35): two sorts at once, a full disk, a kill mid-copy,
names of 255 bytes, a photo replaced after it was classified, and summaries that must count
what happened. Every test runs the real command on real files."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import make_image, read_csv_rows
from test_sort import snapshot, write_predictions
from test_undo import journal_of, other_file_system, photos, run

from animalsort import locks as lock
from animalsort.formats.journal import Op, read_journal


def temporaries(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.tmp"))


# --------------------------------------------------------------------------- 11: one sort at a time


@contextlib.contextmanager
def held(folder: Path) -> Iterator[None]:
    """``folder`` locked as a running sort holds it."""
    with lock.folders_locked([folder], "the test"):
        yield


@pytest.mark.parametrize("busy", ["src", "dest"])
def test_a_second_sort_of_one_folder_waits_then_is_refused(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, busy: str
) -> None:
    monkeypatch.setattr(lock, "WAIT_S", 0.3)
    src, dest = tmp_path / "src", tmp_path / "out"
    preds = write_predictions(tmp_path / "p.csv", photos(src, 3))
    before = snapshot(src)
    if busy == "dest":
        dest.mkdir()
    with held(src if busy == "src" else dest):
        t0 = time.monotonic()
        result = run(runner, "sort", src, "--dest", dest, "--move", "--from", preds)
        waited = time.monotonic() - t0
    assert result.exit_code == 1, result.output
    folder = src if busy == "src" else dest
    assert f"Error: another animalsort sort, tag or undo is working in {folder}; waited 0.3 s" in result.stderr
    assert waited >= 0.3 and snapshot(src) == before
    assert dest.exists() == (busy == "dest")  # a DEST made for the refused run is gone again
    assert run(runner, "sort", src, "--dest", dest, "--move", "--from", preds).exit_code == 0  # once free
    with held(dest):
        result = run(runner, "undo", dest)
    assert result.exit_code == 1 and "another animalsort sort, tag or undo is working in" in result.stderr
    assert not list(src.glob("*.jpg"))


# --------------------------------------------------------------------------- 14: temporaries


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs (a full disk), or skip where mounting is not allowed."""
    mount = tmp_path / "small"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (a full disk): {made.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_a_full_disk_stops_the_sort_and_leaves_no_temporary_file(
    runner: CliRunner, tmp_path: Path, small_disk: Path
) -> None:
    src, dest = tmp_path / "src", small_disk / "sorted"
    rows = []
    for i in range(12):
        (src / f"img{i:02d}.jpg").parent.mkdir(parents=True, exist_ok=True)
        (src / f"img{i:02d}.jpg").write_bytes(os.urandom(40_000))
        rows.append((f"img{i:02d}.jpg", "cat", 0.9, "ok"))
    preds = write_predictions(tmp_path / "p.csv", rows)
    before = snapshot(src)
    result = run(runner, "sort", src, "--dest", dest, "--copy", "--from", preds)
    assert result.exit_code == 1, result.output
    placed = len(list((dest / "cat").glob("*.jpg")))
    assert 0 < placed < 12
    assert f"Error: stopped: No space left on device in {dest} after placing {placed} of 12 files" in result.stderr
    assert f"the {12 - placed} others are still at their source" in result.stderr
    assert temporaries(small_disk) == [] and snapshot(src) == before
    j = read_journal(journal_of(dest))
    assert len(j.done) == placed and len(j.failed) == 1 and j.ended
    result = run(runner, "undo", dest)
    assert result.exit_code == 0, result.output
    assert not (dest / "cat").exists() and temporaries(small_disk) == []


_SLOW_FSYNC = """
import os, sys, time
real = os.fsync
def slow(fd):
    name = os.readlink(f"/proc/self/fd/{fd}")
    if name.endswith(".tmp") and "/_animalsort/" not in name:
        time.sleep(60)  # a copy that takes a while: the test kills it here
    real(fd)
os.fsync = slow
from animalsort.cli import main
main(sys.argv[1:])
"""


def test_a_kill_mid_copy_leaves_a_temporary_the_next_run_and_undo_remove(runner: CliRunner, tmp_path: Path) -> None:
    src, dest = tmp_path / "src", tmp_path / "out"
    preds = write_predictions(tmp_path / "p.csv", photos(src, 3))
    args = ["sort", str(src), "--dest", str(dest), "--copy", "--from", str(preds)]
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_FSYNC, *args], stderr=subprocess.DEVNULL)  # kill it mid-copy
    try:
        deadline = time.monotonic() + 60
        while not list(dest.glob("cat/.*.tmp")) and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    left = temporaries(dest)
    assert len(left) == 1 and left[0].startswith("cat/."), left
    killed = journal_of(dest)
    # The next run (its rows in another order: its operations get other numbers) removes it.
    again = write_predictions(tmp_path / "again.csv", photos(src, 3)[::-1])
    result = run(runner, "sort", src, "--dest", dest, "--copy", "--from", again)
    assert result.exit_code == 0, result.output
    assert temporaries(dest) == [] and "copied: 3 files" in result.stderr
    assert sorted(p.name for p in (dest / "cat").iterdir()) == ["img0.jpg", "img1.jpg", "img2.jpg"]
    # undo of the killed run removes it too (put back as if the next run had not been made)
    (dest / left[0]).write_bytes(b"half")
    result = run(runner, "undo", killed)
    assert result.exit_code == 0, result.output
    assert temporaries(dest) == [] and "restored 0 files (3 had not been placed" in result.stderr


# --------------------------------------------------------------------------- 15: long names


@pytest.mark.parametrize("mode", ["copy", "move-across"])
def test_names_of_255_bytes_are_sorted(runner: CliRunner, tmp_path: Path, mode: str) -> None:
    src = tmp_path / "src"
    src.mkdir()
    names = ["a" * 251 + ".jpg", "é" * 125 + "x.jpg"]  # 255 bytes each (UTF-8)
    assert all(len(n.encode()) == 255 for n in names)
    for i, name in enumerate(names):
        (src / name).write_bytes(f"photo {i}".encode())
    preds = write_predictions(tmp_path / "p.csv", [(n, "cat", 0.9, "ok") for n in names])
    before = snapshot(src)
    dest = tmp_path / "out" if mode == "copy" else other_file_system(tmp_path) / "out"
    try:
        result = run(runner, "sort", src, "--dest", dest, "--" + mode.split("-")[0], "--from", preds)
        assert result.exit_code == 0, result.output
        assert sorted((dest / "cat" / n).read_bytes() for n in names) == [b"photo 0", b"photo 1"]
        assert run(runner, "undo", dest).exit_code == 0 and snapshot(src) == before
    finally:
        if mode != "copy":
            import shutil

            shutil.rmtree(dest.parent)


# --------------------------------------------------------------------------- 19: replaced after classify


def test_a_photo_replaced_after_it_was_classified_stays_where_it_is(
    runner: CliRunner, tmp_path: Path, tiny_weights: Path
) -> None:
    src = tmp_path / "src"
    for name, seed in (("cat.jpg", 1), ("dog.jpg", 2), ("bird.jpg", 3)):
        make_image(src / name, seed=seed)
    preds = tmp_path / "p.csv"
    result = run(runner, "classify", src, "-o", preds, "--weights", tiny_weights, "-j", "0")
    assert result.exit_code == 0, result.output
    started = json.loads(preds.with_name("p.csv.json").read_text())["started_ns"]
    assert 0 < time.time_ns() - started < 600 * 10**9
    make_image(src / "cat.jpg", seed=9)  # a mandrill saved over cat.jpg
    labels = {r["path"]: r["label"] for r in read_csv_rows(preds)}
    result = run(runner, "sort", src, "--move", "--from", preds, "--min-confidence", "0")
    assert result.exit_code == 0, result.output
    assert "left in place: cat.jpg: changed since it was classified: classify it again" in result.stderr
    assert "moved: 2 files" in result.stderr and (src / "cat.jpg").is_file()
    assert (src / labels["dog.jpg"] / "dog.jpg").is_file() and (src / labels["bird.jpg"] / "bird.jpg").is_file()
    # a resumed CSV keeps the time its first run began: the earlier rows were read then
    resumed = run(runner, "classify", src, "-o", preds, "--weights", tiny_weights, "-j", "0", "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(preds.with_name("p.csv.json").read_text())["started_ns"] == started


# --------------------------------------------------------------------------- 23: what happened


def test_the_summary_counts_what_was_done_not_what_was_planned(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from animalsort.sorting import apply

    src, dest = tmp_path / "src", tmp_path / "out"
    preds = write_predictions(tmp_path / "p.csv", photos(src, 5))
    real = apply.apply_one

    def another_run_got_there_first(op: Op, *args: object) -> None:
        if op.src.endswith(("img1.jpg", "img3.jpg")):
            os.rename(op.src, tmp_path / os.path.basename(op.src))
        real(op, *args)

    monkeypatch.setattr(apply, "apply_one", another_run_got_there_first)
    result = run(runner, "sort", src, "--dest", dest, "--move", "--from", preds)
    assert result.exit_code == 1
    assert "moved: 3 files (cat 3) into" in result.stderr
    assert f"failed: {src / 'img1.jpg'}: no longer there (moved or deleted since the plan was made)\n" in result.stderr
    assert "Error: 2 of 5 files could not be placed (2 no longer there: moved or deleted" in result.stderr
    assert "still at their source" not in result.stderr
