"""The CSVs a person hands to sort, tag, export, report, review and finetune --from (#35): a row
never leads outside the folder its paths are relative to, a confidence that does not read is
an error line naming the row, and a CSV saved again by a spreadsheet reads the same."""

from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import make_image

from animalsort.cli import main
from animalsort.datasets import links
from animalsort.errors import InputError, RowPathError
from animalsort.formats import corrections
from animalsort.formats.predictions import BOX_COLUMNS, header
from animalsort.pages.review_session import Session
from animalsort.paths import RowPaths

LABELS = ["cat", "dog", "no_animal"]


def write_csv(path: Path, rows: list[tuple[str, str, str]], src: Path | None = None, extra: dict | None = None) -> Path:
    """A classify-style CSV of (path, label, confidence text) rows, ok all of them, with a
    sidecar naming ``src`` (as classify writes it) when one is given."""
    columns = header(1) + list(extra or {})
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(columns)
        for rel, label, conf in rows:
            w.writerow([rel, label, conf, "ok", "", "", *(extra or {}).values()])
    if src is not None:
        sidecar = {"src": str(src), "model": "lite0", "labels": "animals", "label_names": LABELS}
        path.with_name(path.name + ".json").write_text(json.dumps(sidecar))
    return path


@pytest.fixture
def escape(tmp_path: Path) -> dict[str, Path]:
    """SRC with two photos and a folder symlinked to OUTSIDE, whose victim.jpg no row may touch."""
    src, outside = tmp_path / "src", tmp_path / "outside"
    make_image(src / "a.jpg", seed=1)
    make_image(src / "sub" / "b.jpg", seed=2)
    victim = make_image(outside / "victim.jpg", seed=3)
    (src / "link").symlink_to(outside, target_is_directory=True)
    return {"src": src, "outside": outside, "victim": victim}


def evil_rows(escape: dict[str, Path]) -> list[tuple[str, str, str]]:
    """A good row, then every way out of SRC that is refused."""
    return [
        ("a.jpg", "cat", "0.9000"),
        ("../outside/victim.jpg", "cat", "0.9000"),
        ("./sub/../../outside/victim.jpg", "cat", "0.9000"),
        ("link/victim.jpg", "dog", "0.9000"),
        (str(escape["victim"]), "dog", "0.9000"),
        (escape["victim"].as_uri(), "dog", "0.9000"),
    ]


def untouched(escape: dict[str, Path], before: bytes) -> None:
    assert sorted(os.listdir(escape["outside"])) == ["victim.jpg"]
    assert escape["victim"].read_bytes() == before


@pytest.mark.parametrize(
    ("rel", "why"),
    [
        ("../x.jpg", "a '..' segment"),
        ("./a/../../x.jpg", "a '..' segment"),
        ("sub/..", "a '..' segment"),
        ("", "no file name"),
        (".", "no file name"),
        ("a\0b.jpg", "a NUL character"),
        ("/etc/passwd", "an absolute path outside"),
        ("link/victim.jpg", "a symlinked folder that leads to"),
        ("file:///etc/passwd", "a file:// URI"),
        ("javascript://%0aalert(1)", "a javascript:// URI"),
        ("s3://bucket/../../../../tmp/x.jpg", "a '..' segment (it could climb out) in the URI"),
    ],
)
def test_row_paths_refused(escape: dict[str, Path], rel: str, why: str) -> None:
    with pytest.raises(RowPathError, match=re.escape(why)):
        RowPaths(escape["src"]).resolve(rel)


def test_row_paths_kept(escape: dict[str, Path], tmp_path: Path) -> None:
    src = escape["src"]
    paths = RowPaths(src)
    assert paths.resolve("a.jpg") == str(src / "a.jpg")
    assert paths.resolve("./sub//b.jpg") == str(src / "sub" / "b.jpg")
    assert paths.resolve(str(src / "sub" / "b.jpg")) == str(src / "sub" / "b.jpg")  # absolute, inside SRC
    assert paths.resolve("%2e%2e/x.jpg") == str(src / "%2e%2e" / "x.jpg")  # a file name, not a URL: stays inside
    assert paths.resolve("..\\..\\x.jpg") == str(src / "..\\..\\x.jpg")  # on POSIX a backslash is part of a name
    assert paths.resolve("s3://bucket/cam/x.jpg") == "s3://bucket/cam/x.jpg"
    (src / "inner").symlink_to(src / "sub", target_is_directory=True)  # a symlink that stays inside: fine
    assert paths.resolve("inner/b.jpg") == str(src / "inner" / "b.jpg")
    (src / "photo.jpg").symlink_to(escape["victim"])  # a symlinked photo: the link's maker chose it
    assert paths.resolve("photo.jpg") == str(src / "photo.jpg")
    linked = tmp_path / "via-link"
    linked.symlink_to(src, target_is_directory=True)  # SRC itself a symlink: what the user named
    assert RowPaths(linked).resolve("sub/b.jpg") == str(linked / "sub" / "b.jpg")
    with pytest.raises(RowPathError, match="an absolute path outside"):  # spelled another way than SRC is
        RowPaths(linked).resolve(str(src / "a.jpg"))
    # naming a folder that holds them allows the files outside
    assert RowPaths(tmp_path).resolve(str(escape["victim"])) == str(escape["victim"])


