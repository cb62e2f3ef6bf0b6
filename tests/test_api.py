"""The Python API, driven the way the CLI tests drive the CLI: the DataFrame is the CSV, the
stream is the CSV's rows, a Classifier answers as classify does, sort and undo move files
and put them back, finetune makes a model the others load."""

from __future__ import annotations

import csv
import inspect
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import EXAMPLES, make_image
from PIL import Image

import animalsort
from animalsort.cli import main
from animalsort.errors import UsageError


@pytest.fixture(scope="module")
def cli_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "preds.csv"
    result = CliRunner().invoke(main, ["classify", str(EXAMPLES), "-o", str(out), "--precision", "fp32"])
    assert result.exit_code == 0, result.output
    return out


def test_import_is_light_and_the_public_names_are_documented() -> None:
    code = "import animalsort, sys; print('torch' in sys.modules, 'pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
    assert set(animalsort.__all__) >= {"classify", "iter_classify", "Classifier", "sort", "undo", "finetune"}
    for name in animalsort.__all__:
        obj = getattr(animalsort, name)
        if callable(obj) and name != "SortResult":
            doc = inspect.getdoc(obj) or ""
            if name == "Classifier":
                doc, obj = inspect.getdoc(obj.predict) or "", obj.__init__
                assert "Args" in (inspect.getdoc(obj) or ""), name
            assert "Returns" in doc and "Args" in doc, name


def test_classify_returns_the_csv_as_a_dataframe(cli_csv: Path, tmp_path: Path) -> None:
    df = animalsort.classify(EXAMPLES, precision="fp32")
    expected = pd.read_csv(cli_csv)
    pd.testing.assert_frame_equal(df, expected)  # same columns, dtypes, order and values
    assert list(df.columns[:3]) == ["path", "label", "confidence"] and len(df) == len(list(EXAMPLES.iterdir()))
    kept = tmp_path / "kept.csv"
    again = animalsort.classify(str(EXAMPLES), out=kept, precision="fp32", top_k=2)
    assert kept.read_text() and Path(f"{kept}.json").is_file()
    assert "label_3" not in again.columns and list(again["label"]) == list(expected["label"])


def test_iter_classify_streams_the_csv_rows(cli_csv: Path) -> None:
    rows = animalsort.iter_classify(EXAMPLES, precision="fp32", batch_size=4)
    assert iter(rows) is rows  # a generator: nothing is held beyond a batch
    with open(cli_csv, newline="") as f:
        expected = list(csv.DictReader(f))
    assert list(rows) == expected


def test_classifier_predicts_images_in_memory_like_classify(cli_csv: Path) -> None:
    expected = pd.read_csv(cli_csv).set_index("path")
    clf = animalsort.Classifier(precision="fp32", runtime="torch")
    assert "cat" in clf.labels and "no_animal" in clf.labels
    cat = EXAMPLES / "cat.jpg"
    with Image.open(EXAMPLES / "dog.jpg") as im:
        dog = im.copy()
    eagle = np.asarray(Image.open(EXAMPLES / "eagle.jpg").convert("RGB"))
    df = clf.predict([cat, dog, eagle, "missing.jpg", np.zeros((4, 4), dtype=np.float64)])
    assert list(df["path"]) == [str(cat), "<image 1>", "<image 2>", "missing.jpg", "<image 4>"]
    assert list(df["label"][:3]) == [expected.loc[n, "label"] for n in ("cat.jpg", "dog.jpg", "eagle.jpg")]
    assert df["confidence"][0] == pytest.approx(expected.loc["cat.jpg", "confidence"], abs=2e-4)
    assert list(df["status"]) == ["ok", "ok", "ok", "error", "error"]
    assert "file not found" in df["error"][3] and "uint8" in df["error"][4]
    one = clf.predict(dog)
    assert len(one) == 1 and one["label"][0] == expected.loc["dog.jpg", "label"]


def test_unknown_options_are_refused_with_the_known_ones() -> None:
    with pytest.raises(TypeError, match="unknown option.*batchsize.*batch_size"):
        animalsort.classify(EXAMPLES, batchsize=4)


def test_sort_dry_run_then_move_then_undo(tmp_path: Path, cli_csv: Path) -> None:
    src = tmp_path / "photos"
    shutil.copytree(EXAMPLES, src)
    before = sorted(p.relative_to(src) for p in src.rglob("*") if p.is_file())
    plan = animalsort.sort(src, move=True, dry_run=True, predictions=cli_csv).plan
    assert plan.ops and sum(plan.per_folder.values()) == len(plan.ops)
    assert sorted(p.relative_to(src) for p in src.rglob("*") if p.is_file()) == before  # nothing moved
    res = animalsort.sort(src, move=True, predictions=cli_csv)
    assert res.applied is not None and res.applied.done == len(res.plan.ops) and not res.applied.failed
    assert not (src / "cat.jpg").exists() and (src / "cat" / "cat.jpg").is_file()
    undone = animalsort.undo(res.applied.journal)
    assert undone.restored == len(res.plan.ops) and not undone.refused
    assert (src / "cat.jpg").is_file()


def test_sort_classifies_first_when_given_no_csv(tmp_path: Path) -> None:
    src = tmp_path / "p"
    src.mkdir()
    shutil.copy(EXAMPLES / "cat.jpg", src / "cat.jpg")
    res = animalsort.sort(src, dest=tmp_path / "out", precision="fp32")
    assert res.classified is not None and res.classified.ok == 1
    assert (tmp_path / "out" / "cat" / "cat.jpg").is_file() and (src / "cat.jpg").is_file()  # copied
    with pytest.raises(UsageError, match="move=True and link=True"):
        animalsort.sort(src, move=True, link=True)


def test_finetune_makes_a_model_the_classifier_loads(tmp_path: Path, tiny_weights: Path) -> None:
    data = tmp_path / "d"
    for c, colour in {"red": (220, 30, 30), "blue": (30, 30, 220)}.items():
        for i in range(6):
            make_image(data / c / f"{i}.jpg", size=(60 + i, 50), color=colour, seed=i)
    run = animalsort.finetune(data, out=tmp_path / "run", mode="head", epochs=30, weights=tiny_weights)
    assert run.classes == ["blue", "red"] and (run.run_dir / "model.pt").is_file()
    clf = animalsort.Classifier(weights=run.run_dir, precision="fp32", runtime="torch")  # no graph to make
    assert set(clf.labels) == {"blue", "red"}
    df = clf.predict([data / "red" / "0.jpg", Image.open(data / "blue" / "1.jpg")])
    assert list(df["label"]) == ["red", "blue"]
