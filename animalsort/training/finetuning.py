"""``finetune.run``: check the dataset, load the base, train in either mode, evaluate once,
save the model and the reports."""

from __future__ import annotations

import copy
import dataclasses
import time
from pathlib import Path

import torch

from animalsort._version import __version__
from animalsort.atomic import make_folder
from animalsort.datasets.crops import crop_folder, crop_predictions, made_with_detections
from animalsort.datasets.labelled import LabelledSplits, Sample, labelled_splits, mark_run_folder
from animalsort.errors import UsageError
from animalsort.machine import default_workers
from animalsort.model.decision import decide
from animalsort.model.device import this_machine
from animalsort.training import features
from animalsort.training.base import Base, base_weights, load_base, new_head, save_model
from animalsort.training.check import PARTS, check_dataset, drop_unreadable, scan_files
from animalsort.training.full import dist_info, eval_loader, evaluate, init_dist, train_full
from animalsort.training.head import class_weights, cross_validate, refit_head, train_head
from animalsort.training.options import MODES, DatasetCheck, Evaluation, FinetuneOptions, FinetuneResult, Job, Scores
from animalsort.training.reports import scores, write_reports


def run_from_predictions(
    predictions: Path,
    run_dir: Path | None = None,
    options: FinetuneOptions | None = None,
    *,
    include_confident: float | None = None,
    src: Path | None = None,
    progress: bool = True,
) -> FinetuneResult:
    """``finetune --from PREDS.csv``: train on the photos reviewed in ``animalsort review``
    (and, with ``include_confident``, unreviewed ones at least that confident), linked into
    RUN_DIR/labelled/<label>/ (``datasets/links.py``)."""
    from animalsort.datasets.links import link

    run_dir = Path(run_dir) if run_dir is not None else Path("runs") / Path(predictions).stem
    if dist_info()[2] > 1:
        raise UsageError(
            "finetune --from builds its labelled folder in one process, not under torchrun: run "
            "`animalsort finetune --from PREDS.csv --out RUN` once, then `torchrun ... finetune RUN/labelled`"
        )
    make_folder(run_dir, "choose another --out")
    mark_run_folder(run_dir)
    if made_with_detections(predictions):  # classified with --detections: train on its boxes
        cropped = crop_predictions(predictions, run_dir / "crops", include_confident, src)
        options = _whole_crops(options)
        result = finetune_folder(cropped.folder, run_dir, options, progress=progress, crops=cropped.record())
        result.cropped = cropped
        return result
    linked = link(predictions, run_dir / "labelled", include_confident, src)
    result = finetune_folder(linked.folder, run_dir, options, progress=progress)
    result.linked = linked
    return result


def run_on_crops(
    data_root: Path,
    detections: Path,
    threshold: float,
    run_dir: Path | None = None,
    options: FinetuneOptions | None = None,
    *,
    progress: bool = True,
) -> FinetuneResult:
    """``finetune DATA --detections FILE.json``: train on the square crops of DATA's photos'
    animal boxes, cut into RUN_DIR/crops/<class>/ (``datasets/crops.py``)."""
    run_dir = Path(run_dir) if run_dir is not None else Path("runs") / Path(data_root).absolute().name
    if dist_info()[2] > 1:
        raise UsageError(
            "finetune --detections cuts its crops in one process, not under torchrun: run `animalsort finetune "
            "DATA --detections FILE.json --out RUN` once, then `torchrun ... finetune RUN/crops`"
        )
    make_folder(run_dir, "choose another --out")
    mark_run_folder(run_dir)  # before the crops are cut: never a class of DATA, even half made
    cropped = crop_folder(data_root, detections, threshold, run_dir / "crops")
    options = _whole_crops(options)
    result = finetune_folder(cropped.folder, run_dir, options, progress=progress, crops=cropped.record())
    result.cropped = cropped
    return result


def _whole_crops(options: FinetuneOptions | None) -> FinetuneOptions:
    """Head mode on crops looks at each crop whole, as ``classify --detections`` does (``--view``
    frame/tiles would look for the animal inside a crop that is already the animal)."""
    return dataclasses.replace(options or FinetuneOptions(), view=features.WHOLE)


