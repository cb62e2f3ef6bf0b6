"""undo of a sort, tried as a hostile user would (#35): copies whose source is gone, moves across
file systems, relative symlinks, partial and repeated undos, cut-off and damaged journals, two
runs over one folder, relative paths, and `undo FOLDER` / `undo --list`. Every test runs the
real commands on real files."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_sort import corrupting_copy, snapshot, write_predictions

from animalsort.cli import main
from animalsort.formats.journal import STATE_DIR, read_journal
from animalsort.sorting import apply, plan


def photos(src: Path, n: int, sub: str = "") -> list[tuple[str, str, float, str]]:
    """``n`` files of distinct bytes under ``src/sub``, and their rows (all cat, sure)."""
    rows = []
    for i in range(n):
        rel = f"{sub}/img{i}.jpg" if sub else f"img{i}.jpg"
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(f"photo {i} ".encode() * (50 + i))
        rows.append((rel, "cat", 0.9, "ok"))
    return rows


def run(runner: CliRunner, *args: object) -> object:
    return runner.invoke(main, [*map(str, args)])


def journal_of(dest: Path) -> Path:
    (journal,) = (dest / STATE_DIR).glob("sort-*.jsonl")
    return journal


def other_file_system(tmp_path: Path) -> Path:
    """A folder on a file system other than tmp_path's (/dev/shm, a tmpfs), or skip."""
    shm = Path("/dev/shm")
    if not shm.is_dir() or not os.access(shm, os.W_OK) or shm.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("needs /dev/shm on a file system other than the tests' temporary folder")
    return Path(tempfile.mkdtemp(dir=shm, prefix="animalsort-test-"))


# --------------------------------------------------------------------------- 1: copies


def test_undo_of_a_copy_never_removes_a_copy_whose_source_is_gone_or_differs(runner: CliRunner, tmp_path: Path) -> None:
    src, dest = tmp_path / "src", tmp_path / "out"
    preds = write_predictions(tmp_path / "p.csv", photos(src, 5))
    assert run(runner, "sort", src, "--dest", dest, "--copy", "--from", preds).exit_code == 0
    copies = {p.name: p.read_bytes() for p in (dest / "cat").iterdir()}
    (src / "img0.jpg").unlink()
    (src / "img1.jpg").unlink()
    (src / "img2.jpg").write_bytes(b"X" * len(copies["img2.jpg"]))  # same size, other bytes
    result = run(runner, "undo", journal_of(dest))
    assert result.exit_code == 1
    assert f"its source {src / 'img0.jpg'} is gone" in result.stderr
    assert f"its source {src / 'img2.jpg'} differs from it now" in result.stderr
    assert "3 files were left alone" in result.stderr
    assert sorted(p.name for p in (dest / "cat").iterdir()) == ["img0.jpg", "img1.jpg", "img2.jpg"]
    assert all((dest / "cat" / n).read_bytes() == copies[n] for n in ("img0.jpg", "img1.jpg", "img2.jpg"))
    # once the person has put the originals back, the same undo does the rest
    for name in ("img0.jpg", "img1.jpg", "img2.jpg"):
        (src / name).write_bytes(copies[name])
    result = run(runner, "undo", journal_of(dest))
    assert result.exit_code == 0, result.output
    assert "restored 3 files (2 had not been placed, or were back already)" in result.stderr
    assert not (dest / "cat").exists()
    assert read_journal(journal_of(dest)).undone


# --------------------------------------------------------------------------- 2: across file systems


def test_a_move_across_file_systems_is_undone_the_way_it_was_made(runner: CliRunner, tmp_path: Path) -> None:
    src = tmp_path / "src"
    preds = write_predictions(tmp_path / "p.csv", photos(src, 3) + photos(src, 2, sub="a b"))
    (src / "img1.jpg").chmod(0o444)
    before = snapshot(src)
    dest = other_file_system(tmp_path) / "sorted"
    try:
        result = run(runner, "sort", src, "--dest", dest, "--move", "--from", preds)
        assert result.exit_code == 0, result.output
        assert not (src / "img0.jpg").exists() and (dest / "cat" / "a b" / "img1.jpg").is_file()
        result = run(runner, "undo", journal_of(dest))
        assert result.exit_code == 0, result.output
        assert "restored 5 files" in result.stderr
        assert snapshot(src) == before  # bytes, mtimes and modes; the pointer folder is gone too
        assert not (src / STATE_DIR).exists() and sorted(os.listdir(dest)) == [STATE_DIR]
    finally:
        shutil.rmtree(dest.parent)


