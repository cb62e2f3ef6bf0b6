"""review's audit mode: `animalsort review SAMPLE.csv` shows only the sample, takes one key per
answer, writes each answer into the sample's truth column before the page hears it was saved,
and shows the accuracy so far; and the audit report's page, as a browser renders it."""

from __future__ import annotations

import csv
import json
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import browser
import pytest
from conftest import make_image
from test_review import HAVE_SELENIUM, request

import animalsort
from animalsort.atomic import leftover_temporaries
from animalsort.audit import files
from animalsort.formats.corrections import corrections_path
from animalsort.formats.predictions import header
from animalsort.pages import audit_page, review_audit
from animalsort.pages.review_server import ReviewServer

CHROMIUM, DRIVER = browser.find(), browser.find_driver()
COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220), "no_animal": (128, 128, 128)}


def classified(root: Path) -> tuple[Path, dict[str, str]]:
    """48 coloured squares and their predictions (every 4th one wrong, a few unsure); returns
    the CSV and what each photo shows."""
    src = root / "photos"
    truth, rows = {}, []
    names = list(COLOURS)
    for i in range(48):
        shown = names[i % 4]
        path = f"{shown}/{i:02d} photo.jpg"
        make_image(src / path, color=COLOURS[shown], seed=i)
        label = shown if i % 4 or i % 8 == 0 else names[(i + 1) % 4]  # some wrong
        conf = 0.3 + 0.6 * ((i * 7) % 10) / 10
        truth[path] = shown
        rows.append([path, label, f"{conf:.4f}", names[(i + 2) % 4], "0.0500", "ok", "", ""])
    preds = root / "preds.csv"
    with open(preds, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header(2))
        w.writerows(rows)
    (root / "preds.csv.json").write_text(json.dumps({"src": str(src), "label_names": names}))
    return preds, truth


def truths(sample: Path) -> dict[str, str]:
    with open(sample, newline="", encoding="utf-8") as f:
        return {r["path"]: r["truth"] for r in csv.DictReader(f)}


@pytest.fixture
def audit_server(tmp_path: Path) -> Iterator[tuple[ReviewServer, dict[str, str]]]:
    preds, truth = classified(tmp_path)
    animalsort.audit_sample(preds, size=24)
    session = review_audit.AuditSession(tmp_path / "preds.sample.csv")
    srv = ReviewServer(session, page=review_audit.render(session))  # type: ignore[arg-type]
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield srv, truth
    srv.shutdown()
    srv.server_close()
    session.close()


def test_audit_mode_serves_the_sample_and_writes_answers_into_it(audit_server: tuple) -> None:
    srv, truth = audit_server
    t, session = srv.token, srv.session
    sample = session.path
    state = json.loads(request(srv, "GET", f"/{t}/api/state")[1])
    paths = [row[0] for row in state["items"]]
    assert paths == list(truths(sample)) and len(paths) == 24  # only the sample, in its order
    assert state["labels"] == ["blue", "green", "no_animal", "red"] and state["corrected"] == {}
    assert state["estimate"]["answers"] == 0 and state["estimate"]["waiting"]
    assert request(srv, "GET", f"/{t}/media/0")[1][:2] == b"\xff\xd8"
    page = request(srv, "GET", f"/{t}/")[1].decode()
    assert "animalsort review — audit" in page and "can't tell" in page

    first = paths[0]
    ok = json.loads(request(srv, "POST", f"/{t}/api/correct", {"path": first, "label": " Red "})[1])
    assert ok["label"] == "red" and ok["reviewed"] == 1
    assert truths(sample)[first] == "red"  # on disk before the page heard it
    status, body = request(srv, "POST", f"/{t}/api/correct", {"path": paths[1], "label": "giraffe"})
    assert status == 400 and b"'giraffe' is not a label of this model" in body
    unsampled = next(p for p in truth if p not in paths)
    assert request(srv, "POST", f"/{t}/api/correct", {"path": unsampled, "label": "red"})[0] == 404
    json.loads(request(srv, "POST", f"/{t}/api/correct", {"path": paths[1], "label": "can’t tell"})[1])
    assert truths(sample)[paths[1]] == "can't tell"
    undone = json.loads(request(srv, "POST", f"/{t}/api/undo", {})[1])
    assert undone["path"] == paths[1] and truths(sample)[paths[1]] == ""
    for path in paths:  # the rest, as a careful person would
        request(srv, "POST", f"/{t}/api/correct", {"path": path, "label": truth[path]})
    state = json.loads(request(srv, "GET", f"/{t}/api/state")[1])
    report = animalsort.audit_report(session.predictions)
    assert state["estimate"] == {"answers": 24, **report.accuracy.as_dict(3)}  # the page's figure is the report's
    assert not corrections_path(session.predictions).exists()  # answers go to the sample only
    assert not leftover_temporaries(sample)


