"""The columns ``--detections`` adds to a predictions CSV (#37): what a row carries, how the
``--rows detections`` form folds back into ``--rows files``, resume, corrections of a single
detection (and the corrections file of before), bursts' MaxN."""

from __future__ import annotations

import csv
import json
import os
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import make_image
from detection_csvs import PHOTOS, TOP_K, det, write_detections_csv

from animalsort.errors import InputError
from animalsort.formats import corrections, detection_rows
from animalsort.formats.detection_rows import (
    DETECTIONS,
    columns,
    decode,
    detections_of,
    encode,
    files_row,
    label_counts,
    photo_rows,
    primary,
)
from animalsort.formats.predictions import CsvWriter, header, read_predictions, text_row


def test_a_files_row_carries_every_box_and_its_label() -> None:
    found, below = PHOTOS["fox_and_dog.jpg"]
    cols = header(TOP_K, boxes=True) + columns("files")
    row = dict(zip(cols, text_row(cols, files_row("a.jpg", found, TOP_K, below=below))))
    # the surest animal's label and box, though the dog's box is the detector's surest
    assert (row["label"], row["confidence"], row["box_x"], row["box_w"]) == ("fox", "0.9000", "0.1000", "0.2000")
    assert (row["count"], row["labels"]) == ("2", "dog:1;fox:1")
    assert json.loads(row[DETECTIONS]) == [
        {"label": "dog", "confidence": 0.7, "category": "animal", "conf": 0.95, "bbox": [0.5, 0.5, 0.3, 0.4]},
        {"label": "fox", "confidence": 0.9, "category": "animal", "conf": 0.8, "bbox": [0.1, 0.1, 0.2, 0.2]},
    ]
    assert detections_of(row) == found
    walker = dict(zip(cols, text_row(cols, files_row("w.jpg", *PHOTOS["walker.jpg"][:1], TOP_K))))
    assert (walker["label"], walker["count"], walker["labels"]) == ("dog", "1", "dog:1;person:1")  # an animal first
    empty = dict(zip(cols, text_row(cols, files_row("e.jpg", [], TOP_K, below=0.15))))
    assert (empty["label"], empty["confidence"], empty["box_x"], empty["count"]) == ("no_animal", "0.8500", "", "0")
    assert (empty["labels"], empty[DETECTIONS]) == ("", "[]")
    false_box = dict(zip(cols, text_row(cols, files_row("f.jpg", PHOTOS["false_box.jpg"][0], TOP_K))))
    assert (false_box["label"], false_box["box_x"], false_box["count"]) == ("no_animal", "", "0")


def test_labels_order_and_odd_labels() -> None:
    found = [
        det("person", 0.9, "person"),
        det("deer", 0.8),
        det("vehicle", 0.7, "vehicle"),
        det("a;b%c", 0.6),
        det("deer", 0.7),
        det("bear", 0.9),
        det("no_animal", 0.9),
    ]
    assert label_counts(found) == [("deer", 2), ("a;b%c", 1), ("bear", 1), ("person", 1), ("vehicle", 1)]
    assert detection_rows.files_cells(found)[:2] == [4, "deer:2;a%3Bb%25c:1;bear:1;person:1;vehicle:1"]
    assert decode(encode(found)) == found  # any label survives the cell
    assert primary([det("person", 0.99, "person"), det("cat", 0.3)]).label == "cat"  # an animal beats a person
    assert primary([det("vehicle", 0.99, "vehicle"), det("person", 0.5, "person")]).label == "person"
    assert primary([det("cat", 0.9), replace(det("dog", 0.2), reviewed=True)]).label == "dog"  # a person's first


