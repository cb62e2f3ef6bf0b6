"""finetune: a model for the user's own classes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from animalsort.cli.common import (
    auto_choice_option,
    batch_size_option,
    csv_src_option,
    detections_option,
    device_option,
    from_csv_option,
    output_options,
    print_refused,
    processes_option,
    translate_errors,
    view_option,
)
from animalsort.model.decision import PRECISIONS, RUNTIMES


@click.command()
@click.argument("data", type=click.Path(path_type=Path), required=False)
@from_csv_option(
    "Train on a classify CSV's photos as corrected with `animalsort review` (CSV.corrections.csv) or answered "
    "in its audit sample (CSV.sample.csv), "
    "linked into RUN_DIR/labelled/<label>/ (instead of DATA)."
)
@click.option(
    "--include-confident",
    type=click.FloatRange(0, 1),
    default=None,
    metavar="P",
    help="With --from: also train on unreviewed photos the model labelled with confidence ≥ P.",
)
@csv_src_option("With --from: ")
@detections_option(
    "MegaDetector batch output for DATA (paths relative to DATA): train on the square crop of each animal "
    "box instead of the whole photo, each an example of its photo's class, cut into RUN_DIR/crops/. A photo "
    "without an animal box is left out (kept whole in a no_animal class). --from a CSV classified with "
    "--detections trains on its boxes without this.",
)
@click.option(
    "--detection-threshold",
    type=click.FloatRange(0, 1),
    default=None,
    metavar="P",
    help="With --detections: boxes at or above this confidence are examples (default 0.2, MegaDetector's "
    "recommended threshold for MDv5).",
)
@click.option(
    "--out",
    "-o",
    "run_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Run folder for model.pt, metrics and plots (default: runs/<DATA name>, or runs/<CSV name> with --from).",
)
@click.option("--model", "-m", default=None, metavar="BASE", help="Pretrained registry model to start from.")
@click.option(
    "--weights",
    type=click.Path(path_type=Path),
    default=None,
    metavar="FILE",
    help="Start from this weights file instead (as classify's --weights): a model.pt from an earlier "
    "`animalsort finetune` (or its run folder; its classes of the same name start from its rows), "
    "or a state dict for --model's architecture.",
)
@auto_choice_option(
    "--mode",
    ["auto", "head", "full"],
    "head: train a linear head on cached features (seconds; default on CPU); "
    "full: train the whole network (default on GPU).",
)
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    default=None,
    help="full: epochs (default 10); head: optimisation steps (default 300).",
)
@click.option(
    "--lr",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Learning rate (head 1e-2; full 1e-3 per 64 images of batch).",
)
@batch_size_option("Images per training step (full; the learning rate scales with it) and per feature batch (head).")
@click.option(
    "--val-split",
    type=click.FloatRange(0, 0.9),
    default=0.2,
    show_default=True,
    help="Share of each class held out for validation when there is one held-out split "
    "(full mode, --folds 1, over 5,000 photos; ignored for train/ + val/ folders).",
)
@click.option(
    "--patience",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="Stop after this many epochs without a better validation score.",
)
@click.option("--balance", is_flag=True, help="Class-balanced sampling (full) or loss weights (head).")
@click.option("--resume", is_flag=True, help="Continue a full-mode run from RUN_DIR/last.pt.")
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seeds the validation split, the folds and the training."
)
@device_option
@auto_choice_option(
    "--precision",
    PRECISIONS,
    "Training's precision (in torch): auto = bf16 or fp16 on CUDA, fp32 elsewhere; fast = bf16 on CPUs with "
    "native bf16.",
)
@auto_choice_option(
    "--runtime",
    RUNTIMES,
    "What computes head mode's features (auto: ONNX Runtime on the CPU, torch on a GPU).",
)
@processes_option("Decoding processes (default: one fewer than the cores, at most 8); 0 decodes in the main process.")
@click.option(
    "--views",
    default="orig,flip,zoom,zoom_flip",
    show_default=True,
    callback=lambda ctx, param, value: _views(value),
    help="head: the fixed augmentations of each photo the head trains on (orig, flip, zoom, zoom_flip; "
    "features of each are cached; validation uses orig). --views orig: no augmentation.",
)
@view_option(
    "centre",
    "head: the window of each photo the views vary: centre (the centre crop), or, for camera-trap "
    "frames where the animal is off-centre or small, frame / tiles: a square around the animal the "
    "pretrained model's first look at the whole frame finds (as classify --view).",
)
@click.option(
    "--refit/--no-refit",
    default=True,
    show_default=True,
    help="head: after choosing the stopping step on validation, retrain the head on the training "
    "and validation photos together (the reported metrics stay the validation ones). "
    "--no-refit: one held-out split and the head chosen on it.",
)
@click.option(
    "--folds",
    type=click.IntRange(min=1, max=20),
    default=None,
    help="head: choose the stopping step by K-fold cross-validation over every photo "
    "(default: 5 up to 5,000 photos without a val/ folder; 1: the held-out --val-split).",
)
@click.option(
    "--inspect/--no-inspect",
    default=True,
    show_default=True,
    help="Check the dataset first (as `animalsort inspect`): duplicates, train/val leaks, "
    "blank or tiny images; writes RUN_DIR/inspect.html.",
)
@output_options
@click.pass_context
@translate_errors
def finetune(
    ctx: click.Context,
    data: Path | None,
    from_csv: Path | None,
    include_confident: float | None,
    src: Path | None,
    detections: Path | None,
    detection_threshold: float | None,
    run_dir: Path | None,
    **options: Any,
) -> None:
    """Train a model for your own classes: DATA/<class>/**/*.jpg (or DATA/train, DATA/val, DATA/test),
    or the photos of a classify CSV whose labels you corrected (--from, after `animalsort review`).

    Checks the dataset first (counts, corrupt files, too-small classes, imbalance), then writes
    RUN_DIR/model.pt (use it with classify/sort --weights), metrics.csv, curves.png,
    confusion.png/.csv, report.csv, misclassified.csv and a suggested --min-confidence.
    Multi-GPU: torchrun --nproc-per-node N -m animalsort finetune DATA --mode full.

    \b
    Example:
        animalsort finetune ./mydata --out runs/pets
        animalsort classify ~/photos --weights runs/pets/model.pt -o preds.csv
        animalsort finetune --from preds.csv --include-confident 0.9 --out runs/mine
        animalsort finetune ./traps --detections traps/md.json --out runs/crops
    """
    from animalsort.formats.detections import DEFAULT_THRESHOLD
    from animalsort.training import FinetuneOptions, finetune_folder, run_from_predictions, run_on_crops

    if (data is None) == (from_csv is None):
        raise click.UsageError("give DATA (a folder of class folders) or --from PREDS.csv, not both")
    if from_csv is None and (include_confident is not None or src is not None):
        raise click.UsageError("--include-confident and --src go with --from")
    if detections is None and detection_threshold is not None:
        raise click.UsageError("--detection-threshold goes with --detections")
    if from_csv is not None and detections is not None:
        raise click.UsageError(
            "--detections goes with DATA; --from a CSV classified with --detections trains on its boxes already"
        )
    quiet = ctx.obj["quiet"]
    if detections is not None:
        threshold = DEFAULT_THRESHOLD if detection_threshold is None else detection_threshold
        res = run_on_crops(data, detections, threshold, run_dir, FinetuneOptions(**options), progress=not quiet)
    elif from_csv is not None:
        res = run_from_predictions(
            from_csv,
            run_dir,
            FinetuneOptions(**options),
            include_confident=include_confident,
            src=src,
            progress=not quiet,
        )
    else:
        res = finetune_folder(data, run_dir, FinetuneOptions(**options), progress=not quiet)
    if not quiet:
        _echo_result(res, len(options["views"]), ctx.obj["verbose"])


def _echo_result(res: Any, views: int, verbose: bool) -> None:
    """The dataset check's table and warnings, then what the training reached and where the model is."""
    if res.linked is not None:
        _echo_linked(res.linked, verbose)
    if res.cropped is not None:
        _echo_cropped(res.cropped, verbose)
    check = res.check
    click.echo(f"{'class':<24} {'train':>6} {'val':>5} {'test':>5}", err=True)
    for c, n in check.counts.items():
        click.echo(f"{c:<24} {n['train']:>6} {n['val']:>5} {n['test']:>5}", err=True)
    for w in check.warnings:
        click.echo(f"warning: {w}", err=True)
    for path, why in check.corrupt:
        click.echo(f"skipped (unreadable): {path}: {why}", err=True)
    if res.initialised_from_pretrained:
        click.echo(f"started from the pretrained classifier: {', '.join(res.initialised_from_pretrained)}", err=True)
    if res.mode == "head":
        click.echo(
            f"features: {res.features_computed} computed, {res.features_cached} from the cache "
            f"({views} view{'s' * (views > 1)} of each photo)",
            err=True,
        )
    test = f", test accuracy {res.test_accuracy:.3f}" if res.test_accuracy is not None else ""
    how = f"{res.folds}-fold cross-validated accuracy" if res.folds > 1 else "validation accuracy"
    score = f"{res.val_accuracy:.3f}"
    if res.folds == 1 and not any(n["val"] for n in check.counts.values()):
        how, score = "no validation photos, accuracy not measured", "—"
    unit = "step" if res.mode == "head" else "epoch"
    click.echo(
        f"{res.mode} mode: {how} {score} (best {unit} {res.best_epoch} of "
        f"{res.epochs_run}){test} in {res.seconds:.1f} s → {res.run_dir / 'model.pt'}",
        err=True,
    )
    if res.refit_photos:
        click.echo(f"model.pt: the head refit on all {res.refit_photos} labelled photos", err=True)
    if res.min_confidence is not None:
        click.echo(
            f"suggested --min-confidence {res.min_confidence} (95% precision on validation, keeps "
            f"{res.min_confidence_coverage:.0%} of images)",
            err=True,
        )
    else:
        click.echo("no confidence threshold reaches 95% precision on validation; add images", err=True)


