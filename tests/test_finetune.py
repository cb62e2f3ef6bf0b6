"""finetune on tiny PIL-made datasets: both modes, the run folder, classify --weights."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from conftest import make_image, read_csv_rows

from animalsort import finetune as F
from animalsort.cli import main
from animalsort.errors import InputError
from animalsort.images import labelled_splits

COLOURS = {"red_things": (220, 30, 30), "green_things": (30, 200, 40), "blue_things": (30, 40, 220)}


def tiny_dataset(root: Path, per_class: int = 6, classes: dict = COLOURS) -> Path:
    for c, (r, g, b) in classes.items():
        for i in range(per_class):
            make_image(
                root / c / ("sub" if i % 2 else "") / f"{i}.jpg",
                size=(60 + i, 50),
                color=(r, g, b),
                seed=i + 7 * len(c),
            )
    return root


def test_stratified_seeded_split(tmp_path: Path) -> None:
    root = tiny_dataset(tmp_path / "d", per_class=10)
    a = labelled_splits(root, 0.2, seed=1)
    b = labelled_splits(root, 0.2, seed=1)
    c = labelled_splits(root, 0.2, seed=2)
    assert a == b and a.val != c.val
    assert a.classes == sorted(COLOURS)
    for label in range(3):
        assert sum(s.label == label for s in a.val) == 2
        assert sum(s.label == label for s in a.train) == 8
    assert not {s.path for s in a.train} & {s.path for s in a.val}


def test_presplit_layout(tmp_path: Path) -> None:
    for part, n in (("train", 4), ("val", 2), ("test", 2)):
        tiny_dataset(tmp_path / "d" / part, per_class=n)
    s = labelled_splits(tmp_path / "d")
    assert s.presplit and len(s.train) == 12 and len(s.val) == 6 and len(s.test) == 6
    assert s.val[0].path.startswith("val/")


def test_dataset_check_errors_and_warnings(tmp_path: Path) -> None:
    root = tiny_dataset(tmp_path / "d", per_class=6)
    make_image(root / "lonely" / "only.jpg")
    with pytest.raises(InputError, match=r"too few images in: lonely \(1\)"):
        F.check_dataset(labelled_splits(root), root)
    (root / "lonely" / "only.jpg").unlink()
    (root / "lonely").rmdir()
    for i in range(40):
        make_image(root / "many" / f"{i}.jpg", seed=i)
    check = F.check_dataset(labelled_splits(root), root)
    assert any("imbalanced" in w and "--balance" in w for w in check.warnings)


def test_head_mode_end_to_end_and_cached_features(runner: CliRunner, tmp_path: Path) -> None:
    root = tiny_dataset(tmp_path / "d")
    (root / "red_things" / "broken.jpg").write_bytes(b"\xff\xd8\xff not really")
    run_dir = tmp_path / "run"
    result = runner.invoke(main, ["finetune", str(root), "--out", str(run_dir), "--mode", "head", "--epochs", "60"])
    assert result.exit_code == 0, result.output
    err = result.stderr
    assert "head mode: validation accuracy" in err and "skipped (unreadable): red_things/broken.jpg" in err
    assert "features: 18 computed, 0 from the cache" in err
    for name in (
        "model.pt",
        "metrics.csv",
        "curves.png",
        "confusion.png",
        "confusion.csv",
        "report.csv",
        "misclassified.csv",
        "summary.json",
    ):
        assert (run_dir / name).is_file(), name
    ckpt = torch.load(run_dir / "model.pt", weights_only=True)
    assert ckpt["labels"] == sorted(COLOURS) and ckpt["base_model"] == "lite0" and ckpt["mode"] == "head"
    assert ckpt["animalsort_version"] and ckpt["options"]["mode"] == "head"
    metrics = read_csv_rows(run_dir / "metrics.csv")
    assert list(metrics[0]) == ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds"]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["val_accuracy"] >= 2 / 3  # colours are easy
    report = read_csv_rows(run_dir / "report.csv")
    assert [r["class"] for r in report] == sorted(COLOURS)
    again = runner.invoke(main, ["finetune", str(root), "--out", str(run_dir), "--mode", "head", "--epochs", "60"])
    assert again.exit_code == 0 and "features: 0 computed, 18 from the cache" in again.stderr
    # the model classifies with its own labels
    out = tmp_path / "p.csv"
    res = runner.invoke(main, ["classify", str(root), "--weights", str(run_dir), "-o", str(out)])
    assert res.exit_code == 0, res.output
    rows = {r["path"]: r for r in read_csv_rows(out)}
    assert rows["red_things/broken.jpg"]["status"] == "error"
    ok = [r for r in rows.values() if r["status"] == "ok"]
    assert {r["label"] for r in ok} <= set(COLOURS)
    assert sum(r["label"] == r["path"].split("/")[0] for r in ok) >= 0.8 * len(ok)
    # the dataset check ran first and wrote its page; explain works with the fine-tuned model
    assert (run_dir / "inspect.html").is_file()
    why = runner.invoke(
        main, ["explain", str(root / "red_things" / "0.jpg"), "--weights", str(run_dir), "--out", str(tmp_path / "why")]
    )
    assert why.exit_code == 0, why.output
    assert len(list((tmp_path / "why").glob("0.*.gradcam.jpg"))) == 1
    assert why.output.split(": ")[1].split()[0] in COLOURS


def test_finetune_warns_of_duplicates_across_classes_and_splits(runner: CliRunner, tmp_path: Path) -> None:
    import shutil

    root = tiny_dataset(tmp_path / "d")
    shutil.copy(root / "red_things" / "0.jpg", root / "blue_things" / "same_as_red.jpg")
    run_dir = tmp_path / "run"
    result = runner.invoke(main, ["finetune", str(root), "--out", str(run_dir), "--mode", "head", "--epochs", "5"])
    assert result.exit_code == 0, result.output
    assert "warning: label conflicts: the same image is in classes blue_things, red_things: " in result.stderr
    assert "blue_things/same_as_red.jpg" in result.stderr and (run_dir / "inspect.html").is_file()
    skipped = runner.invoke(
        main, ["finetune", str(root), "--out", str(tmp_path / "r2"), "--mode", "head", "--epochs", "5", "--no-inspect"]
    )
    assert skipped.exit_code == 0 and "label conflicts" not in skipped.stderr
    assert not (tmp_path / "r2" / "inspect.html").exists()


def test_class_names_matching_imagenet_start_from_the_pretrained_classifier() -> None:
    base = F.load_base(None, progress=False)
    head, matched = F.new_head(base, ["cats", "dog", "giraffe", "antelope_deer"])
    assert set(matched) == {"cats", "dog", "antelope_deer"}
    assert matched["dog"] == 119
    assert torch.count_nonzero(head.weight[2]) == 0  # giraffe: no ImageNet class, starts at zero
    dog_rows = torch.cat([base.pretrained_head.weight[151:269], base.pretrained_head.weight[273:274]])
    assert torch.allclose(head.weight[1], dog_rows.mean(0))


def test_min_confidence_for_95_percent_precision() -> None:
    conf = torch.tensor([0.99, 0.95, 0.9, 0.8, 0.7, 0.6])
    correct = torch.tensor([True, True, True, True, False, False])
    assert F.min_confidence_for_precision(conf, correct) == (0.8, 4 / 6)
    assert F.min_confidence_for_precision(conf, torch.zeros(6, dtype=torch.bool))[0] is None


def test_full_mode_one_epoch_checkpoints_and_classify(runner: CliRunner, tmp_path: Path) -> None:
    root = tiny_dataset(tmp_path / "d", per_class=4)
    run_dir = tmp_path / "run"
    result = runner.invoke(
        main,
        [
            "finetune",
            str(root),
            "--out",
            str(run_dir),
            "--mode",
            "full",
            "--epochs",
            "1",
            "-b",
            "4",
            "--balance",
            "-j",
            "0",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "full mode: validation accuracy" in result.stderr
    last = torch.load(run_dir / "last.pt", weights_only=True)
    assert last["epoch"] == 1 and "optimizer" in last
    assert len(read_csv_rows(run_dir / "metrics.csv")) == 1
    out = tmp_path / "p.csv"
    res = runner.invoke(main, ["classify", str(root), "--weights", str(run_dir / "model.pt"), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert {r["label"] for r in read_csv_rows(out)} <= set(COLOURS)


def test_full_mode_resumes_after_sigkill(tmp_path: Path) -> None:
    root = tiny_dataset(tmp_path / "d", per_class=4)
    run_dir = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "animalsort",
        "-q",
        "finetune",
        str(root),
        "--out",
        str(run_dir),
        "--mode",
        "full",
        "--epochs",
        "2",
        "-b",
        "4",
        "-j",
        "0",
    ]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if (run_dir / "last.pt").exists():
            break
        time.sleep(0.05)
    assert proc.poll() is None, "training finished before it could be interrupted"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert torch.load(run_dir / "last.pt", weights_only=True)["epoch"] == 1
    r = subprocess.run(cmd + ["--resume"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    epochs = [int(row["epoch"]) for row in read_csv_rows(run_dir / "metrics.csv")]
    assert epochs == [1, 2]  # epoch 1 kept from before the kill, epoch 2 trained after resume
    assert torch.load(run_dir / "last.pt", weights_only=True)["epoch"] == 2
    out = tmp_path / "p.csv"
    res = CliRunner().invoke(main, ["classify", str(root), "--weights", str(run_dir), "-o", str(out)])
    assert res.exit_code == 0 and len(read_csv_rows(out)) == 12
