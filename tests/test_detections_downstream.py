"""Every command that reads a predictions CSV reads one classified with ``--detections`` (#37):
``sort --by labels`` (a photo of two species in both folders, journalled, undone), ``tag`` (a
keyword per label), ``report`` and ``review`` (every box with its label; review corrects one
box), ``export`` (MegaDetector with the detector's own boxes, Camtrap DP with an observation
per box and MaxN events, COCO with bbox annotations). Both ``--rows`` forms read the same."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import browser
import pytest
from click.testing import CliRunner
from conftest import make_image
from detection_csvs import PHOTOS, write_detections_csv
from test_review import CHROMIUM, DRIVER, needs_browser, start

from animalsort.cli import main
from animalsort.formats import corrections
from animalsort.pages.review_session import Session

VALIDATOR = Path(__file__).resolve().parents[2] / "shared" / "camtrap-dp" / "validate.py"


@pytest.fixture(params=["files", "detections"])
def trap(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, Path]:
    """SRC with the photos of ``PHOTOS`` (EXIF times a second apart: one burst), and their CSV."""
    from test_export import photo

    src = tmp_path / "trap"
    for k, name in enumerate(PHOTOS):
        photo(src / name, f"2024:05:06 07:08:{10 + k:02d}", "+02:00", (52.1, 4.5), seed=k)
    (src / "broken.jpg").write_bytes(b"not a photo")  # the error row's file
    return src, write_detections_csv(tmp_path / "preds.csv", src, rows=request.param)


def files_under(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.jpg"))


# --------------------------------------------------------------------------- sort


def test_sort_by_labels_copies_a_photo_into_each_label_and_undo_removes_them(runner: CliRunner, trap, tmp_path):
    src, preds = trap
    dest = tmp_path / "sorted"
    before = {p: (src / p).read_bytes() for p in PHOTOS}
    res = runner.invoke(main, ["sort", str(src), "--from", str(preds), "--dest", str(dest), "--by", "labels"])
    assert res.exit_code == 0, res.output
    assert files_under(dest) == [
        "_no_animal/empty.jpg",
        "_no_animal/false_box.jpg",
        "_uncertain/walker.jpg",  # the dog at 0.30: unsure, beside the sure person
        "dog/fox_and_dog.jpg",
        "fox/fox_and_dog.jpg",  # two species: in both folders
        "fox/two_foxes.jpg",  # two of one species: once
        "person/walker.jpg",
    ]
    assert (dest / "fox/fox_and_dog.jpg").read_bytes() == (dest / "dog/fox_and_dog.jpg").read_bytes()
    assert (dest / "fox/fox_and_dog.jpg").read_bytes() == before["fox_and_dog.jpg"]
    res = runner.invoke(main, ["undo", str(dest)])
    assert res.exit_code == 0, res.output
    assert files_under(dest) == [] and {p: (src / p).read_bytes() for p in PHOTOS} == before


def test_sort_by_labels_with_move_moves_into_its_own_label(runner: CliRunner, trap, tmp_path):
    src, preds = trap
    dest = tmp_path / "sorted"
    before = {p: (src / p).read_bytes() for p in PHOTOS}
    res = runner.invoke(main, ["sort", str(src), "--from", str(preds), "-d", str(dest), "--by", "labels", "--move"])
    assert res.exit_code == 0, res.output
    assert files_under(src) == ["broken.jpg"]  # an error row stays
    assert (dest / "fox/fox_and_dog.jpg").read_bytes() == (dest / "dog/fox_and_dog.jpg").read_bytes()
    journal = next((dest / "_animalsort").glob("sort-*.jsonl"))
    ops = [json.loads(line) for line in journal.read_text().splitlines() if '"type":"op"' in line]
    fox_and_dog = [(op["kind"], Path(op["dst"]).parent.name) for op in ops if op["src"].endswith("fox_and_dog.jpg")]
    assert fox_and_dog == [("copy", "dog"), ("move", "fox")]  # copied first, moved into its label's folder last
    assert json.loads(journal.read_text().splitlines()[0])["by"] == "labels"
    res = runner.invoke(main, ["undo", str(journal)])
    assert res.exit_code == 0, res.output
    assert files_under(dest) == [] and {p: (src / p).read_bytes() for p in PHOTOS} == before


def test_sort_by_label_places_each_photo_once(runner: CliRunner, trap, tmp_path):
    src, preds = trap
    dest = tmp_path / "sorted"
    res = runner.invoke(main, ["sort", str(src), "--from", str(preds), "--dest", str(dest), "--dry-run"])
    assert res.exit_code == 0, res.output
    assert "plan: 5 files (_no_animal 2, _uncertain 1, fox 2) into" in res.output  # walker: by its unsure dog
    res = runner.invoke(main, ["sort", str(src), "--from", str(preds), "--by", "labels", "--by-sequence", "10"])
    assert res.exit_code == 2 and "choose one" in res.output


# --------------------------------------------------------------------------- tag


def test_tag_writes_a_keyword_per_label(runner: CliRunner, trap) -> None:
    pytest.importorskip("exiv2")
    src, preds = trap
    res = runner.invoke(main, ["tag", str(preds)])
    assert res.exit_code == 0, res.output
    fox_and_dog = (src / "fox_and_dog.jpg.xmp").read_text()
    subjects = re.search(r"<dc:subject>(.*?)</dc:subject>", fox_and_dog, re.S).group(1)
    assert re.findall(r"<rdf:li>(.*?)</rdf:li>", subjects) == ["dog", "fox"]
    assert 'animalsort:labels="dog:1;fox:1"' in fox_and_dog
    walker = (src / "walker.jpg.xmp").read_text()
    assert "<rdf:li>person</rdf:li>" in walker and "Animals|person" not in walker  # no animal
    assert "<rdf:li>dog</rdf:li>" not in walker  # the dog at 0.30 is not sure enough
    assert not (src / "empty.jpg.xmp").exists()


# --------------------------------------------------------------------------- report and review


def test_report_draws_every_box_with_its_label(trap, tmp_path: Path) -> None:
    from animalsort.pages.report import build

    src, preds = trap
    summary = build(preds, tmp_path / "report.html")
    text = (tmp_path / "report.html").read_text()
    data = json.loads(re.search(r'id="report-data">(.*?)</script>', text).group(1))
    cards = {r[0]: r for r in data["rows"]}
    assert cards["fox_and_dog.jpg"][10] == [[0.5, 0.5, 0.3, 0.4, "dog"], [0.1, 0.1, 0.2, 0.2, "fox"]]
    assert cards["fox_and_dog.jpg"][5] == "dog ×1 · fox ×1"
    tabs = {t["id"]: [data["rows"][i][0] for i in t["idx"]] for t in data["tabs"]}
    assert "fox_and_dog.jpg" in tabs["label:dog"] and "fox_and_dog.jpg" in tabs["label:fox"]
    assert tabs["label:person"] == ["walker.jpg"]
    assert summary.labels["fox"] == 2 and summary.failed == 1


def test_review_corrects_one_box(trap) -> None:
    src, preds = trap
    session = Session(preds)
    items = {item.key: item for item in session.items}
    assert set(items) == {
        "fox_and_dog.jpg\0" + "1",
        "fox_and_dog.jpg\0" + "2",
        "two_foxes.jpg\0" + "1",
        "two_foxes.jpg\0" + "2",
        "walker.jpg\0" + "1",
        "walker.jpg\0" + "2",
        "empty.jpg",  # a photo without boxes: one item
        "false_box.jpg\0" + "1",
    }
    dog = items["walker.jpg\x002"]
    assert (dog.label, dog.detection, dog.about, dog.box) == ("dog", 2, ("animal", 0.6), (0.5, 0.6, 0.2, 0.2))
    assert dog.beside == ((0.0, 0.0, 0.3, 0.9, "walker.jpg\x001"),)
    state = session.state()
    assert ["walker.jpg\x002", "dog", 0.3] == state["items"][[i[0] for i in state["items"]].index("walker.jpg\x002")][
        :3
    ]
    session.correct("walker.jpg\x002", "wolf")
    session.correct("empty.jpg", "bird")
    session.undo()
    session.close()
    lines = corrections.corrections_path(preds).read_text().splitlines()
    assert lines[0] == "path,label,reviewed_at,detection"
    assert [line.split(",")[:2] + line.split(",")[3:] for line in lines[1:]] == [
        ["walker.jpg", "wolf", "2"],
        ["empty.jpg", "bird"],
        ["empty.jpg", ""],
    ]
    again = Session(preds)  # a reload shows what was saved
    assert again.corrected == {"walker.jpg\x002": "wolf"}
    again.close()
    rows = {r["path"]: r for r in corrections.reviewed_rows(preds)}
    assert (rows["walker.jpg"]["label"], rows["walker.jpg"]["labels"]) == ("wolf", "wolf:1;person:1")


# --------------------------------------------------------------------------- export


def md_validate(path: Path) -> dict:
    from test_export import md_validate as validate

    return validate(path)


def test_export_megadetector_keeps_the_detectors_boxes(runner: CliRunner, trap, tmp_path: Path) -> None:
    src, preds = trap
    with corrections.Log(preds, detections=True) as log:
        log.append("two_foxes.jpg", "no_animal", detection=2)  # not a fox: a person says the box is empty
    out = tmp_path / "md.json"
    res = runner.invoke(main, ["export", str(preds), "-f", "megadetector", "-o", str(out)])
    assert res.exit_code == 0, res.output
    pytest.importorskip("megadetector")
    assert md_validate(out) == {"errors": [], "warnings": []}
    d = json.loads(out.read_text())
    assert d["info"]["detector"] == "md_v5a.0.0.pt" and d["info"]["detection_completion_time"] == "2024-01-01"
    assert d["info"]["classifier"] == "animalsort lite0"
    cats = d["classification_categories"]
    images = {im["file"]: im for im in d["images"]}
    named = [
        (det["category"], det["conf"], cats[det["classifications"][0][0]])
        for det in images["fox_and_dog.jpg"]["detections"]
    ]
    assert named == [("1", 0.95, "dog"), ("1", 0.8, "fox")]
    assert images["fox_and_dog.jpg"]["detections"][0]["bbox"] == [0.5, 0.5, 0.3, 0.4]
    assert len(images["two_foxes.jpg"]["detections"]) == 1  # the reviewed-empty box is left out
    walker = images["walker.jpg"]["detections"]
    assert walker[0] == {"category": "2", "conf": 0.97, "bbox": [0.0, 0.0, 0.3, 0.9]}  # a person: no classification
    assert images["empty.jpg"]["detections"] == []
    assert "classifications" not in images["false_box.jpg"]["detections"][0]  # the crop said no_animal
    assert images["broken.jpg"]["failure"] == "truncated image"


def test_export_camtrap_dp_one_observation_per_box(runner: CliRunner, trap, tmp_path: Path) -> None:
    from test_export import read

    src, preds = trap
    out = tmp_path / "package"
    args = ["export", str(preds), "-f", "camtrap-dp", "-o", str(out), "--timezone", "UTC"]
    res = runner.invoke(main, args)
    assert res.exit_code == 0, res.output
    media = {m["mediaID"]: m["filePath"] for m in read(out / "media.csv")}
    obs = [{**o, "file": media.get(o["mediaID"], "")} for o in read(out / "observations.csv")]
    boxes = [(o["file"], o["observationType"], o["scientificName"], o["count"], o["bboxX"]) for o in obs if o["bboxX"]]
    assert boxes == [
        ("fox_and_dog.jpg", "animal", "Canis familiaris", "1", "0.5000"),
        ("fox_and_dog.jpg", "animal", "Canidae", "1", "0.1000"),
        ("two_foxes.jpg", "animal", "Canidae", "1", "0.1000"),
        ("two_foxes.jpg", "animal", "Canidae", "1", "0.6000"),
        ("walker.jpg", "human", "", "1", "0.0000"),
        ("walker.jpg", "unknown", "", "1", "0.5000"),  # the dog at 0.30
    ]
    person = next(o for o in obs if o["observationType"] == "human")
    assert (person["classifiedBy"], person["classificationProbability"]) == ("md_v5a.0.0.pt", "0.9700")
    assert {o["file"]: o["observationType"] for o in obs if o["observationLevel"] == "media" and not o["bboxX"]} == {
        "empty.jpg": "blank",
        "false_box.jpg": "blank",
        "broken.jpg": "unclassified",
    }
    if VALIDATOR.is_file():
        pytest.importorskip("frictionless")
        check = subprocess.run(
            [sys.executable, str(VALIDATOR), str(out / "datapackage.json")], capture_output=True, text=True
        )
        assert check.returncode == 0 and check.stdout.strip() == "valid", check.stdout + check.stderr


def test_export_camtrap_dp_events_count_maxn(runner: CliRunner, trap, tmp_path: Path) -> None:
    from test_export import read

    from animalsort.inference.bursts import annotate

    src, preds = trap
    annotate(preds, src, gap=10)  # the five photos, a second apart: one burst
    out = tmp_path / "package"
    res = runner.invoke(main, ["export", str(preds), "-f", "camtrap-dp", "-o", str(out), "--timezone", "UTC"])
    assert res.exit_code == 0, res.output
    events = [o for o in read(out / "observations.csv") if o["observationLevel"] == "event"]
    assert sorted((o["scientificName"] or o["observationType"], o["count"]) for o in events) == [
        ("Canidae", "2"),  # two foxes in one photo of the burst: MaxN 2
        ("Canis familiaris", "1"),  # a dog in two photos, one in each
        ("human", "1"),
    ]
    assert {o["eventID"] for o in events} == {"1"}
    if VALIDATOR.is_file():
        pytest.importorskip("frictionless")
        check = subprocess.run(
            [sys.executable, str(VALIDATOR), str(out / "datapackage.json")], capture_output=True, text=True
        )
        assert check.returncode == 0, check.stdout + check.stderr


def test_export_coco_bbox_annotations(runner: CliRunner, trap, tmp_path: Path) -> None:
    src, preds = trap
    out = tmp_path / "coco.json"
    res = runner.invoke(main, ["export", str(preds), "-f", "coco", "-o", str(out)])
    assert res.exit_code == 0, res.output
    d = json.loads(out.read_text())
    cats = {c["id"]: c["name"] for c in d["categories"]}
    by_image: dict[str, list] = {}
    for a in d["annotations"]:
        by_image.setdefault(a["image_id"], []).append((cats[a["category_id"]], a.get("bbox"), a.get("score")))
    assert by_image["fox_and_dog.jpg"] == [
        ("dog", [48.0, 36.0, 28.8, 28.8], 0.95),
        ("fox", [9.6, 7.2, 19.2, 14.4], 0.8),
    ]
    assert by_image["walker.jpg"] == [
        ("person", [0.0, 0.0, 28.8, 64.8], 0.97),
        ("unknown", [48.0, 43.2, 19.2, 14.4], 0.6),
    ]
    assert by_image["empty.jpg"] == [("empty", None, None)]
    assert len({a["id"] for a in d["annotations"]}) == len(d["annotations"])


@pytest.mark.slow
@needs_browser
def test_review_page_shows_every_box_and_corrects_one_in_chromium(tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait
    from test_export import photo

    src = tmp_path / "trap"
    for k, name in enumerate(PHOTOS):
        photo(src / name, None, seed=k)
    preds = write_detections_csv(tmp_path / "preds.csv", src, with_error=False)
    proc, url = start(preds)
    driver = browser.webdriver(CHROMIUM, DRIVER)
    try:
        driver.get(url + "#at=" + "walker.jpg%002")  # the person's photo, its dog's box
        WebDriverWait(driver, 20).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))
        WebDriverWait(driver, 10).until(
            lambda d: d.execute_script("return document.getElementById('photo').naturalWidth")
        )
        text = lambda i: driver.find_element(By.ID, i).text  # noqa: E731
        assert text("path") == "walker.jpg" and "box 2 (animal, detector 0.60)" in text("where")
        marks = driver.find_elements(By.CSS_SELECTOR, "#one figure .box")
        assert [(m.get_attribute("class"), m.get_attribute("data-label")) for m in marks] == [
            ("box", "dog"),  # the box under review
            ("box other top", "person"),  # the photo's other box, beside it (at the top: its label inside)
        ]
        assert marks[0].size["width"] > 10 and marks[1].size["height"] > marks[0].size["height"]
        driver.find_element(By.TAG_NAME, "body").send_keys("l")
        driver.find_element(By.ID, "pick").send_keys("wolf", Keys.ENTER)
        log = corrections.corrections_path(preds)
        WebDriverWait(driver, 10).until(lambda d: log.exists() and "wolf" in log.read_text())
        driver.save_screenshot(str(tmp_path / "review.png"))
    finally:
        driver.quit()
        proc.kill()
        proc.wait(10)
    assert corrections.read_all(preds).keys() == {("walker.jpg", 2)}
    assert log.read_text().splitlines()[0] == "path,label,reviewed_at,detection"


def test_a_photo_corrected_whole_goes_by_its_one_label(runner: CliRunner, trap, tmp_path: Path) -> None:
    src, preds = trap
    with corrections.Log(preds, detections=True) as log:
        log.append("fox_and_dog.jpg", "cat")  # a person says what the whole photo is
    dest = tmp_path / "sorted"
    res = runner.invoke(main, ["sort", str(src), "--from", str(preds), "-d", str(dest), "--by", "labels"])
    assert res.exit_code == 0, res.output
    assert [p for p in files_under(dest) if p.endswith("fox_and_dog.jpg")] == ["cat/fox_and_dog.jpg"]


def test_a_clips_boxes_in_megadetector_json(runner: CliRunner, tmp_path: Path) -> None:
    """A clip's boxes carry their frames: frame_number from the clip's rate, frames_processed from them."""

    from conftest import make_clip
    from PIL import Image

    from animalsort.formats.detection_rows import columns, files_row
    from animalsort.formats.detections import Detection
    from animalsort.formats.predictions import CsvWriter

    src = tmp_path / "src"
    make_clip(src / "clip.mp4", [(Image.new("RGB", (64, 48), (90, 120, 30)), 2.0)], fps=10)
    boxes = [
        Detection("animal", 0.9, (0.1, 0.1, 0.3, 0.3), 1.5, "fox", 0.8),
        Detection("person", 0.7, (0.5, 0.5, 0.2, 0.4), 0.3, "person", 0.7),
    ]
    preds = tmp_path / "preds.csv"
    with CsvWriter(preds, 3, boxes=True, extra=columns("files")) as w:
        w.write([files_row("clip.mp4", boxes, 3)])
    meta = {"src": str(src), "model": "lite0", "label_names": ["fox", "no_animal"]}
    (tmp_path / "preds.csv.json").write_text(json.dumps(meta))
    out = tmp_path / "md.json"
    res = runner.invoke(main, ["export", str(preds), "-f", "megadetector", "-o", str(out)])
    assert res.exit_code == 0, res.output
    clip = json.loads(out.read_text())["images"][0]
    assert clip["frame_rate"] == 10.0 and clip["frames_processed"] == [3, 15]
    assert [(d["category"], d["frame_number"]) for d in clip["detections"]] == [("1", 15), ("2", 3)]
    pytest.importorskip("megadetector")
    assert md_validate(out) == {"errors": [], "warnings": []}


def test_python_api_sorts_by_labels(trap, tmp_path: Path) -> None:
    import animalsort

    src, preds = trap
    res = animalsort.sort(src, tmp_path / "sorted", predictions=preds, by_labels=True, dry_run=True)
    assert res.applied is None and res.plan.per_folder["fox"] == 2 and res.plan.per_folder["dog"] == 1
    with pytest.raises(animalsort.errors.UsageError, match="choose one"):
        animalsort.sort(src, predictions=preds, by_labels=True, by_sequence=10.0, dry_run=True)


def test_a_photo_the_json_does_not_list_goes_by_its_one_label(runner: CliRunner, trap, tmp_path: Path) -> None:
    """Classified whole (the detector never saw it): every reader takes its one label."""
    from test_export import photo

    src, preds = trap
    photo(src / "unlisted.jpg", "2024:05:06 07:09:00", "+02:00", (52.1, 4.5), seed=9)
    rows = "detections" if "detection_category" in preds.read_text().splitlines()[0] else "files"
    write_detections_csv(preds, src, rows=rows, unlisted=True)
    unlisted = next(r for r in corrections.reviewed_rows(preds) if r["path"] == "unlisted.jpg")
    assert (unlisted["label"], unlisted["count"], unlisted["labels"], unlisted["detections"]) == ("cat", "", "", "")
    dest = tmp_path / "sorted"
    res = runner.invoke(main, ["sort", str(src), "--from", str(preds), "-d", str(dest), "--by", "labels", "-n"])
    assert res.exit_code == 0 and "unlisted.jpg → cat/unlisted.jpg" in res.output, res.output
    assert [i.key for i in Session(preds, log=False).items if i.path == "unlisted.jpg"] == ["unlisted.jpg"]
    pytest.importorskip("exiv2")
    assert runner.invoke(main, ["tag", str(preds)]).exit_code == 0
    assert "<rdf:li>cat</rdf:li>" in (src / "unlisted.jpg.xmp").read_text()


def test_megadetector_export_without_detections_is_as_before(runner: CliRunner, tmp_path: Path) -> None:
    """The info of a CSV without detections keeps its members in their order (the file is byte
    for byte what it was)."""
    src = tmp_path / "src"
    make_image(src / "a.jpg")
    preds = tmp_path / "preds.csv"
    preds.write_text("path,label,confidence,status,error\na.jpg,cat,0.9000,ok,\n")
    (tmp_path / "preds.csv.json").write_text(json.dumps({"src": str(src), "model": "lite0", "label_names": ["cat"]}))
    out = tmp_path / "md.json"
    assert runner.invoke(main, ["export", str(preds), "-f", "megadetector", "-o", str(out)]).exit_code == 0
    info = json.loads(out.read_text())["info"]
    assert list(info) == [
        "format_version",
        "detector",
        "detection_completion_time",
        "classifier",
        "classification_completion_time",
        "detector_metadata",
        "classifier_metadata",
    ]


# --------------------------------------------------------------------------- merge, audit


def _shards(preds: Path, tmp_path: Path) -> list[Path]:
    """``preds`` cut in two CSVs by photo (as two --shard runs write them), each with its sidecar."""
    lines = preds.read_text().splitlines(keepends=True)
    paths = sorted({line.split(",", 1)[0] for line in lines[1:]})
    shards = []
    for k, mine in enumerate((paths[::2], paths[1::2]), start=1):
        shard = tmp_path / f"shard{k}.csv"
        shard.write_text(lines[0] + "".join(line for line in lines[1:] if line.split(",", 1)[0] in mine))
        shard.with_name(shard.name + ".json").write_text(preds.with_name(preds.name + ".json").read_text())
        shards.append(shard)
    return shards


def test_merge_writes_every_box_of_row_per_box_shards(runner: CliRunner, trap, tmp_path: Path) -> None:
    _, preds = trap
    out = tmp_path / "merged.csv"
    res = runner.invoke(main, ["merge", *map(str, _shards(preds, tmp_path)), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "conflicting" not in res.output
    assert sorted(out.read_text().splitlines()) == sorted(preds.read_text().splitlines())
    assert json.loads(out.with_name("merged.csv.json").read_text())["detections"]["sha256"] == "cd" * 32


def test_merge_refuses_shards_of_other_detections(runner: CliRunner, trap, tmp_path: Path) -> None:
    _, preds = trap
    first, second = _shards(preds, tmp_path)
    meta = json.loads(second.with_name(second.name + ".json").read_text())
    meta["detections"]["sha256"] = "ef" * 32
    second.with_name(second.name + ".json").write_text(json.dumps(meta))
    res = runner.invoke(main, ["merge", str(first), str(second), "-o", str(tmp_path / "m.csv")])
    assert res.exit_code == 2 and "were classified with other detections" in res.output, res.output
    assert f"sha256 {'ef' * 6}…, threshold 0.2 vs " in res.output


def test_audit_samples_a_row_per_box_csv_by_photo(runner: CliRunner, trap, tmp_path: Path) -> None:
    """A --rows detections CSV is audited as its --rows files twin: one row per photo, its label."""
    src, preds = trap
    sample = tmp_path / "sample.csv"
    res = runner.invoke(main, ["audit", "sample", str(preds), "-o", str(sample), "--seed", "1"])
    assert res.exit_code == 0, res.output
    twin = write_detections_csv(tmp_path / "twin.csv", src, rows="files")
    expected = {r["path"]: r["label"] for r in corrections.reviewed_rows(twin) if r["status"] == "ok"}
    drawn = {r["path"]: r["label"] for r in csv.DictReader(open(sample, newline=""))}
    assert drawn == expected
