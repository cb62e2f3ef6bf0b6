"""Options that cannot do what they say are refused where they come in (#35): on the command
line with exit 2 naming the option."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import make_image

from animalsort.cli import main
from animalsort.formats.predictions import header


@pytest.fixture
def preds(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    make_image(src / "a.jpg")
    path = tmp_path / "p.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([header(1), ["a.jpg", "cat", "0.9000", "ok", "", ""]])
    path.with_name("p.csv.json").write_text(f'{{"src": "{src}"}}')
    return path


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (
            ["sort", "{src}", "--from", "{csv}", "--model", "no-such-model", "--device", "cuda", "--precision", "int8"]
            + ["--workers", "99"],
            "--model, --device, --precision, --workers do nothing with --from p.csv",
        ),
        (["sort", "{src}", "--from", "{csv}", "--no-videos", "--top-k", "5"], "--videos/--no-videos, --top-k do"),
        (["tag", "{csv}", "--model", "lite1"], "--model does nothing with p.csv"),
        (["tag", "{csv}", "--weights", "{csv}", "--view", "tiles"], "--weights, --view do nothing with p.csv"),
        (["tag", "{csv}", "--touch"], "--touch does nothing without --embed"),
        (["tag", "{csv}", "--embed-or-sidecar"], "--embed-or-sidecar does nothing without --embed"),
    ],
)
def test_options_that_would_do_nothing_are_refused(runner: CliRunner, preds: Path, args: list[str], named: str) -> None:
    src = preds.parent / "src"
    res = runner.invoke(main, [a.format(src=src, csv=preds) for a in args])
    assert res.exit_code == 2, res.output
    assert f"Error: {named}" in res.stderr
    assert sorted(p.name for p in src.iterdir()) == ["a.jpg"]  # refused before anything was done


def test_the_same_options_where_they_do_something(runner: CliRunner, preds: Path) -> None:
    src = preds.parent / "src"
    res = runner.invoke(main, ["sort", str(src), "--from", str(preds), "--by-sequence", "--dry-run"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(main, ["tag", str(preds), "--embed", "--touch", "--embed-or-sidecar", "--dry-run"])
    assert res.exit_code == 0, res.output
