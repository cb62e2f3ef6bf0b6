"""Folders as they really are (#14): phone formats, files that are not photos, image files
named one by one, sorting twice, outputs that cannot be written, options after the command."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import EXAMPLES, make_image, read_csv_rows
from PIL import Image

from animalsort.cli import main
from animalsort.sources.decode import open_rgb, oriented_size


def sideways(src: Path, out: Path, fmt: str) -> Path:
    """``src`` stored turned a quarter to the left, with EXIF orientation 6 ("turn right to
    view"): only a reader that applies the orientation sees the photo upright."""
    with Image.open(src) as im:
        turned = im.convert("RGB").transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    out.parent.mkdir(parents=True, exist_ok=True)
    turned.save(out, format=fmt, exif=exif.tobytes(), quality=90)
    return out


@pytest.fixture(scope="module")
def phone_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A phone's camera folder: the cat as HEIC and AVIF (both stored sideways), the dog as
    JPEG, a damaged video and a damaged RAW file (classified: error rows, #28), and a sidecar
    that is not classified."""
    root = tmp_path_factory.mktemp("phone") / "DCIM"
    sideways(EXAMPLES / "cat.jpg", root / "IMG_0001.HEIC", "HEIF")
    sideways(EXAMPLES / "cat.jpg", root / "IMG_0002.avif", "AVIF")
    shutil.copy(EXAMPLES / "dog.jpg", root / "IMG_0003.JPG")
    (root / "IMG_0004.MOV").write_bytes(b"\x00\x00\x00\x18ftypqt  " + bytes(200))
    (root / "IMG_0005.CR2").write_bytes(b"II*\x00" + bytes(200))
    (root / "IMG_0001.AAE").write_text("<plist/>")
    return root


def test_heic_and_avif_are_read_upright(phone_folder: Path) -> None:
    with Image.open(EXAMPLES / "cat.jpg") as im:
        upright = im.size
    for name, fmt in (("IMG_0001.HEIC", "HEIF"), ("IMG_0002.avif", "AVIF")):
        with Image.open(phone_folder / name) as im:
            assert im.format == fmt
        assert open_rgb(phone_folder / name).size == upright
        assert oriented_size(phone_folder / name) == upright


def test_classify_a_phone_folder_says_what_it_skipped(runner: CliRunner, phone_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "p.csv"
    result = runner.invoke(main, ["classify", str(phone_folder), "-o", str(out)])
    assert result.exit_code == 0, result.output
    rows = {r["path"]: r for r in read_csv_rows(out)}
    assert list(rows) == ["IMG_0001.HEIC", "IMG_0002.avif", "IMG_0003.JPG", "IMG_0004.MOV", "IMG_0005.CR2"]
    assert [rows[p]["label"] for p in rows] == ["cat", "cat", "dog", "", ""]
    assert [r["status"] for r in rows.values()] == ["ok", "ok", "ok", "error", "error"]
    assert rows["IMG_0004.MOV"]["error"].startswith("unreadable video: ")  # a clip header and no frames (#17)
    assert rows["IMG_0005.CR2"]["error"].startswith("unreadable RAW: ")  # a RAW is a photo (#28)
    assert "skipped 1 file: .aae 1: not images (-v lists them)" in result.stderr
    sidecar = json.loads(out.with_name("p.csv.json").read_text())
    assert sidecar["not_classified"] == {".aae": 1}
    verbose = runner.invoke(main, ["-v", "classify", str(phone_folder), "-o", str(tmp_path / "v.csv"), "--no-videos"])
    assert "  skipped: IMG_0004.MOV" in verbose.stderr and "  skipped: IMG_0001.AAE" in verbose.stderr


def test_a_folder_of_videos_and_raw_files_says_what_it_found(runner: CliRunner, tmp_path: Path) -> None:
    src = tmp_path / "card"
    src.mkdir()
    for name in ("a.MOV", "b.mov", "c.xmp"):
        (src / name).write_bytes(b"\x00" * 64)
    result = runner.invoke(main, ["classify", str(src), "--no-videos"])
    assert result.exit_code == 2  # nothing to classify: the user's to fix, like a wrong path
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith(f"Error: no image files under {src}: found 3 files: .mov 2, .xmp 1")
    assert "videos (--no-videos)" in error and ".heic" in error and "RAW photos (.3fr" in error
    # without --no-videos the clips are classified: these are not clips, so each is an error row
    result = runner.invoke(main, ["classify", str(src)])
    assert result.exit_code == 0, result.output
    assert "2 found, 0 ok, 2 failed" in result.stderr and "skipped 1 file: .xmp 1" in result.stderr
    (src / "c.NEF").write_bytes(b"\x00" * 64)  # a RAW is a photo (#28): a damaged one is an error row
    result = runner.invoke(main, ["classify", str(src), "--no-videos"])
    assert result.exit_code == 0 and "1 found, 0 ok, 1 failed" in result.stderr, result.output


def test_heic_through_sort_report_inspect_explain_and_finetune(
    runner: CliRunner, phone_folder: Path, tmp_path: Path, tiny_weights: Path
) -> None:
    dest = tmp_path / "sorted"
    result = runner.invoke(main, ["sort", str(phone_folder), "--dest", str(dest)])
    assert result.exit_code == 0, result.output
    assert (dest / "cat" / "IMG_0001.HEIC").is_file() and (dest / "cat" / "IMG_0002.avif").is_file()
    (preds,) = (dest / "_animalsort").glob("preds-*.csv")
    report = tmp_path / "r.html"
    assert runner.invoke(main, ["report", str(preds), "-o", str(report)]).exit_code == 0
    page = report.read_text()
    # a browser cannot show HEIC: its card carries an embedded JPEG thumbnail, the others link
    block = json.loads(page.split('id="report-data">', 1)[1].split("</script>", 1)[0])
    cards = {row[0]: row for row in block["rows"]}
    assert cards["IMG_0001.HEIC"][2].startswith("data:image/jpeg;base64,")
    assert cards["IMG_0003.JPG"][2] is None
    stats = tmp_path / "i.json"
    check = runner.invoke(main, ["inspect", str(phone_folder), "-o", str(tmp_path / "i.html"), "--json", str(stats)])
    assert check.exit_code == 0, check.output
    measured = json.loads(stats.read_text())
    corrupt = [f for f in measured["findings"] if f["kind"] == "corrupt"]
    assert [f["paths"] for f in corrupt] == [["IMG_0005.CR2"]]  # the damaged RAW (#28), and nothing else
    assert corrupt[0]["detail"].startswith("unreadable RAW: ")
    sizes = {i["path"]: (i["width"], i["height"]) for i in measured["images"]}
    assert sizes["IMG_0001.HEIC"] == sizes["IMG_0002.avif"] == Image.open(EXAMPLES / "cat.jpg").size
    why = runner.invoke(main, ["explain", str(phone_folder / "IMG_0001.HEIC"), "--out", str(tmp_path / "why")])
    assert why.exit_code == 0, why.output
    assert ": cat " in why.output
    data = tmp_path / "data"
    for i in range(3):
        sideways(EXAMPLES / "cat.jpg", data / "cats" / f"{i}.heic", "HEIF")
        make_image(data / "blue" / f"{i}.avif", color=(20, 40, 220), seed=i, fmt="AVIF")
    tiny = ["--weights", str(tiny_weights)]  # the subject is reading HEIC/AVIF, not lite1's features
    tune = runner.invoke(main, ["finetune", str(data), "--out", str(tmp_path / "run"), "--epochs", "20", *tiny])
    assert tune.exit_code == 0, tune.output
    assert "skipped (unreadable)" not in tune.stderr and "features: 6 computed" in tune.stderr


def test_image_files_and_folders_as_arguments(runner: CliRunner, tmp_path: Path) -> None:
    trip = tmp_path / "trip"
    shutil.copy(EXAMPLES / "cat.jpg", tmp_path / "cat.jpg")
    (trip / "day1").mkdir(parents=True)
    shutil.copy(EXAMPLES / "dog.jpg", trip / "day1" / "dog.jpg")
    shutil.copy(EXAMPLES / "eagle.jpg", trip / "eagle.jpg")
    out = tmp_path / "p.csv"
    args = ["classify", str(tmp_path / "cat.jpg"), str(trip), str(trip / "day1" / "dog.jpg"), "-o", str(out)]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    rows = read_csv_rows(out)  # in the order given; a file inside a folder given is listed once
    assert [r["path"] for r in rows] == ["cat.jpg", "trip/day1/dog.jpg", "trip/eagle.jpg"]
    assert [r["label"] for r in rows] == ["cat", "dog", "bird"]
    assert json.loads(out.with_name("p.csv.json").read_text())["src"] == str(tmp_path)
    single = runner.invoke(main, ["classify", str(tmp_path / "cat.jpg")])
    assert single.exit_code == 0 and single.stdout.splitlines()[1].startswith("cat.jpg,cat,")
    missing = runner.invoke(main, ["classify", str(tmp_path / "cat.jpg"), str(tmp_path / "nope.jpg")])
    assert missing.exit_code == 2 and f"{tmp_path / 'nope.jpg'}: no such folder or file" in missing.stderr


def test_quiet_and_verbose_after_the_command(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "p.csv"
    result = runner.invoke(main, ["classify", str(EXAMPLES), "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    loud = runner.invoke(main, ["classify", str(EXAMPLES), "-o", str(out), "--verbose"])
    assert loud.exit_code == 0 and "11 found, 11 ok" in loud.stderr


def test_sorting_twice_places_only_new_photos(runner: CliRunner, tmp_path: Path) -> None:
    """In per-group folders, sorted in place with --move: the second run leaves what the
    first placed (bird/bird/eagle.jpg stays, it does not become bird/bird/bird/…)."""
    src = tmp_path / "photos"
    for group, name in (("bird", "eagle.jpg"), ("cat", "cat.jpg"), ("dog", "dog.jpg")):
        (src / group).mkdir(parents=True)
        shutil.copy(EXAMPLES / name, src / group / name)
    first = runner.invoke(main, ["sort", str(src), "--move"])
    assert first.exit_code == 0, first.output
    placed = sorted(p.relative_to(src).as_posix() for p in src.rglob("*.jpg"))
    assert placed == ["bird/bird/eagle.jpg", "cat/cat/cat.jpg", "dog/dog/dog.jpg"]
    shutil.copy(EXAMPLES / "squirrel.jpg", src / "dog" / "new.jpg")  # a new photo arrives
    second = runner.invoke(main, ["sort", str(src), "--move"])
    assert second.exit_code == 0, second.output
    assert "moved: 1 files (squirrel 1)" in second.stderr
    assert "3 files placed by an earlier sort" in second.stderr
    after = sorted(p.relative_to(src).as_posix() for p in src.rglob("*.jpg"))
    assert after == ["bird/bird/eagle.jpg", "cat/cat/cat.jpg", "dog/dog/dog.jpg", "squirrel/dog/new.jpg"]
    third = runner.invoke(main, ["sort", str(src), "--move"])
    assert third.exit_code == 0, third.output
    assert "moved: 0 files" in third.stderr and "4 files placed by an earlier sort" in third.stderr
    assert sorted(p.relative_to(src).as_posix() for p in src.rglob("*.jpg")) == after
    # copies into another folder are incremental too: the second run copies nothing again
    dest = tmp_path / "copies"
    assert runner.invoke(main, ["sort", str(src), "--dest", str(dest)]).exit_code == 0
    again = runner.invoke(main, ["sort", str(src), "--dest", str(dest)])
    assert again.exit_code == 0 and "copied: 0 files" in again.stderr and "duplicate" not in again.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["classify", str(EXAMPLES), "-o", "{blocker}/p.csv"],
        ["report", "{preds}", "-o", "{blocker}/r.html"],
        ["inspect", str(EXAMPLES), "-o", "{blocker}/i.html"],
        ["explain", str(EXAMPLES / "cat.jpg"), "--out", "{blocker}/why"],
        ["sort", str(EXAMPLES), "--dest", "{blocker}/sorted", "--dry-run"],
        ["finetune", "{data}", "--out", "{blocker}/run"],
    ],
    ids=lambda c: c[0],
)
def test_an_output_under_a_regular_file_is_a_one_line_error(
    runner: CliRunner, tmp_path: Path, command: list[str]
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder is expected")
    preds = tmp_path / "preds.csv"
    preds.write_text("path,label,confidence,status,error\r\ncat.jpg,cat,0.9,ok,\r\n")
    data = tmp_path / "data"
    for i in range(2):
        make_image(data / "red" / f"{i}.jpg", color=(220, 30, 30), seed=i)
        make_image(data / "blue" / f"{i}.jpg", color=(30, 30, 220), seed=i)
    args = [a.format(blocker=blocker, preds=preds, data=data) for a in command]
    result = runner.invoke(main, args)
    assert result.exit_code in (1, 2), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("Error: ") and str(blocker) in error, result.stderr
    assert "Traceback" not in result.stderr


def test_a_broken_pipe_ends_quietly(tmp_path: Path, tiny_weights: Path) -> None:
    """`animalsort classify DIR | head -2`: the reader goes away; no message, no traceback."""
    src = tmp_path / "many"
    for i in range(600):  # ~100 kB of rows: more than a pipe holds, so writing must hit the closed pipe
        make_image(src / f"{i:03d}-{'long name ' * 15}.jpg", size=(16, 16), seed=i)
    cmd = [sys.executable, "-m", "animalsort", "-q", "classify", str(src), "--weights", str(tiny_weights)]
    # in torch: no graph to export and time in this process of its own (the closed pipe is the subject)
    proc = subprocess.Popen(
        cmd + ["-b", "4", "-j", "0", "--runtime", "torch"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = [proc.stdout.readline() for _ in range(2)]
    proc.stdout.close()  # the reader closes early, as `head` does
    err = proc.stderr.read().decode()
    code = proc.wait(timeout=300)
    assert first[0].startswith(b"path,label,confidence") and first[1].startswith(b"000-")
    assert code == 141, err  # as if SIGPIPE had ended it, the way other Unix tools end
    assert err == ""