def finetune_folder(
    data_root: Path,
    run_dir: Path | None = None,
    options: FinetuneOptions | None = None,
    *,
    progress: bool = True,
    crops: dict[str, object] | None = None,
) -> FinetuneResult:
    """Train on ``data_root``'s class folders; ``crops``: where they were cut from (summary.json)."""
    opts = options or FinetuneOptions()
    start = time.perf_counter()
    if opts.mode not in MODES:
        raise UsageError(f"unknown mode {opts.mode!r}; choose one of: {', '.join(MODES)}")
    root = Path(data_root)
    run_dir = Path(run_dir) if run_dir is not None else Path("runs") / root.absolute().name
    device, mode, precision = _placement(opts)
    rank = dist_info()[0]
    source = base_weights(opts.model, opts.weights, progress and rank == 0)
    splits = labelled_splits(root, opts.val_split, opts.seed)
    folds = _folds(opts, mode, splits)
    if folds > 1:  # every photo is validated once, out of fold: no held-out share
        splits = dataclasses.replace(splits, train=sorted(splits.train + splits.val, key=lambda s: s.path), val=[])
    check = check_dataset(splits, root)
    workers = default_workers() if opts.workers is None else opts.workers
    make_folder(run_dir, "choose another --out")
    mark_run_folder(run_dir)  # never a class of a dataset it sits in (``finetune .`` again)
    page = run_dir / "inspect.html" if opts.inspect and rank == 0 else None
    scan_files(root, splits, check, workers=workers, progress=progress and rank == 0, page=page, warn=opts.inspect)
    check = drop_unreadable(splits, root, check)
    torch.manual_seed(opts.seed)
    base = load_base(source)
    head, matched = new_head(base, splits.classes, opts.init_from_pretrained)
    job = Job(root, splits, run_dir, opts, device, precision, workers, progress, folds)
    if mode == "head":
        ev, unreadable = _head_mode(base, head, job)
        check.corrupt += unreadable
    else:
        net, history, best_epoch = train_full(base, head, job)
        ev = _evaluate_full(net, history, best_epoch, base, job)
    sc = scores(ev)
    if rank == 0:
        seconds = time.perf_counter() - start
        _write_run(run_dir, ev, sc, base, splits.classes, check, opts, mode, matched, seconds, crops)
    return FinetuneResult(
        run_dir=run_dir,
        mode=mode,
        classes=splits.classes,
        check=check,
        epochs_run=len(ev.history),
        best_epoch=ev.best_epoch,
        val_accuracy=sc.val_accuracy,
        val_loss=sc.val_loss,
        test_accuracy=sc.test_accuracy,
        min_confidence=sc.min_confidence,
        min_confidence_coverage=sc.coverage,
        initialised_from_pretrained=matched,
        seconds=time.perf_counter() - start,
        features_computed=ev.features_computed,
        features_cached=ev.features_cached,
        refit_photos=ev.refit_photos,
        folds=ev.folds,
    )


#: Head mode cross-validates the stopping step (K_FOLDS folds) up to this many photos; above
#: it, one held-out split is as reliable and K times cheaper.
KFOLD_MAX_PHOTOS = 5000
K_FOLDS = 5


def _folds(opts: FinetuneOptions, mode: str, splits: LabelledSplits) -> int:
    """How head mode chooses its stopping step: K folds, or 1 (the held-out split: full mode,
    a val/ folder the user made, --no-refit, a large set, or one photo per class)."""
    if mode != "head" or splits.presplit or not opts.refit:
        return 1
    labels = [s.label for s in splits.train + splits.val]
    if len(set(labels)) == len(labels):  # one photo per class: no fold could both train and validate
        return 1
    if opts.folds is not None:
        return opts.folds
    return K_FOLDS if len(splits.train) + len(splits.val) <= KFOLD_MAX_PHOTOS else 1


def _placement(opts: FinetuneOptions) -> tuple[torch.device, str, str]:
    """(device, mode, precision): head mode on CPU, full on GPU unless asked; under torchrun
    full mode joins the process group and takes this rank's GPU."""
    decision = decide(opts.device, "torch", opts.precision, this_machine())  # training runs in torch
    device, precision = torch.device(decision.device), decision.precision
    mode = opts.mode if opts.mode != "auto" else ("full" if device.type == "cuda" else "head")
    if mode == "full":
        device = init_dist(device)
    return device, mode, precision


def _write_run(
    run_dir: Path,
    ev: Evaluation,
    sc: Scores,
    base: Base,
    classes: list[str],
    check: DatasetCheck,
    opts: FinetuneOptions,
    mode: str,
    matched: dict[str, int],
    seconds: float,
    crops: dict[str, object] | None = None,
) -> None:
    """model.pt, then the reports and summary.json (rank 0 only)."""
    save_model(
        run_dir / "model.pt",
        ev.backbone,
        base,
        classes,
        opts,
        ev.history,
        mode,
        suggested_min_confidence=sc.min_confidence,
        val_accuracy=sc.val_accuracy,
        test_accuracy=sc.test_accuracy,
        classes_from_pretrained=matched,
        refit_photos=ev.refit_photos,
    )
    summary = {
        "animalsort_version": __version__,
        "mode": mode,
        "base_model": base.name,
        "base_weights": str(opts.weights) if opts.weights is not None else None,  # --weights FILE
        "base_sha256": base.sha256,
        "classes": classes,
        "counts": check.counts,
        "corrupt": check.corrupt,
        "warnings": check.warnings,
        "val_accuracy": sc.val_accuracy,
        "test_accuracy": sc.test_accuracy,
        "best_epoch": ev.best_epoch,
        "refit_photos": ev.refit_photos,
        "validation": f"{ev.folds}-fold cross-validation" if ev.folds > 1 else "held-out split",
        "views": list(opts.views) if mode == "head" else None,
        "view": opts.view if mode == "head" else "centre",  # the window the views vary (--view)
        "suggested_min_confidence": sc.min_confidence,
        "coverage_at_min_confidence": sc.coverage,
        "seconds": round(seconds, 2),
        **({"trained_on": "crops", "crops": crops} if crops is not None else {}),
    }
    write_reports(run_dir, classes, ev, summary)