def test_sort_move_never_takes_a_file_from_outside(runner: CliRunner, escape: dict[str, Path], tmp_path: Path) -> None:
    before = escape["victim"].read_bytes()
    preds = write_csv(tmp_path / "evil.csv", evil_rows(escape))
    res = runner.invoke(main, ["sort", str(escape["src"]), "--from", str(preds), "--move", "--flat"])
    assert res.exit_code == 0, res.output
    untouched(escape, before)
    assert (escape["src"] / "cat" / "a.jpg").is_file() and not (escape["src"] / "dog").exists()
    for rel, _, _ in evil_rows(escape)[1:]:
        assert f"left in place: {rel}: refused: " in res.stderr, rel
    assert "a symlinked folder that leads to" in res.stderr and "an absolute path outside" in res.stderr


def test_sort_hostile_variants(runner: CliRunner, escape: dict[str, Path], tmp_path: Path) -> None:
    """Backslashes and %2e%2e are names; NUL, a folder and a duplicate row stay; SRC may be a
    symlink, and an absolute row spelled under it keeps its sub-path."""
    before = escape["victim"].read_bytes()
    (escape["src"] / "%2e%2e").mkdir()
    make_image(escape["src"] / "%2e%2e" / "odd.jpg", seed=4)
    via = tmp_path / "via-link"
    via.symlink_to(escape["src"], target_is_directory=True)
    rows = [
        ("a.jpg", "cat", "0.9000"),
        ("a.jpg", "cat", "0.9000"),
        ("%2e%2e/odd.jpg", "dog", "0.9000"),
        ("..\\outside\\victim.jpg", "dog", "0.9000"),
        ("sub", "dog", "0.9000"),
        ("a\0.jpg", "dog", "0.9000"),
        (str(via / "sub" / "b.jpg"), "dog", "0.9000"),
    ]
    preds = write_csv(tmp_path / "variants.csv", rows)
    res = runner.invoke(main, ["-v", "sort", str(via), "--from", str(preds), "--move"])
    assert res.exit_code == 0, res.output
    untouched(escape, before)
    placed = sorted(str(p.relative_to(escape["src"])) for p in escape["src"].rglob("*.jpg"))
    assert placed == ["cat/a.jpg", "dog/%2e%2e/odd.jpg", "dog/sub/b.jpg"]
    assert "left in place: sub: not a regular file" in res.stderr
    assert "left in place: ..\\outside\\victim.jpg: not found" in res.stderr
    assert "a NUL character" in res.stderr


def test_tag_never_writes_beside_a_file_outside(runner: CliRunner, escape: dict[str, Path], tmp_path: Path) -> None:
    before = escape["victim"].read_bytes()
    preds = write_csv(tmp_path / "evil.csv", evil_rows(escape), src=escape["src"])
    for extra in ([], ["--embed"]):
        res = runner.invoke(main, ["tag", str(preds), *extra])
        assert res.exit_code == 0, res.output
        untouched(escape, before)
        for rel, _, _ in evil_rows(escape)[1:]:
            assert f"failed: {rel}: refused: " in res.stderr, rel
    assert (escape["src"] / "a.jpg.xmp").is_file()
    strict = runner.invoke(main, ["tag", str(preds), "--strict"])
    assert strict.exit_code == 1 and "5 files could not be tagged" in strict.output


