"""``animalsort finetune``: a model for the user's own classes.

Two modes. ``head`` (default on CPU): the pretrained backbone stays frozen, its features are
computed once per file and cached in RUN_DIR (keyed by file and model), and a linear head is
trained on them in seconds. ``full`` (default on GPU): the whole network trains with AdamW,
warmup + cosine, label smoothing, augmentation, optional class-balanced sampling, gradient
clipping, AMP, early stopping, last + best checkpoints every epoch and ``resume``; under
``torchrun`` it trains with DistributedDataParallel (only rank 0 writes).

Either way RUN_DIR/model.pt is an animalsort checkpoint that ``classify --weights`` and
``sort --weights`` use directly, next to metrics.csv, curves.png, confusion.png/.csv,
report.csv and misclassified.csv.
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from animalsort import __version__
from animalsort import data as D
from animalsort import model as M
from animalsort.errors import InputError, UsageError
from animalsort.taxonomy import imagenet_members

MODES = ("auto", "head", "full")
MIN_PER_CLASS = 2
IMBALANCE_WARNING = 5.0  # largest class / smallest class


@dataclass
class FinetuneOptions:
    model: str | None = None
    mode: str = "auto"
    epochs: int | None = None  # head: optimisation steps over all features (default 300); full: 10
    lr: float | None = None  # head: 1e-2; full: 1e-3 (scaled by batch size / 64)
    batch_size: int = 32
    val_split: float = 0.2
    patience: int = 5
    balance: bool = False
    resume: bool = False
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    workers: int | None = None
    label_smoothing: float = 0.1
    weight_decay: float | None = None  # head: 1e-3; full: 0.05
    init_from_pretrained: bool = True  # start matching classes from the ImageNet classifier
    inspect: bool = True  # check the dataset first (duplicates, leaks, blank/tiny images); RUN/inspect.html


@dataclass
class DatasetCheck:
    classes: list[str]
    counts: dict[str, dict[str, int]]  # class → {"train": n, "val": n, "test": n}
    corrupt: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class FinetuneResult:
    run_dir: Path
    mode: str
    classes: list[str]
    check: DatasetCheck
    epochs_run: int
    best_epoch: int
    val_accuracy: float
    val_loss: float
    test_accuracy: float | None
    min_confidence: float | None  # reaches 95% precision on validation
    min_confidence_coverage: float | None
    initialised_from_pretrained: dict[str, int]
    seconds: float
    features_computed: int = 0
    features_cached: int = 0


# --------------------------------------------------------------------------- distributed


def _dist() -> tuple[int, int, int]:
    """(rank, local_rank, world_size) under torchrun; (0, 0, 1) otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 0, 1
    return int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0")), world


def _init_dist(device: torch.device) -> None:
    import torch.distributed as dist

    if _dist()[2] > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")


# --------------------------------------------------------------------------- dataset check


def check_dataset(splits: D.LabelledSplits, root: Path) -> DatasetCheck:
    counts: dict[str, dict[str, int]] = {c: {"train": 0, "val": 0, "test": 0} for c in splits.classes}
    for part in ("train", "val", "test"):
        for s in getattr(splits, part):
            counts[splits.classes[s.label]][part] += 1
    check = DatasetCheck(splits.classes, counts)
    if len(splits.classes) < 2:
        raise InputError(
            f"{root} has {len(splits.classes)} class folder(s); finetune needs at least 2: "
            "put each class's images in its own sub-folder (DATA/<class>/…)"
        )
    few = [c for c, n in counts.items() if n["train"] + n["val"] < MIN_PER_CLASS or n["train"] < 1]
    if few:
        detail = ", ".join(f"{c} ({counts[c]['train'] + counts[c]['val']})" for c in few)
        raise InputError(
            f"too few images in: {detail}; each class needs at least {MIN_PER_CLASS} "
            "(one to train on, one to validate): add images or remove those folders"
        )
    totals = {c: n["train"] + n["val"] for c, n in counts.items()}
    if max(totals.values()) >= IMBALANCE_WARNING * min(totals.values()):
        big, small = max(totals, key=totals.get), min(totals, key=totals.get)  # type: ignore[arg-type]
        check.warnings.append(
            f"classes are imbalanced ({big}: {totals[big]}, {small}: {totals[small]}); "
            "consider --balance, or more images of the small classes"
        )
    return check


