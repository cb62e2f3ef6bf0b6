"""Bursts (#17): photos of a folder taken seconds apart are one sequence, voted together;
``sort --by-sequence`` places a burst in one folder. Bursts are copies of the example photos
with EXIF capture times written onto them."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import EXAMPLES, read_csv_rows
from PIL import Image

from animalsort.cli import main
from animalsort.inference.bursts import _parse, capture_time, vote_of

GREY = Image.new("RGB", (640, 480), (128, 128, 128))  # the animal has left the picture


def shoot(path: Path, image: Path | Image.Image, stamp: str | None, offset: str | None = None) -> Path:
    """A copy of ``image`` with DateTimeOriginal ``stamp`` (None: no EXIF at all)."""
    im = image if isinstance(image, Image.Image) else Image.open(image)
    path.parent.mkdir(parents=True, exist_ok=True)
    if stamp is None:
        im.convert("RGB").save(path)
        return path
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = stamp
    if offset:
        exif.get_ifd(0x8769)[0x9011] = offset
    im.convert("RGB").save(path, exif=exif.tobytes())
    return path


@pytest.fixture
def trap(tmp_path: Path) -> Path:
    """cam1: a cat burst (3 frames, the last one empty), 10 minutes later a dog burst (2 frames)."""
    cam = tmp_path / "trap" / "cam1"
    shoot(cam / "IMG_0001.JPG", EXAMPLES / "cat.jpg", "2026:05:01 06:00:00")
    shoot(cam / "IMG_0002.JPG", EXAMPLES / "cat.jpg", "2026:05:01 06:00:02")
    shoot(cam / "IMG_0003.JPG", GREY, "2026:05:01 06:00:04")
    shoot(cam / "IMG_0004.JPG", EXAMPLES / "dog.jpg", "2026:05:01 06:10:00")
    shoot(cam / "IMG_0005.JPG", EXAMPLES / "dog.jpg", "2026:05:01 06:10:03")
    return cam.parent


def test_two_bursts_ten_minutes_apart_and_the_empty_frame_keeps_the_burst_label(
    runner: CliRunner, trap: Path, tmp_path: Path
) -> None:
    out = tmp_path / "s.csv"
    result = runner.invoke(main, ["classify", str(trap), "-o", str(out), "--sequences"])
    assert result.exit_code == 0, result.output
    rows = read_csv_rows(out)
    assert list(rows[0])[-3:] == ["sequence", "sequence_label", "sequence_confidence"]
    assert [r["sequence"] for r in rows] == ["1", "1", "1", "2", "2"]
    assert rows[2]["label"] != "cat"  # the empty frame on its own …
    assert [r["sequence_label"] for r in rows] == ["cat", "cat", "cat", "dog", "dog"]  # … keeps the burst's
    assert rows[2]["sequence_confidence"] == rows[0]["sequence_confidence"]
    side = json.loads(out.with_name("s.csv.json").read_text())["sequences"]
    assert side["gap_s"] == 10.0 and side["count"] == 2 and side["capture_time"] == {"exif": 5, "mtime": 0}
    assert "2 sequences (gap 10 s; capture times: 5 from exif)" in result.stderr
    # a gap of 1 s splits every photo of these bursts (2-3 s apart) into its own sequence
    single = tmp_path / "one.csv"
    assert runner.invoke(main, ["classify", str(trap), "-o", str(single), "--sequences", "1"]).exit_code == 0
    assert [r["sequence"] for r in read_csv_rows(single)] == ["1", "2", "3", "4", "5"]
    # stdout gets the same CSV
    piped = runner.invoke(main, ["-q", "classify", str(trap), "--sequences"])
    assert piped.exit_code == 0 and piped.stdout_bytes == out.read_bytes()


def test_without_exif_the_file_time_groups_and_the_sidecar_says_so(runner: CliRunner, tmp_path: Path) -> None:
    src = tmp_path / "phone"
    base = datetime(2026, 5, 1, 12, 0, 0).timestamp()
    for i, (name, photo, dt) in enumerate([("a", "cat", 0), ("b", "cat", 5), ("c", "dog", 400)]):
        p = shoot(src / f"{name}.jpg", EXAMPLES / f"{photo}.jpg", None)
        os.utime(p, (base + dt, base + dt))
        assert capture_time(p) == (base + dt, "mtime"), i
    out = tmp_path / "s.csv"
    assert runner.invoke(main, ["-q", "classify", str(src), "-o", str(out), "--sequences"]).exit_code == 0
    assert [r["sequence"] for r in read_csv_rows(out)] == ["1", "1", "2"]
    assert json.loads(out.with_name("s.csv.json").read_text())["sequences"]["capture_time"] == {"exif": 0, "mtime": 3}


def test_sort_by_sequence_places_a_burst_together(runner: CliRunner, trap: Path, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    assert runner.invoke(main, ["-q", "sort", str(trap), "--dest", str(plain)]).exit_code == 0
    assert not (plain / "cat" / "cam1" / "IMG_0003.JPG").exists()  # alone, the empty frame goes elsewhere
    dest = tmp_path / "bursts"
    result = runner.invoke(main, ["sort", str(trap), "--dest", str(dest), "--by-sequence"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (dest / "cat" / "cam1").iterdir()) == ["IMG_0001.JPG", "IMG_0002.JPG", "IMG_0003.JPG"]
    assert sorted(p.name for p in (dest / "dog" / "cam1").iterdir()) == ["IMG_0004.JPG", "IMG_0005.JPG"]
    # --from a CSV made without --sequences: the bursts are found at sort time (the CSV is left as it is)
    preds = tmp_path / "p.csv"
    assert runner.invoke(main, ["-q", "classify", str(trap), "-o", str(preds)]).exit_code == 0
    before = preds.read_bytes()
    again = tmp_path / "again"
    args = ["-q", "sort", str(trap), "--dest", str(again), "--from", str(preds), "--by-sequence"]
    assert runner.invoke(main, args).exit_code == 0
    assert (again / "cat" / "cam1" / "IMG_0003.JPG").is_file() and preds.read_bytes() == before


def test_resume_of_a_finished_sequences_csv(runner: CliRunner, trap: Path, tmp_path: Path) -> None:
    out = tmp_path / "s.csv"
    args = ["-q", "classify", str(trap), "-o", str(out), "--sequences", "-b", 2]
    assert runner.invoke(main, [*map(str, args)]).exit_code == 0
    full = out.read_bytes()
    lines = full.split(b"\r\n")
    out.write_bytes(b"\r\n".join(lines[:3]) + b"\r\n")  # killed after two rows (with their sequence columns)
    assert runner.invoke(main, [*map(str, args), "--resume"]).exit_code == 0
    assert out.read_bytes() == full


def test_vote_and_capture_time_rules() -> None:
    assert vote_of([("cat", 0.9), ("cat", 0.8), ("no_animal", 0.99)]) == ("cat", pytest.approx(0.85))
    assert vote_of([("cat", 0.9), ("dog", 0.6), ("cat", 0.3)]) == ("cat", pytest.approx(0.4))
    assert vote_of([("no_animal", 0.9), ("no_animal", 0.7)]) == ("no_animal", pytest.approx(0.8))
    east = datetime(2026, 5, 1, 6, 0, 0, tzinfo=timezone(timedelta(hours=2))).timestamp()
    assert _parse("2026:05:01 06:00:00", None, "+02:00") == east
    assert _parse("2026:05:01 06:00:00", "25", "+02:00") == east + 0.25
    assert _parse("2026:05:01 06:00:00", None, None) == datetime(2026, 5, 1, 6, 0, 0).timestamp()  # local time


def test_offset_in_exif_is_used(tmp_path: Path) -> None:
    p = shoot(tmp_path / "a.jpg", EXAMPLES / "cat.jpg", "2026:05:01 06:00:00", offset="-05:00")
    when, source = capture_time(p)
    assert source == "exif" and when == datetime(2026, 5, 1, 11, 0, 0, tzinfo=UTC).timestamp()


def test_photos_copied_without_their_times_are_not_one_burst(
    runner: CliRunner, tmp_path: Path, tiny_weights: Path
) -> None:
    """#35: a plain ``cp`` gives every copy one mtime; without EXIF, --sequences made the whole
    folder one burst and sort --by-sequence filed every photo under its vote."""
    src = tmp_path / "copied"
    when = datetime(2026, 5, 1, 12, 0, 0).timestamp()
    for name in ("cat", "dog", "eagle"):
        os.utime(shoot(src / f"{name}.jpg", EXAMPLES / f"{name}.jpg", None), (when, when))
    out = tmp_path / "s.csv"
    res = runner.invoke(main, ["classify", str(src), "-o", str(out), "--sequences", "--weights", str(tiny_weights)])
    assert res.exit_code == 0, res.output
    assert [r["sequence"] for r in read_csv_rows(out)] == ["1", "2", "3"]
    side = json.loads(out.with_name("s.csv.json").read_text())["sequences"]
    assert side["copied_times"] == 3 and side["capture_time"] == {"exif": 0, "mtime": 3}
    assert "3 photos not chained into bursts: without EXIF, they share their modification times" in res.stderr
    preds = tmp_path / "labelled.csv"
    preds.write_text(
        "path,label,confidence,status,error,frame_s\n"
        "cat.jpg,cat,0.9000,ok,,\ndog.jpg,dog,0.6000,ok,,\neagle.jpg,bird,0.7000,ok,,\n"
    )
    res = runner.invoke(main, ["sort", str(src), "--from", str(preds), "--by-sequence", "--dry-run"])
    assert res.exit_code == 0, res.output
    assert "plan: 3 files (bird 1, cat 1, dog 1)" in res.stdout