def test_review_refuses_a_stale_sample_before_anyone_answers(tmp_path: Path) -> None:
    preds, _ = classified(tmp_path)
    animalsort.audit_sample(preds, size=24)
    text = preds.read_text(encoding="utf-8")
    preds.write_text(text.replace("0.3000", "0.3100"), encoding="utf-8")  # classified again since
    r = subprocess.run(
        [sys.executable, "-m", "animalsort", "review", str(tmp_path / "preds.sample.csv"), "--no-browser"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and "does not match" in r.stderr and "(another run?)" in r.stderr


def start(sample: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "animalsort", "review", str(sample), "--no-browser"], stderr=subprocess.PIPE, text=True
    )
    assert proc.stderr is not None
    line = proc.stderr.readline()
    found = re.search(r"http://127\.0\.0\.1:\d+/\S+/", line)
    assert found and line.startswith("audit 24 photos"), line
    return proc, found.group(0)


@pytest.mark.slow
@pytest.mark.skipif(not (CHROMIUM and DRIVER and HAVE_SELENIUM), reason="needs chromium, chromium-driver and selenium")
def test_audit_loop_in_chromium_survives_a_kill(tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    preds, truth = classified(tmp_path)
    animalsort.audit_sample(preds, size=24)
    sample = tmp_path / "preds.sample.csv"
    order = list(truths(sample))
    proc, url = start(sample)
    driver = browser.webdriver(CHROMIUM, DRIVER)
    try:
        text = lambda i: driver.find_element(By.ID, i).text  # noqa: E731

        def press(key: str) -> None:
            """One keypress, then wait until the answer is in the file *and* on the page (every key
            here changes the progress line): a check of either alone read the page too early."""
            saved, shown = sample.stat().st_mtime_ns, text("progress")
            driver.find_element(By.TAG_NAME, "body").send_keys(key)
            WebDriverWait(driver, 10).until(lambda d: sample.stat().st_mtime_ns != saved and text("progress") != shown)

        driver.get(url)
        WebDriverWait(driver, 20).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))
        assert text("progress") == "0 of 24 answered" and text("path") == order[0]
        assert text("estimate").startswith("accuracy: waiting for an answer in")
        press("\ue007")  # Enter: right
        press("n")  # not an animal
        press("c")  # can't tell
        press("2")  # the model's second label
        press("u")  # undone
        assert text("progress") == "3 of 24 answered (1 can't tell)" and text("path") == order[3]
        got = truths(sample)
        label = lambda p: next(r[1] for r in csv.reader(open(preds, encoding="utf-8")) if r[0] == p)  # noqa: E731
        assert got[order[0]] == label(order[0]) and got[order[1]] == "no_animal" and got[order[2]] == "can't tell"
        assert got[order[3]] == ""
        # L: the label picker (as review's): "e" lists the labels that hold it
        driver.find_element(By.TAG_NAME, "body").send_keys("l")
        pick = driver.find_element(By.ID, "pick")
        pick.send_keys("e")
        assert text("suggest").splitlines() == ["blue", "green", "red"]
        pick.send_keys(Keys.ESCAPE)
        assert not driver.find_element(By.ID, "picker").is_displayed()
        driver.find_element(By.TAG_NAME, "body").send_keys("l")
        pick.send_keys("e", Keys.ARROW_DOWN)
        saved, shown = sample.stat().st_mtime_ns, text("progress")
        pick.send_keys(Keys.ENTER)
        WebDriverWait(driver, 10).until(lambda d: sample.stat().st_mtime_ns != saved and text("progress") != shown)
        assert truths(sample)[order[3]] == "green" and text("path") == order[4]
        for path in order[3:]:  # the rest through the server, as the page sends them
            driver.execute_script(
                "return fetch('api/correct', {method: 'POST', headers: {'Content-Type': 'application/json'},"
                " body: JSON.stringify({path: arguments[0], label: arguments[1]})}).then(r => r.status)",
                path,
                truth[path],
            )
        driver.refresh()
        WebDriverWait(driver, 20).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))
        assert re.match(r"accuracy so far 0\.\d{3} \(95%: 0\.\d{3}–[01]\.\d{3}, from 23 answers", text("estimate"))
        driver.save_screenshot(str(tmp_path / "audit-review.png"))
        proc.send_signal(signal.SIGKILL)  # no goodbye: every answer is already in the file
        proc.wait(10)
        assert sum(bool(v) for v in truths(sample).values()) == 24 and not leftover_temporaries(sample)
        files.match(
            files.read_sample(sample),
            files.read_predictions_csv(preds),
            files.read_predictions_csv(preds).population(0.5),
        )  # still the sample it was
    finally:
        driver.quit()
        proc.kill()
        proc.wait(10)


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="Chromium not installed (apt-get install chromium)")
def test_the_audit_page_in_headless_chromium(tmp_path: Path) -> None:
    preds, truth = classified(tmp_path)
    animalsort.audit_sample(preds, size=48)  # all of it
    s = files.read_sample(tmp_path / "preds.sample.csv")
    for r in s.rows:
        r["truth"] = truth[r["path"]]
    files.write_sample(s)
    page = tmp_path / "audit.html"
    result = animalsort.audit_report(preds, html=page, target_precision=0.9)
    dom = browser.dump_dom(CHROMIUM, page)
    assert dom.count("<figure data-label=") == len([t for t in result.thresholds.values() if t.curve])
    assert dom.count("<tr data-label=") == len(result.labels) == 4
    assert 'id="forest"' in dom and 'class="band"' in dom and 'class="estimate"' in dom
    assert f"{result.accuracy.estimate:.3f}" in dom.split('id="headline"')[1]
    shot = browser.screenshot(CHROMIUM, page, tmp_path / "audit.png", size="1280,1600")
    assert shot.stat().st_size > 20_000
    assert audit_page.render(result) == page.read_text(encoding="utf-8")  # the page is the result, nothing else
    print(f"screenshot: {shot}")
