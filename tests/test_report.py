"""report: the HTML page from a classify CSV, checked as data and in headless Chromium."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
from pathlib import Path
from urllib.parse import unquote

import browser
import pytest
from click.testing import CliRunner
from conftest import EXAMPLES, make_image

from animalsort.cli import main
from animalsort.pages import report

CHROMIUM = browser.find()

ODD = ["odd name #1?.jpg", "100% sure & <b>.jpg", "ünïcødé 🦊.jpg"]


@pytest.fixture(scope="module")
def classified(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A classify CSV (with sidecar) for real photos, odd names, a broken file; returns the CSV."""
    root = tmp_path_factory.mktemp("rep")
    src = root / "photos"
    (src / "sub").mkdir(parents=True)
    for name in ("cat.jpg", "dog.jpg", "dog_bicycle.jpg", "horses.jpg", "astronaut.jpg"):
        shutil.copy(EXAMPLES / name, src / name)
    for name in ODD:
        shutil.copy(EXAMPLES / "dog.jpg", src / "sub" / name)
    (src / "broken.jpg").write_bytes(b"\xff\xd8\xff not a photo")
    out = root / "out" / "preds.csv"
    # the centre crop: the counts below are the report's subject, not how the frame is looked at (#27)
    result = CliRunner().invoke(main, ["-q", "classify", str(src), "-o", str(out), "--view", "centre"])
    assert result.exit_code == 0, result.output
    return out


def _data(page: Path) -> dict:
    m = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page.read_text(), re.S)
    assert m
    return json.loads(m.group(1))


def test_report_tabs_counts_and_links(runner: CliRunner, classified: Path) -> None:
    res = runner.invoke(main, ["report", str(classified)])
    assert res.exit_code == 0, res.output
    page = classified.with_suffix(".html")
    data = _data(page)
    tabs = {t["id"]: [data["rows"][i][0] for i in t["idx"]] for t in data["tabs"]}
    assert list(tabs)[:2] == ["uncertain", "failed"]  # first, in their own tabs
    assert tabs["failed"] == ["broken.jpg"] and tabs["uncertain"] == ["horses.jpg"]
    assert sorted(tabs["label:dog"]) == sorted(["dog.jpg", "dog_bicycle.jpg"] + [f"sub/{n}" for n in ODD])
    rows = {r[0]: r for r in data["rows"]}
    confs = [float(rows[p][4]) for p in tabs["label:dog"]]
    assert confs == sorted(confs, reverse=True)  # by confidence
    for path, href, *_ in data["rows"]:  # every link reaches its photo, relative to the page
        assert (page.parent / unquote(href)).resolve() == (classified.parent.parent / "photos" / path).resolve()
    assert (
        "<script src" not in page.read_text()
        and "http" not in page.read_text().split("</style>")[1].split('<script type="application/json"')[0]
    )  # no CDN, nothing fetched
    assert "9 rows: dog 5," in res.stderr and "1 uncertain, 1 failed" in res.stderr


def test_report_embed_src_and_errors(runner: CliRunner, classified: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    res = runner.invoke(main, ["report", str(classified), "--out", str(out), "--embed", "-j", "0"])
    assert res.exit_code == 0, res.output
    rows = _data(out)["rows"]
    assert all(r[2].startswith("data:image/jpeg;base64,") for r in rows if r[6] == "ok")
    assert all(r[2] is None for r in rows if r[6] != "ok")
    # without the sidecar the CSV's folder is assumed; --src points elsewhere; missing photos are counted
    lone = tmp_path / "lone.csv"
    shutil.copy(classified, lone)
    res = runner.invoke(main, ["report", str(lone)])
    assert res.exit_code == 0 and "photos are not under" in res.stderr
    res = runner.invoke(main, ["report", str(lone), "--src", str(classified.parent.parent / "photos")])
    assert res.exit_code == 0 and "not under" not in res.stderr
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    bad = runner.invoke(main, ["report", str(tmp_path / "x.csv")])
    assert bad.exit_code == 2 and "not an animalsort predictions CSV" in bad.output
    bad = runner.invoke(main, ["report", str(tmp_path / "none.csv")])
    assert bad.exit_code == 2 and "no such predictions CSV" in bad.output


def _buttons(dom: str) -> dict[str, int]:
    return {m.group(1): int(m.group(2)) for m in re.finditer(r'<button data-tab="([^"]+)" data-count="(\d+)"', dom)}


def _gallery(dom: str) -> str:
    return dom.split('id="gallery"', 1)[1].split('<script type="application/json"', 1)[0]


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium not installed (apt-get install chromium)")
@pytest.mark.slow
def test_report_in_headless_chromium(classified: Path, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    report.build(classified, page)
    dom = browser.dump_dom(CHROMIUM, page)
    assert _buttons(dom) == {
        "uncertain": 1,
        "failed": 1,
        "label:dog": 5,
        "label:no_animal": 1,
        "label:cat": 1,
        "label:cow": 1,
    }
    assert 'data-tab="uncertain" data-count="1" class="tab warn" role="tab" aria-selected="true"' in dom
    assert _gallery(dom).count("<img") == 1 and 'data-loaded="1"' in _gallery(dom)  # horses.jpg, loaded
    dog = _gallery(browser.dump_dom(CHROMIUM, page, "#label:dog"))
    assert dog.count("<img") == 5 and dog.count('data-loaded="1"') == 5  # odd names load too
    assert "1 of 1 shown" in dom
    failed = _gallery(browser.dump_dom(CHROMIUM, page, "#failed"))
    assert "<img" not in failed and "not a readable image" in failed
    shot = browser.screenshot(CHROMIUM, page, tmp_path / "report.png", "#label:dog")
    assert shot.stat().st_size > 20_000
    print(f"screenshot: {shot}")


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium not installed (apt-get install chromium)")
@pytest.mark.slow
def test_ten_thousand_rows_render_lazily(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    for i in range(20):
        make_image(photos / f"{i}.jpg", size=(96, 72), seed=i)
    csv_path = tmp_path / "big.csv"
    with open(csv_path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label", "confidence", "label_2", "confidence_2", "status", "error"])
        for i in range(10_000):
            if i % 500 == 7:
                w.writerow([f"{i % 20}.jpg", "", "", "", "", "error", "truncated image"])
            else:
                w.writerow(
                    [
                        f"{i % 20}.jpg",
                        ["cat", "dog", "bird"][i % 3],
                        f"{0.3 + (i % 70) / 100:.4f}",
                        "no_animal",
                        "0.0100",
                        "ok",
                        "",
                    ]
                )
    page = tmp_path / "big.html"
    s = report.build(csv_path, page, src=photos)
    assert s.rows == 10_000 and s.failed == 20 and s.missing == 0
    dom = browser.dump_dom(CHROMIUM, page, "#label:cat")
    counts = _buttons(dom)
    assert counts["failed"] == 20 and sum(v for k, v in counts.items() if k.startswith("label:")) == 9_980
    gallery = _gallery(dom)
    assert gallery.count("<img") == report.CHUNK  # the rest is rendered on scroll
    assert f"{report.CHUNK} of {counts['label:cat']} shown" in dom
    assert os.path.getsize(page) < 3_000_000
