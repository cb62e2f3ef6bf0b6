"""audit: the sample (strata, allocation, seed, extension), the report (estimates, intervals,
thresholds, audit.json) and the checks that refuse a sample that no longer fits its CSV.
The coverage of the intervals is proven in test_audit_simulation.py."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import animalsort
from animalsort.audit import files
from animalsort.audit.intervals import effective_n, stratified, wilson_cc, z_of
from animalsort.audit.population import CANT_TELL, UNCERTAIN
from animalsort.audit.sample import allocate
from animalsort.audit.thresholds import needed_answers
from animalsort.cli import main
from animalsort.errors import InputError
from animalsort.formats import answers, thresholds
from animalsort.formats.predictions import header

# label → (rows, how many of its rows at or above 0.5 are wrong, rows below 0.5)
SPEC = {"cat": (120, 6, 20), "dog": (80, 8, 10), "no_animal": (90, 4, 15), "fox": (12, 0, 2)}


def population_rows() -> list[tuple[str, str, float, str]]:
    """(path, label, confidence, truth): deterministic, wrong rows less confident."""
    rng = np.random.default_rng(7)
    out = []
    for label, (rows, wrong, below) in SPEC.items():
        sure = rows - below
        for k in range(rows):
            if k < sure:
                conf = 0.5 + 0.49 * (k + 1) / sure if k >= wrong else 0.5 + 0.1 * k / max(wrong, 1)
                truth = label if k >= wrong else ("fox" if label == "no_animal" else "no_animal")
            else:
                conf = 0.2 + 0.25 * rng.random()
                truth = label if rng.random() < 0.5 else "dog" if label != "dog" else "cat"
            out.append((f"{label}/{k:03d} x.jpg", label, round(conf, 4), truth))
    order = rng.permutation(len(out))
    return [out[i] for i in order]


def write_preds(root: Path, rows: list[tuple[str, str, float, str]] | None = None) -> tuple[Path, dict[str, str]]:
    """A predictions CSV (two error rows) with its sidecar; returns it and each path's truth."""
    rows = population_rows() if rows is None else rows
    preds = root / "preds.csv"
    with open(preds, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header(2))
        for i, (path, label, conf, _) in enumerate(rows):
            w.writerow(
                [path, label, f"{conf:.4f}", "no_animal" if label != "no_animal" else "cat", "0.0100", "ok", "", ""]
            )
            if i == 5:
                w.writerow(["broken.jpg", "", "", "", "", "error", "truncated image", ""])
        w.writerow(["empty.jpg", "", "", "", "", "error", "zero bytes", ""])
    (root / "preds.csv.json").write_text(json.dumps({"label_names": sorted(SPEC) + ["other_animal"]}))
    return preds, {p: t for p, _, _, t in rows}


def answer(sample: Path, truth: dict[str, str], only: int | None = None, cant_tell: set[str] = frozenset()) -> None:
    s = files.read_sample(sample)
    for r in s.rows[:only]:
        r["truth"] = CANT_TELL if r["path"] in cant_tell else truth[r["path"]]
    files.write_sample(s)


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


# --------------------------------------------------------------------------- intervals


@pytest.mark.parametrize(
    ("x", "n", "low", "high"),
    # Newcombe (1998), Statistics in Medicine 17:857: his examples, method 4 (score interval with continuity
    # correction), worked by hand from his formulas
    [(81, 263, 0.2535, 0.3682), (15, 148, 0.0598, 0.1644), (0, 20, 0.0, 0.2005), (1, 29, 0.0018, 0.1963)],
)
def test_wilson_with_continuity_correction_matches_newcombe(x: int, n: int, low: float, high: float) -> None:
    lo, hi = wilson_cc(np.array(x / n), np.array(float(n)), z_of(0.95))
    assert (round(float(lo), 4), round(float(hi), 4)) == (low, high)


