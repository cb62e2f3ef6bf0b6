"""A photo's companions travel with it: its RAW twin, its edit sidecars (both XMP namings, AAE
…) and a Live Photo's clip go into the folder its primary photo's label chooses, under names
that keep the group together; undo brings every member back; files that are not regular files
(FIFOs, sockets) are counted and never opened."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import EXAMPLES, read_csv_rows
from test_sort import snapshot, write_predictions

from animalsort.cli import main
from animalsort.formats.journal import read_journal
from animalsort.sorting.apply import apply
from animalsort.sorting.companions import Group, group_key
from animalsort.sorting.plan import plan
from animalsort.sorting.undo import undo_sort

XMP = '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/></x:xmpmeta>\n'


def camera_folder(root: Path) -> Path:
    """day1/: a cat with its RAW twin, both XMP namings of sidecar and an AAE; a duck with a
    Live Photo clip; a dog alone; a sidecar with no photo."""
    day = root / "day1"
    day.mkdir(parents=True)
    shutil.copy(EXAMPLES / "cat.jpg", day / "IMG_0001.JPG")
    (day / "IMG_0001.CR2").write_bytes(b"raw sensor data of IMG_0001")
    (day / "IMG_0001.xmp").write_text(XMP)
    (day / "IMG_0001.CR2.xmp").write_text(XMP.replace("/>", " />"))
    (day / "IMG_0001.JPG.xmp").write_text(XMP + "<!-- jpg -->")
    (day / "IMG_0001.AAE").write_text("<plist/>")
    shutil.copy(EXAMPLES / "eagle.jpg", day / "IMG_0002.HEIC")
    (day / "IMG_0002.MOV").write_bytes(b"live photo clip")
    shutil.copy(EXAMPLES / "dog.jpg", day / "IMG_0003.jpg")
    (day / "lonely.xmp").write_text(XMP)
    return root


def predictions(tmp_path: Path) -> Path:
    """What classify says of camera_folder: the RAW twin has its own row (and another label)."""
    rows = [
        ("day1/IMG_0001.CR2", "dog", 0.9, "ok"),
        ("day1/IMG_0001.JPG", "cat", 0.9, "ok"),
        ("day1/IMG_0002.HEIC", "bird", 0.8, "ok"),
        ("day1/IMG_0002.MOV", "bird", 0.7, "ok"),
        ("day1/IMG_0003.jpg", "dog", 0.9, "ok"),
    ]
    return write_predictions(tmp_path / "p.csv", rows)


def test_group_keys_and_roles() -> None:
    assert {group_key(n) for n in ("IMG_0001.JPG", "IMG_0001.CR2", "IMG_0001.xmp", "IMG_0001.CR2.xmp")} == {"IMG_0001"}
    assert group_key("my.trip.jpg") == "my.trip" == group_key("my.trip.JPG.xmp")
    g = Group(
        "/d", "IMG_0001", sorted(["IMG_0001.CR2", "IMG_0001.JPG", "IMG_0001.xmp", "IMG_0001.png", "IMG_0001.txt"])
    )
    assert g.primary == "IMG_0001.JPG"
    assert g.companions() == ["IMG_0001.CR2", "IMG_0001.xmp"]  # a PNG of the same stem is a photo of its own
    assert Group("/d", "A", ["A.NEF", "A.xmp"]).primary == "A.NEF"  # no JPEG: the RAW is the primary
    assert Group("/d", "A", ["A.NEF", "A.MOV"]).companions() == []  # a clip beside a RAW is not a Live Photo
    assert g.renamed("IMG_0001.CR2.xmp", 2) == "IMG_0001 (2).CR2.xmp" and g.renamed("IMG_0001.xmp", 1) == "IMG_0001.xmp"


def test_a_group_moves_together_by_its_primary_label(runner: CliRunner, tmp_path: Path) -> None:
    src = camera_folder(tmp_path / "p")
    result = runner.invoke(main, ["sort", str(src), "--move", "--from", str(predictions(tmp_path))])
    assert result.exit_code == 0, result.output
    cat = src / "cat" / "day1"
    assert sorted(os.listdir(cat)) == [
        "IMG_0001.AAE",
        "IMG_0001.CR2",
        "IMG_0001.CR2.xmp",
        "IMG_0001.JPG",
        "IMG_0001.JPG.xmp",
        "IMG_0001.xmp",
    ]  # the RAW twin goes with its JPEG, although the model called it a dog
    assert sorted(os.listdir(src / "bird" / "day1")) == ["IMG_0002.HEIC", "IMG_0002.MOV"]
    assert sorted(os.listdir(src / "dog" / "day1")) == ["IMG_0003.jpg"]
    assert sorted(os.listdir(src / "day1")) == ["lonely.xmp"]
    assert "moved: 3 files" in result.stderr and "with 6 companion files of 2 of them" in result.stderr
    assert "left in place: day1/lonely.xmp: a sidecar with no photo of its name beside it" in result.stderr
    journal = next((src / "_animalsort").glob("sort-*.jsonl"))
    header = json.loads(journal.read_text().splitlines()[0])
    assert header["companions"] == {"on": True, "groups": 2, "files": 6}, header
    again = runner.invoke(main, ["sort", str(src), "--move", "--from", str(predictions(tmp_path))])
    assert again.exit_code == 0 and "moved: 0 files" in again.stderr  # sorting twice moves nothing


def test_a_name_clash_renames_the_whole_group(runner: CliRunner, tmp_path: Path) -> None:
    src = camera_folder(tmp_path / "p")
    taken = src / "out" / "cat" / "day1"
    taken.mkdir(parents=True)
    shutil.copy(EXAMPLES / "mandrill.jpg", taken / "IMG_0001.JPG")  # another photo of that name
    (taken / "IMG_0001 (2).CR2.xmp").write_text("someone else's")  # and one of the group's second names
    before = snapshot(src)
    args = ["sort", str(src), "--move", "--from", str(predictions(tmp_path)), "--dest", str(src / "out")]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    assert sorted(os.listdir(taken)) == [
        "IMG_0001 (2).CR2.xmp",
        "IMG_0001 (3).AAE",
        "IMG_0001 (3).CR2",
        "IMG_0001 (3).CR2.xmp",
        "IMG_0001 (3).JPG",
        "IMG_0001 (3).JPG.xmp",
        "IMG_0001 (3).xmp",
        "IMG_0001.JPG",
    ]
    assert (taken / "IMG_0001 (3).CR2.xmp").read_text() == XMP.replace("/>", " />")  # each member its own
    journal = next((src / "out" / "_animalsort").glob("sort-*.jsonl"))
    assert not undo_sort(journal).refused
    assert snapshot(src, skip=("out",)) == {k: v for k, v in before.items() if not k.startswith("out")}


def test_no_companions_sorts_file_by_file(runner: CliRunner, tmp_path: Path) -> None:
    src = camera_folder(tmp_path / "p")
    args = ["sort", str(src), "--move", "--from", str(predictions(tmp_path)), "--no-companions"]
    assert runner.invoke(main, args).exit_code == 0
    assert sorted(os.listdir(src / "cat" / "day1")) == ["IMG_0001.JPG"]
    assert sorted(os.listdir(src / "dog" / "day1")) == ["IMG_0001.CR2", "IMG_0003.jpg"]  # by its own label
    assert "IMG_0001.xmp" in os.listdir(src / "day1")


def test_an_unreadable_primary_keeps_its_group_in_place(runner: CliRunner, tmp_path: Path) -> None:
    src = camera_folder(tmp_path / "p")
    rows = [("day1/IMG_0001.CR2", "cat", 0.9, "ok"), ("day1/IMG_0001.JPG", "", 0, "error")]
    result = runner.invoke(
        main, ["sort", str(src), "--move", "--from", str(write_predictions(tmp_path / "e.csv", rows))]
    )
    assert result.exit_code == 0, result.output
    assert "left in place: day1/IMG_0001.JPG: not classified: broken; 5 companion(s) stay with it" in result.stderr
    assert {"IMG_0001.JPG", "IMG_0001.CR2", "IMG_0001.xmp", "IMG_0001.AAE"} <= set(os.listdir(src / "day1"))


def test_a_primary_without_a_row_lets_its_twin_decide(tmp_path: Path) -> None:
    src = camera_folder(tmp_path / "p")
    rows = [("day1/IMG_0001.CR2", "cat", 0.9, "ok")]  # the JPEG came after classify
    p = plan(src, src, read_csv_rows(write_predictions(tmp_path / "t.csv", rows)), mode="move")
    moved = sorted(Path(op.dst).name for op in p.ops)
    assert moved == sorted(
        ["IMG_0001.CR2", "IMG_0001.JPG", "IMG_0001.xmp", "IMG_0001.CR2.xmp", "IMG_0001.JPG.xmp", "IMG_0001.AAE"]
    )
    assert {Path(op.dst).parent.parent.name for op in p.ops} == {"cat"}


def test_a_companion_that_vanished_before_apply_is_reported(tmp_path: Path) -> None:
    src = camera_folder(tmp_path / "p")
    p = plan(src, src, read_csv_rows(predictions(tmp_path)), mode="move")
    (src / "day1" / "IMG_0001.AAE").unlink()
    res = apply(p, src / "_animalsort" / "sort-test.jsonl")
    assert [(Path(f.source).name, f.at_source) for f in res.failed] == [("IMG_0001.AAE", False)]
    assert (src / "cat" / "day1" / "IMG_0001.CR2").is_file() and res.done == len(p.ops) - 1


@pytest.mark.slow
def test_kill_during_a_move_then_undo_restores_every_member(tmp_path: Path) -> None:
    template = tmp_path / "template"
    for i in range(40):
        camera_folder(template / f"card{i:02d}")
    rows = []
    for i in range(40):
        rows += [
            (f"card{i:02d}/{r}", lab, c, s)
            for r, lab, c, s in (
                ("day1/IMG_0001.JPG", "cat", 0.9, "ok"),
                ("day1/IMG_0001.CR2", "dog", 0.9, "ok"),
                ("day1/IMG_0002.HEIC", "bird", 0.8, "ok"),
                ("day1/IMG_0003.jpg", "dog", 0.9, "ok"),
            )
        ]
    preds = write_predictions(tmp_path / "p.csv", rows)
    original = snapshot(template)
    rng = random.Random(28)
    for trial in range(8):
        src = tmp_path / f"src{trial}"
        shutil.copytree(template, src)
        cmd = [sys.executable, "-m", "animalsort", "-q", "sort", str(src), "--move", "--from", str(preds)]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        while proc.poll() is None and not list((src / "_animalsort").glob("sort-*.jsonl")):
            time.sleep(0.001)
        time.sleep(rng.uniform(0.0, 0.3))
        proc.send_signal(signal.SIGKILL)
        proc.wait(60)
        for journal in sorted((src / "_animalsort").glob("sort-*.jsonl")):
            state = read_journal(journal)
            assert not undo_sort(journal).refused, (trial, len(state.done))
        assert snapshot(src) == original, f"trial {trial}: undo did not restore every member"


@contextmanager
def fifos_opened(*fifos: Path) -> Iterator[list[Path]]:
    """The FIFOs that something opened for reading while the block ran: a write end opened
    from here (non-blocking, so it opens only while a reader is there) records it, and gives a
    reader blocked in open() its end of file, so a mistake fails the test instead of hanging it."""
    opened: list[Path] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(0.005):
            for fifo in fifos:
                try:
                    fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
                except OSError:  # ENXIO: no reader
                    continue
                opened.append(fifo)
                os.close(fd)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield opened
    finally:
        stop.set()
        watcher.join()


def test_the_fifo_watch_sees_a_reader(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.jpg")
    with fifos_opened(tmp_path / "pipe.jpg") as opened:
        assert (tmp_path / "pipe.jpg").read_bytes() == b""  # blocked until the watch opened its write end
    assert opened == [tmp_path / "pipe.jpg"]


def test_files_that_are_not_regular_files_are_never_opened(
    runner: CliRunner, tmp_path: Path, tiny_weights: Path
) -> None:
    src = tmp_path / "p"
    (src / "cats").mkdir(parents=True)
    shutil.copy(EXAMPLES / "cat.jpg", src / "cats" / "a.jpg")
    shutil.copy(EXAMPLES / "cat.jpg", src / "cats" / "b.jpg")
    shutil.copy(EXAMPLES / "dog.jpg", src / "dog.jpg")
    os.mkfifo(src / "pipe.jpg")
    os.mkfifo(src / "cats" / "pipe.NEF")
    (src / "link.jpg").symlink_to(src / "pipe.jpg")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(src / "sock.jpg"))
    tiny = ["--weights", str(tiny_weights)]
    try:
        with fifos_opened(src / "pipe.jpg", src / "cats" / "pipe.NEF") as opened:
            done = runner.invoke(main, ["classify", str(src), "-o", str(tmp_path / "c.csv"), *tiny])
            assert done.exit_code == 0, done.output
            assert [r["path"] for r in read_csv_rows(tmp_path / "c.csv")] == ["cats/a.jpg", "cats/b.jpg", "dog.jpg"]
            assert "not a regular file 4" in done.stderr
            named = runner.invoke(main, ["classify", str(src / "pipe.jpg")])
            assert named.exit_code == 2 and "pipe.jpg is a named pipe (FIFO), not a photo file" in named.stderr
            listed = tmp_path / "list.txt"
            listed.write_text("pipe.jpg\ndog.jpg\n")
            args = ["classify", "--files-from", str(listed), "--root", str(src), "-o", str(tmp_path / "m.csv"), *tiny]
            runner.invoke(main, args)
            rows = read_csv_rows(tmp_path / "m.csv")
            assert (
                rows[0]["error"] == "not a regular file: a named pipe (FIFO); not opened" and rows[1]["status"] == "ok"
            )
            page, stats = tmp_path / "i.html", tmp_path / "i.json"
            done = runner.invoke(main, ["inspect", str(src), "-o", str(page), "--json", str(stats)])
            assert done.exit_code == 0, done.output
            assert [i["path"] for i in json.loads(stats.read_text())["images"]] == ["cats/a.jpg", "cats/b.jpg"]
            assert page.is_file()
            out = tmp_path / "out"
            done = runner.invoke(main, ["sort", str(src), "--copy", "--dest", str(out), *tiny])
            assert done.exit_code == 0, done.output
            placed = sorted(p.relative_to(out).as_posix().split("/", 1)[1] for p in out.rglob("*.jpg") if p.is_file())
            assert placed == ["cats/a.jpg", "cats/b.jpg", "dog.jpg"]  # the photos only; each whole
            assert all((src / rel).read_bytes() == next(out.glob(f"*/{rel}")).read_bytes() for rel in placed)
            assert stat.S_ISFIFO((src / "cats" / "pipe.NEF").lstat().st_mode) and (src / "link.jpg").is_symlink()
            (src / "dogs").mkdir()
            for i in range(2):  # a second class, so that finetune trains (beside cats/pipe.NEF)
                shutil.copy(EXAMPLES / "dog.jpg", src / "dogs" / f"d{i}.jpg")
            args = ["finetune", str(src), "--out", str(tmp_path / "run"), "--epochs", "2", "--no-inspect", *tiny]
            done = runner.invoke(main, args)
            assert done.exit_code == 0, done.output
            counts = json.loads((tmp_path / "run" / "summary.json").read_text())["counts"]
            assert counts == {c: {"train": 2, "val": 0, "test": 0} for c in ("cats", "dogs")}
            assert "skipped (unreadable)" not in done.stderr
        assert opened == []
    finally:
        sock.close()
