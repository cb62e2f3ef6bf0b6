"""The documentation cannot drift from the code: every command and option has help (and every command an
``Example:``), the pages generated from the code (the CLI reference, the package layout) are what the code
makes now, every public name has its place in the API reference, and the site builds with ``--strict``
(links, anchors, pages), offline, with the screenshots made by headless Chromium where it is installed."""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

import animalsort
from animalsort.cli import main

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
FIX = "run `make docs-generate` (cog -r -I docs/tools on the pages with a [[[cog block) and commit the pages"


def _commands() -> list[tuple[str, click.Command]]:
    found = []

    def walk(command: click.Command, path: str) -> None:
        found.append((path, command))
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, f"{path} {name}")

    walk(main, "animalsort")
    return found


def test_every_command_has_help_with_an_example() -> None:
    missing = [path for path, command in _commands() if "Example:" not in (command.help or "")]
    assert not missing, f"commands whose help has no Example: section: {missing}"


def test_every_option_has_help() -> None:
    missing = [
        f"{path} {'/'.join(param.opts)}"
        for path, command in _commands()
        for param in command.params
        if isinstance(param, click.Option) and not param.hidden and not (param.help or "").strip()
    ]
    assert not missing, f"options without help text: {missing}"


def _generated_pages() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md") if "[[[cog" in p.read_text(encoding="utf-8"))


def test_generated_pages_are_current(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    cogapp = pytest.importorskip("cogapp", reason="cog is in the docs extra: pip install -e '.[docs]'")
    pages = _generated_pages()
    assert {p.relative_to(DOCS).as_posix() for p in pages} >= {"reference/cli.md", "development.md"}
    monkeypatch.chdir(ROOT)
    status = cogapp.Cog().main(["cog", "--check", "--diff", "-I", "docs/tools", *map(str, pages)])
    assert status == 0, f"{capsys.readouterr().out}\na generated page is stale: {FIX}"


def test_the_cli_reference_has_every_command() -> None:
    text = (DOCS / "reference" / "cli.md").read_text(encoding="utf-8")
    headings = set(re.findall(r"^## (animalsort.*)$", text, flags=re.M))
    assert headings == {path for path, _ in _commands()}, FIX


def test_every_public_name_is_in_the_api_reference() -> None:
    text = (DOCS / "reference" / "python-api.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^::: animalsort\.(\w+)$", text, flags=re.M))
    missing = set(animalsort.__all__) - documented - {"__version__"}
    assert not missing, f"animalsort.__all__ names with no `::: animalsort.NAME` in reference/python-api.md: {missing}"


def _hook():
    pytest.importorskip("mkdocs", reason="the docs extra: pip install -e '.[docs]'")
    spec = importlib.util.spec_from_file_location("docs_screenshots", DOCS / "tools" / "screenshots.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_without_chromium_the_site_keeps_the_committed_screenshots(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    hook = _hook()
    monkeypatch.setattr(hook.browser, "find", lambda: None)
    with caplog.at_level(logging.INFO):
        assert hook._screenshots() == {}
    assert "Chromium not found" in caplog.text and "docs/images/" in caplog.text
    for uri in (hook.REPORT, hook.REVIEW):
        assert (DOCS / uri).is_file(), f"the committed fallback {uri} is missing"


@pytest.mark.slow
def test_the_site_builds_strict_and_offline(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs", reason="the docs extra: pip install -e '.[docs]'")
    site = tmp_path / "site"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env={**env, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert build.returncode == 0, build.stderr[-4000:]

    cli = (site / "reference" / "cli" / "index.html").read_text(encoding="utf-8")
    for path, _ in _commands():
        assert f'id="{path.replace(" ", "-")}"' in cli, f"{path} is not in the built CLI reference"
    api = (site / "reference" / "python-api" / "index.html").read_text(encoding="utf-8")
    for name in set(animalsort.__all__) - {"__version__"}:
        assert f'id="animalsort.{name}"' in api, f"animalsort.{name} is not in the built API reference"

    # Offline: no page loads a script, a style sheet, a font or an image from the network.
    for page in site.rglob("*.html"):
        remote = re.findall(r"""<(?:script|link|img)\b[^>]*\b(?:src|href)=["']?(?:https?:)?//""", page.read_text())
        assert not remote, f"{page.relative_to(site)} loads {remote}"

    shots = [site / "images" / "report.png", site / "images" / "review.png"]
    from browser import find

    if find() is None:
        assert "Chromium not found" in build.stderr
        for shot in shots:
            assert shot.read_bytes() == (DOCS / "images" / shot.name).read_bytes()
    else:
        assert "screenshots of report and review made by" in build.stderr
        for shot in shots:
            assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{shot.name} is not a PNG"


def test_the_readme_is_short_and_its_links_lead_somewhere() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 200, "the README is the short version: move the detail to a page of docs/"
    assert "make demo" in readme and "make test" in readme, "the Quickstart's two commands left the README"
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    broken = [t for t in targets if "://" not in t and not (ROOT / t).is_file()]
    assert targets and not broken, f"README links to files that do not exist: {broken}"