def test_stratified_interval_census_perfect_strata_and_missing_answers() -> None:
    rows = np.array([100, 50])
    # one stratum: the corrected Wilson interval on the finite-population effective n
    est, low, high = stratified(np.array([1.0, 0.0]), np.array([0.8, 0.0]), np.array([20, 0]), rows)
    ref = wilson_cc(np.array(0.8), effective_n(np.array(20), np.array(100)), z_of(0.95))
    assert (float(low), float(high)) == pytest.approx((float(ref[0]), float(ref[1])))
    assert effective_n(np.array(20), np.array(100)) == pytest.approx(20 * 99 / 80)
    # a stratum sampled whole is known exactly; every stratum right: the upper limit is 1, the lower below it
    est, low, high = stratified(np.array([0.5, 0.5]), np.array([0.9, 0.6]), np.array([100, 50]), rows)
    assert (float(est), float(low), float(high)) == pytest.approx((0.75, 0.75, 0.75))
    est, low, high = stratified(np.array([0.5, 0.5]), np.array([1.0, 1.0]), np.array([5, 5]), rows)
    assert float(est) == 1.0 and float(high) == 1.0 and float(low) < 0.8
    # a stratum of positive weight without answers: not estimable
    assert math.isnan(float(stratified(np.array([0.5, 0.5]), np.array([1.0, 0]), np.array([5, 0]), rows)[0]))
    assert needed_answers(0.95) == 92 and needed_answers(0.9) < 92


# --------------------------------------------------------------------------- allocation


def test_allocation_minimum_no_animal_share_neyman_and_caps() -> None:
    rows = np.array([1000, 4000, 3, 300])  # _uncertain, no_animal, a tiny label, a label
    guess = np.array([0.35, 0.97, 0.9, 0.5])
    n = allocate(rows, guess, 100, no_animal=1)
    assert n.sum() == 100 and n[2] == 3  # all of a stratum smaller than the minimum
    assert n[1] >= 20  # a fifth for no_animal
    # Neyman beyond the minima: N_h * sqrt(p(1-p)), the guess capped at 0.95
    assert n[0] > n[3] > 5
    assert allocate(rows, guess, 6000, no_animal=1).tolist() == rows.tolist()  # all of it, no more
    kept = np.array([0, 0, 0, 90])
    assert allocate(rows, guess, 100, no_animal=1, kept=kept)[3] >= 90  # a sample never shrinks
    with pytest.raises(animalsort.errors.UsageError, match="--size 3 cannot give one row to each of the 4 strata"):
        allocate(rows, guess, 3, no_animal=1)


# --------------------------------------------------------------------------- audit sample


def test_sample_is_stratified_seeded_and_leaves_error_rows_out(runner: CliRunner, tmp_path: Path) -> None:
    preds, _ = write_preds(tmp_path)
    res = runner.invoke(main, ["audit", "sample", str(preds), "--size", "60"])
    assert res.exit_code == 0, res.output
    sample = tmp_path / "preds.sample.csv"
    rows = read_rows(sample)
    assert list(rows[0]) == list(answers.COLUMNS) and len(rows) == 60
    assert {r["stratum"] for r in rows} == {UNCERTAIN, "cat", "dog", "fox", "no_animal"}
    assert not {"broken.jpg", "empty.jpg"} & {r["path"] for r in rows}  # error rows are not sampled
    assert "2 error rows not sampled: no label to check" in res.stderr
    sizes = {"cat": 100, "dog": 70, "fox": 10, "no_animal": 75, UNCERTAIN: 47}
    for r in rows:
        assert int(r["rows_in_stratum"]) == sizes[r["stratum"]] and r["truth"] == ""
        assert (r["stratum"] == UNCERTAIN) == (float(r["confidence"]) < 0.5)
    counts = {k: sum(r["stratum"] == k for r in rows) for k in sizes}
    assert counts["no_animal"] >= 12 and min(counts.values()) >= 5  # a fifth for no_animal; the minimum
    assert [r["stratum"] for r in rows[:5]] == sorted(sizes)  # every stratum's first row first
    design = json.loads((tmp_path / "preds.sample.csv.json").read_text())
    assert (design["seed"], design["min_confidence"], design["predictions"]) == (0, 0.5, "preds.csv")
    assert design["strata"]["cat"] == {"rows": 100, "sampled": counts["cat"]}
    # the same seed, the same sample; another seed, another one
    again = runner.invoke(main, ["audit", "sample", str(preds), "--size", "60", "-o", str(tmp_path / "b.csv")])
    assert again.exit_code == 0 and (tmp_path / "b.csv").read_bytes() == sample.read_bytes()
    other = runner.invoke(
        main, ["audit", "sample", str(preds), "-n", "60", "--seed", "1", "-o", str(tmp_path / "c.csv")]
    )
    assert other.exit_code == 0 and {r["path"] for r in read_rows(tmp_path / "c.csv")} != {r["path"] for r in rows}


