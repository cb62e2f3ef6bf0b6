"""finetune on tiny PIL-made datasets: both modes, the run folder, classify --weights. The runs
start from the random-init ``tiny_weights`` model (``--weights``): plumbing, not accuracy, is the
subject here (the real bases' accuracy: test_accuracy.py)."""

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

from animalsort import training
from animalsort.cli import main
from animalsort.datasets.labelled import labelled_splits
from animalsort.errors import InputError

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
    make_image(root / "lonely" / "only.jpg")  # trained on (head mode's refit learns it), not validated
    check = training.check_dataset(labelled_splits(root), root)
    assert check.counts["lonely"] == {"train": 1, "val": 0, "test": 0}
    assert any(w.startswith("a single image of: lonely;") for w in check.warnings)
    # k-fold mode (nothing held out) warns the same
    check = training.check_dataset(labelled_splits(root, 0.0), root)
    assert any(w.startswith("a single image of: lonely;") for w in check.warnings)
    pre = tmp_path / "pre"
    tiny_dataset(pre / "train", per_class=3)
    tiny_dataset(pre / "val", per_class=1, classes={"red_things": (220, 30, 30), "blue_things": (30, 40, 220)})
    check = training.check_dataset(labelled_splits(pre), pre)
    assert "no validation image for: green_things;" in " ".join(check.warnings)
    (root / "lonely" / "only.jpg").unlink()
    (root / "lonely").rmdir()
    for i in range(40):
        make_image(root / "many" / f"{i}.jpg", seed=i)
    check = training.check_dataset(labelled_splits(root), root)
    assert any("imbalanced" in w and "--balance" in w for w in check.warnings)
    one = tiny_dataset(tmp_path / "one", per_class=3, classes={"red_things": (220, 30, 30)})
    with pytest.raises(InputError, match="finetune needs at least 2"):
        training.check_dataset(labelled_splits(one), one)


def test_head_mode_end_to_end_and_cached_features(runner: CliRunner, tmp_path: Path, tiny_weights: Path) -> None:
    root = tiny_dataset(tmp_path / "d")
    (root / "red_things" / "broken.jpg").write_bytes(b"\xff\xd8\xff not really")
    run_dir = tmp_path / "run"
    args = ["finetune", str(root), "--weights", str(tiny_weights), "--out", str(run_dir), "--mode", "head"]
    result = runner.invoke(main, [*args, "--epochs", "60"])
    assert result.exit_code == 0, result.output
    err = result.stderr
    assert "head mode: 5-fold cross-validated accuracy" in err and "skipped (unreadable): red_things/broken.jpg" in err
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
    assert ckpt["labels"] == sorted(COLOURS) and ckpt["base_model"] == "tiny" and ckpt["mode"] == "head"
    assert ckpt["animalsort_version"] and ckpt["options"]["mode"] == "head"
    metrics = read_csv_rows(run_dir / "metrics.csv")
    assert list(metrics[0]) == ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds"]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["val_accuracy"] >= 2 / 3  # colours are easy
    report = read_csv_rows(run_dir / "report.csv")
    assert [r["class"] for r in report] == sorted(COLOURS)
    again = runner.invoke(main, [*args, "--epochs", "60"])
    assert again.exit_code == 0 and "features: 0 computed, 18 from the cache" in again.stderr
    # the model classifies with its own labels (in torch: its ONNX graph is test_runtime's subject)
    out = tmp_path / "p.csv"
    res = runner.invoke(main, ["classify", str(root), "--weights", str(run_dir), "-o", str(out), "--runtime", "torch"])
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


