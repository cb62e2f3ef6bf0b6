"""One options object per operation (#39): ``SortOptions``, ``TagOptions`` and ``ExportOptions``
are checked once when made, and the command line and the Python API build the same object from
the same choices (so neither can drift from the other, and the API can set what the CLI can)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import one_cat_csv

import animalsort
from animalsort import _api
from animalsort._api import sorting as api_sorting
from animalsort._api import tagging as api_tagging
from animalsort.cli import main
from animalsort.errors import UsageError
from animalsort.exports import predictions_export as export_run
from animalsort.exports.predictions_export import ExportOptions
from animalsort.sorting.options import SortOptions
from animalsort.tagging.tag_rows import TagOptions


@pytest.fixture
def preds(tmp_path: Path) -> Path:
    path = one_cat_csv(tmp_path)
    audit = tmp_path / "audit.json"
    audit.write_text(json.dumps({"thresholds": {"cat": 0.8, "dog": None}}))
    return path


def _captured(monkeypatch: pytest.MonkeyPatch, modules: Any, name: str) -> list[Any]:
    """The options object each call of ``name`` in ``modules`` received (the call itself does
    nothing): the CLI calls the API package's name, the API's function its own module's."""
    seen: list[Any] = []

    def fake(*args: Any, **kwargs: Any) -> Any:
        seen.append(
            next(a for a in (*args, *kwargs.values()) if isinstance(a, (SortOptions, TagOptions, ExportOptions)))
        )
        raise SystemExit(0)

    for module in modules if isinstance(modules, tuple) else (modules,):
        monkeypatch.setattr(module, name, fake)
    return seen


def test_sort_cli_and_api_build_the_same_options(preds: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _captured(monkeypatch, (_api, api_sorting), "sort_folder")
    audit = preds.parent / "audit.json"
    args = ["sort", str(preds.parent / "src"), "--from", str(preds), "--move", "--flat", "--verify"]
    CliRunner().invoke(main, [*args, "--min-confidence", "0.7", "--thresholds", str(audit), "--dry-run"])
    with pytest.raises(SystemExit):
        animalsort.sort(
            preds.parent / "src", predictions=preds, move=True, flat=True, verify=True, min_confidence=0.7,
            thresholds=audit, dry_run=True,
        )  # fmt: skip
    cli, api = seen
    assert cli == api
    assert (cli.mode, cli.flat, cli.verify, cli.dry_run, cli.companions) == ("move", True, True, True, True)
    assert (cli.thresholds.minimum, cli.thresholds.per_label) == (0.7, {"cat": 0.8})


def test_tag_cli_and_api_build_the_same_options(preds: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _captured(monkeypatch, (_api, api_tagging), "tag_folder")
    audit = preds.parent / "audit.json"
    args = ["tag", str(preds), "--embed", "--touch", "--sidecar-name", "stem", "--keyword-root", "Wild"]
    CliRunner().invoke(main, [*args, "--thresholds", str(audit), "--tag-uncertain", "--dry-run"])
    with pytest.raises(SystemExit):
        animalsort.tag(
            preds, embed=True, touch=True, sidecar_name="stem", keyword_root="Wild", thresholds=audit,
            tag_uncertain=True, dry_run=True,
        )  # fmt: skip
    cli, api = seen
    assert cli == api
    assert (cli.embed, cli.touch, cli.sidecar_name, cli.dry_run) == (True, True, "stem", True)
    assert (cli.wording.root, cli.wording.uncertain, cli.wording.thresholds.per_label) == ("Wild", True, {"cat": 0.8})


def test_export_cli_and_api_build_the_same_options(preds: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _captured(monkeypatch, export_run, "export_predictions")
    src = preds.parent / "src"
    args = ["export", str(preds), "-f", "camtrap-dp", "-o", str(preds.parent / "pkg"), "--timezone", "UTC"]
    args += ["--deployment-depth", "1", "--project-title", "T", "--contributor", "C", "--src", str(src)]
    CliRunner().invoke(main, [*args, "--min-confidence", "0.6", "--capture-method", "timeLapse"])
    with pytest.raises(SystemExit):
        animalsort.export(
            preds, preds.parent / "pkg", "camtrap-dp", timezone="UTC", deployment_depth=1, project_title="T",
            contributor="C", src=src, min_confidence=0.6, capture_method="timeLapse",
        )  # fmt: skip
    cli, api = seen
    assert cli == api
    assert (cli.src, cli.package.capture_method, cli.thresholds.minimum) == (src, "timeLapse", 0.6)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: SortOptions(mode="shuffle"), "sort mode 'shuffle': one of copy, move, link"),
        (lambda: SortOptions(flat="yes"), "flat='yes': give True or False"),
        (lambda: SortOptions(by_sequence=-1), "by_sequence=-1: give the largest gap in seconds"),
        (lambda: SortOptions(by_sequence=float("nan")), "by_sequence=nan"),
        (lambda: SortOptions(by_sequence=5, by_labels=True), "choose one"),
        (lambda: SortOptions.chosen(min_confidence=1.5), "min_confidence=1.5 is outside 0–1"),
        (lambda: TagOptions(sidecar_name="short"), "sidecar_name is one of full, stem, not 'short'"),
        (lambda: TagOptions(touch=True), "touch= and embed_or_sidecar= do nothing without embed=True"),
        (lambda: TagOptions.chosen(keyword_root=None), "keyword_root=None: give the top keyword as text"),
        (lambda: ExportOptions("csv"), "--format 'csv': choose one of megadetector, camtrap-dp, coco"),
        (lambda: ExportOptions(deployment_depth=-1), "deployment_depth=-1: give a whole number"),
        (lambda: ExportOptions(timezone="Mars/Olympus"), "--timezone 'Mars/Olympus': not a time zone"),
        (lambda: ExportOptions.chosen(capture_method="camera"), "capture_method='camera': one of activityDetection"),
    ],
)
def test_an_options_object_that_cannot_be_is_refused_when_made(make: Any, message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make()


def test_the_api_exports_a_csv_whose_folder_moved_with_src(preds: Path, tmp_path: Path) -> None:
    """The command line had --src for export; the API could not say it (#39)."""
    meta = {"src": str(preds.parent / "src"), "model": "lite0", "label_names": ["cat", "no_animal"]}
    preds.with_name("p.csv.json").write_text(json.dumps(meta))
    moved = tmp_path / "moved"
    shutil.move(preds.parent / "src", moved)
    res = animalsort.export(preds, tmp_path / "md.json", src=moved)
    images = json.loads((tmp_path / "md.json").read_text())["images"]
    assert res.written == 1 and [i["file"] for i in images] == ["a.jpg"]


def test_audit_sample_checks_its_minimum_as_sort_does(preds: Path) -> None:
    with pytest.raises(UsageError, match="min_confidence=2 is outside 0–1"):
        animalsort.audit_sample(preds, min_confidence=2)
