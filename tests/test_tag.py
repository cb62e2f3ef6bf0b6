"""`animalsort tag`: labels as XMP keywords, read back with tools we did not write (ExifTool,
the exiv2 command line), a person's fields kept, undo, kills."""

from __future__ import annotations

import csv
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from animalsort.cli import main
from animalsort.formats import corrections
from animalsort.tagging.sidecars import sidecar_for
from animalsort.taxonomy import REQUIRED_LABELS, TAXON_RANKS, keyword_path, label_taxa
from tests.conftest import make_image

EXIFTOOL = shutil.which("exiftool")
EXIV2 = shutil.which("exiv2")
needs_exiftool = pytest.mark.skipif(EXIFTOOL is None, reason="exiftool not installed (.ci/run installs it)")
needs_exiv2 = pytest.mark.skipif(EXIV2 is None, reason="exiv2 not installed (.ci/run installs it)")

COLUMNS = ["path", "label", "confidence", "label_2", "confidence_2", "status", "error", "frame_s"]

#: A darktable sidecar with a person's rating, colour label, edit history, GPS and keywords —
#: only lr:hierarchicalSubject, as darktable writes them.
DARKTABLE_XMP = """<?xml version="1.0" encoding="UTF-8"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 4.4.0-Exiv2">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:lr="http://ns.adobe.com/lightroom/1.0/"
    xmlns:exif="http://ns.adobe.com/exif/1.0/"
    xmlns:darktable="http://darktable.sf.net/"
    xmp:Rating="4"
    xmp:Label="Red"
    exif:GPSLatitude="52,22.1234N"
    exif:GPSLongitude="4,53.5678E"
    darktable:xmp_version="5"
    darktable:history_end="2">
   <darktable:history>
    <rdf:Seq>
     <rdf:li darktable:num="0" darktable:operation="exposure" darktable:enabled="1" darktable:params="00000000"/>
     <rdf:li darktable:num="1" darktable:operation="colorin" darktable:enabled="1" darktable:params="gz48eJxj"/>
    </rdf:Seq>
   </darktable:history>
   <dc:subject>
    <rdf:Bag>
     <rdf:li>holiday</rdf:li>
     <rdf:li>Zoo</rdf:li>
    </rdf:Bag>
   </dc:subject>
   <lr:hierarchicalSubject>
    <rdf:Bag>
     <rdf:li>Places|Zoo</rdf:li>
    </rdf:Bag>
   </lr:hierarchicalSubject>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
"""

PERSON_FIELDS = ["-XMP-xmp:Rating", "-XMP-xmp:Label", "-XMP-exif:GPSLatitude", "-XMP-exif:GPSLongitude"]
PERSON_FIELDS += ["-XMP-darktable:all"]
KEYWORD_FIELDS = ["-XMP-dc:Subject", "-XMP-lr:HierarchicalSubject", "-XMP-digiKam:TagsList"]


def exiftool_json(path: Path, *tags: str) -> dict:
    out = subprocess.run(
        [EXIFTOOL, "-j", "-struct", *tags, str(path)], capture_output=True, text=True, check=True
    ).stdout
    record = json.loads(out)[0]
    record.pop("SourceFile")
    return record


def as_list(value: object) -> list:
    return value if isinstance(value, list) else [] if value is None else [value]


def all_metadata(path: Path) -> dict:
    """Every tag ExifTool reads, but the file system's own (name, dates, size)."""
    out = subprocess.run([EXIFTOOL, "-j", "-a", "-G1", "-s", str(path)], capture_output=True, text=True).stdout
    return {k: v for k, v in json.loads(out)[0].items() if not k.startswith(("System:", "SourceFile", "ExifTool:"))}


