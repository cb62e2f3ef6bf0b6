"""One answer record from batch to row (#39): every engine makes ``formats.predictions.Prediction``s,
``prediction_row`` formats them once, ``text_row`` writes them as the CSV's text and ``frame`` as the
DataFrame the API returns — the values and dtypes ``pandas.read_csv`` gives for that CSV; the
first-answer rule is one function for torch and numpy."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import make_image

import animalsort
from animalsort.formats.detection_rows import columns, detection_rows, files_row, unseen_cells
from animalsort.formats.detections import Detection
from animalsort.formats.predictions import (
    CsvWriter,
    Prediction,
    error_row,
    frame,
    header,
    prediction_row,
    text_row,
)
from animalsort.inference.looking import Labels
from animalsort.inference.scoring import BatchRows, Scored
from animalsort.taxonomy import animal_labels, first_labels, imagenet_labels, rank

ANIMALS = animal_labels()
NAMES = ANIMALS.labels


def as_read_back(cols: list[str], rows: list[list[object]]) -> pd.DataFrame:
    """What a user gets with ``pandas.read_csv`` of the CSV these rows make."""
    text = io.StringIO()
    pd.DataFrame([text_row(cols, r) for r in rows], columns=cols).to_csv(text, index=False)
    text.seek(0)
    return pd.read_csv(text, dtype={"path": str})


def test_an_answer_is_formatted_once_numbers_to_their_columns_decimals() -> None:
    cols = header(2, boxes=True)
    cat, dog = NAMES.index("cat"), NAMES.index("dog")
    photo = Prediction(
        "a.jpg", labels=(cat, dog), confidences=(0.912345, 0.05), box=(0.1, 0.25, 0.5, 0.5), animal_score=3.14159
    )
    frame_row = Prediction("c.mp4#t=1.50", labels=(dog,), confidences=(np.float32(0.7),), frame_s=1.5)
    failed = Prediction("b.jpg", ok=False, error="not a readable image")
    texts = [text_row(cols, prediction_row(a, NAMES, 2, boxes=True)) for a in (photo, frame_row, failed)]
    assert texts[0] == [
        "a.jpg",
        "cat",
        "0.9123",
        "dog",
        "0.0500",
        "ok",
        "",
        "",
        "0.1000",
        "0.2500",
        "0.5000",
        "0.5000",
        "3.14",
    ]
    assert texts[1] == ["c.mp4#t=1.50", "dog", "0.7000", "", "", "ok", "", "1.50", "", "", "", "", ""]
    assert texts[2] == ["b.jpg", "", "", "", "", "error", "not a readable image", "", "", "", "", "", ""]
    assert frame_row.file == "c.mp4" and photo.file == "a.jpg"
    assert Prediction("c.mp4", labels=(dog,), confidences=(0.7,), frame_s=1.5).file == "c.mp4"  # a clip's own row


@pytest.mark.parametrize("kind", ["plain", "no_errors", "files", "detections", "none"])
def test_the_dataframe_is_what_read_csv_gives_for_the_same_rows(kind: str) -> None:
    """``frame`` builds the DataFrame from the rows, never from CSV text, with read_csv's values
    and dtypes: numbers rounded as the CSV writes them, empty cells NaN, whole-number columns
    int64, a column without any value float64, path always text."""
    fox = [Detection("animal", 0.93, (0.1, 0.2, 0.3, 0.4), None, "fox", 0.876543)]
    if kind in ("plain", "no_errors", "none"):
        cols = header(3, boxes=True)
        answers = [
            Prediction(
                "1.jpg", labels=(3, 0, 1), confidences=(0.61234, 0.2, 0.1), box=(0.1, 0.2, 0.3, 0.4), animal_score=2.5
            ),
            Prediction("2.jpg", labels=(36,), confidences=(0.99999,), animal_score=-1.256),
            Prediction("3.jpg", ok=False, error="truncated image: x"),
        ]
        answers = answers[:2] if kind == "no_errors" else [] if kind == "none" else answers
        rows = [prediction_row(a, NAMES, 3, boxes=True) for a in answers]
    else:
        cols = header(3, boxes=True) + columns(kind)
        made = files_row("a.jpg", fox, 3) if kind == "files" else detection_rows("a.jpg", fox, 3)
        rows = [
            *([made] if kind == "files" else made),
            *([files_row("e.jpg", [], 3, below=0.1)] if kind == "files" else detection_rows("e.jpg", [], 3, below=0.1)),
            error_row("b.jpg", "gone", 3, boxes=True) + unseen_cells(kind),
        ]
    got, expected = frame(cols, rows), as_read_back(cols, rows)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    if kind == "no_errors":
        assert got["error"].dtype == np.float64 and got["error"].isna().all()  # as read_csv: no value, float


def test_the_rows_written_and_the_dataframe_agree(tmp_path: Path) -> None:
    """The CSV the writer makes from rows reads back as ``frame`` of the same rows."""
    cols = header(1)
    rows = [prediction_row(Prediction(f"{n}.jpg", labels=(n,), confidences=(n / 7,)), NAMES, 1) for n in range(5)]
    with CsvWriter(tmp_path / "p.csv", 1) as w:
        w.write(rows)
    pd.testing.assert_frame_equal(frame(cols, rows), pd.read_csv(tmp_path / "p.csv", dtype={"path": str}))


def test_the_records_survive_the_trip_between_processes() -> None:
    """Ray ships a batch's rows to the model and its answers back by pickle: nothing is lost or turned."""
    rows = BatchRows(
        ["a.jpg", "c.mp4", "c.mp4"], [True, True, False], ["", "", "x"], [None, 0.0, 2.0], crops=[None, 0, -1]
    )
    scored = Scored([Prediction("a.jpg", labels=(1, 2), confidences=(0.5, 0.25), crops=(((1,), (0.5,)),))], windows=3)
    assert pickle.loads(pickle.dumps(rows)) == rows
    assert pickle.loads(pickle.dumps(scored)) == scored and scored.files_ok == 1 and scored.failed == 0
    assert rows.only([0, 2]) == BatchRows(["a.jpg", "c.mp4"], [True, False], ["", "x"], [None, 2.0])