def test_an_undo_across_file_systems_cut_off_by_a_kill_is_finished_by_a_rerun(
    runner: CliRunner, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    preds = write_predictions(tmp_path / "p.csv", photos(src, 3) + photos(src, 2, sub="a b"))
    before = snapshot(src)
    dest = other_file_system(tmp_path) / "sorted"
    try:
        assert run(runner, "sort", src, "--dest", dest, "--move", "--from", preds).exit_code == 0
        journal = journal_of(dest)
        j = read_journal(journal)
        # what a kill during undo leaves: one file copied back (its copy in DEST not removed yet),
        # and the temporary copy of another one cut off mid-way
        op0, op1 = (op for op in j.ops if op.src in (str(src / "img0.jpg"), str(src / "a b" / "img1.jpg")))
        shutil.copy2(op0.dst, op0.src)
        cut = Path(op1.src).parent / f".as-{j.token}-{op1.id}b.tmp"
        cut.write_bytes(b"half a cop")
        result = run(runner, "undo", src)  # SRC's pointer leads to the journal in DEST
        assert result.exit_code == 0, result.output
        assert "undoing the sort of" in result.stderr and str(journal) in result.stderr
        assert "restored 5 files" in result.stderr
        assert snapshot(src) == before and not cut.exists()
    finally:
        shutil.rmtree(dest.parent)


def test_a_move_across_file_systems_with_verify_keeps_a_source_whose_copy_differs(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """#39: across file systems a move is a copy then a delete; --verify checks the copy's
    sha256 before the source is deleted, so a bad copy costs nothing."""
    src = tmp_path / "src"
    preds = write_predictions(tmp_path / "p.csv", photos(src, 3))
    before = snapshot(src)
    dest = other_file_system(tmp_path) / "sorted"
    corrupting_copy(monkeypatch)
    try:
        result = run(runner, "sort", src, "--dest", dest, "--move", "--verify", "--from", preds)
        assert result.exit_code == 1, result.output
        assert f"failed: {src / 'img0.jpg'}: copy differs from source (sha256) (left where it was)" in result.stderr
        assert snapshot(src) == before
        assert [p for p in dest.rglob("*") if p.is_file() and STATE_DIR not in p.parts] == []
    finally:
        shutil.rmtree(dest.parent)


# --------------------------------------------------------------------------- 7: relative symlinks


@pytest.mark.parametrize("where", ["same", "other"])
def test_link_of_a_relative_symlink_leads_to_the_photo_and_undo_removes_it(
    runner: CliRunner, tmp_path: Path, where: str
) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "real.jpg").write_bytes(b"the photo")
    (src / "rel.jpg").symlink_to("sub/real.jpg")
    preds = write_predictions(tmp_path / "p.csv", [("rel.jpg", "cat", 0.9, "ok")])
    before = snapshot(src)
    dest = tmp_path / "out" if where == "same" else other_file_system(tmp_path) / "out"
    try:
        assert run(runner, "sort", src, "--dest", dest, "--link", "--from", preds).exit_code == 0
        assert os.path.samefile(dest / "cat" / "rel.jpg", src / "sub" / "real.jpg")  # the photo, not a dangling link
        assert (dest / "cat" / "rel.jpg").is_symlink() == (where == "other")  # a hard link where one can be
        result = run(runner, "undo", dest)
        assert result.exit_code == 0, result.output
        assert not (dest / "cat").exists() and snapshot(src) == before
    finally:
        if where == "other":
            shutil.rmtree(dest.parent)


# --------------------------------------------------------------------------- 8: partial undo


def test_a_partial_undo_is_recorded_file_by_file_and_a_rerun_does_the_rest(runner: CliRunner, tmp_path: Path) -> None:
    src, dest = tmp_path / "src", tmp_path / "out"
    preds = write_predictions(tmp_path / "p.csv", photos(src, 4))
    before = snapshot(src)
    assert run(runner, "sort", src, "--dest", dest, "--move", "--from", preds).exit_code == 0
    (src / "img2.jpg").write_bytes(b"a new photo where img2.jpg was")
    result = run(runner, "undo", journal_of(dest))
    assert result.exit_code == 1 and "refused:" in result.stderr and "1 files were left alone" in result.stderr
    j = read_journal(journal_of(dest))
    assert not j.undone and len(j.ops) == 4
    (src / "img2.jpg").unlink()  # the person sorts out the conflict
    listed = run(runner, "undo", "--list", dest)
    assert listed.exit_code == 0 and "partly undone (1 left)" in listed.stdout
    result = run(runner, "undo", journal_of(dest))
    assert result.exit_code == 0, result.output
    assert "restored 1 files (3 had not been placed, or were back already)" in result.stderr
    assert snapshot(src) == before
    assert "already undone" in run(runner, "undo", journal_of(dest)).stderr


# --------------------------------------------------------------------------- 9: cut-off journals


def test_a_journal_cut_short_is_reported_and_nothing_it_lost_is_touched(runner: CliRunner, tmp_path: Path) -> None:
    src, dest = tmp_path / "src", tmp_path / "out"
    preds = write_predictions(tmp_path / "p.csv", photos(src, 40))
    assert run(runner, "sort", src, "--dest", dest, "--move", "--from", preds).exit_code == 0
    journal = journal_of(dest)
    journal.write_bytes(journal.read_bytes()[:3000])
    result = run(runner, "undo", journal)
    assert result.exit_code == 1
    assert "the journal is cut short: it holds" in result.stderr and "of the 40 operations" in result.stderr
    assert len(list((dest / "cat").iterdir())) == 40  # nothing was moved on a guess
    assert not read_journal(journal).undone


@pytest.mark.parametrize("damage", ["torn", "nul"])
def test_a_torn_last_line_is_ignored_and_nothing_is_written_onto_it(
    runner: CliRunner, tmp_path: Path, damage: str
) -> None:
    src, dest = tmp_path / "src", tmp_path / "out"
    preds = write_predictions(tmp_path / "p.csv", photos(src, 6))
    before = snapshot(src)
    assert run(runner, "sort", src, "--dest", dest, "--copy", "--from", preds).exit_code == 0
    journal = journal_of(dest)
    data = journal.read_bytes()
    # a kill as the last record was written, or the zeros a crash leaves at a file's end
    journal.write_bytes(data[:-9] if damage == "torn" else data + b"\0" * 40)
    result = run(runner, "undo", journal)
    assert result.exit_code == 0, result.output
    lines = journal.read_bytes().split(b"\n")
    assert json.loads(lines[-2]) == {**json.loads(lines[-2]), "type": "undone"}  # on a line of its own
    assert snapshot(src) == before and not (dest / "cat").exists()
    assert "already undone" in run(runner, "undo", journal).stderr
    # a later sort into that DEST places every photo again: none "placed by an earlier sort"
    result = run(runner, "sort", src, "--dest", dest, "--copy", "--from", preds)
    assert result.exit_code == 0, result.output
    assert "copied: 6 files" in result.stderr and "earlier sort" not in result.stderr
    assert len(list((dest / "cat").iterdir())) == 6


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is not an animalsort journal (it is empty)"),
        (b"\0\0\0\0\n", "is not an animalsort journal (its first line is no header)"),
    ],
)
def test_an_empty_journal_is_an_error(runner: CliRunner, tmp_path: Path, content: bytes, message: str) -> None:
    journal = tmp_path / STATE_DIR / "sort-20261204-101010.jsonl"
    journal.parent.mkdir()
    journal.write_bytes(content)
    result = run(runner, "undo", journal)
    assert result.exit_code == 2 and message in result.stderr and result.exception.__class__ is SystemExit


