"""Headless Chromium for checking HTML pages as a user's browser renders them (tests and
benchmarks/report_browser.py): dumped DOMs and screenshots from the command line, and pages
driven with the keyboard through chromedriver and selenium (the review page). Debian:
``apt-get install chromium chromium-driver``."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--hide-scrollbars",
    "--mute-audio",
    "--run-all-compositor-stages-before-draw",
    "--virtual-time-budget=5000",
]


def find() -> str | None:
    """The Chromium binary: $ANIMALSORT_CHROMIUM, else chromium / chromium-browser / google-chrome."""
    env = os.environ.get("ANIMALSORT_CHROMIUM")
    if env:
        return env
    return next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)


def _run(binary: str, args: list[str], url: str, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([binary, *FLAGS, *args, url], capture_output=True, text=True, timeout=timeout, check=True)


def dump_dom(binary: str, page: Path, fragment: str = "", timeout: float = 60) -> str:
    """The DOM after the page's scripts ran (and its images loaded)."""
    return _run(binary, ["--dump-dom"], page.absolute().as_uri() + fragment, timeout).stdout


def screenshot(
    binary: str, page: Path | str, png: Path, fragment: str = "", size: str = "1280,1000", timeout: float = 60
) -> Path:
    """A PNG of ``page``: a file, or the address of a page a local server serves (review)."""
    url = page if isinstance(page, str) else page.absolute().as_uri()
    _run(binary, [f"--screenshot={png}", f"--window-size={size}"], url + fragment, timeout)
    return png


def find_driver() -> str | None:
    """chromedriver matching the Chromium (Debian: ``apt-get install chromium-driver``):
    $ANIMALSORT_CHROMEDRIVER, else chromedriver on PATH."""
    return os.environ.get("ANIMALSORT_CHROMEDRIVER") or shutil.which("chromedriver")


def webdriver(binary: str, driver: str, size: str = "1280,900"):  # -> selenium WebDriver
    """A headless Chromium driven through its own chromedriver (selenium never downloads one:
    both paths are given)."""
    from selenium import webdriver as wd
    from selenium.webdriver.chrome.service import Service

    opts = wd.ChromeOptions()
    opts.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", f"--window-size={size}"):
        opts.add_argument(flag)
    return wd.Chrome(service=Service(executable_path=driver), options=opts)