@pytest.mark.parametrize(
    ("cell", "why"),
    [
        ("[{", "is not JSON"),
        ('{"a": 1}', "is not a list"),
        ('[{"label": "fox"}]', "detection 1 of the detections cell lacks a label, confidence"),
        (
            '[{"label":"fox","confidence":0.9,"category":"animal","conf":0.9,"bbox":[0.5,0.5,2,0.1]}]',
            r"bbox \[0.5, 0.5, 2.0, 0.1\]",
        ),
        (
            '[{"label":"fox","confidence":0.9,"category":"cow","conf":0.9,"bbox":[0.5,0.5,0.1,0.1]}]',
            "'cow' is not one of",
        ),
    ],
)
def test_a_detections_cell_that_does_not_read(cell: str, why: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=why):
        detections_of({"path": "a.jpg", "status": "ok", DETECTIONS: cell})
    preds = write_detections_csv(tmp_path / "p.csv", tmp_path)  # a hand edit: every reader stops, naming it
    text = preds.read_text().splitlines()
    text[1] = text[1][: text[1].index('"[{')] + '"' + cell.replace('"', '""') + '"'
    preds.write_text("\n".join(text) + "\n")
    with pytest.raises(InputError, match=f"p.csv, row 'fox_and_dog.jpg': .*{why}"):
        list(corrections.reviewed_rows(preds))


def test_rows_detections_fold_into_the_files_rows(tmp_path: Path) -> None:
    files = write_detections_csv(tmp_path / "files.csv", tmp_path)
    per_box = write_detections_csv(tmp_path / "boxes.csv", tmp_path, rows="detections")
    raw = list(read_predictions(per_box))
    assert [r["path"] for r in raw].count("fox_and_dog.jpg") == 2
    assert [(r["detection"], r["label"], r["detection_category"]) for r in raw[4:6]] == [
        ("1", "person", "person"),
        ("2", "dog", "animal"),
    ]
    empty = next(r for r in raw if r["path"] == "empty.jpg")
    assert (empty["label"], empty["confidence"], empty["detection"], empty["box_x"]) == ("no_animal", "0.8500", "0", "")
    assert list(photo_rows(raw)) == list(read_predictions(files))


def test_writer_resumes_with_the_detection_columns(tmp_path: Path) -> None:
    out = tmp_path / "p.csv"
    extra = columns("files")
    with CsvWriter(out, TOP_K, boxes=True, extra=extra) as w:
        w.write([files_row("a.jpg", *PHOTOS["fox_and_dog.jpg"][:1], TOP_K)])
    first = out.read_bytes()
    text = first.decode()
    out.write_text(
        text.replace("\n", ",,,\n", 1).replace(
            "count,labels,detections,,,",
            "count,labels,detections,sequence,sequence_label,sequence_confidence,sequence_count",
            1,
        )
        + "b.jpg,cut off"
    )
    with CsvWriter(out, TOP_K, resume=True, boxes=True, extra=extra) as w:
        assert w.done() == ["a.jpg"]
    assert out.read_bytes() == first  # the sequence columns and the cut-off row go; made again at the end
    with pytest.raises(Exception, match="differ from this run's"):
        CsvWriter(out, TOP_K, resume=True, boxes=True)  # a run without --detections


def test_no_detections_no_change(tmp_path: Path) -> None:
    """A CSV without the columns reads exactly as before, and so does its corrections file."""
    assert header(3) == [
        "path",
        "label",
        "confidence",
        "label_2",
        "confidence_2",
        "label_3",
        "confidence_3",
        "status",
        "error",
        "frame_s",
    ]
    out = tmp_path / "p.csv"
    out.write_text("path,label,confidence,status,error\na.jpg,cat,0.9000,ok,\nb.jpg,dog,0.4000,ok,\n")
    assert detections_of(next(read_predictions(out))) is None
    with corrections.Log(out) as log:
        log.append("b.jpg", "fox")
    assert corrections.corrections_path(out).read_text().splitlines()[0] == "path,label,reviewed_at"
    assert corrections.corrections_path(out).read_text().count(",") == 4  # three fields a line, as ever
    assert [r["label"] for r in corrections.reviewed_rows(out)] == ["cat", "fox"]


