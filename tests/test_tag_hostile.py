"""`animalsort tag` and its undo tried as a hostile user would (#35): names that differ only in
case, read-only photos, symbolic links in and out of SRC, names near the file system's limit,
journals cut short or edited, files swapped under a run, two runs at once."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from animalsort import locks
from animalsort.cli import main
from animalsort.formats import corrections
from animalsort.tagging import sidecars, write
from animalsort.tagging.tag_rows import TagOptions, tag_rows
from tests.conftest import make_image
from tests.test_tag import DARKTABLE_XMP, as_list, exiftool_json, needs_exiftool, row, write_csv


def _journal(src: Path) -> Path:
    (journal,) = (src / "_animalsort").glob("tag-*.jsonl")
    return journal


def _subject(path: Path) -> list:
    return as_list(exiftool_json(path, "-XMP-dc:Subject").get("Subject"))


def _records(journal: Path) -> list[dict]:
    return [json.loads(line) for line in journal.read_text().splitlines()]


# --------------------------------------------------------------------------- item 4: case


@needs_exiftool
def test_photos_whose_names_differ_only_in_case_keep_their_own_sidecars(runner, tmp_path):
    """Two photos on a case-sensitive file system: each sidecar only ever holds its photo's label."""
    src = tmp_path / "p"
    make_image(src / "IMG_0001.jpg", seed=1)
    make_image(src / "img_0001.jpg", seed=2)
    preds = write_csv(tmp_path / "preds.csv", src, [row("img_0001.jpg", "dog"), row("IMG_0001.jpg", "cat")])
    assert runner.invoke(main, ["tag", str(preds)]).exit_code == 0
    with corrections.Log(preds) as log:
        log.append("IMG_0001.jpg", "fox")
    res = runner.invoke(main, ["tag", str(preds)])
    assert res.exit_code == 0, res.output
    assert "shares" not in res.output
    assert _subject(src / "IMG_0001.jpg.xmp") == ["fox"]
    assert _subject(src / "img_0001.jpg.xmp") == ["dog"]


@needs_exiftool
def test_a_photo_with_nothing_to_say_never_takes_another_photos_sidecar(runner, tmp_path):
    src = tmp_path / "p"
    make_image(src / "IMG_0002.jpg", seed=1)
    make_image(src / "img_0002.jpg", seed=2)
    preds = write_csv(tmp_path / "preds.csv", src, [row("IMG_0002.jpg", "cat")])
    assert runner.invoke(main, ["tag", str(preds)]).exit_code == 0
    # the other photo, listed first, now has no keyword to write: IMG_0002.jpg.xmp is not its sidecar
    write_csv(preds, src, [row("img_0002.jpg", "no_animal"), row("IMG_0002.jpg", "cat")])
    res = runner.invoke(main, ["tag", str(preds)])
    assert res.exit_code == 0, res.output
    assert _subject(src / "IMG_0002.jpg.xmp") == ["cat"]
    assert not (src / "img_0002.jpg.xmp").exists()
    assert sidecars.sidecar_for(str(src / "img_0002.jpg"), "full") == (str(src / "img_0002.jpg.xmp"), False)


def test_a_sidecar_in_other_case_is_the_photos_own_when_no_other_photo_has_that_name(tmp_path):
    make_image(tmp_path / "IMG_0003.JPG")
    (tmp_path / "img_0003.jpg.xmp").write_text(DARKTABLE_XMP)  # a tool that lower-cases names
    assert sidecars.sidecar_for(str(tmp_path / "IMG_0003.JPG"), "full") == (str(tmp_path / "img_0003.jpg.xmp"), True)


def test_where_the_file_system_ignores_case_two_sidecar_names_in_other_cases_are_written_once(tmp_path, monkeypatch):
    """IMG.JPG and img.cr2 would share IMG.xmp / img.xmp — one file on such a file system
    (here only pretended: this machine has none to mount; the detection itself is a lookup
    of a name with its case swapped)."""
    make_image(tmp_path / "IMG.JPG")
    shutil.copy(tmp_path / "IMG.JPG", tmp_path / "img.cr2")
    preds = write_csv(tmp_path / "preds.csv", tmp_path, [row("IMG.JPG", "cat"), row("img.cr2", "cat")])
    options = TagOptions(sidecar_name="stem", dry_run=True)
    kwargs = {"src": tmp_path, "predictions": preds, "options": options, "provenance": {}}
    rows = [row("IMG.JPG", "cat"), row("img.cr2", "cat")]
    assert len(tag_rows(rows, **kwargs).planned) == 2  # case-sensitive here: two sidecars
    monkeypatch.setattr(sidecars, "_ignores_case", lambda folder, names: True)
    res = tag_rows(rows, **kwargs)
    assert [job.row_path for job in res.planned] == ["img.cr2"]  # the RAW's row tags the shared sidecar
    assert res.shared == [("IMG.JPG", "img.cr2", "sidecar")]