def test_the_first_answer_rule_is_one_for_torch_numpy_and_the_looks() -> None:
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(len(NAMES)) * 0.3, size=400).astype(np.float32)
    noa = ANIMALS.no_animal
    p[:10, noa] = 0.5  # the boundary: no_animal holding exactly half is no animal, everywhere
    p[10:20, noa] = np.nextafter(np.float32(0.5), np.float32(0))  # just below: an animal
    by_torch = rank(torch.from_numpy(p), ANIMALS, 3)[1][:, 0].numpy()
    by_numpy = first_labels(p, ANIMALS)
    assert (by_torch == by_numpy).all() and (by_numpy[:10] == noa).all() and (by_numpy[10:20] != noa).all()
    looks = Labels(ANIMALS, 1000)  # the label set of an ImageNet model's 1000 outputs
    assert [looks.shows_animal(row) for row in p] == list(by_numpy != noa)
    flat = imagenet_labels()  # no no_animal: the first answer is the most probable class
    q = rng.dirichlet(np.ones(1000), size=5).astype(np.float32)
    assert (first_labels(q, flat) == q.argmax(1)).all()


def test_predict_gives_the_dataframe_classify_gives(tmp_path: Path, tiny_weights: Path, monkeypatch) -> None:
    """Classifier.predict on files: the values and dtypes of ``classify`` on their folder, exactly."""
    src = tmp_path / "src"
    for n, colour in enumerate([(200, 40, 40), (40, 200, 40), (40, 40, 200)]):
        make_image(src / f"{n}.jpg", (96, 64), colour, seed=n)
    (src / "broken.jpg").write_bytes(b"\xff\xd8\xff not a photo")
    monkeypatch.chdir(src)
    for view in ("centre", "frame"):
        folder = animalsort.classify(src, weights=tiny_weights, view=view, workers=0, precision="fp32", runtime="torch")
        clf = animalsort.Classifier(weights=tiny_weights, view=view, precision="fp32", runtime="torch")
        pd.testing.assert_frame_equal(clf.predict(list(folder["path"])), folder, check_exact=True)
