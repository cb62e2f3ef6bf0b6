"""``finetune.run``: check the dataset, load the base, train in either mode, evaluate once,
save the model and the reports."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from animalsort import __version__
from animalsort import model as M
from animalsort.atomic import make_folder
from animalsort.errors import UsageError
from animalsort.finetune import check as C
from animalsort.finetune import features as Feat
from animalsort.finetune.base import Base, load_base, new_head, save_model
from animalsort.finetune.full import dist_info, eval_loader, evaluate, init_dist, train_full
from animalsort.finetune.head import class_weights, train_head
from animalsort.finetune.options import MODES, DatasetCheck, Evaluation, FinetuneOptions, FinetuneResult, Job, Scores
from animalsort.finetune.reports import scores, write_reports
from animalsort.images import Sample, default_workers, labelled_splits


def run(
    data_root: Path,
    run_dir: Path | None = None,
    options: FinetuneOptions | None = None,
    *,
    progress: bool = True,
) -> FinetuneResult:
    opts = options or FinetuneOptions()
    start = time.perf_counter()
    if opts.mode not in MODES:
        raise UsageError(f"unknown mode {opts.mode!r}; choose one of: {', '.join(MODES)}")
    root = Path(data_root)
    run_dir = Path(run_dir) if run_dir is not None else Path("runs") / root.absolute().name
    splits = labelled_splits(root, opts.val_split, opts.seed)
    check = C.check_dataset(splits, root)
    device, mode, precision = _placement(opts)
    rank = dist_info()[0]
    workers = default_workers() if opts.workers is None else opts.workers
    make_folder(run_dir, "choose another --out")
    page = run_dir / "inspect.html" if opts.inspect and rank == 0 else None
    C.scan_files(root, splits, check, workers=workers, progress=progress and rank == 0, page=page, warn=opts.inspect)
    C.drop_corrupt(splits, check.corrupt)
    torch.manual_seed(opts.seed)
    base = load_base(opts.model, progress and rank == 0)
    head, matched = new_head(base, splits.classes, opts.init_from_pretrained)
    job = Job(root, splits, run_dir, opts, device, precision, workers, progress)
    if mode == "head":
        ev, unreadable = _head_mode(base, head, job)
        check.corrupt += unreadable
    else:
        net, history, best_epoch = train_full(base, head, job)
        ev = _evaluate_full(net, history, best_epoch, base, job)
    sc = scores(ev)
    if rank == 0:
        seconds = time.perf_counter() - start
        _write_run(run_dir, ev, sc, base, splits.classes, check, opts, mode, matched, seconds)
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
    )


def _placement(opts: FinetuneOptions) -> tuple[torch.device, str, str]:
    """(device, mode, precision): head mode on CPU, full on GPU unless asked; under torchrun
    full mode joins the process group and takes this rank's GPU."""
    device = M.pick_device(opts.device)
    mode = opts.mode if opts.mode != "auto" else ("full" if device.type == "cuda" else "head")
    precision = M.pick_precision(opts.precision, device)
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
    )
    summary = {
        "animalsort_version": __version__,
        "mode": mode,
        "base_model": base.name,
        "classes": classes,
        "counts": check.counts,
        "corrupt": check.corrupt,
        "warnings": check.warnings,
        "val_accuracy": sc.val_accuracy,
        "test_accuracy": sc.test_accuracy,
        "best_epoch": ev.best_epoch,
        "suggested_min_confidence": sc.min_confidence,
        "coverage_at_min_confidence": sc.coverage,
        "seconds": round(seconds, 2),
    }
    write_reports(run_dir, classes, ev.history, ev.val_probs, ev.val_labels, ev.val_paths, summary)


def _head_mode(base: Base, head: torch.nn.Linear, job: Job) -> tuple[Evaluation, list[tuple[str, str]]]:
    """Features (cached), then the head; evaluated on the cached validation/test features."""
    root, splits, run_dir, opts = job.root, job.splits, job.run_dir, job.opts
    samples = splits.train + splits.val + splits.test
    feats = Feat.extract(
        base,
        root,
        samples,
        run_dir / Feat.cache_name(base),
        device=job.device,
        runtime=opts.runtime,
        precision=job.precision,
        batch_size=opts.batch_size,
        workers=job.workers,
        progress=job.progress,
    )
    part_of = {s.path: part for part in C.PARTS for s in getattr(splits, part)}
    parts = torch.tensor([C.PARTS.index(part_of[s.path]) for s in feats.kept], dtype=torch.long)
    xtr, ytr = feats.x[parts == 0], feats.y[parts == 0]
    xva, yva = feats.x[parts == 1], feats.y[parts == 1]
    weights = class_weights(ytr, len(splits.classes)) if opts.balance else None
    history = train_head(head, xtr, ytr, xva, yva, opts, weights)
    with torch.no_grad():
        val_probs = head(xva).softmax(1) if len(xva) else torch.zeros(0, len(splits.classes))
        test_probs = head(feats.x[parts == 2]).softmax(1)
    ev = Evaluation(
        backbone=base.with_head(head),
        history=history,
        best_epoch=min(history, key=lambda h: h["val_loss"])["epoch"],
        val_probs=val_probs,
        val_labels=yva,
        val_paths=[s.path for s, p in zip(feats.kept, parts.tolist(), strict=True) if p == 1],
        test_probs=test_probs,
        test_labels=feats.y[parts == 2],
        features_computed=feats.computed,
        features_cached=feats.cached,
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
