"""--thresholds audit.json: the per-label thresholds of an audit over --min-confidence, one rule
(``formats.thresholds``) for sort, report and review (export: test_export.py), and recorded
(the file and its sha256) wherever they were used."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import make_image

import animalsort
from animalsort.cli import main
from animalsort.errors import InputError
from animalsort.formats import corrections, thresholds
from animalsort.formats.journal import read_journal
from animalsort.formats.predictions import header
from animalsort.hashes import sha256_file

# (path, the model's label, its confidence): where each goes without and with AUDIT's thresholds
ROWS = [
    ("c1.jpg", "cat", 0.80),  # cat: 0.5 → cat; its threshold 0.9 → _uncertain
    ("c2.jpg", "cat", 0.95),  # cat either way
    ("d1.jpg", "dog", 0.45),  # dog: 0.5 → _uncertain; its threshold 0.4 → dog
    ("n1.jpg", "no_animal", 0.70),  # no_animal's threshold 0.75 → _uncertain
    ("f1.jpg", "fox", 0.55),  # fox: null in the file (not certified) → --min-confidence
    ("c3.jpg", "cat", 0.30),  # a person said cat in review: reviewed rows always count
]
AUDIT = {"thresholds": {"cat": 0.9, "dog": 0.4, "no_animal": 0.75, "fox": None}, "accuracy": {}}
WITHOUT = {"c1.jpg": "cat", "c2.jpg": "cat", "d1.jpg": "_uncertain", "n1.jpg": "_no_animal", "f1.jpg": "fox"}
WITH = {"c1.jpg": "_uncertain", "c2.jpg": "cat", "d1.jpg": "dog", "n1.jpg": "_uncertain", "f1.jpg": "fox"}


def setup(root: Path) -> tuple[Path, Path, Path]:
    """Photos, their predictions CSV (with sidecar and one review correction) and an audit.json."""
    src = root / "photos"
    for i, (path, _, _) in enumerate(ROWS):
        make_image(src / path, seed=i)
    preds = root / "preds.csv"
    with open(preds, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header(2))
        for path, label, conf in ROWS:
            w.writerow([path, label, f"{conf:.4f}", "no_animal", "0.0100", "ok", "", ""])
    meta = {"src": str(src), "model": "lite0", "label_names": ["cat", "dog", "fox", "no_animal"]}
    (root / "preds.csv.json").write_text(json.dumps(meta))
    with corrections.Log(preds) as log:
        log.append("c3.jpg", "cat")
    audit = root / "audit.json"
    audit.write_text(json.dumps(AUDIT))
    return src, preds, audit


def placed(dest: Path) -> dict[str, str]:
    return {p.name: p.parent.name for p in dest.rglob("*.jpg") if "_animalsort" not in p.parts}


def test_one_rule_per_label_over_the_minimum(tmp_path: Path) -> None:
    _, _, audit = setup(tmp_path)
    t = thresholds.load(audit, 0.5)
    assert t.per_label == {"cat": 0.9, "dog": 0.4, "no_animal": 0.75}  # null: left to --min-confidence
    assert (t.of("cat"), t.of("fox"), t.of("zebra")) == (0.9, 0.5, 0.5)
    assert t.sure("cat", 0.9) and not t.sure("cat", 0.8999) and t.sure("dog", 0.4) and not t.sure("fox", 0.49)
    assert t.sure("cat", 0.1, reviewed=True) and t.sure("cat", None, reviewed=True) and not t.sure("cat", None)
    assert t.record() == {
        "file": str(audit.absolute()),
        "sha256": sha256_file(audit),
        "min_confidence": 0.5,
        "thresholds": {"cat": 0.9, "dog": 0.4, "no_animal": 0.75},
    }
    plain = thresholds.load(None, 0.3)
    assert plain.record() is None and plain.sure("cat", 0.3) and not plain.sure("cat", 0.2999)


def test_sort_places_by_each_labels_threshold_and_journals_them(runner: CliRunner, tmp_path: Path) -> None:
    src, preds, audit = setup(tmp_path)
    args = ["sort", str(src), "--from", str(preds)]
    res = runner.invoke(main, [*args, "--dest", str(tmp_path / "plain")])
    assert res.exit_code == 0, res.output
    assert placed(tmp_path / "plain") == {**WITHOUT, "c3.jpg": "cat"}
    journal = read_journal(next((tmp_path / "plain" / "_animalsort").glob("sort-*.jsonl")))
    assert "thresholds" not in journal.header  # without --thresholds the journal is as before

    res = runner.invoke(main, [*args, "--dest", str(tmp_path / "audited"), "--thresholds", str(audit)])
    assert res.exit_code == 0, res.output
    assert placed(tmp_path / "audited") == {**WITH, "c3.jpg": "cat"}
    assert "thresholds of 3 labels from audit.json; the others at --min-confidence 0.5" in res.stderr
    journal = read_journal(next((tmp_path / "audited" / "_animalsort").glob("sort-*.jsonl")))
    assert journal.header["thresholds"] == thresholds.load(audit).record()
    assert journal.header["thresholds"]["sha256"] == sha256_file(audit)

    # the fallback is --min-confidence, whatever it is
    res = runner.invoke(main, [*args, "-n", "--thresholds", str(audit), "--min-confidence", "0.6"])
    assert res.exit_code == 0, res.output
    assert "copy f1.jpg → _uncertain/f1.jpg" in res.stdout and "copy d1.jpg → dog/d1.jpg" in res.stdout


def test_sort_api_takes_thresholds(tmp_path: Path) -> None:
    src, preds, audit = setup(tmp_path)
    res = animalsort.sort(src, tmp_path / "out", predictions=preds, thresholds=audit, dry_run=True)
    assert res.plan.per_folder == {"_uncertain": 2, "cat": 2, "dog": 1, "fox": 1}
    assert res.thresholds is not None and res.thresholds.per_label["cat"] == 0.9
    assert animalsort.sort(src, tmp_path / "out", predictions=preds, dry_run=True).thresholds is None


def test_report_lists_rows_below_their_labels_threshold(runner: CliRunner, tmp_path: Path) -> None:
    _, preds, audit = setup(tmp_path)

    def uncertain(page: Path) -> list[str]:
        text = page.read_text()
        data = json.loads(re.search(r'id="report-data">(.*?)</script>', text, re.S).group(1))
        return sorted(data["rows"][i][0] for i in data["tabs"][0]["idx"])

    res = runner.invoke(main, ["report", str(preds), "-o", str(tmp_path / "plain.html")])
    assert res.exit_code == 0, res.output
    assert uncertain(tmp_path / "plain.html") == ["d1.jpg"] and "thresholds from" not in res.output
    res = runner.invoke(main, ["report", str(preds), "-o", str(tmp_path / "t.html"), "--thresholds", str(audit)])
    assert res.exit_code == 0, res.output
    assert uncertain(tmp_path / "t.html") == ["c1.jpg", "n1.jpg"]
    assert "thresholds of 3 labels from audit.json; the others at --min-confidence 0.5" in res.stderr
    assert f"thresholds from audit.json (sha256 {sha256_file(audit)[:12]}…)" in (tmp_path / "t.html").read_text()


def test_tag_writes_the_species_of_rows_that_reach_their_labels_threshold(runner: CliRunner, tmp_path: Path) -> None:
    from animalsort.tagging import journal, xmp

    src, preds, audit = setup(tmp_path)

    def tagged() -> dict[str, list[str]]:
        bags = {p.name.removesuffix(".xmp"): xmp.open_bytes(p.read_bytes()).xmpData() for p in src.glob("*.xmp")}
        return {name: xmp._bag(data, xmp.SUBJECT) for name, data in bags.items()}

    def journal_header() -> dict[str, object]:
        journals = sorted((src / "_animalsort").glob("tag-*.jsonl"), key=lambda p: p.stat().st_mtime_ns)
        return journal.read(journals[-1]).header

    res = runner.invoke(main, ["tag", str(preds), "--tag-uncertain"])
    assert res.exit_code == 0, res.output
    plain = {"c1.jpg": ["cat"], "c2.jpg": ["cat"], "d1.jpg": ["uncertain"], "f1.jpg": ["fox"], "c3.jpg": ["cat"]}
    assert tagged() == plain and "thresholds" not in journal_header()  # without --thresholds: as before
    assert "thresholds of" not in res.stderr

    res = runner.invoke(main, ["tag", str(preds), "--tag-uncertain", "--thresholds", str(audit)])
    assert res.exit_code == 0, res.output
    # cat 0.80 < cat's 0.9; dog 0.45 ≥ dog's 0.4; fox (null in the file) at 0.5; c3 reviewed
    assert tagged() == {**plain, "c1.jpg": ["uncertain"], "d1.jpg": ["dog"]}
    assert journal_header()["thresholds"] == thresholds.load(audit).record()
    assert journal_header()["min_confidence"] == 0.5
    assert "thresholds of 3 labels from audit.json; the others at --min-confidence 0.5" in res.stderr

    res = animalsort.tag(preds, thresholds=audit, min_confidence=0.6, dry_run=True)
    assert {job.row_path: job.tags.keywords for job in res.planned}["f1.jpg"] == ()  # fox 0.55 < 0.6


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "--thresholds {}: cannot read it (No such file or directory); give the JSON"),
        ("[1, 2]", "{} has no `thresholds`; give the JSON `animalsort audit report` wrote (PREDS.audit.json"),
        ('{"thresholds": {"cat": 2}}', "{}: the threshold of 'cat' is 2; a threshold is a number from 0 to 1"),
    ],
)
def test_a_thresholds_file_that_is_not_an_audits(
    runner: CliRunner, tmp_path: Path, content: str | None, message: str
) -> None:
    src, preds, _ = setup(tmp_path)
    bad = tmp_path / "bad.json"
    if content is not None:
        bad.write_text(content)
    for args in (["sort", str(src), "--from", str(preds), "-n"], ["report", str(preds)]):
        res = runner.invoke(main, [*args, "--thresholds", str(bad)])
        assert res.exit_code == 2 and f"Error: {message.format(bad)}" in res.stderr, res.output
    with pytest.raises(InputError, match=re.escape(message.format(bad))):
        animalsort.export(preds, tmp_path / "md.json", thresholds=bad)
    assert not (tmp_path / "photos" / "cat").exists() and not (tmp_path / "md.json").exists()


def test_review_marks_the_photos_below_their_threshold(runner: CliRunner, tmp_path: Path) -> None:
    from animalsort.pages.review_session import Session

    _, preds, audit = setup(tmp_path)
    # c3.jpg: the model's cat 0.30 is below either way (a person's review is the page's to show)
    for given, name, below in (
        (None, None, {"d1.jpg", "c3.jpg"}),
        (audit, "audit.json", {"c1.jpg", "n1.jpg", "c3.jpg"}),
    ):
        session = Session(preds, thresholds=thresholds.load(given))
        state = session.state()
        session.close()
        assert {it[0] for it in state["items"] if not it[7]} == below and state["thresholds"] == name
        assert {it[0]: it[6] for it in state["items"]}["f1.jpg"] == 0.5  # fox: --min-confidence
    animalsort.audit_sample(preds, size=6)
    res = runner.invoke(main, ["review", str(tmp_path / "preds.sample.csv"), "--thresholds", str(audit)])
    assert res.exit_code == 2 and "--thresholds does nothing in audit mode" in res.output, res.output