# --------------------------------------------------------------------------- item 5: read-only


def test_embed_leaves_read_only_photos_sidecars_and_folders_alone(runner, tmp_path):
    src = tmp_path / "p"
    for name in ("ro.jpg", "rw.jpg", "dir/in_ro_folder.jpg", "side.jpg"):
        make_image(src / name)
    (src / "side.jpg.xmp").write_text(DARKTABLE_XMP)
    os.chmod(src / "ro.jpg", 0o444)
    os.chmod(src / "side.jpg.xmp", 0o444)
    os.chmod(src / "dir", 0o555)
    before = {p: p.read_bytes() for p in (src / "ro.jpg", src / "side.jpg.xmp", src / "dir/in_ro_folder.jpg")}
    rows = [row("ro.jpg", "cat"), row("rw.jpg", "cat"), row("dir/in_ro_folder.jpg", "cat")]
    preds = write_csv(tmp_path / "preds.csv", src, rows)
    try:
        res = runner.invoke(main, ["tag", str(preds), "--embed"])
        assert res.exit_code == 0, res.output
        assert "failed: ro.jpg: read-only (mode 0444): left as it is; `chmod u+w` it to tag it" in res.output
        assert f"failed: dir/in_ro_folder.jpg: its folder {src / 'dir'} is read-only (mode 0555)" in res.output
        assert "tagged 1 files (0 sidecars, 0 of them new; 1 embedded)" in res.output  # rw.jpg: the run went on
        write_csv(preds, src, [row("side.jpg", "cat")])
        res = runner.invoke(main, ["tag", str(preds), "--strict"])
        assert res.exit_code == 1
        assert "failed: side.jpg: read-only (mode 0444)" in res.output
        assert {p: p.read_bytes() for p in before} == before
        assert os.stat(src / "ro.jpg").st_mode & 0o777 == 0o444
    finally:
        os.chmod(src / "dir", 0o755)


# --------------------------------------------------------------------------- item 6: links


@needs_exiftool
def test_embed_writes_through_a_link_inside_src_and_undo_gives_the_target_back(runner, tmp_path):
    src = tmp_path / "p"
    target = make_image(src / "library" / "a.jpg")
    original = target.read_bytes()
    (src / "album").mkdir()
    os.symlink("../library/a.jpg", src / "album" / "a.jpg")
    preds = write_csv(tmp_path / "preds.csv", src, [row("album/a.jpg", "cat"), row("library/a.jpg", "cat")])
    res = runner.invoke(main, ["tag", str(preds), "--embed"])
    assert res.exit_code == 0, res.output
    assert "tagged 1 files" in res.output
    assert "library/a.jpg shares its file with album/a.jpg: tagged once, by album/a.jpg" in res.output
    assert os.readlink(src / "album" / "a.jpg") == "../library/a.jpg"  # still the link
    assert _subject(target) == ["cat"]
    (op,) = [r for r in _records(_journal(src)) if r["type"] == "tag"]
    assert op["path"] == str(target) and op["row"] == "album/a.jpg"
    res = runner.invoke(main, ["undo", str(_journal(src))])
    assert res.exit_code == 0, res.output
    assert target.read_bytes() == original and os.path.islink(src / "album" / "a.jpg")