def test_views_are_the_eval_window_mirrored_and_zoomed(tmp_path: Path) -> None:
    import numpy as np
    from PIL import Image

    from animalsort.model.registry import load_registry
    from animalsort.sources.preprocess import AUGMENTATIONS, Preprocessor

    pre = Preprocessor(load_registry().get("lite0").preprocessing)
    rng = np.random.default_rng(0)
    im = Image.fromarray(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8))
    out = {v: pre.crop(im, v) for v in AUGMENTATIONS}
    assert all(a.shape == (224, 224, 3) for a in out.values())
    assert np.array_equal(out["flip"], out["orig"][:, ::-1])
    assert np.array_equal(out["zoom_flip"], out["zoom"][:, ::-1])
    assert not np.array_equal(out["zoom"], out["orig"])
    with pytest.raises(ValueError, match="unknown view"):
        pre.crop(im, "rotate")
    # the defaults (written out where importing sources/preprocess.py would slow the CLI down) are all views
    from animalsort.cli.finetune import finetune

    cli_default = next(p.default for p in finetune.params if p.name == "views")
    assert training.FinetuneOptions().views == AUGMENTATIONS == tuple(cli_default.split(","))


def test_head_refit_on_all_photos_keeps_validation_metrics(
    runner: CliRunner, tmp_path: Path, tiny_weights: Path
) -> None:
    root = tiny_dataset(tmp_path / "d", per_class=8)
    common = ["--mode", "head", "--epochs", "40", "--no-inspect", "--weights", str(tiny_weights)]
    refit, plain = tmp_path / "refit", tmp_path / "plain"
    # one held-out split (--folds 1): the step chosen there, then the head refit on all 24
    a = runner.invoke(main, ["finetune", str(root), "--out", str(refit), *common, "--folds", "1"])
    assert a.exit_code == 0, a.output
    assert "features: 24 computed, 0 from the cache (4 views of each photo)" in a.stderr
    assert "head mode: validation accuracy" in a.stderr
    assert "the head refit on all 24 labelled photos" in a.stderr
    sa, wa = json.loads((refit / "summary.json").read_text()), torch.load(refit / "model.pt", weights_only=True)
    b = runner.invoke(main, ["finetune", str(root), "--out", str(plain), *common, "--folds", "1", "--no-refit"])
    assert b.exit_code == 0, b.output
    sb, wb = json.loads((plain / "summary.json").read_text()), torch.load(plain / "model.pt", weights_only=True)
    # the reported numbers are the validation head's in both; only the saved head differs
    assert sa["val_accuracy"] == sb["val_accuracy"] and sa["best_epoch"] == sb["best_epoch"]
    assert sa["suggested_min_confidence"] == sb["suggested_min_confidence"]
    assert (sa["refit_photos"], sb["refit_photos"]) == (24, 0)
    assert sa["views"] == ["orig", "flip", "zoom", "zoom_flip"] and sa["validation"] == "held-out split"
    head = [k for k in wa["state_dict"] if k.endswith("classifier.weight")][0]
    assert not torch.equal(wa["state_dict"][head], wb["state_dict"][head])
    assert wa["refit_photos"] == 24 and wa["options"]["views"] == ["orig", "flip", "zoom", "zoom_flip"]
    # the same run folder with one view: every feature comes from the cache
    c = runner.invoke(main, ["finetune", str(root), "--out", str(refit), *common, "--views", "orig", "--no-refit"])
    assert c.exit_code == 0, c.output
    assert "features: 0 computed, 24 from the cache (1 view of each photo)" in c.stderr
    assert "head refit" not in c.stderr
    bad = runner.invoke(main, ["finetune", str(root), "--out", str(plain), "--views", "orig,sideways"])
    assert bad.exit_code == 2 and "unknown view 'sideways'" in bad.output