def test_a_larger_size_extends_the_sample_keeping_its_rows_and_answers(runner: CliRunner, tmp_path: Path) -> None:
    preds, truth = write_preds(tmp_path)
    sample = tmp_path / "s.csv"
    assert runner.invoke(main, ["audit", "sample", str(preds), "-n", "40", "-o", str(sample)]).exit_code == 0
    answer(sample, truth, only=25)
    before = read_rows(sample)
    res = runner.invoke(main, ["audit", "sample", str(preds), "-n", "80", "-o", str(sample)])
    assert res.exit_code == 0, res.output
    assert "kept 40 rows (25 answered), added 40" in res.stderr
    after = read_rows(sample)
    assert after[:40] == before and len(after) == 80 and all(r["truth"] == "" for r in after[40:])
    fresh = tmp_path / "fresh.csv"
    assert runner.invoke(main, ["audit", "sample", str(preds), "-n", "80", "-o", str(fresh)]).exit_code == 0
    assert {r["path"] for r in after} == {r["path"] for r in read_rows(fresh)}  # as if drawn at 80 at once
    # a smaller (or equal) size adds nothing and leaves the file alone
    stat = sample.stat()
    res = runner.invoke(main, ["audit", "sample", str(preds), "-n", "50", "-o", str(sample)])
    assert res.exit_code == 0 and "added 0" in res.stderr
    assert sample.stat().st_mtime_ns == stat.st_mtime_ns


def test_extending_is_refused_with_other_options_and_nothing_else_is_overwritten(
    runner: CliRunner, tmp_path: Path
) -> None:
    preds, _ = write_preds(tmp_path)
    sample = tmp_path / "s.csv"
    assert (
        runner.invoke(main, ["audit", "sample", str(preds), "-n", "40", "-o", str(sample), "--seed", "3"]).exit_code
        == 0
    )
    res = runner.invoke(main, ["audit", "sample", str(preds), "-n", "80", "-o", str(sample)])
    assert res.exit_code == 2
    assert f"Error: {sample} was drawn with --seed 3 --min-confidence 0.5; pass the same to extend it" in res.stderr
    res = runner.invoke(
        main, ["audit", "sample", str(preds), "-n", "80", "-o", str(sample), "--seed", "3", "--min-confidence", "0.6"]
    )
    assert res.exit_code == 2 and "--min-confidence 0.5" in res.stderr
    notes = tmp_path / "notes.csv"
    notes.write_text("a,b\n1,2\n")
    res = runner.invoke(main, ["audit", "sample", str(preds), "-o", str(notes)])
    assert res.exit_code == 1 and "exists and is not an audit sample" in res.stderr
    assert notes.read_text() == "a,b\n1,2\n"
    res = runner.invoke(main, ["audit", "sample", str(preds), "-o", str(preds)])
    assert res.exit_code == 2 and "is the predictions CSV itself" in res.stderr


# --------------------------------------------------------------------------- audit report