def test_links_leading_out_of_src_or_to_nothing_are_refused(runner, tmp_path):
    src = tmp_path / "p"
    outside = make_image(tmp_path / "elsewhere" / "victim.jpg")
    outside_xmp = tmp_path / "elsewhere" / "victim.xmp"
    outside_xmp.write_text(DARKTABLE_XMP)
    make_image(src / "own.jpg")
    os.symlink(outside, src / "out.jpg")
    os.symlink(src / "nothing.jpg", src / "dangling.jpg")
    os.symlink(outside_xmp, src / "own.jpg.xmp")  # a sidecar that leads out
    before = outside.read_bytes(), outside_xmp.read_bytes()
    rows = [row("out.jpg", "cat"), row("dangling.jpg", "cat"), row("own.jpg", "cat")]
    preds = write_csv(tmp_path / "preds.csv", src, rows)
    res = runner.invoke(main, ["-v", "tag", str(preds), "--embed"])
    assert f"failed: out.jpg: leads through a symbolic link to {outside}, outside {src}" in res.output
    assert f"failed: dangling.jpg: a symbolic link to {src / 'nothing.jpg'}, which does not exist" in res.output
    res = runner.invoke(main, ["tag", str(preds)])  # sidecars
    assert f"failed: own.jpg: leads through a symbolic link to {outside_xmp}, outside {src}" in res.output
    assert (outside.read_bytes(), outside_xmp.read_bytes()) == before
    assert os.path.islink(src / "own.jpg.xmp") and not (tmp_path / "elsewhere" / "victim.jpg.xmp").exists()


def test_rows_whose_paths_lead_out_of_src_write_nothing_there(runner, tmp_path):
    src = tmp_path / "p"
    make_image(src / "own.jpg")
    outside = make_image(tmp_path / "outside.jpg")
    before = outside.read_bytes()
    preds = write_csv(tmp_path / "preds.csv", src, [row("../outside.jpg", "cat"), row(str(outside), "cat")])
    for how in ([], ["--embed"]):
        res = runner.invoke(main, ["-v", "tag", str(preds), *how])
        assert "failed: ../outside.jpg: " in res.output and f"failed: {outside}: " in res.output
        assert outside.read_bytes() == before and not (tmp_path / "outside.jpg.xmp").exists()


def test_a_sidecar_that_is_a_folder_a_fifo_or_a_link_inside_src(runner, tmp_path):
    src = tmp_path / "p"
    for name in ("folder.jpg", "fifo.jpg", "linked.jpg"):
        make_image(src / name)
    (src / "folder.jpg.xmp").mkdir()
    os.mkfifo(src / "fifo.jpg.xmp")  # opening it to read would wait for a writer forever
    (src / "sidecars").mkdir()
    (src / "sidecars" / "linked.xmp").write_text(DARKTABLE_XMP)
    os.symlink("sidecars/linked.xmp", src / "linked.jpg.xmp")
    rows = [row("folder.jpg", "cat"), row("fifo.jpg", "cat"), row("linked.jpg", "cat")]
    res = runner.invoke(main, ["tag", str(write_csv(tmp_path / "preds.csv", src, rows))])
    assert "failed: folder.jpg: a folder, not a file: left as it is" in res.output
    assert "failed: fifo.jpg: not a regular file (a FIFO, socket or device): never opened" in res.output
    assert "tagged 1 files" in res.output
    assert os.path.islink(src / "linked.jpg.xmp")
    from animalsort.tagging import xmp

    image = xmp.open_bytes((src / "sidecars" / "linked.xmp").read_bytes())
    assert xmp._bag(image.xmpData(), xmp.SUBJECT) == ["holiday", "Zoo", "cat"]


# --------------------------------------------------------------------------- hard links, swaps


def test_a_hard_linked_photo_with_embed_leaves_its_other_name_as_it_was(runner, tmp_path):
    src = tmp_path / "p"
    photo = make_image(src / "a.jpg")
    original = photo.read_bytes()
    os.link(photo, tmp_path / "other-name.jpg")  # outside SRC: must keep its bytes
    preds = write_csv(tmp_path / "preds.csv", src, [row("a.jpg", "cat")])
    res = runner.invoke(main, ["tag", str(preds), "--embed"])
    assert res.exit_code == 0, res.output
    assert f"note: {photo} has other hard links; they keep the untagged bytes" in res.output
    assert (tmp_path / "other-name.jpg").read_bytes() == original and photo.read_bytes() != original
    assert runner.invoke(main, ["undo", str(_journal(src))]).exit_code == 0
    assert photo.read_bytes() == original == (tmp_path / "other-name.jpg").read_bytes()