def _echo_linked(linked: Any, verbose: bool) -> None:
    how = ", ".join(f"{n} {kind}{'s' * (n > 1)}" for kind, n in linked.how.items())
    click.echo(
        f"training set: {linked.photos} photos ({linked.reviewed} reviewed, {linked.confident} confident "
        f"predictions) linked into {linked.folder} ({how})",
        err=True,
    )
    _warn_missing(linked.missing)
    if linked.videos:
        click.echo(f"  {linked.videos} video rows left out (finetune trains on photos)", err=True)
    print_refused(linked.refused, verbose)


def _warn_missing(missing: list[str]) -> None:
    """The CSV's photos that are not where it says (a sort moved them, or SRC moved)."""
    if missing:
        click.echo(
            f"warning: {len(missing)} photos are not where the CSV says (moved?), e.g. {missing[0]}; pass --src",
            err=True,
        )


def _echo_cropped(cropped: Any, verbose: bool) -> None:
    """Where the crops came from and what was left out."""
    per_class = ", ".join(f"{label} {n}" for label, n in sorted(cropped.per_label.items()))
    click.echo(
        f"training set: {cropped.boxes} crops of animal boxes from {cropped.photos} photos ({per_class}) "
        f"in {cropped.folder}",
        err=True,
    )
    if cropped.empty_kept:
        click.echo(f"  {cropped.empty_kept} photos without an animal box kept whole in no_animal", err=True)
    if cropped.without_box:
        click.echo(f"  {cropped.without_box} photos without an animal box left out", err=True)
    if cropped.not_listed:
        click.echo(f"  {cropped.not_listed} photos left out: no detections for them", err=True)
    _warn_missing(cropped.missing)
    if cropped.skipped:
        click.echo(f"  {len(cropped.skipped)} photos or JSON entries skipped:", err=True)
        print_refused(cropped.skipped, verbose)


def _views(value: str) -> tuple[str, ...]:
    from animalsort.sources.preprocess import AUGMENTATIONS

    views = tuple(dict.fromkeys(v.strip() for v in value.split(",") if v.strip()))
    unknown = [v for v in views if v not in AUGMENTATIONS]
    if unknown:
        raise click.BadParameter(f"unknown view {unknown[0]!r}; choose from {', '.join(AUGMENTATIONS)}")
    return ("orig",) + tuple(v for v in views if v != "orig")