def test_a_correction_of_one_detection(tmp_path: Path) -> None:
    preds = write_detections_csv(tmp_path / "p.csv", tmp_path)
    with corrections.Log(preds, detections=True) as log:
        log.append("fox_and_dog.jpg", "no_animal", detection=2)  # the fox is no fox: nothing there
        log.append("walker.jpg", "wolf", detection=2)  # the unsure dog is a wolf
        log.append("empty.jpg", "bird")  # the whole photo: a bird the detector missed
    lines = corrections.corrections_path(preds).read_text().splitlines()
    assert lines[0] == "path,label,reviewed_at,detection"
    assert lines[1].startswith("fox_and_dog.jpg,no_animal,") and lines[1].endswith(",2")
    assert corrections.read(preds).keys() == {"empty.jpg"}  # what readers of photos alone see
    rows = {r["path"]: r for r in corrections.reviewed_rows(preds)}
    fox = rows["fox_and_dog.jpg"]  # the dog is the photo's animal now: its label, confidence and box
    assert (fox["label"], fox["confidence"], fox["box_x"], fox["count"], fox["labels"]) == (
        "dog",
        "0.7000",
        "0.5000",
        "1",
        "dog:1",
    )
    assert "reviewed" not in fox and fox["label_2"] == ""
    assert [d.reviewed for d in detections_of(fox)] == [False, True]
    walker = rows["walker.jpg"]
    assert (walker["label"], walker["reviewed"], walker["labels"]) == ("wolf", "dog", "wolf:1;person:1")
    assert (rows["empty.jpg"]["label"], rows["empty.jpg"]["reviewed"]) == ("bird", "no_animal")
    # a line an older animalsort wrote (three fields) still reads, after or before the new ones
    with open(corrections.corrections_path(preds), "a", newline="") as f:
        csv.writer(f, lineterminator="\n").writerow(["two_foxes.jpg", "cat", "2024-01-01T00:00:00+00:00"])
    assert {p for (p, n) in corrections.read_all(preds)} >= {"two_foxes.jpg", "walker.jpg"}
    with corrections.Log(preds, detections=True) as log:
        log.append("walker.jpg", "", detection=2)  # undone
    assert dict(corrections.read_all(preds)).get(("walker.jpg", 2)) is None


def test_a_burst_gets_its_maxn(tmp_path: Path) -> None:
    from animalsort.inference.bursts import annotate

    src = tmp_path / "src"
    for name in ("fox_and_dog.jpg", "two_foxes.jpg", "walker.jpg", "empty.jpg", "false_box.jpg"):
        make_image(src / name)
    for k, name in enumerate(("fox_and_dog.jpg", "two_foxes.jpg", "walker.jpg", "empty.jpg", "false_box.jpg")):
        os.utime(src / name, (1_700_000_000 + k, 1_700_000_000 + k))
    for rows in ("files", "detections"):
        preds = write_detections_csv(tmp_path / f"{rows}.csv", src, rows=rows, with_error=False)
        result = annotate(preds, src, gap=10)
        got = list(read_predictions(preds))
        assert result.count == 1 and got[0]["sequence_label"] == "fox"
        assert {r["sequence_count"] for r in got} == {"2"}  # two foxes in one photo of the burst
        assert list(csv.reader(open(preds)))[0][-4:] == [
            "sequence",
            "sequence_label",
            "sequence_confidence",
            "sequence_count",
        ]


def test_resume_of_a_row_per_box_csv_redoes_the_last_photo_whole(tmp_path: Path) -> None:
    """A crash can cut a batch between two boxes of one photo: resume drops that photo's rows
    (else its other boxes would never be written) and redoes it."""
    out = tmp_path / "p.csv"
    extra = columns("detections")
    with CsvWriter(out, TOP_K, boxes=True, extra=extra) as w:
        w.write(detection_rows.detection_rows("a.jpg", *PHOTOS["fox_and_dog.jpg"][:1], TOP_K))
        w.write(detection_rows.detection_rows("b.jpg", *PHOTOS["two_foxes.jpg"][:1], TOP_K)[:1])  # 2nd box: cut off
    with CsvWriter(out, TOP_K, resume=True, boxes=True, extra=extra) as w:
        assert w.done() == ["a.jpg"]
    assert [r["path"] for r in read_predictions(out)] == ["a.jpg", "a.jpg"]