def test_a_photo_another_program_rewrites_while_it_is_tagged_is_left_alone(tmp_path, monkeypatch):
    src = tmp_path / "p"
    make_image(src / "a.jpg", seed=1)
    make_image(src / "b.jpg", seed=2)
    preds = write_csv(tmp_path / "preds.csv", src, [row("a.jpg", "cat"), row("b.jpg", "cat")])
    merge = write._retagged

    def merge_while_someone_saves_a(image, data, tags, **kw):
        out = merge(image, data, tags, **kw)
        if not (src / "edited").exists():
            (src / "edited").touch()
            (src / "a.jpg").write_bytes(b"their new version")  # between our read and our replace
        return out

    monkeypatch.setattr(write, "_retagged", merge_while_someone_saves_a)
    options = TagOptions(embed=True)
    res = tag_rows(
        [row("a.jpg", "cat"), row("b.jpg", "cat")], src=src, predictions=preds, options=options, provenance={}
    )
    assert res.failed == [("a.jpg", "changed while being tagged (another program wrote it): left as it is; tag again")]
    assert (src / "a.jpg").read_bytes() == b"their new version"
    assert res.tagged == 1
    assert [r["row"] for r in _records(_journal(src)) if r["type"] == "tag"] == ["b.jpg"]


def test_a_photo_swapped_for_a_link_out_of_src_after_the_plan_is_refused(tmp_path):
    src = tmp_path / "p"
    make_image(src / "a.jpg", seed=1)
    make_image(src / "b.jpg", seed=2)
    victim = make_image(tmp_path / "victim.jpg", seed=3)
    before = victim.read_bytes()
    preds = write_csv(tmp_path / "preds.csv", src, [row("a.jpg", "cat"), row("b.jpg", "cat")])

    def swap_b() -> None:  # after the plan, before b.jpg's turn
        if not os.path.islink(src / "b.jpg"):
            (src / "b.jpg").unlink()
            os.symlink(victim, src / "b.jpg")

    res = tag_rows(
        [row("a.jpg", "cat"), row("b.jpg", "cat")],
        src=src,
        predictions=preds,
        options=TagOptions(embed=True),
        provenance={},
        progress=swap_b,
    )
    assert res.failed == [
        ("b.jpg", f"leads through a symbolic link to {victim}, outside {src}: tag writes nothing outside it")
    ]
    assert victim.read_bytes() == before


# --------------------------------------------------------------------------- item 15: long names


@needs_exiftool
@pytest.mark.parametrize("stem", ["x" * 251, "é" * 125, "\u732b" * 83 + "x"], ids=["ascii", "2-byte", "3-byte"])
def test_names_up_to_the_limit_are_embedded_and_undone(runner, tmp_path, stem):
    src = tmp_path / "p"
    photo = make_image(src / f"{stem}.jpg")
    assert len(os.fsencode(photo.name)) in (255, 254)
    original = photo.read_bytes()
    preds = write_csv(tmp_path / "preds.csv", src, [row(photo.name, "cat")])
    res = runner.invoke(main, ["tag", str(preds), "--embed"])
    assert res.exit_code == 0, res.output
    assert "1 embedded" in res.output and "failed" not in res.output
    assert _subject(photo) == ["cat"]
    assert runner.invoke(main, ["undo", str(_journal(src))]).exit_code == 0
    assert photo.read_bytes() == original
    assert sorted(p.name for p in src.iterdir()) == ["_animalsort", photo.name]  # no temporary left


def test_a_sidecar_name_over_the_limit_fails_clearly_and_the_stem_naming_fits(runner, tmp_path):
    src = tmp_path / "p"
    photo = make_image(src / ("x" * 246 + ".jpeg"))  # 251 bytes: its NAME.jpeg.xmp, 255, just fits
    long_photo = make_image(src / ("y" * 249 + ".jpeg"))  # 254: its NAME.jpeg.xmp would be 258
    preds = write_csv(tmp_path / "preds.csv", src, [row(photo.name, "cat"), row(long_photo.name, "dog")])
    res = runner.invoke(main, ["tag", str(preds)])
    assert (
        f"failed: {long_photo.name}: its sidecar's name would be 258 bytes, more than this file system takes: "
        "--sidecar-name stem names it after the photo without its extension, or shorten the photo's name"
    ) in res.output
    assert (src / (photo.name + ".xmp")).exists()
    res = runner.invoke(main, ["tag", str(preds), "--sidecar-name", "stem"])
    assert res.exit_code == 0 and "failed" not in res.output
    assert (src / ("y" * 249 + ".xmp")).exists()