# --------------------------------------------------------------------------- model pieces


@dataclass
class Base:
    """The pretrained model a run starts from, with its classifier split off."""

    name: str
    arch: str
    sha256: str
    preprocessing: Any
    backbone: nn.Module  # classifier replaced by Identity: outputs pre-logit features
    classifier_name: str
    pretrained_head: nn.Linear


def load_base(model: str | None, progress: bool) -> Base:
    from animalsort import weights as W

    reg = W.load_registry()
    spec = reg.get(model or reg.default)
    net = M.build_arch(spec.arch, spec.num_classes)
    M.load_weights(net, M.load_state(W.fetch(spec, progress=progress)), spec.key_map)
    name, head = M.last_linear(net)
    M.set_module(net, name, nn.Identity())
    return Base(spec.name, spec.arch, spec.sha256, spec.preprocessing, net, name, head)  # type: ignore[arg-type]


def new_head(base: Base, classes: list[str], from_pretrained: bool = True) -> tuple[nn.Linear, dict[str, int]]:
    """A Linear head for ``classes``; a class whose name denotes ImageNet classes (``dog``,
    ``tabby``, ``antelope_deer``) starts from the mean of their pretrained rows."""
    head = nn.Linear(base.pretrained_head.in_features, len(classes))
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    matched = {}
    with torch.no_grad():
        for row, name in enumerate(classes):
            members = imagenet_members(name) if from_pretrained and base.pretrained_head.out_features == 1000 else ()
            if members:
                idx = list(members)
                head.weight[row] = base.pretrained_head.weight[idx].mean(dim=0)
                head.bias[row] = base.pretrained_head.bias[idx].mean()
                matched[name] = len(idx)
    return head, matched


def _full_model(base: Base, head: nn.Linear) -> nn.Module:
    M.set_module(base.backbone, base.classifier_name, head)
    return base.backbone


# --------------------------------------------------------------------------- features (head mode)


def _feature_key(root: Path, s: D.Sample) -> str:
    """The file itself (symlinks resolved), its size and mtime: a changed file is recomputed,
    the same file seen through another split or folder is not."""
    path = os.path.realpath(root / s.path)
    st = os.stat(path)
    return f"{path}\0{st.st_size}\0{st.st_mtime_ns}"


def extract_features(
    base: Base, root: Path, samples: list[D.Sample], cache: Path, device: torch.device, precision: str,
    batch_size: int, workers: int, progress: bool,
) -> tuple[torch.Tensor, torch.Tensor, list[tuple[str, str]], int, int]:
    """Features for ``samples``, computing only those not in ``cache`` (a file keyed by the
    model's weights and preprocessing; each entry keyed by path, size and mtime)."""
    from tqdm import tqdm

    from animalsort.predict import autocast

    stored: dict[str, torch.Tensor] = {}
    if cache.exists():
        blob = torch.load(cache, map_location="cpu", weights_only=True)
        stored = dict(zip(blob["keys"], blob["features"]))
    keys = [_feature_key(root, s) for s in samples]
    todo = [i for i, k in enumerate(keys) if k not in stored]
    bad: dict[int, str] = {}
    if todo:
        pre = base.preprocessing
        net = M.wrap(base.backbone, pre, _identity_labels(), device)
        ds = D.LabelledImages(root, [samples[i] for i in todo], D.Preprocessor(pre))
        loader = torch.utils.data.DataLoader(ds, batch_size=batch_size, num_workers=workers)
        pos = 0
        with tqdm(total=len(todo), desc="features", unit="img", disable=not progress) as bar:
            for images, _, ok in loader:
                with torch.inference_mode(), autocast(device, precision):
                    feats = net.logits(images.to(device)).float().cpu()
                for j in range(len(images)):
                    i = todo[pos + j]
                    if ok[j]:
                        stored[keys[i]] = feats[j].clone()
                    else:
                        bad[i] = D.describe_error(_decode_error(root / samples[i].path))
                pos += len(images)
                bar.update(len(images))
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(cache.name + ".tmp")
        torch.save({"keys": list(stored), "features": torch.stack(list(stored.values()))}, tmp)
        os.replace(tmp, cache)
    good = [i for i in range(len(samples)) if i not in bad]
    feats = torch.stack([stored[keys[i]] for i in good]) if good else torch.zeros(0, base.pretrained_head.in_features)
    labels = torch.tensor([samples[i].label for i in good], dtype=torch.long)
    corrupt = [(samples[i].path, bad[i]) for i in sorted(bad)]
    return feats, labels, corrupt, len(todo) - len(bad), len(samples) - len(todo)