@pytest.mark.parametrize("fmt", ["megadetector", "coco", "camtrap-dp"])
def test_export_refuses_a_row_that_leads_outside(
    runner: CliRunner, escape: dict[str, Path], tmp_path: Path, fmt: str
) -> None:
    preds = write_csv(tmp_path / "evil.csv", evil_rows(escape)[:2], src=escape["src"])
    out = tmp_path / "exported" / "out"
    out.parent.mkdir()
    res = runner.invoke(main, ["export", str(preds), "-f", fmt, "-o", str(out), "--timezone", "UTC"])
    assert res.exit_code == 2, res.output
    assert f"{preds}, row '../outside/victim.jpg': refused: a '..' segment" in res.stderr
    assert "nothing was exported" in res.stderr
    assert os.listdir(out.parent) == []  # no output, no temporary left


def test_report_and_review_never_open_a_row_that_leads_outside(
    runner: CliRunner, escape: dict[str, Path], tmp_path: Path
) -> None:
    preds = write_csv(tmp_path / "evil.csv", evil_rows(escape), src=escape["src"])
    page = tmp_path / "page.html"
    res = runner.invoke(main, ["report", str(preds), "-o", str(page), "--embed", "-j", "0"])
    assert res.exit_code == 0, res.output
    assert "6 rows: cat 1; 0 uncertain, 5 failed" in res.stderr
    assert "  ../outside/victim.jpg: refused: a '..' segment" in res.stderr
    data = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page.read_text()).group(1)
    cards = {card[0]: card for card in json.loads(data.replace("<\\/", "</"))["rows"]}
    assert cards["a.jpg"][1] == "src/a.jpg" and cards["a.jpg"][2].startswith("data:image/jpeg")
    for rel, _, _ in evil_rows(escape)[1:]:
        _, href, thumb, *_, status, error = cards[rel][:8]
        assert (href, thumb, status) == ("", None, "error") and error.startswith("refused: "), rel
    session = Session(preds)
    try:
        assert [item.path for item in session.items] == ["a.jpg"]
        assert [rel for rel, _ in session.refused] == [r for r, _, _ in evil_rows(escape)[1:]]
    finally:
        session.close()


def test_finetune_from_never_links_a_file_from_outside(
    runner: CliRunner, escape: dict[str, Path], tmp_path: Path
) -> None:
    inside = str(escape["src"] / "sub" / "b.jpg")  # an absolute row inside SRC is linked by its path under SRC
    preds = write_csv(tmp_path / "evil.csv", [*evil_rows(escape), (inside, "dog", "0.9000")], src=escape["src"])
    with corrections.Log(preds) as log:
        for rel, _, _ in [*evil_rows(escape), (inside, "", "")]:
            log.append(rel, "cat")
    made = links.link(preds, tmp_path / "labelled")
    linked = sorted(str(p.relative_to(tmp_path / "labelled")) for p in (tmp_path / "labelled").rglob("*.jpg"))
    assert made.photos == 2 and linked == ["cat/a.jpg", "cat/sub/b.jpg"]
    assert all(os.path.realpath(tmp_path / "labelled" / p).startswith(str(escape["src"])) for p in linked)
    assert [rel for rel, _ in made.refused] == [r for r, _, _ in evil_rows(escape)[1:]]
    # only refused rows: nothing to train on, and the message says why
    only = write_csv(tmp_path / "only.csv", evil_rows(escape)[1:3], src=escape["src"])
    with corrections.Log(only) as log:
        log.append("../outside/victim.jpg", "cat")
    res = runner.invoke(main, ["finetune", "--from", str(only), "--out", str(tmp_path / "run")])
    assert res.exit_code == 2, res.output
    assert "1 rows refused, e.g. '../outside/victim.jpg': refused: a '..' segment" in res.stderr
    assert not (tmp_path / "run" / "labelled").exists()


# --------------------------------------------------------------------------- confidences


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("high", "'high' is not a number"),
        ("nan", "'nan' is not a number from 0 to 1"),
        ("1.5", "'1.5' is not a number from 0 to 1"),
    ],
)
def test_a_confidence_that_does_not_read_is_an_error_line(
    runner: CliRunner, tmp_path: Path, text: str, why: str
) -> None:
    src = tmp_path / "src"
    make_image(src / "a.jpg")
    make_image(src / "b.jpg", seed=1)
    preds = write_csv(tmp_path / "p.csv", [("a.jpg", "cat", "0.9000"), ("b.jpg", "dog", text)], src=src)
    expected = f"{preds}, line 3 ('b.jpg'): confidence {why}"
    out = tmp_path / "md.json"
    for args in (
        ["sort", str(src), "--from", str(preds), "--move"],
        ["report", str(preds)],
        ["tag", str(preds)],
        ["export", str(preds), "-f", "megadetector", "-o", str(out)],
        ["export", str(preds), "-f", "coco", "-o", str(out)],
    ):
        res = runner.invoke(main, args)
        assert res.exit_code == 2 and expected in res.stderr, (args, res.output, res.exception)
    assert sorted(os.listdir(src)) == ["a.jpg", "b.jpg"] and not out.exists()  # nothing moved, tagged or written
    with pytest.raises(InputError, match=re.escape(expected)):
        Session(preds)