# --------------------------------------------------------------------------- 10: damaged lines


@pytest.mark.parametrize(
    ("damage", "line", "what"),
    [
        ("list", 4, "not a journal record: '[1,2]'"),
        ("op without size", 2, "an op without 'size'"),
        ("done without id", 8, "a done record without an id"),
    ],
)
def test_a_damaged_journal_line_is_one_error_naming_the_line(
    runner: CliRunner, tmp_path: Path, damage: str, line: int, what: str
) -> None:
    src, dest = tmp_path / "src", tmp_path / "out"
    preds = write_predictions(tmp_path / "p.csv", photos(src, 3))
    assert run(runner, "sort", src, "--dest", dest, "--move", "--from", preds).exit_code == 0
    journal = journal_of(dest)
    lines = journal.read_text().splitlines()
    if damage == "list":
        lines.insert(3, "[1,2]")
    elif damage == "op without size":
        op = json.loads(lines[1])
        del op["size"]
        lines[1] = json.dumps(op)
    else:
        lines.insert(7, '{"type":"done"}')
    journal.write_text("\n".join(lines) + "\n")
    moved = sorted(p.name for p in (dest / "cat").iterdir())
    result = run(runner, "undo", journal)
    assert result.exit_code == 2 and result.exception.__class__ is SystemExit  # no traceback
    assert f"Error: {journal}, line {line}: {what}; the journal was edited or damaged" in result.stderr
    assert sorted(p.name for p in (dest / "cat").iterdir()) == moved  # nothing changed


