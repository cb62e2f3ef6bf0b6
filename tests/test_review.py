"""review: corrections made in the browser, kept on disk, used by sort, finetune and report.

The loop is driven in a real headless Chromium through chromedriver (tests/browser.py); the
server's refusals, the corrections file and its readers are checked without a browser too.
"""

from __future__ import annotations

import csv
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import browser
import pytest
from click.testing import CliRunner
from conftest import make_image, read_csv_rows

from animalsort.cli import main
from animalsort.datasets import links
from animalsort.errors import InputError, OutputError
from animalsort.formats import corrections
from animalsort.formats.predictions import header
from animalsort.pages import report
from animalsort.pages.review_server import ReviewServer
from animalsort.pages.review_session import Session

CHROMIUM, DRIVER = browser.find(), browser.find_driver()

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220)}
# (file, the model's label, its confidence, second label): three are wrong or unsure
ROWS = [
    ("red/r0.jpg", "red", 0.95, "green"),
    ("red/r1.jpg", "red", 0.93, "blue"),
    ("red/r2.jpg", "red", 0.91, "green"),
    ("red/r3.jpg", "green", 0.41, "red"),  # wrong: least confident, reviewed first
    ("green/g0.jpg", "green", 0.96, "blue"),
    ("green/g1.jpg", "green", 0.94, "red"),
    ("green/g2.jpg", "green", 0.92, "blue"),
    ("green/g3.jpg", "blue", 0.45, "green"),  # wrong: its second label is right
    ("blue/b0.jpg", "blue", 0.97, "red"),
    ("blue/b1.jpg", "blue", 0.95, "green"),
    ("blue/b2.jpg", "blue", 0.93, "red"),
    ("blue/b3.jpg", "blue", 0.48, "red"),  # right but unsure: accepted
]


def classified(root: Path) -> Path:
    """Photos (coloured squares) and a predictions CSV with sidecar, as classify writes them."""
    src = root / "photos"
    for i, (path, *_) in enumerate(ROWS):
        make_image(src / path, color=COLOURS[path.split("/")[0]], seed=i)
    out = root / "preds.csv"
    with open(out, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header(2))
        for path, label, conf, second in ROWS:
            w.writerow([path, label, f"{conf:.4f}", second, f"{(1 - conf) / 2:.4f}", "ok", "", ""])
        w.writerow(["broken.jpg", "", "", "", "", "error", "not an image", ""])
    sidecar = {"src": str(src), "model": "lite0", "labels": "model", "label_names": sorted(COLOURS)}
    (root / "preds.csv.json").write_text(json.dumps(sidecar))
    return out


# --------------------------------------------------------------------------- the file


def test_corrections_file_appends_last_wins_and_survives_a_torn_line(tmp_path: Path) -> None:
    preds = classified(tmp_path)
    path = corrections.corrections_path(preds)
    assert path.name == "preds.corrections.csv"
    with corrections.Log(preds) as log:
        log.append("red/r3.jpg", "green")
        log.append("red/r3.jpg", "red")  # changed its mind: the last line wins
        log.append("blue/b3.jpg", "blue")
        log.append("blue/b3.jpg", "")  # undone: back to unreviewed
    assert {p: c.label for p, c in corrections.read(preds).items()} == {"red/r3.jpg": "red"}
    # a kill in the middle of a line: the torn line is ignored, and sealed off by the next writer
    with open(path, "a", encoding="utf-8") as f:
        f.write("green/g3.jpg,gre")
    assert set(corrections.read(preds)) == {"red/r3.jpg"}
    with corrections.Log(preds) as log:
        log.append("green/g3.jpg", "green")
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "path,label,reviewed_at" and lines[-2] == "green/g3.jpg,gre"
    assert {p: c.label for p, c in corrections.read(preds).items()} == {"red/r3.jpg": "red", "green/g3.jpg": "green"}
    for bad in ("", "   ", "a\x00b", "x" * 101):
        with pytest.raises(ValueError):
            corrections.clean_label(bad)
    assert corrections.clean_label("  snow   leopard ") == "snow leopard"


# --------------------------------------------------------------------------- the server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ReviewServer]:
    srv = ReviewServer(Session(classified(tmp_path)))
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    srv.session.close()