def test_report_estimates_json_and_cant_tell(runner: CliRunner, tmp_path: Path) -> None:
    preds, truth = write_preds(tmp_path)
    sample = tmp_path / "preds.sample.csv"
    assert runner.invoke(main, ["audit", "sample", str(preds), "-n", "80"]).exit_code == 0
    skipped = {r["path"] for r in read_rows(sample)[5:8]}
    answer(sample, truth, cant_tell=skipped)
    res = runner.invoke(main, ["audit", "report", str(preds), str(sample)])
    assert res.exit_code == 0, res.output
    report = json.loads((tmp_path / "preds.audit.json").read_text())
    for key in ("accuracy", "missed_animals", "labels", "thresholds", "sample", "recall", "method"):
        assert key in report, key
    assert set(report["accuracy"]) == {"estimate", "low", "high"}
    assert report["sample"]["size"] == 80 and report["sample"]["seed"] == 0 and report["sample"]["cant_tell"] == 3
    assert "3 can't tell (left out)" in res.stdout
    # the stratified estimator by hand: sum of N_h / N * (right answers / answers that count) per stratum
    rows = [r for r in read_rows(sample) if r["path"] not in skipped]
    strata = report["sample"]["strata"]
    total = sum(s["rows"] for s in strata.values())
    by_hand = sum(
        s["rows"] / total * sum(r["truth"] == r["label"] for r in rows if r["stratum"] == k) / s["answered"]
        for k, s in strata.items()
    )
    assert report["accuracy"]["estimate"] == pytest.approx(by_hand, abs=1e-4)
    assert report["accuracy"]["low"] < by_hand < report["accuracy"]["high"]
    fox = report["labels"]["fox"]
    assert fox["rows"] == 10 and fox["uncertain_rows"] == 2 and fox["precision"]["high"] == 1.0  # all right
    assert report["missed_animals"]["rows"] == 90 and report["missed_animals"]["low"] >= 0
    assert report["sample"]["error_rows_not_sampled"] == 2


def test_partial_answers_wait_for_every_stratum(tmp_path: Path) -> None:
    preds, truth = write_preds(tmp_path)
    animalsort.audit_sample(preds, size=60)
    sample = tmp_path / "preds.sample.csv"
    cats = [r for r in read_rows(sample) if r["stratum"] == "cat"]
    s = files.read_sample(sample)
    for r in s.rows:
        if r["stratum"] == "cat":
            r["truth"] = truth[r["path"]]
    files.write_sample(s)
    result = animalsort.audit_report(preds)
    assert result.accuracy is None and set(result.waiting) == {UNCERTAIN, "dog", "fox", "no_animal"}
    assert result.labels["cat"].precision is not None and result.labels["cat"].answered == len(cats)
    assert result.labels["dog"].precision is None and result.missed is not None and result.missed.count is None


def test_a_sample_that_no_longer_fits_its_csv_is_refused(runner: CliRunner, tmp_path: Path) -> None:
    preds, truth = write_preds(tmp_path)
    sample = tmp_path / "preds.sample.csv"
    assert runner.invoke(main, ["audit", "sample", str(preds), "-n", "40"]).exit_code == 0
    good = sample.read_text(encoding="utf-8")
    first = read_rows(sample)[0]

    def refused(needle: str) -> None:
        res = runner.invoke(main, ["audit", "report", str(preds), str(sample)])
        assert res.exit_code == 2 and needle in res.stderr and "draw a new one" in res.stderr, res.stderr

    sample.write_text(good.replace(first["path"], "renamed.jpg", 1), encoding="utf-8")  # an edited path
    refused("row 2 (renamed.jpg): no classified row of preds.csv has this path")
    sample.write_text(good, encoding="utf-8")
    original = preds.read_text(encoding="utf-8")
    line = next(x for x in original.splitlines() if x.startswith(first["path"]))
    changed = line.replace(f",{first['label']},{first['confidence']},", ",bird,0.7777,", 1)
    preds.write_text(original.replace(line, changed), encoding="utf-8")  # another run of classify
    refused(f"the sample says {first['label']} {first['confidence']}, the CSV says bird 0.7777 (another run?)")
    preds.write_text(original + "extra.jpg,cat,0.9000,dog,0.0500,ok,,\r\n", encoding="utf-8")  # a row more
    refused("rows added or removed since the sample was drawn")
    preds.write_text(original, encoding="utf-8")
    lines = good.splitlines(keepends=True)
    sample.write_text("".join(lines[:3] + lines[4:]), encoding="utf-8")  # a row deleted
    refused("that the seed drew are not in the sample (deleted?)")
    drawn = {r["path"] for r in read_rows(sample)} | {lines[3].split(",")[0]}
    other, conf = next((p, c) for p, lab, c, _ in population_rows() if lab == "cat" and c >= 0.5 and p not in drawn)
    sample.write_text(good + f"{other},cat,{conf:.4f},cat,100,\r\n", encoding="utf-8")  # a row added by hand
    refused(f"'{other}' (cat) was not drawn with seed 0")
    sample.write_text(good, encoding="utf-8")
    (tmp_path / "preds.sample.csv.json").unlink()
    refused("the sample's design (seed, --min-confidence), is missing or damaged")