@needs_exiftool
def test_exiftools_work_folder_that_a_kill_left_is_removed_by_the_next_embed(runner, tmp_path):
    import pillow_heif

    pillow_heif.register_heif_opener()
    src = tmp_path / "p"
    make_image(src / "a.heic", fmt="HEIF", quality=90)
    left = src / ".animalsort-heic-k1ll3d_x"  # a kill while ExifTool wrote into it
    left.mkdir()
    (left / "out.heic").write_bytes(b"half")
    theirs = src / ".animalsort-heic-notes"  # not a name of ours
    theirs.mkdir()
    preds = write_csv(tmp_path / "preds.csv", src, [row("a.heic", "cat")])
    res = runner.invoke(main, ["tag", str(preds), "--embed"])
    assert res.exit_code == 0 and "1 embedded" in res.output, res.output
    assert not left.exists() and theirs.is_dir()


# --------------------------------------------------------------------------- item 23: counts


def test_the_summary_counts_what_was_written_not_what_was_planned(runner, tmp_path):
    src = tmp_path / "p"
    make_image(src / "a.bmp", fmt="BMP")
    (src / "a.bmp.xmp").mkdir()  # its fallback sidecar cannot be written
    make_image(src / "ok.jpg")
    preds = write_csv(tmp_path / "preds.csv", src, [row("a.bmp", "cat"), row("ok.jpg", "cat")])
    res = runner.invoke(main, ["tag", str(preds), "--embed", "--embed-or-sidecar"])
    assert "tagged 1 files (0 sidecars, 0 of them new; 1 embedded) from 2 rows" in res.output
    assert "got a sidecar" not in res.output  # the one fallback failed
    assert "failed: a.bmp: a folder, not a file: left as it is" in res.output

    make_image(src / "IMG_1.JPG")
    shutil.copy(src / "IMG_1.JPG", src / "IMG_1.CR2")
    (src / "IMG_1.xmp").write_text("not XMP\n")  # the twins' shared sidecar cannot be read
    write_csv(preds, src, [row("IMG_1.JPG", "cat"), row("IMG_1.CR2", "cat")])
    res = runner.invoke(main, ["tag", str(preds), "--sidecar-name", "stem"])
    assert "tagged 0 files" in res.output and "  2 could not be tagged" in res.output
    assert "failed: IMG_1.JPG: shares its sidecar with IMG_1.CR2, which could not be tagged" in res.output
    assert "tagged once" not in res.output


# --------------------------------------------------------------------------- items 8-10: journals


def _tagged_folder(runner, tmp_path: Path, n: int) -> tuple[Path, Path]:
    src = tmp_path / "p"
    for i in range(n):
        make_image(src / f"{i:02d}.jpg", size=(16, 12), seed=i)
    preds = write_csv(tmp_path / "preds.csv", src, [row(f"{i:02d}.jpg", "cat") for i in range(n)])
    assert runner.invoke(main, ["tag", str(preds)]).exit_code == 0
    return src, _journal(src)


def test_the_journal_knows_what_was_planned_and_that_the_run_finished(runner, tmp_path):
    src, journal = _tagged_folder(runner, tmp_path, 3)
    records = _records(journal)
    assert records[0]["type"] == "header" and records[0]["planned"] == 3
    assert records[-1] == {"type": "end", "ops": 3}
    res = runner.invoke(main, ["undo", str(journal)])
    assert res.exit_code == 0 and "note:" not in res.output


def test_a_journal_cut_short_is_reported_and_nothing_is_appended_onto_its_torn_line(runner, tmp_path):
    src, journal = _tagged_folder(runner, tmp_path, 40)
    data = journal.read_bytes()
    journal.write_bytes(data[:3000])
    assert not data[:3000].endswith(b"\n")
    listed = sum(1 for r in data[:3000].split(b"\n")[:-1] if json.loads(r)["type"] == "tag")
    res = runner.invoke(main, ["undo", str(journal)])
    assert res.exit_code == 0, res.output
    assert "note: the journal's last line was cut off at byte" in res.output
    assert (
        f"note: the tag run did not finish (killed), or this journal was cut short: it lists {listed} of the 40 files "
        "the run planned" in res.output
    )
    assert f"removed {listed} sidecars" in res.output
    assert len(list(src.glob("*.xmp"))) == 40 - listed  # the rest keep the run's keywords, as reported
    records = _records(journal)  # every line whole: the torn one was dropped, not written onto
    assert records[-1]["type"] == "undone"
    assert "already undone" in runner.invoke(main, ["undo", str(journal)]).output


