"""An audit sample's answers are corrections (``formats.answers`` → ``formats.corrections``):
``sort --from`` and ``finetune --from`` place and train the answered photos by their truth, as
they do review's; can't tell is not an answer, not an animal is no_animal; where both a review
correction and an audit answer name a photo, the later one counts."""

from __future__ import annotations

import csv
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import make_image

import animalsort
from animalsort.cli import main
from animalsort.datasets import links
from animalsort.formats import answers, corrections
from animalsort.formats.journal import read_journal
from animalsort.formats.predictions import header
from animalsort.pages import review_audit

# (path, the model's label, its confidence, what a person wrote in the sample's truth column)
ROWS = [
    ("a.jpg", "cat", 0.30, "dog"),  # wrong and unsure: goes to dog/
    ("b.jpg", "cat", 0.90, "can't tell"),  # not an answer: stays the model's
    ("c.jpg", "no_animal", 0.40, "not an animal"),  # = no_animal: _no_animal/, not _uncertain/
    ("d.jpg", "dog", 0.95, ""),  # not answered yet
    ("e.jpg", "red_fox", 0.60, "Red Fox"),  # the model's spelling is found
    ("f.jpg", "cat", 0.80, "cat"),  # right: reviewed, as review's Enter
]
JAN_1 = datetime(2026, 1, 1, tzinfo=UTC).timestamp()


def answered(root: Path, truths: dict[str, str] | None = None) -> tuple[Path, Path]:
    """Photos, their CSV, and its audit sample (every row) answered as a spreadsheet would: the
    truth column filled, no times; the sample last saved on 1 January 2026."""
    src = root / "photos"
    for i, (path, *_) in enumerate(ROWS):
        make_image(src / path, seed=i)
    preds = root / "preds.csv"
    with open(preds, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header(2))
        for path, label, conf, _ in ROWS:
            w.writerow([path, label, f"{conf:.4f}", "no_animal", "0.0100", "ok", "", ""])
    meta = {"src": str(src), "model": "lite0", "label_names": ["cat", "dog", "red_fox", "no_animal"]}
    (root / "preds.csv.json").write_text(json.dumps(meta))
    animalsort.audit_sample(preds, size=len(ROWS))
    sample = answers.sample_path(preds)
    with open(sample, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    given = truths if truths is not None else {path: truth for path, *_, truth in ROWS}
    for r in rows:
        r["truth"] = given.get(r["path"], "")
    with open(sample, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    os.utime(sample, (JAN_1, JAN_1))
    return src, preds


def placed(dest: Path) -> dict[str, str]:
    return {p.name: p.parent.name for p in dest.rglob("*.jpg") if "_animalsort" not in p.parts}


def test_sort_places_answered_photos_by_their_truth(runner: CliRunner, tmp_path: Path) -> None:
    src, preds = answered(tmp_path)
    res = runner.invoke(main, ["sort", str(src), "--from", str(preds), "--dest", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    assert placed(tmp_path / "out") == {
        "a.jpg": "dog",
        "b.jpg": "cat",
        "c.jpg": "_no_animal",
        "d.jpg": "dog",
        "e.jpg": "red_fox",
        "f.jpg": "cat",
    }
    assert "4 placed by their reviewed label (audit answers in preds.sample.csv)" in res.stderr
    journal = read_journal(next((tmp_path / "out" / "_animalsort").glob("sort-*.jsonl")))
    assert journal.header["audit_answers"] == str(answers.sample_path(preds))
    assert journal.header["corrections"] is None and journal.header["reviewed"] == 4


def test_finetune_from_trains_on_the_answers(tmp_path: Path) -> None:
    _, preds = answered(tmp_path)
    made = links.link(preds, tmp_path / "labelled")
    assert made.reviewed == 4 and dict(made.per_label) == {"dog": 1, "no_animal": 1, "red_fox": 1, "cat": 1}
    assert os.path.samefile(tmp_path / "labelled" / "dog" / "a.jpg", tmp_path / "photos" / "a.jpg")
    record = json.loads((tmp_path / "labelled" / links.MARKER).read_text())
    assert record["audit_answers"] == str(answers.sample_path(preds))


def test_the_later_of_a_review_correction_and_an_audit_answer_counts(tmp_path: Path) -> None:
    _, preds = answered(tmp_path)
    log = corrections.corrections_path(preds)
    log.write_text("path,label,reviewed_at\na.jpg,cat,2025-12-31T12:00:00.000+00:00\n")
    found = corrections.read(preds)
    assert (found["a.jpg"].label, found["a.jpg"].source) == ("dog", corrections.AUDIT)  # answered on 1 January
    assert found["a.jpg"].reviewed_at == "2026-01-01T00:00:00.000+00:00"  # a spreadsheet's: the sample's last save
    with open(log, "a") as f:
        f.write("a.jpg,cat,2026-01-02T12:00:00.000+00:00\n")  # changed in review the day after
    assert corrections.read(preds)["a.jpg"] == corrections.Correction("cat", "2026-01-02T12:00:00.000+00:00")

    # an answer given in review's audit mode now: the sample is written again, and the answers it held keep
    # their day (rewriting the file must not make them newer than the review correction of 2 January)
    session = review_audit.AuditSession(answers.sample_path(preds))
    session.correct("d.jpg", "dog")
    session.close()
    found = corrections.read(preds)
    assert found["a.jpg"].label == "cat" and found["d.jpg"].source == corrections.AUDIT
    assert datetime.fromisoformat(found["d.jpg"].reviewed_at) > datetime(2026, 1, 2, tzinfo=UTC)
    with open(answers.sample_path(preds), newline="", encoding="utf-8") as f:
        times = {r["path"]: r[answers.ANSWERED_AT] for r in csv.DictReader(f)}
    assert times["a.jpg"] == times["e.jpg"] == "2026-01-01T00:00:00.000+00:00" and times["b.jpg"]
    assert times["d.jpg"] == found["d.jpg"].reviewed_at


def test_answers_that_are_none_or_belong_to_another_csv_stop_sort(runner: CliRunner, tmp_path: Path) -> None:
    src, preds = answered(tmp_path, {"a.jpg": "dgo", "b.jpg": "cat"})
    args = ["sort", str(src), "--from", str(preds), "--move"]
    res = runner.invoke(main, args)
    assert res.exit_code == 2
    assert (
        f"Error: {answers.sample_path(preds)}: a truth must be one of the model's labels, no_animal or can't tell; "
        "not row "
        in res.stderr
        and "(a.jpg): 'dgo'. Its labels: cat, dog, no_animal, red_fox" in res.stderr
    )
    with pytest.raises(Exception, match="'dgo'"):
        animalsort.audit_report(preds)  # the audit reads truths by the same rule
    assert sorted(p.name for p in src.iterdir()) == [r[0] for r in ROWS]  # nothing moved

    other = tmp_path / "other.csv"
    other.write_text(preds.read_text())
    design = answers.sample_path(preds).with_name("preds.sample.csv.json")
    design.write_text(json.dumps({**json.loads(design.read_text()), "predictions": "other.csv"}))
    res = runner.invoke(main, args)
    assert res.exit_code == 2 and "but was drawn from" in res.stderr and "other.csv" in res.stderr
    assert sorted(p.name for p in src.iterdir()) == [r[0] for r in ROWS]


def test_audit_report_reads_not_an_animal(tmp_path: Path) -> None:
    _, preds = answered(tmp_path)
    result = animalsort.audit_report(preds)
    assert result.cant_tell == 1 and result.to_json()["sample"]["answered"] == 4