def test_a_truth_that_is_no_label_is_an_error_naming_the_row(runner: CliRunner, tmp_path: Path) -> None:
    preds, truth = write_preds(tmp_path)
    sample = tmp_path / "preds.sample.csv"
    assert runner.invoke(main, ["audit", "sample", str(preds), "-n", "40"]).exit_code == 0
    answer(sample, truth)
    s = files.read_sample(sample)
    s.rows[2]["truth"] = "giraffe"
    s.rows[4]["truth"] = " Other-Animal "  # spelt loosely: still a label
    s.rows[6]["truth"] = "Can’t tell"
    files.write_sample(s)
    res = runner.invoke(main, ["audit", "report", str(preds), str(sample)])
    assert res.exit_code == 2
    assert f"row 4 ({s.rows[2]['path']}): 'giraffe'" in res.stderr
    assert "a truth must be one of the model's labels, no_animal or can't tell" in res.stderr
    assert "other_animal" in res.stderr and "row 6" not in res.stderr and "row 8" not in res.stderr
    s.rows[2]["truth"] = "other_animal"
    files.write_sample(s)
    res = runner.invoke(main, ["audit", "report", str(preds), str(sample), "-o", str(tmp_path / "a.json")])
    assert res.exit_code == 0 and json.loads((tmp_path / "a.json").read_text())["sample"]["cant_tell"] == 1


# --------------------------------------------------------------------------- thresholds


def test_thresholds_reach_the_target_and_load(tmp_path: Path) -> None:
    # 300 cats, the 30 least confident wrong; 200 dogs, all right
    rows = [(f"c{i:03d}.jpg", "cat", round(0.5 + 0.5 * i / 300, 4), "cat" if i >= 30 else "dog") for i in range(300)]
    rows += [(f"d{i:03d}.jpg", "dog", 0.9, "dog") for i in range(200)]
    preds, truth = write_preds(tmp_path, rows)
    animalsort.audit_sample(preds, size=500)  # the whole CSV: every precision is known exactly
    answer(tmp_path / "preds.sample.csv", truth)
    result = animalsort.audit_report(preds, out=tmp_path / "audit.json", target_precision=0.95)
    cat = result.thresholds["cat"]
    # the lowest threshold with at most 14 wrong among the 270 right above it: 270/284 = 0.9507
    assert cat.threshold == 0.5267 and cat.point.precision.estimate == pytest.approx(270 / 284)
    assert cat.point.precision.low == pytest.approx(270 / 284)
    assert (cat.point.kept, cat.point.to_uncertain, cat.uncertain_now) == (284, 16, 0)
    assert result.thresholds["dog"].threshold == 0.9
    assert thresholds.load(tmp_path / "audit.json").per_label == {"cat": 0.5267, "dog": 0.9}
    # 60 rows of 500: too few answers above any threshold to show 0.95 (92 are needed, all right)
    animalsort.audit_sample(preds, tmp_path / "small.csv", size=60)
    answer(tmp_path / "small.csv", truth)
    small = animalsort.audit_report(preds, tmp_path / "small.csv", out=tmp_path / "small.json")
    assert {k: t.threshold for k, t in small.thresholds.items()} == {"cat": None, "dog": None}
    assert json.loads((tmp_path / "small.json").read_text())["thresholds"] == {"cat": None, "dog": None}
    assert thresholds.load(tmp_path / "small.json").per_label == {}
    bad = tmp_path / "bad.json"
    for text, needle in (
        ("{", "is not JSON"),
        ('{"labels": {}}', "has no `thresholds`"),
        ('{"thresholds": {"cat": 1.5}}', "the threshold of 'cat' is 1.5; a threshold is a number from 0 to 1"),
        ('{"thresholds": {"cat": "high"}}', "the threshold of 'cat' is 'high'"),
    ):
        bad.write_text(text)
        with pytest.raises(InputError, match=needle.replace("(", r"\(")):
            thresholds.load(bad)