# --------------------------------------------------------------------------- 11: only its own ops


def test_undo_reverts_only_what_its_own_run_did(runner: CliRunner, tmp_path: Path) -> None:
    """Two sorts planned over one SRC (as two at once would): the first moves every file, the
    second finds them gone. Undoing the second must not move back what the first placed."""
    src, dest = tmp_path / "src", tmp_path / "out"
    rows = [{"path": r[0], "label": "cat", "confidence": "0.9", "status": "ok"} for r in photos(src, 4)]
    first, second = plan.plan(src, dest, rows, mode="move"), plan.plan(src, dest, rows, mode="move")
    won = apply.apply(first, dest / STATE_DIR / "sort-20261204-101010.jsonl")
    lost = apply.apply(second, dest / STATE_DIR / "sort-20261204-101010-2.jsonl")
    assert won.done == 4 and lost.done == 0 and len(lost.failed) == 4
    result = run(runner, "undo", lost.journal)
    assert result.exit_code == 0, result.output
    assert "restored 0 files (4 had not been placed" in result.stderr
    assert len(list((dest / "cat").iterdir())) == 4 and not list(src.glob("*.jpg"))
    result = run(runner, "undo", won.journal)
    assert result.exit_code == 0 and len(list(src.glob("*.jpg"))) == 4


# --------------------------------------------------------------------------- 12: relative paths