def _decode_error(path: Path) -> BaseException:
    try:
        D.open_rgb(path)
    except Exception as exc:  # the reason the worker saw
        return exc
    return RuntimeError("could not be decoded")


def _identity_labels() -> Any:
    from animalsort.taxonomy import LabelSet

    return LabelSet("features", ())


def _cache_name(base: Base) -> str:
    pre = json.dumps(base.preprocessing.to_dict(), sort_keys=True)
    import hashlib

    return f"features-{base.name}-{hashlib.sha256((base.sha256 + pre).encode()).hexdigest()[:12]}.pt"


def train_head(
    head: nn.Linear, xtr: torch.Tensor, ytr: torch.Tensor, xva: torch.Tensor, yva: torch.Tensor,
    opts: FinetuneOptions, class_weights: torch.Tensor | None,
) -> list[dict[str, float]]:
    """Full-batch AdamW on cached features with cosine decay; keeps the best head by
    validation loss (early stopping with ``patience`` × 10 steps of no improvement)."""
    steps = opts.epochs or 300
    lr = opts.lr or 1e-2
    wd = opts.weight_decay if opts.weight_decay is not None else 1e-3
    opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=wd)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / steps)))
    loss_fn = nn.CrossEntropyLoss(weight=class_weights, label_smoothing=opts.label_smoothing)
    eval_fn = nn.CrossEntropyLoss()
    history, best, best_state, since = [], math.inf, None, 0
    t0 = time.perf_counter()
    for step in range(1, steps + 1):
        head.train()
        opt.zero_grad()
        out = head(xtr)
        loss = loss_fn(out, ytr)
        loss.backward()
        opt.step()
        sched.step()
        with torch.no_grad():
            head.eval()
            vo = head(xva) if len(xva) else out
            vy = yva if len(xva) else ytr
            vloss = eval_fn(vo, vy).item()
            record = {"epoch": step, "train_loss": loss.item(), "train_acc": (out.argmax(1) == ytr).float().mean().item(),
                      "val_loss": vloss, "val_acc": (vo.argmax(1) == vy).float().mean().item(),
                      "lr": opt.param_groups[0]["lr"], "seconds": time.perf_counter() - t0}  # fmt: skip
        history.append(record)
        if vloss < best - 1e-4:
            best, since = vloss, 0
            best_state = {k: v.clone() for k, v in head.state_dict().items()}
        else:
            since += 1
            if since >= max(1, opts.patience) * 10:
                break
    if best_state is not None:
        head.load_state_dict(best_state)
    return history


# --------------------------------------------------------------------------- full mode


def _augment(pre: Any) -> Any:
    from torchvision import transforms as T

    interp = T.InterpolationMode.BICUBIC if pre.interpolation == "bicubic" else T.InterpolationMode.BILINEAR
    return T.Compose([
        T.RandomResizedCrop(pre.input_size, scale=(0.5, 1.0), interpolation=interp),
        T.RandomHorizontalFlip(),
        T.RandomRotation(10, interpolation=T.InterpolationMode.BILINEAR),
        T.ColorJitter(0.2, 0.2, 0.2, 0.02),
    ])  # fmt: skip