def test_head_mode_cross_validates_small_sets(runner: CliRunner, tmp_path: Path, tiny_weights: Path) -> None:
    root = tiny_dataset(tmp_path / "d", per_class=8)
    run_dir = tmp_path / "run"
    args = [
        "finetune",
        str(root),
        "--out",
        str(run_dir),
        "--epochs",
        "40",
        "--no-inspect",
        "--weights",
        str(tiny_weights),
    ]
    res = runner.invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "head mode: 5-fold cross-validated accuracy" in res.stderr
    assert "the head refit on all 24 labelled photos" in res.stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["validation"] == "5-fold cross-validation" and summary["refit_photos"] == 24
    # every photo was scored once, by a head that had not seen it; nothing held back from training
    assert all(n == {"train": 8, "val": 0, "test": 0} for n in summary["counts"].values())
    confusion = read_csv_rows(run_dir / "confusion.csv")
    assert sum(int(v) for r in confusion for k, v in r.items() if k != "true \\ predicted") == 24
    metrics = read_csv_rows(run_dir / "metrics.csv")
    assert len(metrics) == 40  # every step of the schedule, out-of-fold loss per step
    best = min(metrics, key=lambda m: float(m["val_loss"]))
    assert int(best["epoch"]) == summary["best_epoch"]


def test_one_photo_per_class_trains_without_cross_validation(
    runner: CliRunner, tmp_path: Path, tiny_weights: Path
) -> None:
    root = tiny_dataset(tmp_path / "d", per_class=1)
    args = ["finetune", str(root), "--out", str(tmp_path / "run"), "--epochs", "5", "--no-inspect"]
    res = runner.invoke(main, [*args, "--weights", str(tiny_weights)])
    assert res.exit_code == 0, res.output
    assert "head mode: no validation photos, accuracy not measured" in res.stderr
    assert "a single image of:" in res.stderr


def test_finetune_dot_twice_never_trains_on_its_own_run(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_weights: Path
) -> None:
    """#35: ``finetune .`` puts runs/<name>/ inside DATA; a second run found a class "runs" of
    curves.png and confusion.png. And a class of one photo and one corrupt file has one image."""
    root = tiny_dataset(tmp_path / "d", per_class=4)
    make_image(root / "lonely" / "only.jpg", seed=99)
    (root / "lonely" / "broken.jpg").write_bytes(b"\xff\xd8\xff not really")
    monkeypatch.chdir(root)
    res = runner.invoke(main, ["finetune", ".", "--epochs", "5", "--no-inspect", "--weights", str(tiny_weights)])
    assert res.exit_code == 0, res.output
    assert "a single image of: lonely;" in res.stderr and "skipped (unreadable): lonely/broken.jpg" in res.stderr
    assert labelled_splits(root).classes == sorted([*COLOURS, "lonely"])  # not "runs"
    assert (root / "runs" / "d" / "curves.png").is_file() and (root / "runs" / "d" / ".animalsort-run").is_file()
    assert json.loads((root / "runs" / "d" / "summary.json").read_text())["counts"]["lonely"]["train"] == 1
    (root / "red_things" / "old").mkdir()  # a run from before the marker, inside a class folder
    for name in ("model.pt", "summary.json"):
        (root / "red_things" / "old" / name).write_bytes(b"{}")
    make_image(root / "red_things" / "old" / "curves.png")
    splits = labelled_splits(root)
    assert splits.classes == sorted([*COLOURS, "lonely"])
    assert not [s.path for s in splits.train + splits.val if "runs/" in s.path or "/old/" in s.path]
    # a class whose every file is unreadable: an error that says so, before any training
    (root / "lonely" / "only.jpg").unlink()
    again = runner.invoke(main, ["finetune", ".", "--epochs", "5", "--no-inspect", "--weights", str(tiny_weights)])
    assert again.exit_code == 2
    assert (
        "nothing to train on for: lonely;" in again.stderr
        and "1 files could not be read, e.g. lonely/broken.jpg" in again.stderr
    )


def test_stratified_folds_deal_every_class_across_folds() -> None:
    from animalsort.training.head import stratified_folds

    y = torch.tensor([0] * 10 + [1] * 5 + [2] * 1)
    a = stratified_folds(y, 5, seed=0)
    assert torch.equal(a, stratified_folds(y, 5, seed=0))
    for c, n in ((0, 2), (1, 1)):
        assert torch.bincount(a[y == c], minlength=5).tolist() == [n] * 5
    assert a[y == 2].tolist() == [0]