def test_journals_hold_absolute_paths_whatever_folder_the_run_was_started_from(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    elsewhere.mkdir()
    src = work / "photos"
    preds = write_predictions(work / "p.csv", photos(src, 2))
    shutil.copy(preds, src / "tag.csv")  # a CSV whose paths are relative to the folder it is in
    before = snapshot(src)
    monkeypatch.chdir(src)
    assert run(runner, "tag", "tag.csv").exit_code == 0
    assert run(runner, "sort", "../photos", "--dest", "../sorted", "--move", "--from", "../p.csv").exit_code == 0
    assert len(list(work.glob("sorted/cat/*.jpg.xmp"))) == 2  # the sidecars travelled with their photos
    monkeypatch.chdir(elsewhere)
    for journal in [*(src / STATE_DIR).glob("tag-*.jsonl"), journal_of(work / "sorted")]:
        for line in journal.read_text().splitlines():
            for key in ("src", "dst", "dest", "path"):
                value = json.loads(line).get(key)
                assert value is None or value == os.path.abspath(value), (journal.name, line)
    result = run(runner, "undo", src)  # the sort (the last run), through SRC's pointer
    assert result.exit_code == 0 and "restored 4 files" in result.stderr
    result = run(runner, "undo", src)  # then the tag run
    assert result.exit_code == 0 and "removed 2 sidecars" in result.stderr
    assert snapshot(src) == before


# --------------------------------------------------------------------------- 13: undo FOLDER, --list


def test_undo_a_folder_takes_its_last_run_and_list_shows_them_all(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src, dest = tmp_path / "src", tmp_path / "out"
    preds = write_predictions(tmp_path / "p.csv", photos(src, 3))
    assert run(runner, "sort", src, "--dest", dest, "--move", "--from", preds).exit_code == 0
    (src / "new.jpg").write_bytes(b"a later photo")
    later = write_predictions(tmp_path / "later.csv", [("new.jpg", "dog", 0.9, "ok")])
    assert run(runner, "sort", src, "--dest", dest, "--copy", "--from", later).exit_code == 0
    first, second = sorted((dest / STATE_DIR).glob("sort-*.jsonl"), key=lambda p: (len(p.name), p.name))
    monkeypatch.chdir(dest)
    listed = run(runner, "undo", "--list")
    assert listed.exit_code == 0, listed.output
    rows = listed.stdout.splitlines()
    assert len(rows) == 2 and str(first) in rows[0] and str(second) in rows[1]
    assert " sort  move " in rows[0] and "3 files" in rows[0] and "not undone" in rows[0]
    assert " sort  copy " in rows[1] and "1 files" in rows[1]
    result = run(runner, "undo", dest)
    assert result.exit_code == 0 and f"(copy, 1 files): {second}" in result.stderr
    assert not (dest / "dog").exists() and (src / "new.jpg").exists()
    result = run(runner, "undo", src)  # from SRC: the move, through its pointer
    assert result.exit_code == 0 and f"(move, 3 files): {first}" in result.stderr
    assert sorted(p.name for p in src.iterdir()) == ["img0.jpg", "img1.jpg", "img2.jpg", "new.jpg"]
    assert [row.split()[-2] for row in run(runner, "undo", "--list", dest).stdout.splitlines()] == ["undone"] * 2
    result = run(runner, "undo", dest)
    assert result.exit_code == 2 and "nothing to undo in" in result.stderr and "undo --list" in result.stderr
    result = run(runner, "undo", tmp_path / "nowhere-sorted")
    assert result.exit_code == 2


def test_undo_after_dest_was_renamed_says_so(runner: CliRunner, tmp_path: Path) -> None:
    src, dest = tmp_path / "src", tmp_path / "out"
    preds = write_predictions(tmp_path / "p.csv", photos(src, 2))
    assert run(runner, "sort", src, "--dest", dest, "--move", "--from", preds).exit_code == 0
    dest.rename(tmp_path / "renamed")
    result = run(runner, "undo", tmp_path / "renamed")
    assert result.exit_code == 2 and f"put it back at {dest} and run undo again" in result.stderr
    (tmp_path / "renamed").rename(dest)
    assert run(runner, "undo", dest).exit_code == 0 and len(list(src.glob("*.jpg"))) == 2


# --------------------------------------------------------------------------- a kill during undo


@pytest.mark.slow
@pytest.mark.parametrize("where", ["same", "other"])
def test_a_kill_at_any_moment_of_an_undo_loses_nothing_and_a_rerun_finishes_it(tmp_path: Path, where: str) -> None:
    from test_sort import _all_files, _tree_of_unique_files

    src = tmp_path / "src"
    digests, rows = _tree_of_unique_files(src, 2000)
    preds = write_predictions(tmp_path / "p.csv", rows)
    before = snapshot(src)
    dest = tmp_path / "out" if where == "same" else other_file_system(tmp_path) / "out"
    try:
        sort = [sys.executable, "-m", "animalsort", "-q", "sort", str(src), "--dest", str(dest), "--move"]
        subprocess.run([*sort, "--min-confidence", "0", "--from", str(preds)], check=True)
        undo = [sys.executable, "-m", "animalsort", "-q", "undo", str(journal_of(dest))]
        rng, kills, journal = random.Random(35), 0, journal_of(dest)
        for trial in range(12):
            size = journal.stat().st_size
            proc = subprocess.Popen(undo, stderr=subprocess.DEVNULL)
            while proc.poll() is None and journal.stat().st_size == size:  # till it puts files back
                time.sleep(0.001)
            time.sleep(rng.uniform(0.0, 0.01))  # the first ~200 files of 2000 (a few across file systems)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.wait()
            # whole at one end or both (a copy back not yet removed from DEST); never lost
            assert set(_all_files(src, dest)) >= set(digests), f"trial {trial}: a file was lost"
        assert kills >= 6, f"only {kills} of 12 undos were cut off"
        result = subprocess.run(undo, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        assert snapshot(src) == before
        assert read_journal(journal_of(dest)).undone
    finally:
        if where == "other":
            shutil.rmtree(dest.parent)