def _features(base: Base, job: Job) -> features.Features:
    """Every split's photos' features, each view, from the run folder's cache where it has them."""
    return features.extract(
        base,
        job.root,
        job.splits.train + job.splits.val + job.splits.test,
        job.run_dir / features.cache_name(base),
        views=tuple(job.opts.views),
        window_mode=job.opts.view,
        device=job.device,
        runtime=job.opts.runtime,
        precision=job.precision,
        batch_size=job.opts.batch_size,
        workers=job.workers,
        progress=job.progress,
    )


def _head_mode(base: Base, head: torch.nn.Linear, job: Job) -> tuple[Evaluation, list[tuple[str, str]]]:
    """Features of every view (cached); the head trained on the training photos' views with
    the stopping step chosen on validation (original view), then refit on the training and
    validation photos together for that many steps. Validation numbers are the first head's
    (the refit one has seen those photos); test photos are scored by the refit head."""
    splits, opts = job.splits, job.opts
    feats = _features(base, job)
    part_of = {s.path: part for part in PARTS for s in getattr(splits, part)}
    parts = torch.tensor([PARTS.index(part_of[s.path]) for s in feats.kept], dtype=torch.long)
    n_classes = len(splits.classes)

    def weights_for(y: torch.Tensor) -> torch.Tensor | None:
        return class_weights(y, n_classes) if opts.balance else None

    start, refit, seen = copy.deepcopy(head), 0, parts < 2  # seen: training and validation photos
    if job.folds > 1:  # small set: the step from k-fold cross-validation, then the head on every photo
        x, y = feats.x[seen], feats.y[seen]
        history, best_epoch, val_probs = cross_validate(start, x, y, job.folds, opts, weights_for)
        head = refit_head(start, x, y, best_epoch, opts, weights_for(y))
        val_labels, val_part, refit = y, seen, len(y)
    else:  # the step from the held-out validation photos; then (--refit) the head on all of them
        xtr, ytr = feats.x[parts == 0], feats.y[parts == 0]
        xva, val_labels = feats.x[parts == 1][:, 0], feats.y[parts == 1]
        history = train_head(head, xtr, ytr, xva, val_labels, opts, weights_for(ytr))
        best_epoch = min(history, key=lambda h: h["val_loss"])["epoch"]
        with torch.no_grad():
            val_probs = head(xva).softmax(1) if len(xva) else torch.zeros(0, n_classes)
        val_part = parts == 1
        if opts.refit and len(xva):
            head = refit_head(start, feats.x[seen], feats.y[seen], best_epoch, opts, weights_for(feats.y[seen]))
            refit = int(seen.sum())
    with torch.no_grad():
        test_probs = head(feats.x[parts == 2][:, 0]).softmax(1)
    ev = Evaluation(
        backbone=base.with_head(head),
        history=history,
        best_epoch=best_epoch,
        val_probs=val_probs,
        val_labels=val_labels,
        val_paths=[s.path for s, v in zip(feats.kept, val_part.tolist(), strict=True) if v],
        test_probs=test_probs,
        test_labels=feats.y[parts == 2],
        features_computed=feats.computed,
        features_cached=feats.cached,
        refit_photos=refit,
        folds=job.folds,
    )
    return ev, feats.unreadable


def _evaluate_full(
    net: torch.nn.Module, history: list[dict[str, float]], best_epoch: int, base: Base, job: Job
) -> Evaluation:
    """The best full-mode network on the validation and test photos."""

    def predict(samples: list[Sample]) -> tuple[torch.Tensor, torch.Tensor]:
        loader = eval_loader(job.root, samples, base.preprocessing, job.opts.batch_size, job.workers)
        probs, y, _ = evaluate(net, loader, job.precision, job.device)
        return probs, y

    splits = job.splits
    val_probs, val_labels = predict(splits.val)
    test_probs, test_labels = predict(splits.test) if splits.test else (torch.zeros(0, 0), torch.zeros(0))
    return Evaluation(
        backbone=net.backbone,
        history=history,
        best_epoch=best_epoch,
        val_probs=val_probs,
        val_labels=val_labels,
        val_paths=[s.path for s in splits.val],
        test_probs=test_probs,
        test_labels=test_labels,
    )