def test_burst_confidence_and_box_that_do_not_read(runner: CliRunner, tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_image(src / "a.jpg")
    burst = {"sequence": "1", "sequence_label": "cat", "sequence_confidence": "NaN"}
    preds = write_csv(tmp_path / "p.csv", [("a.jpg", "cat", "0.9000")], src=src, extra=burst)
    res = runner.invoke(main, ["export", str(preds), "-f", "megadetector", "-o", str(tmp_path / "md.json")])
    assert res.exit_code == 2 and "sequence_confidence 'NaN' is not a number from 0 to 1" in res.stderr
    box = dict(zip(BOX_COLUMNS, ["nan", "0.1", "0.5", "0.5"]))
    preds = write_csv(tmp_path / "b.csv", [("a.jpg", "cat", "0.9000")], src=src, extra=box)
    for fmt in ("megadetector", "coco"):
        out = tmp_path / f"{fmt}.json"
        assert runner.invoke(main, ["export", str(preds), "-f", fmt, "-o", str(out)]).exit_code == 0
        json.loads(out.read_text(), parse_constant=lambda c, where=fmt: pytest.fail(f"{c} in {where} JSON"))


# --------------------------------------------------------------------------- a spreadsheet's CSV


def test_a_csv_saved_again_by_excel_reads_the_same(runner: CliRunner, tmp_path: Path) -> None:
    """Excel's "CSV UTF-8": a byte-order mark, CR LF line ends; its corrections file too."""
    src = tmp_path / "src"
    make_image(src / "a.jpg")
    make_image(src / "b.jpg", seed=1)
    text = "path,label,confidence,status,error,frame_s\r\na.jpg,cat,0.9000,ok,,\r\nb.jpg,dog,0.8000,ok,,\r\n"
    preds = tmp_path / "p.csv"
    preds.write_bytes(b"\xef\xbb\xbf" + text.encode())
    corrections.corrections_path(preds).write_bytes(
        b"\xef\xbb\xbfpath,label,reviewed_at\r\nb.jpg,fox,2026-12-04T10:00:00.000+00:00\r\n"
    )
    res = runner.invoke(main, ["sort", str(src), "--from", str(preds), "--dry-run"])
    assert res.exit_code == 0, res.output
    assert "plan: 2 files (cat 1, fox 1)" in res.stdout
    report = runner.invoke(main, ["report", str(preds), "--src", str(src)])
    assert report.exit_code == 0 and "2 rows: cat 1, fox 1" in report.stderr, report.output


def test_an_empty_csv_and_one_with_only_a_header(runner: CliRunner, tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_image(src / "a.jpg")
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    res = runner.invoke(main, ["sort", str(src), "--from", str(empty)])
    assert (
        res.exit_code == 2 and "is not an animalsort predictions CSV (no confidence, label, path, status" in res.stderr
    )
    only = write_csv(tmp_path / "head.csv", [])
    res = runner.invoke(main, ["sort", str(src), "--from", str(only), "--move"])
    assert res.exit_code == 0 and "moved: 0 files (none)" in res.stderr, res.output
    assert sorted(os.listdir(src)) == ["a.jpg"]


def test_a_manifest_saved_by_excel_lists_its_paths(tmp_path: Path) -> None:
    from animalsort.sources.manifests import Manifest

    listed = tmp_path / "list.csv"
    listed.write_bytes(b"\xef\xbb\xbfpath,label\r\na.jpg,cat\r\n")
    text = tmp_path / "list.txt"
    text.write_bytes(b"\xef\xbb\xbfa.jpg\r\nb.jpg\r\n")
    assert list(Manifest.of(str(listed), tmp_path)) == ["a.jpg"]
    assert list(Manifest.of(str(text), tmp_path)) == ["a.jpg", "b.jpg"]