def test_a_journal_without_its_end_whole_lines_only_is_reported(runner, tmp_path):
    src, journal = _tagged_folder(runner, tmp_path, 4)
    lines = journal.read_text().splitlines(keepends=True)
    journal.write_text("".join(lines[:-2]))  # the last op's done and the end record gone
    res = runner.invoke(main, ["undo", str(journal)])
    assert res.exit_code == 0
    assert "it lists 4 of the 4 files the run planned" in res.output
    assert not list(src.glob("*.xmp"))


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("[1, 2]", "not a record (a JSON object)"),
        (
            '{"type": "tag", "id": 9, "kind": "sidecar", "row": "x", "path": "/x", "after_sha256": "00"}',
            "a tag without a valid 'before'",
        ),
        ('{"type": "done"}', "a done without a valid 'id'"),
        ('{"type": "done", "id": 99}', "a done record for id 99, which no tag record has"),
        (
            '{"type": "tag", "id": 0, "kind": "sidecar", "row": "x", "path": "/x", "before": {"exists": false}, '
            '"after_sha256": "00"}',
            "a second tag record with id 0",
        ),
        (
            '{"type": "tag", "id": 9, "kind": "sidecar", "row": "x", "path": "/x", "before": {"exists": true, '
            '"sha256": "00", "mode": 420, "atime_ns": 1, "mtime_ns": 1, "head": 0, "tail": 0, '
            '"middle_file": "../../secret"}, "after_sha256": "00"}',
            "a tag record's before has neither middle nor a middle_file name",
        ),
        ('{"type": "tag", "id": 0', "not JSON"),  # a torn line that is not the last
        ("\x00\x01garbage", "not JSON"),
    ],
)
def test_a_malformed_journal_line_is_one_error_naming_it_and_nothing_changes(runner, tmp_path, line, problem):
    src, journal = _tagged_folder(runner, tmp_path, 2)
    lines = journal.read_text().splitlines(keepends=True)
    lines.insert(3, line + "\n")
    journal.write_text("".join(lines))
    damaged = journal.read_bytes()
    res = runner.invoke(main, ["undo", str(journal)])
    assert res.exit_code == 2
    assert f"Error: {journal}, line 4: {problem}: " in res.output
    assert "undo changed nothing: restore it from a backup" in res.output
    assert isinstance(res.exception, SystemExit)  # an error, not a traceback
    assert len(list(src.glob("*.xmp"))) == 2 and journal.read_bytes() == damaged


def test_undo_marks_each_file_so_a_rerun_does_only_the_rest(runner, tmp_path):
    src, journal = _tagged_folder(runner, tmp_path, 3)
    os.chmod(src / "01.jpg.xmp", 0o444)  # the person protects one meanwhile
    res = runner.invoke(main, ["undo", str(journal)])
    assert res.exit_code == 1
    assert f"refused: {src / '01.jpg.xmp'}: read-only (mode 0444)" in res.output
    assert [p.name for p in src.glob("*.xmp")] == ["01.jpg.xmp"]
    assert [r["id"] for r in _records(journal) if r["type"] == "undo"] == [2, 0]
    os.chmod(src / "01.jpg.xmp", 0o644)
    res = runner.invoke(main, ["undo", str(journal)])
    assert res.exit_code == 0, res.output
    assert "removed 1 sidecars the run had created (0 were as before; 2 given back by an earlier undo)" in res.output
    assert not list(src.glob("*.xmp"))