def write_csv(path: Path, src: Path, rows: list[dict[str, str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, COLUMNS)
        w.writeheader()
        for r in rows:
            w.writerow({"label_2": "", "confidence_2": "", "status": "ok", "error": "", "frame_s": "", **r})
    meta = {"src": str(src), "model": "lite0", "weights_sha256": "ab" * 32, "labels": "animals"}
    path.with_name(path.name + ".json").write_text(json.dumps(meta))
    return path


def row(path: str, label: str, confidence: str = "0.9000") -> dict[str, str]:
    return {"path": path, "label": label, "confidence": confidence}


@pytest.fixture
def folder(tmp_path: Path) -> tuple[Path, Path]:
    src = tmp_path / "photos"
    for name, seed in (("cat.jpg", 1), ("dog.jpg", 2), ("empty.jpg", 3), ("unsure.jpg", 4)):
        make_image(src / name, seed=seed)
    preds = write_csv(
        tmp_path / "preds.csv",
        src,
        [row("cat.jpg", "cat"), row("dog.jpg", "dog"), row("empty.jpg", "no_animal"), row("unsure.jpg", "fox", "0.3")],
    )
    return src, preds


# --------------------------------------------------------------------------- the label taxonomy


def test_every_animal_label_has_a_taxon_and_a_keyword_path():
    taxa = label_taxa()
    assert set(taxa) == set(REQUIRED_LABELS) - {"no_animal"}
    for label, taxon in taxa.items():
        assert taxon.rank in TAXON_RANKS, label
        assert taxon.kingdom == "Animalia"
        # the taxon is named at its own rank among its higher taxa (a species by its genus)
        if taxon.rank in ("species", "subspecies"):
            assert taxon.scientific_name.split()[0] == taxon.genus, label
        elif taxon.rank != "kingdom":
            assert taxon.higher()[taxon.rank] == taxon.scientific_name, label
        assert keyword_path(label).startswith("Animals|") and keyword_path(label).endswith(label)
    assert (taxa["cat"].scientific_name, taxa["cat"].rank) == ("Felis catus", "species")
    assert (taxa["wolf"].scientific_name, taxa["wolf"].rank) == ("Canidae", "family")  # coyote, dhole too
    assert (taxa["bird"].scientific_name, taxa["big_cat"].scientific_name) == ("Aves", "Felidae")
    assert keyword_path("cat") == "Animals|Mammals|Carnivores|cat"
    assert keyword_path("cat", "", "/") == "Mammals/Carnivores/cat"
    assert keyword_path("my_pony", "Pets") == "Pets|my_pony"  # a fine-tuned model's own class


# --------------------------------------------------------------------------- sidecars


@needs_exiftool
@needs_exiv2
def test_sidecars_read_back_by_exiftool_and_exiv2(runner, folder):
    src, preds = folder
    res = runner.invoke(main, ["tag", str(preds)])
    assert res.exit_code == 0, res.output
    assert "tagged 2 files (2 sidecars, 2 of them new" in res.output
    assert sorted(p.name for p in src.glob("*.xmp")) == ["cat.jpg.xmp", "dog.jpg.xmp"]  # none for no_animal, 0.3
    got = exiftool_json(src / "cat.jpg.xmp", *KEYWORD_FIELDS)
    assert got == {
        "Subject": ["cat"],
        "HierarchicalSubject": ["Animals|Mammals|Carnivores|cat"],
        "TagsList": ["Animals/Mammals/Carnivores/cat"],
    }
    ours = exiftool_json(src / "cat.jpg.xmp", "-XMP-animalsort:all")
    assert ours["Label"] == "cat" and ours["Confidence"] == 0.9 and ours["Reviewed"] is False
    assert ours["Model"] == "lite0" and ours["WeightsSha256"] == "ab" * 32 and ours["Version"]
    px = subprocess.run([EXIV2, "-px", str(src / "dog.jpg.xmp")], capture_output=True, text=True).stdout
    assert "Xmp.dc.subject                               XmpBag      1  dog" in px
    assert "Xmp.lr.hierarchicalSubject                   XmpBag      1  Animals|Mammals|Carnivores|dog" in px
    assert "Xmp.digiKam.TagsList                         XmpSeq      1  Animals/Mammals/Carnivores/dog" in px
    assert (src / "cat.jpg").read_bytes() == make_image(src.parent / "again.jpg", seed=1).read_bytes()  # untouched


@needs_exiftool
def test_a_persons_sidecar_keeps_their_fields_through_tag_tag_review_tag(runner, folder):
    src, preds = folder
    sidecar = src / "cat.jpg.xmp"
    sidecar.write_text(DARKTABLE_XMP)
    person_before = exiftool_json(sidecar, *PERSON_FIELDS)
    assert person_before["Rating"] == 4 and len(person_before["History"]) == 2

    assert runner.invoke(main, ["tag", str(preds)]).exit_code == 0
    kw = exiftool_json(sidecar, *KEYWORD_FIELDS)
    assert kw["Subject"] == ["holiday", "Zoo", "cat"]  # theirs first, unchanged, in their order
    assert kw["HierarchicalSubject"] == ["Places|Zoo", "Animals|Mammals|Carnivores|cat"]
    # digiKam reads TagsList first: seeded from their hierarchicalSubject, so "Places/Zoo" stays visible there
    assert kw["TagsList"] == ["Places/Zoo", "Animals/Mammals/Carnivores/cat"]
    assert exiftool_json(sidecar, *PERSON_FIELDS) == person_before
    first = sidecar.read_bytes()

    res = runner.invoke(main, ["tag", str(preds)])  # again: nothing changes, nothing duplicated
    assert "2 already carried these keywords" in res.output
    assert sidecar.read_bytes() == first

    with corrections.Log(preds) as log:  # a person says: it is a fox
        log.append("cat.jpg", "fox")
    assert runner.invoke(main, ["tag", str(preds)]).exit_code == 0
    kw = exiftool_json(sidecar, *KEYWORD_FIELDS)
    assert kw["Subject"] == ["holiday", "Zoo", "fox"]
    assert kw["HierarchicalSubject"] == ["Places|Zoo", "Animals|Mammals|Carnivores|fox"]
    assert kw["TagsList"] == ["Places/Zoo", "Animals/Mammals/Carnivores/fox"]
    assert exiftool_json(sidecar, "-XMP-animalsort:Reviewed")["Reviewed"] is True
    assert exiftool_json(sidecar, *PERSON_FIELDS) == person_before


def test_a_persons_own_cat_keyword_is_theirs(runner, folder):
    """A keyword the person had already is not added twice, and not removed when the label changes."""
    src, preds = folder
    sidecar = src / "cat.jpg.xmp"
    sidecar.write_text(DARKTABLE_XMP.replace("<rdf:li>Zoo</rdf:li>", "<rdf:li>cat</rdf:li>"))
    runner.invoke(main, ["tag", str(preds)])
    from animalsort.tagging import xmp

    image = xmp.open_bytes(sidecar.read_bytes())
    assert xmp._bag(image.xmpData(), xmp.SUBJECT) == ["holiday", "cat"]
    with corrections.Log(preds) as log:
        log.append("cat.jpg", "dog")
    runner.invoke(main, ["tag", str(preds)])
    image = xmp.open_bytes(sidecar.read_bytes())
    assert xmp._bag(image.xmpData(), xmp.SUBJECT) == ["holiday", "cat", "dog"]


def test_stem_naming_existing_sidecars_and_raw_twins(runner, tmp_path):
    src = tmp_path / "p"
    make_image(src / "IMG_0001.JPG", seed=1)
    shutil.copy(src / "IMG_0001.JPG", src / "IMG_0001.CR2")  # the name is what matters here
    make_image(src / "IMG_0002.jpg", seed=2)
    (src / "IMG_0002.XMP").write_text(DARKTABLE_XMP)  # Lightroom's naming, upper case, already there
    preds = write_csv(
        tmp_path / "preds.csv",
        src,
        [row("IMG_0001.JPG", "cat"), row("IMG_0001.CR2", "cat"), row("IMG_0002.jpg", "dog")],
    )
    res = runner.invoke(main, ["tag", str(preds), "--sidecar-name", "stem"])
    assert res.exit_code == 0, res.output
    made = sorted(p.name for p in src.iterdir() if p.is_file())
    assert made == ["IMG_0001.CR2", "IMG_0001.JPG", "IMG_0001.xmp", "IMG_0002.XMP", "IMG_0002.jpg"]
    assert "IMG_0001.JPG shares its sidecar with IMG_0001.CR2" in res.output
    # the default naming finds the existing stem sidecar instead of making a second one
    assert sidecar_for(str(src / "IMG_0002.jpg"), "full") == (str(src / "IMG_0002.XMP"), True)
    res = runner.invoke(main, ["tag", str(preds), "--embed"])  # the RAW still only gets a sidecar
    assert not (src / "IMG_0001.CR2.xmp").exists()


def test_uncertain_rows_error_rows_and_a_keyword_root(runner, folder):
    src, preds = folder
    with open(preds, "a", newline="") as f:
        csv.writer(f).writerow(["broken.jpg", "", "", "", "", "error", "cannot identify image file", ""])
    res = runner.invoke(main, ["tag", str(preds), "--tag-uncertain", "--keyword-root", "Wildlife"])
    assert res.exit_code == 0, res.output
    assert "1 error rows left alone" in res.output
    from animalsort.tagging import xmp

    image = xmp.open_bytes((src / "unsure.jpg.xmp").read_bytes())
    assert xmp._bag(image.xmpData(), xmp.SUBJECT) == ["uncertain"]
    assert xmp._bag(image.xmpData(), xmp.HIERARCHY) == ["Wildlife|uncertain"]
    assert not (src / "empty.jpg.xmp").exists()  # no_animal: nothing to say
    # the label drops below the threshold later: the species keyword goes, the record stays
    write_csv(preds, src, [row("cat.jpg", "cat", "0.2")])
    runner.invoke(main, ["tag", str(preds)])
    image = xmp.open_bytes((src / "cat.jpg.xmp").read_bytes())
    assert xmp._bag(image.xmpData(), xmp.SUBJECT) is None
    assert xmp.has_record(image)


def test_dry_run_writes_nothing(runner, folder):
    src, preds = folder
    before = sorted(src.iterdir())
    res = runner.invoke(main, ["tag", str(preds), "--dry-run"])
    assert res.exit_code == 0
    assert f"sidecar: {src / 'cat.jpg.xmp'}: cat" in res.output
    assert sorted(src.iterdir()) == before


# --------------------------------------------------------------------------- bad input


def test_bad_sidecar_vanished_photo_read_only_folder_and_strict(runner, tmp_path):
    src = tmp_path / "p"
    for name in ("a.jpg", "b.jpg", "c.jpg", "ro/d.jpg"):
        make_image(src / name)
    (src / "a.jpg.xmp").write_text("this is not XMP at all\n")
    preds = write_csv(
        tmp_path / "preds.csv",
        src,
        [row("a.jpg", "cat"), row("b.jpg", "cat"), row("gone.jpg", "cat"), row("c.jpg", "dog"), row("ro/d.jpg", "cat")],
    )
    os.chmod(src / "ro", 0o555)
    try:
        res = runner.invoke(main, ["-v", "tag", str(preds)])
        out = res.output
        assert res.exit_code == 0, out
        assert "failed: a.jpg:" in out and (src / "a.jpg.xmp").read_text() == "this is not XMP at all\n"
        assert "failed: gone.jpg: no such file" in out
        if os.geteuid() != 0:  # root writes anywhere
            assert "failed: ro/d.jpg: Permission denied" in out
        assert (src / "b.jpg.xmp").exists() and (src / "c.jpg.xmp").exists()  # the run went on
        assert runner.invoke(main, ["tag", str(preds), "--strict"]).exit_code == 1
    finally:
        os.chmod(src / "ro", 0o755)


def test_a_format_without_xmp_is_an_error_or_gets_a_sidecar(runner, tmp_path):
    src = tmp_path / "p"
    make_image(src / "a.bmp", fmt="BMP")
    preds = write_csv(tmp_path / "preds.csv", src, [row("a.bmp", "cat")])
    res = runner.invoke(main, ["tag", str(preds), "--embed"])
    assert "failed: a.bmp: a image/x-ms-bmp cannot hold embedded XMP; --embed-or-sidecar" in res.output
    assert not (src / "a.bmp.xmp").exists()
    res = runner.invoke(main, ["tag", str(preds), "--embed-or-sidecar", "--embed"])
    assert "1 got a sidecar: their format cannot hold embedded XMP" in res.output
    assert (src / "a.bmp.xmp").exists()


def test_photos_a_sort_moved_are_found_through_its_journal(runner, folder, tmp_path):
    src, preds = folder
    sorted_to = tmp_path / "sorted"
    res = runner.invoke(main, ["sort", str(src), "--from", str(preds), "--dest", str(sorted_to), "--move"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(main, ["tag", str(preds)])
    assert res.exit_code == 0, res.output
    assert (sorted_to / "cat" / "cat.jpg.xmp").exists()


# --------------------------------------------------------------------------- embedded, undo


def _pixels(path: Path) -> bytes:
    import pillow_heif

    pillow_heif.register_heif_opener()
    with Image.open(path) as im:
        return im.convert("RGB").tobytes()


def _subjects(folder: Path) -> dict[str, list]:
    """dc:subject of every JPEG in ``folder``, read by one ExifTool run."""
    out = subprocess.run(
        [EXIFTOOL, "-j", "-XMP-dc:Subject", "-ext", "jpg", str(folder)], capture_output=True, text=True
    ).stdout
    return {Path(r["SourceFile"]).name: as_list(r.get("Subject")) for r in json.loads(out)}


def _image_data(path: Path) -> bytes:
    """What `exiftool -all= -o -` leaves (JPEG: the image data alone), else the decoded pixels."""
    if path.suffix == ".jpg":
        return subprocess.run([EXIFTOOL, "-all=", "-o", "-", str(path)], capture_output=True, check=True).stdout
    return _pixels(path)


@needs_exiftool
@pytest.mark.parametrize("fmt", ["jpg", "tif", "png", "webp", "heic"])
def test_embed_keeps_image_data_and_undo_restores_metadata(runner, tmp_path, fmt):
    src = tmp_path / "p"
    save = {"heic": {"quality": 90}, "webp": {"lossless": True}}.get(fmt, {})
    if fmt == "heic":
        import pillow_heif

        pillow_heif.register_heif_opener()
    photo = make_image(src / f"a.{fmt}", fmt={"jpg": "JPEG", "tif": "TIFF", "heic": "HEIF"}.get(fmt), **save)
    # a person's keyword and rating already in the file (the person's tool wrote them)
    subprocess.run(
        [EXIFTOOL, "-q", "-overwrite_original", "-XMP-dc:Subject=mine", "-XMP-xmp:Rating=3", str(photo)], check=True
    )
    if fmt in ("jpg", "tif"):
        subprocess.run([EXIFTOOL, "-q", "-overwrite_original", "-IPTC:Keywords=mine", str(photo)], check=True)  # noqa: S603
    os.chmod(photo, 0o640)
    os.utime(photo, ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))
    data_before, meta_before = _image_data(photo), all_metadata(photo)
    preds = write_csv(tmp_path / "preds.csv", src, [row(photo.name, "cat")])

    res = runner.invoke(main, ["tag", str(preds), "--embed"])
    assert res.exit_code == 0, res.output
    assert "1 embedded" in res.output
    assert not list(src.glob("*.xmp"))
    got = exiftool_json(photo, *KEYWORD_FIELDS, "-XMP-xmp:Rating", "-IPTC:Keywords")
    assert as_list(got["Subject"]) == ["mine", "cat"] and got["Rating"] == 3
    if fmt in ("jpg", "tif", "png"):
        assert as_list(got.get("Keywords")) == (["mine", "cat"] if fmt != "png" else ["cat"])
    assert _image_data(photo) == data_before
    st = os.stat(photo)
    assert (st.st_mode & 0o777, st.st_mtime_ns) == (0o640, 1_600_000_000_000_000_000)

    journal = next((src / "_animalsort").glob("tag-*.jsonl"))
    res = runner.invoke(main, ["undo", str(journal)])
    assert res.exit_code == 0, res.output
    assert "restored 1 files" in res.output
    assert all_metadata(photo) == meta_before
    assert _image_data(photo) == data_before
    assert os.stat(photo).st_mtime_ns == 1_600_000_000_000_000_000


def test_undo_of_sidecars_removes_new_ones_restores_old_ones_and_refuses_changed(runner, folder):
    src, preds = folder
    (src / "dog.jpg.xmp").write_text(DARKTABLE_XMP)
    assert runner.invoke(main, ["tag", str(preds)]).exit_code == 0
    journal = next((src / "_animalsort").glob("tag-*.jsonl"))
    runner.invoke(main, ["tag", str(preds), "--tag-uncertain"])  # a second run, its own journal
    (second,) = [j for j in (src / "_animalsort").glob("tag-*.jsonl") if j != journal]
    assert runner.invoke(main, ["undo", str(second)]).exit_code == 0
    assert not (src / "unsure.jpg.xmp").exists()
    ours = (src / "cat.jpg.xmp").read_bytes()
    with open(src / "cat.jpg.xmp", "a") as f:
        f.write("\n")  # a person's tool changed it since
    res = runner.invoke(main, ["undo", str(journal)])
    assert res.exit_code == 1
    assert f"refused: {src / 'cat.jpg.xmp'}: changed since the run" in res.output
    assert (src / "dog.jpg.xmp").read_text() == DARKTABLE_XMP  # byte for byte
    # the journal is not marked undone: once the person puts their change aside, undo does the rest
    res = runner.invoke(main, ["undo", str(journal)])
    assert res.exit_code == 1 and "changed since the run" in res.output
    (src / "cat.jpg.xmp").write_bytes(ours)
    (src / "dog.jpg.xmp").write_text("the person's later edit\n")  # given back already: not undone twice
    res = runner.invoke(main, ["undo", str(journal)])
    assert res.exit_code == 0, res.output
    assert "removed 1 sidecars the run had created (0 were as before; 1 given back by an earlier undo)" in res.output
    assert not (src / "cat.jpg.xmp").exists()
    assert (src / "dog.jpg.xmp").read_text() == "the person's later edit\n"
    assert "already undone" in runner.invoke(main, ["undo", str(journal)]).output


def test_python_api(folder):
    import animalsort

    src, preds = folder
    res = animalsort.tag(preds, sidecar_name="stem", tag_uncertain=True)
    assert (res.tagged, res.created, res.no_keyword) == (3, 3, 1)
    assert sorted(p.name for p in src.glob("*.xmp")) == ["cat.xmp", "dog.xmp", "unsure.xmp"]
    back = animalsort.undo(res.journal)
    assert back.removed == 3 and not list(src.glob("*.xmp"))


# --------------------------------------------------------------------------- kills


@needs_exiftool
@pytest.mark.slow
def test_a_killed_embed_run_leaves_every_file_old_or_new_and_undo_restores(tmp_path):
    """SIGKILL at random points of `tag --embed` on 150 JPEGs: each file is untouched or fully
    tagged and readable; undo gives every one its bytes back and leaves no temporary file."""
    rng = random.Random(7)
    partial = 0
    for attempt in range(5):
        src = tmp_path / f"p{attempt}"
        names = [f"{i:03d}.jpg" for i in range(150)]
        for i, name in enumerate(names):
            make_image(src / name, size=(320, 240), seed=i, quality=90)
        originals = {n: (src / n).read_bytes() for n in names}
        data = {n: _image_data(src / n) for n in rng.sample(names, 5)}
        preds = write_csv(tmp_path / f"preds{attempt}.csv", src, [row(n, "cat") for n in names])
        proc = subprocess.Popen(
            [sys.executable, "-m", "animalsort", "-q", "tag", str(preds), "--embed"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while not (src / "_animalsort").is_dir() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)  # the journal's folder appears with the first change
        time.sleep(rng.uniform(0.0, 0.2))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        subjects = _subjects(src)
        tagged = 0
        for n in names:
            if (src / n).read_bytes() == originals[n]:
                continue
            tagged += 1
            assert subjects[n] == ["cat"], n
            if n in data:
                assert _image_data(src / n) == data[n], n
        journals = list((src / "_animalsort").glob("tag-*.jsonl"))
        print(f"attempt {attempt}: {tagged} of {len(names)} tagged when killed")
        partial += 0 < tagged < len(names)
        if not journals:
            assert tagged == 0
            continue
        res = subprocess.run([sys.executable, "-m", "animalsort", "undo", str(journals[0])], capture_output=True)
        assert res.returncode == 0, res.stderr
        assert _subjects(src) == {n: [] for n in names}
        assert [(src / n).read_bytes() for n in names] == [originals[n] for n in names]  # byte for byte
        assert not list(src.glob(".*.tmp"))
    assert partial, "no kill landed mid-run"