# --------------------------------------------------------------------------- the Python API, the layers


def test_the_api_is_exported_and_audit_stays_torch_free(tmp_path: Path) -> None:
    assert {"audit_sample", "audit_report"} <= set(animalsort.__all__)
    preds, truth = write_preds(tmp_path)
    code = (
        "import sys\nimport animalsort\nfrom animalsort.cli import main\n"
        f"animalsort.audit_sample({str(preds)!r}, size=40)\n"
        "try:\n"
        f"    main(['-q', 'audit', 'report', {str(preds)!r}, {str(tmp_path / 'preds.sample.csv')!r},"
        f" '--html', {str(tmp_path / 'a.html')!r}])\n"
        "except SystemExit as e:\n    assert e.code == 0, e.code\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ})
    assert r.returncode == 0, r.stderr
    page = (tmp_path / "a.html").read_text(encoding="utf-8")
    assert "<script" not in page and "http" not in page.split("</style>", 1)[1]  # nothing from the network


def test_the_uncertain_stratum_is_sorts_uncertain_folder() -> None:
    from animalsort.sorting.names import UNCERTAIN as SORTS

    assert UNCERTAIN == SORTS


def test_a_spreadsheet_round_trip_is_accepted(runner: CliRunner, tmp_path: Path) -> None:
    """What a spreadsheet writes back: a BOM, rows sorted another way, a column of notes, numbers reformatted
    (0.9100 → 0.91, 100 → 100.0), answers in capitals with spaces."""
    preds, truth = write_preds(tmp_path)
    sample = tmp_path / "preds.sample.csv"
    assert runner.invoke(main, ["audit", "sample", str(preds), "-n", "40"]).exit_code == 0
    rows = sorted(read_rows(sample), key=lambda r: r["path"], reverse=True)
    with open(sample, "w", newline="", encoding="utf-8-sig") as f:
        w = csv.DictWriter(f, fieldnames=[*answers.COLUMNS, "notes"])
        w.writeheader()
        for r in rows:
            conf = f"{float(r['confidence']):g}"
            count = r["rows_in_stratum"] + (".0" if r["stratum"] == "cat" else "")
            w.writerow(
                {
                    **r,
                    "confidence": conf,
                    "rows_in_stratum": count,
                    "truth": f" {truth[r['path']].upper()} ",
                    "notes": "checked",
                }
            )
    res = runner.invoke(main, ["audit", "report", str(preds), str(sample)])
    assert res.exit_code == 0, res.output
    assert "40 of 40 sampled rows; 0 can't tell" in res.stdout
    res = runner.invoke(main, ["audit", "sample", str(preds), "-n", "60"])  # extended: the notes stay
    assert res.exit_code == 0, res.output
    again = read_rows(sample)
    assert len(again) == 60 and sum(r["notes"] == "checked" for r in again) == 40


def test_review_of_a_sample_without_its_csv_says_where_it_looked(tmp_path: Path) -> None:
    preds, _ = write_preds(tmp_path)
    animalsort.audit_sample(preds, tmp_path / "away" / "s.csv", size=40)
    moved = tmp_path / "else" / "where"  # ../preds.csv from here is not there
    moved.mkdir(parents=True)
    for name in ("s.csv", "s.csv.json"):
        os.replace(tmp_path / "away" / name, moved / name)
    from animalsort.pages.review_audit import AuditSession

    with pytest.raises(InputError, match=r"s.csv was drawn from .*preds.csv, which is not there"):
        AuditSession(moved / "s.csv")