def test_undo_gives_back_a_sidecar_whose_earlier_bytes_were_kept_beside_the_journal(runner, tmp_path):
    """A person's sidecar over 64 KB (a long darktable history) is kept in a file beside the
    journal, which undo must find."""
    src = tmp_path / "p"
    make_image(src / "a.jpg")
    big = DARKTABLE_XMP.replace('darktable:params="gz48eJxj"', f'darktable:params="{"gz48eJxj" * 12000}"')
    (src / "a.jpg.xmp").write_text(big)
    preds = write_csv(tmp_path / "preds.csv", src, [row("a.jpg", "cat")])
    assert runner.invoke(main, ["tag", str(preds)]).exit_code == 0
    journal = _journal(src)
    assert (journal.with_name(journal.stem + ".d") / "0.bin").is_file()
    res = runner.invoke(main, ["undo", str(journal)])
    assert res.exit_code == 0, res.output
    assert (src / "a.jpg.xmp").read_text() == big
    assert not journal.with_name(journal.stem + ".d").exists()


# --------------------------------------------------------------------------- item 11: two runs


def test_a_second_run_on_a_folder_in_use_waits_then_is_refused(runner, folder_in_use):
    src, preds, journal = folder_in_use
    res = runner.invoke(main, ["tag", str(preds)])
    assert res.exit_code == 1
    assert (
        f"Error: another animalsort sort, tag or undo is working in {src}; waited 0.2 s for it: "
        "run tag again when it has finished" in res.output
    )
    assert not list(src.glob("*.xmp")) and list((src / "_animalsort").glob("tag-*.jsonl")) == [journal]
    assert runner.invoke(main, ["undo", str(journal)]).exit_code == 1
    assert journal.read_text().count("\n") == 2  # untouched


@pytest.fixture
def folder_in_use(tmp_path, monkeypatch):
    src = tmp_path / "p"
    make_image(src / "a.jpg")
    preds = write_csv(tmp_path / "preds.csv", src, [row("a.jpg", "cat")])
    journal = src / "_animalsort" / "tag-20260101-000000.jsonl"
    journal.parent.mkdir()
    journal.write_text('{"type":"header","kind":"tag","planned":0}\n{"type":"end","ops":0}\n')
    monkeypatch.setattr(locks, "WAIT_S", 0.2)
    with locks.folders_locked([src], "the test"):  # as a running sort, tag or undo holds it
        yield src, preds, journal


@needs_exiftool
@pytest.mark.slow
def test_two_embed_runs_at_once_tag_every_photo_once_and_both_undo(tmp_path):
    src = tmp_path / "p"
    names = [f"{i:02d}.jpg" for i in range(60)]
    for i, name in enumerate(names):
        make_image(src / name, size=(320, 240), seed=i)
    originals = {n: (src / n).read_bytes() for n in names}
    preds = write_csv(tmp_path / "preds.csv", src, [row(n, "cat") for n in names])
    command = [sys.executable, "-m", "animalsort", "tag", str(preds), "--embed"]
    procs = [subprocess.Popen(command, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [(p.wait(), p.stderr.read()) for p in procs]
    for rc, err in outs:
        assert "failed:" not in err, err
        assert rc == 0 or "another animalsort sort, tag or undo is working" in err, err
    assert any(rc == 0 for rc, _ in outs)
    assert all(_subject(src / n) == ["cat"] for n in names[::10])
    journals = sorted((src / "_animalsort").glob("tag-*.jsonl"))
    tagged = sum(1 for j in journals for r in _records(j) if r["type"] == "tag")
    assert tagged == len(names)  # each photo written by one run; the other found it done
    for journal in reversed(journals):
        res = subprocess.run([sys.executable, "-m", "animalsort", "undo", str(journal)], capture_output=True)
        assert res.returncode == 0, res.stderr
    assert {n: (src / n).read_bytes() for n in names} == originals


def test_a_csv_whose_folder_is_gone_is_one_error_and_creates_nothing(runner, tmp_path):
    src = tmp_path / "gone"
    preds = write_csv(tmp_path / "preds.csv", src, [row("a.jpg", "cat")])
    res = runner.invoke(main, ["tag", str(preds)])
    assert res.exit_code == 2
    assert f"Error: {src}: no such folder (the predictions' paths are relative to it): --src names" in res.output
    assert not src.exists()


def test_dry_run_takes_no_lock(runner, folder_in_use):
    src, preds, _ = folder_in_use
    res = runner.invoke(main, ["tag", str(preds), "--dry-run"])
    assert res.exit_code == 0 and f"sidecar: {src / 'a.jpg.xmp'}: cat" in res.output
