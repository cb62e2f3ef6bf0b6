"""MkDocs hook: screenshots of ``report`` and ``review`` made in the build, by headless Chromium, of what the
code in this tree shows today.

The build classifies the example photos (``examples/photos``), writes their report and serves their review
page, and puts Chromium's screenshots in the site in place of the committed ``docs/images/report.png`` and
``docs/images/review.png``. Where Chromium is missing (``$ANIMALSORT_CHROMIUM``, else ``chromium``,
``chromium-browser`` or ``google-chrome`` on PATH; Debian: ``apt-get install chromium``) the site keeps the
committed pictures and the build says so. A command that fails is a warning, so ``mkdocs build --strict``
fails on it: a report or review that no longer renders is a broken page, not a missing tool.

``mkdocs serve`` makes them once, at its first build (this hook keeps them until it stops).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.plugins import get_plugin_logger
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
import browser  # noqa: E402  (the project's one way of driving Chromium: tests/browser.py)

log = get_plugin_logger(__name__)
REPORT, REVIEW = "images/report.png", "images/review.png"
SIZE = "1200,820"
# Chromium's start alone can take a minute on a loaded CI runner; the tests' 60 s would fail the strict build.
SHOT_TIMEOUT = 300
# Kept across the rebuilds of `mkdocs serve` (a hook with on_startup lives as long as the server).
_made: dict[str, Path] = {}
_tmp: list[Path] = []


def on_startup(command: str, dirty: bool) -> None:
    """Nothing to do: defining this hook keeps the module (and its screenshots) across serve's rebuilds."""


def on_files(files: Files, config: MkDocsConfig) -> Files:
    if not _made:
        _made.update(_screenshots())
    for uri, png in _made.items():
        committed = files.get_file_from_path(uri)
        if committed is not None:
            files.remove(committed)
        files.append(File.generated(config, uri, abs_src_path=str(png)))
    return files


def on_shutdown() -> None:
    for folder in _tmp:
        shutil.rmtree(folder, ignore_errors=True)


def _screenshots() -> dict[str, Path]:
    chromium = browser.find()
    if chromium is None:
        log.info(
            "Chromium not found ($ANIMALSORT_CHROMIUM, chromium, chromium-browser, google-chrome): the site "
            "keeps the screenshots committed in docs/images/ (apt-get install chromium to make them here)"
        )
        return {}
    work = Path(tempfile.mkdtemp(prefix="animalsort-docs-"))
    _tmp.append(work)
    try:
        return _make(chromium, work)
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", None) or ""
        log.warning(f"screenshots of report and review failed: {exc}\n{detail[-2000:]}")
        return {}


def _animalsort(*args: str, cwd: Path) -> None:
    command = [sys.executable, "-m", "animalsort", "-q", *args]
    subprocess.run(command, cwd=cwd, check=True, capture_output=True, text=True, timeout=600)


def _make(chromium: str, work: Path) -> dict[str, Path]:
    photos = work / "photos"
    shutil.copytree(ROOT / "examples" / "photos", photos)
    _animalsort("classify", "photos", "--out", "photos/preds.csv", cwd=work)
    _animalsort("report", "photos/preds.csv", cwd=work)
    report = browser.screenshot(chromium, photos / "preds.html", work / "report.png", size=SIZE, timeout=SHOT_TIMEOUT)
    with _review(photos / "preds.csv") as url:
        review = browser.screenshot(chromium, url, work / "review.png", size=SIZE, timeout=SHOT_TIMEOUT)
    log.info(f"screenshots of report and review made by {chromium}")
    return {REPORT: report, REVIEW: review}


@contextmanager
def _review(preds: Path) -> Iterator[str]:
    """``animalsort review`` as a user starts it (its address is the first line it prints), stopped after."""
    command = [sys.executable, "-m", "animalsort", "review", str(preds), "--no-browser"]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stderr is not None
        line = server.stderr.readline()
        found = re.search(r"http://127\.0\.0\.1:\d+/\S+/", line)
        if not found:
            raise subprocess.SubprocessError(f"review printed no address: {line!r}")
        yield found.group(0)
    finally:
        server.terminate()
        server.wait(timeout=30)
