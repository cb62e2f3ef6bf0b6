"""Options and values that cannot do what they say are refused where they come in (#35): on
the command line with exit 2 naming the option, in the Python API with a ``UsageError`` that
names the value and the valid range; an image with no pixels is an error row saying so."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import one_cat_csv

import animalsort
from animalsort.cli import main
from animalsort.errors import AnimalsortError, UsageError


@pytest.fixture
def preds(tmp_path: Path) -> Path:
    return one_cat_csv(tmp_path)


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


def test_python_api_validates_at_the_boundary(preds: Path, tiny_weights: Path) -> None:
    src = preds.parent / "src"
    for bad, message in (("x", "min_confidence='x': give a number from 0 to 1"), (2, "min_confidence=2 is outside")):
        with pytest.raises(UsageError, match=message):
            animalsort.sort(src, predictions=preds, min_confidence=bad)
        with pytest.raises(UsageError, match=message):
            animalsort.tag(preds, min_confidence=bad)
        with pytest.raises(UsageError, match=message):
            animalsort.export(preds, preds.parent / "md.json", min_confidence=bad)
    with pytest.raises(UsageError, match=r"move=True and link=True exclude each other") as caught:
        animalsort.sort(src, move=True, link=True)
    assert isinstance(caught.value, AnimalsortError)
    with pytest.raises(UsageError, match=r"classify options \(model\) do nothing with predictions="):
        animalsort.sort(src, predictions=preds, model="lite1")
    with pytest.raises(UsageError, match=r"classify options \(model\) do nothing with a predictions CSV"):
        animalsort.tag(preds, model="lite1")
    with pytest.raises(UsageError, match="touch= and embed_or_sidecar= do nothing without embed=True"):
        animalsort.tag(preds, touch=True)
    for top_k in (0, -1, 1.5):
        with pytest.raises(UsageError, match=rf"top_k={top_k!r}: give a whole number, 1 or more"):
            animalsort.classify(src, weights=tiny_weights, top_k=top_k)
        with pytest.raises(UsageError, match=rf"top_k={top_k!r}: give a whole number, 1 or more"):
            animalsort.Classifier(weights=tiny_weights, top_k=top_k)
    with pytest.raises(UsageError, match="batch_size=0: give a whole number, 1 or more"):
        animalsort.classify(src, weights=tiny_weights, batch_size=0)
    with pytest.raises(UsageError, match="unknown view 'sideways'"):
        animalsort.Classifier(weights=tiny_weights, view="sideways")
    assert sorted(p.name for p in src.iterdir()) == ["a.jpg"]


def test_an_image_without_pixels_is_an_error_row(tiny_weights: Path) -> None:
    from PIL import Image

    clf = animalsort.Classifier(weights=tiny_weights, precision="fp32")
    df = clf.predict([np.zeros((0, 0, 3), np.uint8), Image.new("RGB", (0, 7)), np.full((8, 8, 3), 90, np.uint8)])
    assert list(df["status"]) == ["error", "error", "ok"]
    assert list(df["error"][:2]) == [
        "an image of 0×0 pixels: nothing to classify",
        "an image of 0×7 pixels: nothing to classify",
    ]
    with pytest.raises(UsageError, match="batch_size=0"):
        clf.predict([np.zeros((8, 8, 3), np.uint8)], batch_size=0)