def test_refit_head_trains_a_copy_for_the_chosen_steps() -> None:
    from animalsort.training.head import refit_head, train_head
    from animalsort.training.options import FinetuneOptions

    g = torch.Generator().manual_seed(0)
    centres = torch.randn(3, 16, generator=g) * 3
    y = torch.arange(3).repeat_interleave(10)
    x = centres[y] + torch.randn(30, 16, generator=g)
    views = torch.stack([x, x + 0.1 * torch.randn(30, 16, generator=g)], dim=1)  # photos × views × dim
    torch.manual_seed(0)  # the start's init: whatever the tests before left in the global generator
    start = torch.nn.Linear(16, 3)
    before = start.weight.detach().clone()
    opts = FinetuneOptions(epochs=50)
    head = refit_head(start, views, y, 20, opts, None)
    assert torch.equal(start.weight, before)  # the start is not touched
    assert (head(x).argmax(1) == y).float().mean() == 1.0
    # the refit head is the training run stopped at the same step
    trained = torch.nn.Linear(16, 3)
    trained.load_state_dict(start.state_dict())
    opts20 = FinetuneOptions(epochs=50, patience=100)
    history = train_head(trained, views, y, torch.zeros(0, 16), torch.zeros(0, dtype=torch.long), opts20, None)
    assert len(history) == 50
    assert not torch.equal(head.weight, trained.weight)  # 20 steps, not 50
    again = refit_head(start, views, y, 20, opts, None)
    assert torch.equal(head.weight, again.weight)  # deterministic


def test_finetune_warns_of_duplicates_across_classes_and_splits(
    runner: CliRunner, tmp_path: Path, tiny_weights: Path
) -> None:
    import shutil

    root = tiny_dataset(tmp_path / "d")
    shutil.copy(root / "red_things" / "0.jpg", root / "blue_things" / "same_as_red.jpg")
    run_dir = tmp_path / "run"
    tiny = ["--weights", str(tiny_weights)]
    result = runner.invoke(
        main, ["finetune", str(root), "--out", str(run_dir), "--mode", "head", "--epochs", "5", *tiny]
    )
    assert result.exit_code == 0, result.output
    assert "warning: label conflicts: the same image is in classes blue_things, red_things: " in result.stderr
    assert "blue_things/same_as_red.jpg" in result.stderr and (run_dir / "inspect.html").is_file()
    skipped = runner.invoke(
        main,
        [
            "finetune",
            str(root),
            "--out",
            str(tmp_path / "r2"),
            "--mode",
            "head",
            "--epochs",
            "5",
            "--no-inspect",
            *tiny,
        ],
    )
    assert skipped.exit_code == 0 and "label conflicts" not in skipped.stderr
    assert not (tmp_path / "r2" / "inspect.html").exists()


def test_class_names_matching_imagenet_start_from_the_pretrained_classifier() -> None:
    base = training.load_base(training.base_weights(None, None, progress=False))
    head, matched = training.new_head(base, ["cats", "dog", "giraffe", "antelope_deer"])
    assert set(matched) == {"cats", "dog", "antelope_deer"}
    assert matched["dog"] == 119
    assert torch.count_nonzero(head.weight[2]) == 0  # giraffe: no ImageNet class, starts at zero
    dog_rows = torch.cat([base.pretrained_head.weight[151:269], base.pretrained_head.weight[273:274]])
    assert torch.allclose(head.weight[1], dog_rows.mean(0))