def request(
    srv: ReviewServer, method: str, path: str, body: object = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", srv.server_port, timeout=10)
    data = json.dumps(body).encode() if body is not None and not isinstance(body, bytes) else body
    hdrs = {"Content-Type": "application/json"} if body is not None else {}
    conn.request(method, path, body=data, headers={**hdrs, **(headers or {})})
    r = conn.getresponse()
    return r.status, r.read()


def test_server_needs_the_token_and_saves_each_change(server: ReviewServer) -> None:
    t = server.token
    assert server.server_address[0] == "127.0.0.1"
    # no token, a wrong token, a token guessed by prefix: refused, nothing served
    for path in ("/", "/api/state", f"/{t[:-1]}/api/state", f"/{t}x/", "/../" + t + "/"):
        status, body = request(server, "GET", path)
        assert status == 403 and b"token" in body, path
    status, _ = request(server, "POST", "/api/correct", {"path": "red/r3.jpg", "label": "red"})
    assert status == 403
    # another Host (DNS rebinding), a form post, another origin: refused
    assert request(server, "GET", f"/{t}/api/state", headers={"Host": "evil.example"})[0] == 403
    form = request(server, "POST", f"/{t}/api/correct", b"path=red/r3.jpg&label=red", {"Content-Type": "text/plain"})
    assert form[0] == 415
    cross = request(server, "POST", f"/{t}/api/correct", {"path": "x", "label": "y"}, {"Origin": "http://evil.example"})
    assert cross[0] == 403
    assert not corrections.read(server.session.predictions)

    status, body = request(server, "GET", f"/{t}/")
    assert status == 200 and b"animalsort review" in body
    state = json.loads(request(server, "GET", f"/{t}/api/state")[1])
    assert (
        len(state["items"]) == 12 and state["failed"] == 1 and state["labels"] == ["blue", "green", "no_animal", "red"]
    )
    status, body = request(server, "GET", f"/{t}/media/0")
    assert status == 200 and body[:2] == b"\xff\xd8"
    assert request(server, "GET", f"/{t}/media/99")[0] == 404

    ok = json.loads(request(server, "POST", f"/{t}/api/correct", {"path": "red/r3.jpg", "label": " red "})[1])
    assert ok == {"path": "red/r3.jpg", "label": "red", "reviewed": 1, "undo": 1}
    assert corrections.read(server.session.predictions)["red/r3.jpg"].label == "red"  # on disk already
    assert request(server, "POST", f"/{t}/api/correct", {"path": "nope.jpg", "label": "red"})[0] == 404
    assert request(server, "POST", f"/{t}/api/correct", {"path": "red/r0.jpg", "label": ""})[0] == 400
    new = json.loads(request(server, "POST", f"/{t}/api/correct", {"path": "red/r0.jpg", "label": "fox"})[1])
    assert new["reviewed"] == 2 and "fox" in server.session.labels  # a new label joins the choices
    undone = json.loads(request(server, "POST", f"/{t}/api/undo", {})[1])
    assert undone == {"path": "red/r0.jpg", "label": "", "reviewed": 1, "undo": 1}
    assert set(corrections.read(server.session.predictions)) == {"red/r3.jpg"}


# --------------------------------------------------------------------------- the readers


def write_corrections(preds: Path, fixes: dict[str, str]) -> None:
    with corrections.Log(preds) as log:
        for path, label in fixes.items():
            log.append(path, label)


FIXES = {"red/r3.jpg": "red", "green/g3.jpg": "green", "blue/b3.jpg": "blue"}


def test_sort_from_places_reviewed_rows_by_their_label(runner: CliRunner, tmp_path: Path) -> None:
    preds = classified(tmp_path)
    src = tmp_path / "photos"
    plain = runner.invoke(main, ["sort", str(src), "--from", str(preds), "--dest", str(tmp_path / "a")])
    assert plain.exit_code == 0, plain.output
    assert (tmp_path / "a" / "blue" / "blue" / "b0.jpg").is_file()
    for unsure in ("red/r3.jpg", "green/g3.jpg", "blue/b3.jpg"):  # under 0.5
        assert (tmp_path / "a" / "_uncertain" / unsure).is_file()
    write_corrections(preds, FIXES)
    res = runner.invoke(main, ["sort", str(src), "--from", str(preds), "--dest", str(tmp_path / "b")])
    assert res.exit_code == 0, res.output
    assert "3 placed by their reviewed label (preds.corrections.csv)" in res.stderr
    b = tmp_path / "b"
    assert (b / "red" / "red" / "r3.jpg").is_file() and (b / "green" / "green" / "g3.jpg").is_file()
    assert (b / "blue" / "blue" / "b3.jpg").is_file() and not (b / "_uncertain").exists()
    journal = [json.loads(line) for line in next((b / "_animalsort").glob("sort-*.jsonl")).read_text().splitlines()]
    assert journal[0]["reviewed"] == 3 and journal[0]["corrections"].endswith("preds.corrections.csv")


def test_finetune_from_links_reviewed_photos_and_finds_moved_ones(
    runner: CliRunner, tmp_path: Path, tiny_weights: Path
) -> None:
    preds = classified(tmp_path)
    run_dir = tmp_path / "run"
    none = runner.invoke(main, ["finetune", "--from", str(preds), "--out", str(run_dir)])
    assert none.exit_code == 2 and "no reviewed photos in preds.corrections.csv" in none.stderr
    write_corrections(preds, FIXES)
    # sort moves the photos; the links follow them through the sort's journal
    moved = runner.invoke(main, ["sort", str(tmp_path / "photos"), "--from", str(preds), "--move"])
    assert moved.exit_code == 0, moved.output
    linked = links.link(preds, run_dir / "labelled")
    assert linked.reviewed == 3 and linked.confident == 0 and not linked.missing
    target = os.readlink(run_dir / "labelled" / "red" / "red" / "r3.jpg")
    assert target == str(tmp_path / "photos" / "red" / "red" / "r3.jpg")
    both = links.link(preds, run_dir / "labelled", include_confident=0.9)
    assert both.reviewed == 3 and both.confident == 9 and both.per_label == {"red": 4, "green": 4, "blue": 4}
    assert len(list((run_dir / "labelled").rglob("*.jpg"))) == 12  # rebuilt, not added to
    (tmp_path / "mine").mkdir()
    with pytest.raises(OutputError, match="was not made by finetune --from"):
        links.link(preds, tmp_path / "mine", include_confident=0.9)  # never replaces a user's folder

    res = runner.invoke(
        main,
        ["finetune", "--from", str(preds), "--include-confident", "0.9", "--out", str(run_dir)]
        + ["--epochs", "30", "--no-inspect", "--folds", "1", "--weights", str(tiny_weights)],
    )
    assert res.exit_code == 0, res.output
    assert "training set: 12 photos (3 reviewed, 9 confident predictions) linked into" in res.stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    assert sorted(summary["counts"]) == ["blue", "green", "red"]
    assert sum(n["train"] + n["val"] for n in summary["counts"].values()) == 12
    both_args = runner.invoke(main, ["finetune", str(tmp_path), "--from", str(preds)])
    assert both_args.exit_code == 2


def test_report_marks_reviewed_rows(tmp_path: Path) -> None:
    preds = classified(tmp_path)
    write_corrections(preds, FIXES)
    s = report.build(preds)
    assert s.reviewed == 3 and s.uncertain == 0  # a reviewed row is not uncertain
    assert s.labels == {"blue": 4, "green": 4, "red": 4}  # counted by the corrected labels
    page = preds.with_suffix(".html").read_text(encoding="utf-8")
    data = json.loads(re.search(r'id="report-data">(.*?)</script>', page, re.S).group(1))
    tab = next(t for t in data["tabs"] if t["id"] == "reviewed")
    cards = {data["rows"][i][0]: data["rows"][i] for i in tab["idx"]}
    assert set(cards) == set(FIXES)
    assert cards["green/g3.jpg"][3] == "green" and cards["green/g3.jpg"][9] == "blue"  # label, the model's
    if CHROMIUM:  # as a browser renders it
        dom = browser.dump_dom(CHROMIUM, preds.with_suffix(".html"), "#reviewed")
        assert 'data-tab="reviewed" data-count="3"' in dom
        assert dom.count('class="card reviewed"') == 3 and "the model said blue 0.4500" in dom


# --------------------------------------------------------------------------- in Chromium

try:
    import selenium  # noqa: F401

    HAVE_SELENIUM = True
except ImportError:
    HAVE_SELENIUM = False

needs_browser = pytest.mark.skipif(
    not (CHROMIUM and DRIVER and HAVE_SELENIUM),
    reason="needs chromium, chromium-driver and selenium (apt-get install chromium chromium-driver; "
    "pip install -e '.[dev]')",
)


def start(preds: Path) -> tuple[subprocess.Popen[str], str]:
    """`animalsort review` as a user runs it; its address from its first line."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "animalsort", "review", str(preds), "--no-browser"],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    line = proc.stderr.readline()
    found = re.search(r"http://127\.0\.0\.1:\d+/\S+/", line)
    assert found, line
    return proc, found.group(0)


@pytest.mark.slow
@needs_browser
def test_review_loop_in_chromium(runner: CliRunner, tmp_path: Path, tiny_weights: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait

    preds = classified(tmp_path)
    proc, url = start(preds)
    driver = browser.webdriver(CHROMIUM, DRIVER)
    try:
        text = lambda i: driver.find_element(By.ID, i).text  # noqa: E731

        def load(address: str) -> None:
            driver.get(address)
            WebDriverWait(driver, 20).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))

        log = corrections.corrections_path(preds)
        state = lambda: (log.stat().st_size if log.exists() else 0, text("progress"))  # noqa: E731

        def press(*keys: str) -> None:
            before = state()
            driver.find_element(By.TAG_NAME, "body").send_keys(*keys)
            # both: the server appended its line (undo too) AND the page re-rendered after its answer
            WebDriverWait(driver, 10).until(lambda d: all(a != b for a, b in zip(state(), before)))

        load(url)
        assert text("progress") == "0 of 12 reviewed"
        assert text("path") == "red/r3.jpg"  # least confident first
        assert text("status") == "not reviewed · uncertain: below green's threshold 0.5"
        WebDriverWait(driver, 10).until(
            lambda d: d.execute_script("return document.getElementById('photo').naturalWidth") > 0
        )
        # 1: type-ahead over the labels ("re" → red)
        driver.find_element(By.TAG_NAME, "body").send_keys("l")
        pick = driver.find_element(By.ID, "pick")
        pick.send_keys("re")
        assert text("suggest").splitlines()[0] == "red"
        before = text("progress")
        pick.send_keys(Keys.ENTER)
        WebDriverWait(driver, 10).until(lambda d: text("progress") != before)
        assert text("path") == "green/g3.jpg"
        press("2")  # 2: the model's second label
        assert text("path") == "blue/b3.jpg"
        press(Keys.ENTER)  # 3: accept
        assert text("progress") == "3 of 12 reviewed" and text("path") == "red/r2.jpg"
        press("n")  # a fourth, then undone
        press("u")
        assert text("progress") == "3 of 12 reviewed" and text("path") == "red/r2.jpg"
        driver.save_screenshot(str(tmp_path / "review.png"))

        proc.send_signal(signal.SIGKILL)  # no goodbye: everything must already be on disk
        proc.wait(10)
        kept = {p: c.label for p, c in corrections.read(preds).items()}
        assert kept == FIXES

        proc, url2 = start(preds)
        assert url2 != url  # a new token each run: the old address is refused
        status = _get_status(url2.rsplit("/", 2)[0] + "/" + url.rsplit("/", 2)[1] + "/api/state")
        assert status == 403 and _get_status(url2.rsplit("/", 2)[0] + "/api/state") == 403
        load(url2)
        assert text("progress") == "3 of 12 reviewed"
        assert text("path") == "red/r2.jpg"  # resumes at the first photo not reviewed
        driver.find_element(By.TAG_NAME, "body").send_keys("g")
        cards = driver.find_elements(By.CSS_SELECTOR, "#cards .card")
        assert len(cards) == 12 and sum("rev" in c.get_attribute("class") for c in cards) == 3
        assert "green" in cards[1].text and "reviewed" in cards[1].text
        Select(driver.find_element(By.ID, "only")).select_by_value("uncertain")  # below --min-confidence 0.5
        cards = driver.find_elements(By.CSS_SELECTOR, "#cards .card")
        assert sorted(c.get_attribute("title") for c in cards) == ["blue/b3.jpg", "green/g3.jpg", "red/r3.jpg"]
    finally:
        driver.quit()
        proc.kill()
        proc.wait(10)

    res = runner.invoke(main, ["sort", str(tmp_path / "photos"), "--from", str(preds), "--move"])
    assert res.exit_code == 0 and "3 placed by their reviewed label" in res.stderr
    assert (tmp_path / "photos" / "green" / "green" / "g3.jpg").is_file()
    tune = runner.invoke(
        main,
        ["finetune", "--from", str(preds), "--include-confident", "0.9", "--out", str(tmp_path / "run")]
        + ["--epochs", "20", "--no-inspect", "--folds", "1", "--weights", str(tiny_weights)],
    )
    assert tune.exit_code == 0, tune.output
    assert "3 reviewed, 9 confident predictions" in tune.stderr
    assert read_csv_rows(tmp_path / "run" / "report.csv")


def _get_status(url: str) -> int:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_session_refuses_a_missing_csv(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such predictions CSV"):
        Session(tmp_path / "nope.csv")


def test_review_and_its_readers_never_import_torch(tmp_path: Path) -> None:
    preds = classified(tmp_path)
    write_corrections(preds, FIXES)
    code = (
        "import sys\nfrom pathlib import Path\n"
        "from animalsort.datasets import links as labelled\nfrom animalsort.pages import report\n"
        "from animalsort.pages.review_server import ReviewServer\nfrom animalsort.pages.review_session import Session\n"
        f"s = ReviewServer(Session(Path({str(preds)!r}))); s.server_close(); s.session.close()\n"
        f"report.build(Path({str(preds)!r})); labelled.link(Path({str(preds)!r}), Path({str(tmp_path / 'l')!r}))\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