def _evaluate(net: nn.Module, loader: Any, device: torch.device, precision: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(probs, labels, ok) over a loader of (images, label, ok)."""
    from animalsort.predict import autocast

    probs, labels, oks = [], [], []
    net.eval()
    with torch.inference_mode():
        for images, y, ok in loader:
            with autocast(device, precision):
                logits = net.logits(images.to(device))
            probs.append(logits.float().softmax(1).cpu())
            labels.append(y)
            oks.append(ok)
    if not probs:
        return torch.zeros(0, 0), torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.bool)
    return torch.cat(probs), torch.cat(labels), torch.cat(oks)


def train_full(
    base: Base, head: nn.Linear, root: Path, splits: D.LabelledSplits, run_dir: Path, opts: FinetuneOptions,
    device: torch.device, precision: str, workers: int, progress: bool,
) -> tuple[nn.Module, list[dict[str, float]], int]:
    """Train the whole network; returns the best network (by val accuracy), the history and
    the best epoch. Checkpoints: last.pt (resumable state) and model.pt (best) every epoch."""
    import torch.distributed as dist
    from torch.utils.data import DataLoader, DistributedSampler, WeightedRandomSampler
    from tqdm import tqdm

    rank, local_rank, world = _dist()
    pre = base.preprocessing
    torch.manual_seed(opts.seed)
    net = M.wrap(_full_model(base, head), pre, _identity_labels(), device)
    train_net: nn.Module = _Logits(net)
    if world > 1:  # DDP must wrap the module whose forward is called, so gradients are synchronised
        train_net = nn.parallel.DistributedDataParallel(train_net, device_ids=[local_rank] if device.type == "cuda" else None)
    epochs = opts.epochs or 10
    lr = (opts.lr or 1e-3) * opts.batch_size * world / 64
    wd = opts.weight_decay if opts.weight_decay is not None else 0.05
    decay = [p for n, p in net.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in net.named_parameters() if p.ndim <= 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}], lr=lr)
    train_ds = D.LabelledImages(root, splits.train, D.Preprocessor(pre), augment=_augment(pre))
    val_loader = DataLoader(D.LabelledImages(root, splits.val, D.Preprocessor(pre)), batch_size=opts.batch_size,
                            num_workers=workers)  # fmt: skip
    sampler: Any = None
    if world > 1:
        sampler = DistributedSampler(train_ds, num_replicas=world, rank=rank, shuffle=True, seed=opts.seed)
    elif opts.balance:
        counts = Counter(s.label for s in splits.train)
        weights = [1.0 / counts[s.label] for s in splits.train]
        sampler = WeightedRandomSampler(weights, num_samples=len(weights), generator=torch.Generator().manual_seed(opts.seed))
    loader = DataLoader(train_ds, batch_size=opts.batch_size, shuffle=sampler is None, sampler=sampler,
                        num_workers=workers, drop_last=False, pin_memory=device.type == "cuda",
                        generator=torch.Generator().manual_seed(opts.seed))  # fmt: skip
    steps_per_epoch = max(1, len(loader))
    total = epochs * steps_per_epoch
    warmup = max(1, min(steps_per_epoch, total // 10))

    def lr_at(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda" and precision == "fp16")
    loss_fn = nn.CrossEntropyLoss(label_smoothing=opts.label_smoothing)
    history: list[dict[str, float]] = []
    start_epoch, best_acc, best_epoch, since = 1, -1.0, 0, 0
    last = run_dir / "last.pt"
    if opts.resume and last.exists():
        state = torch.load(last, map_location="cpu", weights_only=True)
        net.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        history = state["history"]
        start_epoch, best_acc, best_epoch, since = state["epoch"] + 1, state["best_acc"], state["best_epoch"], state["since"]
        torch.set_rng_state(state["rng"])
    from animalsort.predict import autocast

    t0 = time.perf_counter() - (history[-1]["seconds"] if history else 0.0)
    for epoch in range(start_epoch, epochs + 1):
        if since >= opts.patience:
            break
        if isinstance(sampler, DistributedSampler):
            sampler.set_epoch(epoch)
        train_net.train()
        tot_loss, tot_ok, tot_n = 0.0, 0, 0
        for images, y, ok in tqdm(loader, desc=f"epoch {epoch}/{epochs}", unit="batch", disable=not progress or rank != 0):
            keep = ok.bool()
            if not keep.any():
                continue
            images, y = images[keep].to(device, non_blocking=True), y[keep].to(device, non_blocking=True)
            with autocast(device, precision):
                logits = train_net(images)
                loss = loss_fn(logits.float(), y)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
            nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            scaler.step(opt)
            scaler.update()
            sched.step()
            tot_loss += loss.item() * len(y)
            tot_ok += int((logits.argmax(1) == y).sum())
            tot_n += len(y)
        if world > 1:
            t = torch.tensor([tot_loss, tot_ok, tot_n], dtype=torch.float64, device=device)
            dist.all_reduce(t)
            tot_loss, tot_ok, tot_n = t[0].item(), int(t[1].item()), int(t[2].item())
        probs, yv, okv = _evaluate(net, val_loader, device, precision)
        vprobs, vy = probs[okv], yv[okv]
        val_loss = float(nn.functional.nll_loss(vprobs.clamp_min(1e-12).log(), vy)) if len(vy) else 0.0
        val_acc = float((vprobs.argmax(1) == vy).float().mean()) if len(vy) else 0.0
        history.append({"epoch": epoch, "train_loss": tot_loss / max(1, tot_n), "train_acc": tot_ok / max(1, tot_n),
                        "val_loss": val_loss, "val_acc": val_acc, "lr": opt.param_groups[0]["lr"],
                        "seconds": time.perf_counter() - t0})  # fmt: skip
        if val_acc > best_acc:
            best_acc, best_epoch, since = val_acc, epoch, 0
            if rank == 0:
                _save_model(run_dir / "model.pt", net.backbone, base, splits.classes, opts, history, "full")
        else:
            since += 1
        if rank == 0:
            state = {"model": net.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                     "scaler": scaler.state_dict(), "history": history, "epoch": epoch, "best_acc": best_acc,
                     "best_epoch": best_epoch, "since": since, "rng": torch.get_rng_state()}  # fmt: skip
            tmp = last.with_name("last.pt.tmp")
            torch.save(state, tmp)
            os.replace(tmp, last)
        if world > 1:
            dist.barrier()
    if world > 1:
        _check_replicas_in_sync(net, device)
    best = M.load(weights=run_dir / "model.pt", device=str(device.type), precision="fp32", progress=False)
    return best.net, history, best_epoch


def _check_replicas_in_sync(net: nn.Module, device: torch.device) -> None:
    """DDP keeps every replica identical; if gradients were not synchronised they drift apart."""
    import torch.distributed as dist

    total = torch.stack([p.detach().double().sum() for p in net.parameters()]).sum().reshape(1).to(device)
    lo, hi = total.clone(), total.clone()
    dist.all_reduce(lo, op=dist.ReduceOp.MIN)
    dist.all_reduce(hi, op=dist.ReduceOp.MAX)
    if float(hi - lo) > 1e-6 * max(1.0, abs(float(total))):
        raise RuntimeError(f"DDP replicas diverged (parameter sums {float(lo)} .. {float(hi)})")


class _Logits(nn.Module):
    """uint8 NHWC → logits through the inference wrapper (normalisation included)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net.logits(images)


def _save_model(path: Path, backbone: nn.Module, base: Base, classes: list[str], opts: FinetuneOptions,
                history: list[dict[str, float]], mode: str, **extra: object) -> None:
    M.save_checkpoint(
        path, backbone, arch=base.arch, labels=classes, preprocessing=base.preprocessing,
        name=path.parent.name, base_model=base.name, base_sha256=base.sha256, mode=mode,
        options={k: v for k, v in asdict(opts).items() if v is None or isinstance(v, (str, int, float, bool))},
        metrics=history[-1] if history else {}, **extra,
    )  # fmt: skip


# --------------------------------------------------------------------------- reports


def min_confidence_for_precision(conf: torch.Tensor, correct: torch.Tensor, target: float = 0.95) -> tuple[float | None, float]:
    """The lowest confidence threshold whose accepted predictions are ≥ ``target`` precise on
    validation, and the share of predictions it keeps. None if no threshold reaches it."""
    if len(conf) == 0:
        return None, 0.0
    order = torch.argsort(conf, descending=True)
    c, ok = conf[order], correct[order].float()
    precision = ok.cumsum(0) / torch.arange(1, len(ok) + 1)
    good = (precision >= target).nonzero()
    if len(good) == 0:
        return None, 0.0
    k = int(good[-1])
    return round(float(c[k]), 4), (k + 1) / len(c)


def write_reports(run_dir: Path, classes: list[str], history: list[dict[str, float]], probs: torch.Tensor,
                  labels: torch.Tensor, paths: list[str]) -> None:
    """metrics.csv, curves.png, confusion.csv/.png, report.csv, misclassified.csv."""
    with open(run_dir / "metrics.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds"])
        w.writeheader()
        for h in history:
            w.writerow({k: (round(v, 6) if isinstance(v, float) else v) for k, v in h.items()})
    n = len(classes)
    pred = probs.argmax(1) if len(probs) else torch.zeros(0, dtype=torch.long)
    cm = torch.zeros(n, n, dtype=torch.long)
    for t, p in zip(labels.tolist(), pred.tolist()):
        cm[t, p] += 1
    with open(run_dir / "confusion.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["true \\ predicted", *classes])
        for i, c in enumerate(classes):
            w.writerow([c, *cm[i].tolist()])
    with open(run_dir / "report.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["class", "precision", "recall", "f1", "support"])
        for i, c in enumerate(classes):
            tp, fp, fn = int(cm[i, i]), int(cm[:, i].sum() - cm[i, i]), int(cm[i].sum() - cm[i, i])
            p = tp / (tp + fp) if tp + fp else 0.0
            r = tp / (tp + fn) if tp + fn else 0.0
            f1 = 2 * p * r / (p + r) if p + r else 0.0
            w.writerow([c, f"{p:.4f}", f"{r:.4f}", f"{f1:.4f}", int(cm[i].sum())])
    with open(run_dir / "misclassified.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "true", "predicted", "confidence"])
        for path, t, p, row in zip(paths, labels.tolist(), pred.tolist(), probs):
            if t != p:
                w.writerow([path, classes[t], classes[p], f"{float(row[p]):.4f}"])
    _plots(run_dir, classes, history, cm)


def _plots(run_dir: Path, classes: list[str], history: list[dict[str, float]], cm: torch.Tensor) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = [h["epoch"] for h in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.plot(x, [h["train_loss"] for h in history], label="train")
    a.plot(x, [h["val_loss"] for h in history], label="validation")
    a.set_xlabel("epoch"), a.set_ylabel("loss"), a.legend()
    b.plot(x, [h["train_acc"] for h in history], label="train")
    b.plot(x, [h["val_acc"] for h in history], label="validation")
    b.set_xlabel("epoch"), b.set_ylabel("accuracy"), b.set_ylim(0, 1.02), b.legend()
    fig.tight_layout()
    fig.savefig(run_dir / "curves.png", dpi=100)
    plt.close(fig)
    size = max(4.0, 0.45 * len(classes) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(cm.numpy(), cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=90)
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted"), ax.set_ylabel("true")
    for i in range(len(classes)):
        for j in range(len(classes)):
            if cm[i, j]:
                ax.text(j, i, int(cm[i, j]), ha="center", va="center",
                        color="white" if cm[i, j] > cm.max() / 2 else "black", fontsize=8)  # fmt: skip
    fig.tight_layout()
    fig.savefig(run_dir / "confusion.png", dpi=100)
    plt.close(fig)


# --------------------------------------------------------------------------- entry point


def run(data_root: Path, run_dir: Path | None = None, options: FinetuneOptions | None = None,
        *, progress: bool = True) -> FinetuneResult:  # fmt: skip
    opts = options or FinetuneOptions()
    start = time.perf_counter()
    if opts.mode not in MODES:
        raise UsageError(f"unknown mode {opts.mode!r}; choose one of: {', '.join(MODES)}")
    root = Path(data_root)
    run_dir = Path(run_dir) if run_dir is not None else Path("runs") / root.absolute().name
    splits = D.labelled_splits(root, opts.val_split, opts.seed)
    check = check_dataset(splits, root)
    device = M.pick_device(opts.device)
    mode = opts.mode if opts.mode != "auto" else ("full" if device.type == "cuda" else "head")
    precision = M.pick_precision(opts.precision, device)
    if mode == "full":
        _init_dist(device)
        rank, local_rank, world = _dist()
        if device.type == "cuda" and world > 1:
            device = torch.device("cuda", local_rank)
            torch.cuda.set_device(device)
    rank = _dist()[0]
    workers = D.default_workers() if opts.workers is None else opts.workers
    run_dir.mkdir(parents=True, exist_ok=True)
    if opts.inspect:
        check.corrupt = _inspect(root, splits, run_dir, check, workers, progress and rank == 0, write=rank == 0)
    torch.manual_seed(opts.seed)
    base = load_base(opts.model, progress and rank == 0)
    head, matched = new_head(base, splits.classes, opts.init_from_pretrained)
    result_extra: dict[str, int] = {}
    if mode == "head":
        cache = run_dir / _cache_name(base)
        samples = splits.train + splits.val + splits.test
        feats, labels, corrupt, computed, cached = extract_features(
            base, root, samples, cache, device, precision, opts.batch_size, workers, progress)  # fmt: skip
        check.corrupt = corrupt
        bad = {p for p, _ in corrupt}
        kept = [s for s in samples if s.path not in bad]
        part_of = {s.path: part for part in ("train", "val", "test") for s in getattr(splits, part)}
        parts = torch.tensor([("train", "val", "test").index(part_of[s.path]) for s in kept])
        xtr, ytr = feats[parts == 0], labels[parts == 0]
        xva, yva = feats[parts == 1], labels[parts == 1]
        weights = None
        if opts.balance:
            counts = torch.bincount(ytr, minlength=len(splits.classes)).float().clamp_min(1)
            weights = counts.sum() / (len(counts) * counts)
        history = train_head(head, xtr, ytr, xva, yva, opts, weights)
        best_epoch = min(history, key=lambda h: h["val_loss"])["epoch"]
        _full_model(base, head)
        val_probs = head(xva).softmax(1).detach() if len(xva) else torch.zeros(0, len(splits.classes))
        val_labels = yva
        val_paths = [s.path for s, p in zip(kept, parts.tolist()) if p == 1]
        test_probs = head(feats[parts == 2]).softmax(1).detach()
        test_labels = labels[parts == 2]
        result_extra = {"features_computed": computed, "features_cached": cached}
        net_backbone = base.backbone
    else:
        bad_list = check.corrupt if opts.inspect else _precheck(root, splits, base.preprocessing)
        check.corrupt = bad_list
        bad = {p for p, _ in bad_list}
        for part in ("train", "val", "test"):
            setattr(splits, part, [s for s in getattr(splits, part) if s.path not in bad])
        net, history, best_epoch = train_full(base, head, root, splits, run_dir, opts, device, precision, workers, progress)
        from torch.utils.data import DataLoader

        def predict(samples: list[D.Sample]) -> tuple[torch.Tensor, torch.Tensor]:
            loader = DataLoader(D.LabelledImages(root, samples, D.Preprocessor(base.preprocessing)),
                                batch_size=opts.batch_size, num_workers=workers)  # fmt: skip
            probs, y, _ = _evaluate(net, loader, device, precision)
            return probs, y

        val_probs, val_labels = predict(splits.val)
        val_paths = [s.path for s in splits.val]
        test_probs, test_labels = predict(splits.test) if splits.test else (torch.zeros(0, 0), torch.zeros(0))
        net_backbone = net.backbone
    conf, pred = (val_probs.max(1) if len(val_probs) else (torch.zeros(0), torch.zeros(0, dtype=torch.long)))
    threshold, coverage = min_confidence_for_precision(conf, pred == val_labels)
    val_acc = float((pred == val_labels).float().mean()) if len(val_labels) else 0.0
    val_loss = min(h["val_loss"] for h in history) if history else 0.0
    test_acc = float((test_probs.argmax(1) == test_labels).float().mean()) if len(test_labels) else None
    if rank == 0:
        _save_model(run_dir / "model.pt", net_backbone, base, splits.classes, opts, history, mode,
                    suggested_min_confidence=threshold, val_accuracy=val_acc, test_accuracy=test_acc,
                    classes_from_pretrained=matched)  # fmt: skip
        write_reports(run_dir, splits.classes, history, val_probs, val_labels, val_paths)
        summary = {"animalsort_version": __version__, "mode": mode, "base_model": base.name, "classes": splits.classes,
                   "counts": check.counts, "corrupt": check.corrupt, "warnings": check.warnings,
                   "val_accuracy": val_acc, "test_accuracy": test_acc, "best_epoch": best_epoch,
                   "suggested_min_confidence": threshold, "coverage_at_min_confidence": coverage,
                   "seconds": round(time.perf_counter() - start, 2)}  # fmt: skip
        (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return FinetuneResult(run_dir, mode, splits.classes, check, len(history), best_epoch, val_acc, val_loss, test_acc,
                          threshold, coverage, matched, time.perf_counter() - start, **result_extra)  # fmt: skip


def _precheck(root: Path, splits: D.LabelledSplits, pre: Any) -> list[tuple[str, str]]:
    """Decode every file once (draft mode: fast) so corrupt ones are listed, not trained on."""
    bad = []
    for s in splits.train + splits.val + splits.test:
        try:
            D.open_rgb(root / s.path, pre.resize_size)
        except Exception as exc:
            bad.append((s.path, D.describe_error(exc)))
    return bad


def _inspect(root: Path, splits: D.LabelledSplits, run_dir: Path, check: DatasetCheck, workers: int,
             progress: bool, write: bool) -> list[tuple[str, str]]:  # fmt: skip
    """The dataset check of ``animalsort inspect`` on this run's split: its findings become
    warnings (duplicates across train and val are leaks), RUN/inspect.html shows them all.
    Returns the corrupt files, which training skips."""
    from animalsort import inspection as I

    samples = [(s.path, splits.classes[s.label], part) for part in ("train", "val", "test") for s in getattr(splits, part)]
    result = I.scan(root, samples, workers=workers, progress=progress)
    if write:
        I.write_html(result, run_dir / "inspect.html")
    for kind, found in result.by_kind().items():
        if kind in ("corrupt", "few_images", "imbalance"):
            continue  # corrupt files are listed on their own; class counts are checked above
        first = found[0]
        shown = f"{first.detail}: {', '.join(first.paths[:3])}{' …' if len(first.paths) > 3 else ''}"
        page = f"; see {run_dir / 'inspect.html'}" if len(found) > 1 or len(first.paths) > 3 else ""
        title = I.KIND_TITLES[kind]
        check.warnings.append((f"{title}: {shown}" if len(found) == 1 else f"{len(found)} × {title} (e.g. {shown})")
                              + page)  # fmt: skip
    return [(f.paths[0], f.detail) for f in result.findings if f.kind == "corrupt"]