def test_finetune_starts_from_a_weights_file(runner: CliRunner, tmp_path: Path, tiny_weights: Path) -> None:
    """#39: --weights FILE, as classify's: an animalsort checkpoint brings its architecture,
    preprocessing and classes (a class of the same name starts from its row); recorded in
    model.pt and summary.json. A missing file is refused before anything is written."""
    from animalsort.hashes import sha256_file

    classes = {"alpha": (220, 30, 30), "blue_things": (30, 40, 220)}
    root = tiny_dataset(tmp_path / "d", per_class=4, classes=classes)
    run_dir = tmp_path / "run"
    args = ["finetune", str(root), "--weights", str(tiny_weights), "--out", str(run_dir), "--epochs", "5"]
    res = runner.invoke(main, [*args, "--no-inspect", "--runtime", "torch"])
    assert res.exit_code == 0, res.output
    assert "started from the pretrained classifier: alpha\n" in res.stderr
    ckpt = torch.load(run_dir / "model.pt", weights_only=True)
    tiny = torch.load(tiny_weights, weights_only=True)
    assert (ckpt["arch"], ckpt["base_model"], ckpt["preprocessing"]) == (tiny["arch"], "tiny", tiny["preprocessing"])
    assert ckpt["base_sha256"] == sha256_file(tiny_weights) and ckpt["options"]["weights"] == str(tiny_weights)
    assert ckpt["classes_from_pretrained"] == {"alpha": 1} and ckpt["labels"] == ["alpha", "blue_things"]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["base_weights"] == str(tiny_weights) and summary["base_sha256"] == sha256_file(tiny_weights)
    # the backbone is the checkpoint's (the head is new): same tensors but the classifier
    body = {k: v for k, v in tiny["state_dict"].items() if not k.startswith("classifier.")}
    assert all(torch.equal(ckpt["state_dict"][k], v) for k, v in body.items())
    missing = runner.invoke(main, [*args[:3], str(tmp_path / "nope.pt"), "--out", str(tmp_path / "r2")])
    assert missing.exit_code == 2 and f"--weights {tmp_path / 'nope.pt'}: no such file" in missing.stderr
    assert not (tmp_path / "r2").exists()


def test_a_state_dict_for_the_model_s_architecture_starts_from_its_imagenet_rows(tmp_path: Path) -> None:
    from animalsort.model.build import build_arch, last_linear
    from animalsort.model.registry import load_registry

    spec = load_registry().get("lite0")
    torch.manual_seed(0)
    net = build_arch(spec.arch, spec.num_classes)  # random weights: no download
    torch.save(net.state_dict(), tmp_path / "mine.pt")
    base = training.load_base(training.base_weights("lite0", tmp_path / "mine.pt", progress=False))
    assert (base.name, base.arch, base.head_labels) == ("mine.pt", spec.arch, ())
    assert torch.equal(base.pretrained_head.weight, last_linear(net)[1].weight)
    head, matched = training.new_head(base, ["dog", "giraffe"])
    assert matched == {"dog": 119} and torch.count_nonzero(head.weight[1]) == 0


def test_min_confidence_for_95_percent_precision() -> None:
    conf = torch.tensor([0.99, 0.95, 0.9, 0.8, 0.7, 0.6])
    correct = torch.tensor([True, True, True, True, False, False])
    assert training.min_confidence_for_precision(conf, correct) == (0.8, 4 / 6)
    assert training.min_confidence_for_precision(conf, torch.zeros(6, dtype=torch.bool))[0] is None


def test_full_mode_one_epoch_checkpoints_and_classify(runner: CliRunner, tmp_path: Path, tiny_weights: Path) -> None:
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
            "--weights",
            str(tiny_weights),
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


def test_full_mode_resumes_after_sigkill(tmp_path: Path, tiny_weights: Path) -> None:
    root = tiny_dataset(tmp_path / "d", per_class=20)  # epochs long enough (12 steps) to be cut off in
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
        "--weights",
        str(tiny_weights),
    ]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if (run_dir / "last.pt").exists():
            break
        time.sleep(0.005)
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
    args = ["classify", str(root), "--weights", str(run_dir), "-o", str(out), "--runtime", "torch"]  # no graph to make
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0 and len(read_csv_rows(out)) == 60
