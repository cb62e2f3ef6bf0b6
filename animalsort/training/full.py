"""Full mode: the whole network trains (AdamW, warmup + cosine, label smoothing, augmentation,
optional class-balanced sampling, gradient clipping, AMP, early stopping on validation
accuracy), ``last.pt`` (resumable) and ``model.pt`` (best) every epoch; under ``torchrun``
with DistributedDataParallel, only rank 0 writing."""

from __future__ import annotations

import math
import os
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, Sampler, WeightedRandomSampler

from animalsort.atomic import atomic_write
from animalsort.datasets.labelled import Sample
from animalsort.inference.batches import Loader
from animalsort.model import load, runner
from animalsort.sources.preprocess import Preprocessing, Preprocessor
from animalsort.training.base import Base, save_model
from animalsort.training.dataset import LabelledImages
from animalsort.training.options import FinetuneOptions, Job

# --------------------------------------------------------------------------- distributed


def dist_info() -> tuple[int, int, int]:
    """(rank, local_rank, world_size) under torchrun; (0, 0, 1) otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 0, 1
    return int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0")), world


def init_dist(device: torch.device) -> torch.device:
    """Join the process group under torchrun; the device this rank trains on."""
    import torch.distributed as dist

    _, local_rank, world = dist_info()
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    return device


def _all_reduce_sums(values: list[float], device: torch.device) -> list[float]:
    import torch.distributed as dist

    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


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


# --------------------------------------------------------------------------- data


def _augment(pre: Preprocessing) -> nn.Module:
    from torchvision import transforms as T

    interp = T.InterpolationMode.BICUBIC if pre.interpolation == "bicubic" else T.InterpolationMode.BILINEAR
    return T.Compose(
        [
            T.RandomResizedCrop(pre.input_size, scale=(0.5, 1.0), interpolation=interp),
            T.RandomHorizontalFlip(),
            T.RandomRotation(10, interpolation=T.InterpolationMode.BILINEAR),
            T.ColorJitter(0.2, 0.2, 0.2, 0.02),
        ]
    )


def eval_loader(root: Path, samples: list[Sample], pre: Preprocessing, batch_size: int, workers: int) -> DataLoader:
    return Loader(LabelledImages(root, samples, Preprocessor(pre)), batch_size=batch_size, num_workers=workers)


def _train_loader(
    root: Path, train: list[Sample], pre: Preprocessing, opts: FinetuneOptions, workers: int, device: torch.device
) -> tuple[DataLoader, Sampler[int] | None]:
    rank, _, world = dist_info()
    ds = LabelledImages(root, train, Preprocessor(pre), augment=_augment(pre))
    sampler: Sampler[int] | None = None
    if world > 1:
        sampler = DistributedSampler(ds, num_replicas=world, rank=rank, shuffle=True, seed=opts.seed)
    elif opts.balance:
        counts = Counter(s.label for s in train)
        weights = [1.0 / counts[s.label] for s in train]
        gen = torch.Generator().manual_seed(opts.seed)
        sampler = WeightedRandomSampler(weights, num_samples=len(weights), generator=gen)
    # A last batch of one photo is dropped (another one is drawn next epoch): BatchNorm cannot
    # train on one value per channel, which a small-input base's 1×1 last feature map gives.
    n = len(sampler) if sampler is not None else len(ds)
    loader = Loader(
        ds,
        batch_size=opts.batch_size,
        shuffle=sampler is None,
        sampler=sampler,
        num_workers=workers,
        drop_last=n % opts.batch_size == 1 and n > 1,
        pin_memory=device.type == "cuda",
        generator=torch.Generator().manual_seed(opts.seed),
    )
    return loader, sampler


def evaluate(net: nn.Module, loader: DataLoader, precision: str, device: torch.device) -> tuple[torch.Tensor, ...]:
    """(probs, labels, ok) over a loader of (images, label, ok)."""
    probs, labels, oks = [], [], []
    net.eval()
    for images, y, ok in loader:
        probs.append(runner.infer(net, images.to(device), precision, logits=True).softmax(1).cpu())
        labels.append(y)
        oks.append(ok)
    if not probs:
        return torch.zeros(0, 0), torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.bool)
    return torch.cat(probs), torch.cat(labels), torch.cat(oks)


# --------------------------------------------------------------------------- optimisation


@dataclass
class _Optim:
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler


def _optimizer(net: nn.Module, opts: FinetuneOptions, steps_per_epoch: int, epochs: int, amp: bool) -> _Optim:
    """AdamW (no weight decay on norms and biases), linear warmup then cosine decay."""
    world = dist_info()[2]
    lr = (opts.lr or 1e-3) * opts.batch_size * world / 64
    wd = opts.weight_decay if opts.weight_decay is not None else 0.05
    decay = [p for p in net.parameters() if p.ndim > 1]
    no_decay = [p for p in net.parameters() if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=lr)
    total = epochs * steps_per_epoch
    warmup = max(1, min(steps_per_epoch, total // 10))

    def lr_at(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    return _Optim(opt, sched, torch.amp.GradScaler("cuda", enabled=amp))


def _train_epoch(
    train_net: nn.Module,
    params: nn.Module,
    loader: DataLoader,
    optim: _Optim,
    loss_fn: nn.Module,
    device: torch.device,
    precision: str,
    desc: str,
    progress: bool,
) -> tuple[float, float]:
    """One pass over the training data; (mean loss, accuracy) across all ranks."""
    from tqdm import tqdm

    train_net.train()
    tot_loss, tot_ok, tot_n = 0.0, 0.0, 0.0
    for images, y, ok in tqdm(loader, desc=desc, unit="batch", disable=not progress):
        keep = ok.bool()
        if not keep.any():
            continue
        images, y = images[keep].to(device, non_blocking=True), y[keep].to(device, non_blocking=True)
        with runner.autocast(device, precision):
            logits = train_net(images)
            loss = loss_fn(logits.float(), y)
        optim.opt.zero_grad(set_to_none=True)
        optim.scaler.scale(loss).backward()
        optim.scaler.unscale_(optim.opt)
        nn.utils.clip_grad_norm_(params.parameters(), 1.0)
        optim.scaler.step(optim.opt)
        optim.scaler.update()
        optim.sched.step()
        tot_loss += loss.item() * len(y)
        tot_ok += int((logits.argmax(1) == y).sum())
        tot_n += len(y)
    if dist_info()[2] > 1:
        tot_loss, tot_ok, tot_n = _all_reduce_sums([tot_loss, tot_ok, tot_n], device)
    return tot_loss / max(1, tot_n), tot_ok / max(1, tot_n)


# --------------------------------------------------------------------------- checkpoints


@dataclass
class _Progress:
    """Where training stands: what ``last.pt`` saves and ``--resume`` restores."""

    history: list[dict[str, float]]
    next_epoch: int = 1
    best_acc: float = -1.0
    best_epoch: int = 0
    since: int = 0  # epochs without a better validation accuracy


def _save_last(path: Path, net: nn.Module, optim: _Optim, state: _Progress) -> None:
    record = {
        "model": net.state_dict(),
        "optimizer": optim.opt.state_dict(),
        "scheduler": optim.sched.state_dict(),
        "scaler": optim.scaler.state_dict(),
        "history": state.history,
        "epoch": state.next_epoch - 1,
        "best_acc": state.best_acc,
        "best_epoch": state.best_epoch,
        "since": state.since,
        "rng": torch.get_rng_state(),
    }
    with atomic_write(path, "wb") as f:
        torch.save(record, f)


def _resume(path: Path, net: nn.Module, optim: _Optim) -> _Progress:
    s = torch.load(path, map_location="cpu", weights_only=True)
    net.load_state_dict(s["model"])
    optim.opt.load_state_dict(s["optimizer"])
    optim.sched.load_state_dict(s["scheduler"])
    optim.scaler.load_state_dict(s["scaler"])
    torch.set_rng_state(s["rng"])
    return _Progress(s["history"], s["epoch"] + 1, s["best_acc"], s["best_epoch"], s["since"])


# --------------------------------------------------------------------------- the loop


def train_full(base: Base, head: nn.Linear, job: Job) -> tuple[nn.Module, list[dict[str, float]], int]:
    """Train the whole network; returns the best network (by val accuracy, in the inference
    wrapper), the history and the best epoch."""
    import torch.distributed as dist

    root, splits, run_dir, opts = job.root, job.splits, job.run_dir, job.opts
    device, precision, workers, progress = job.device, job.precision, job.workers, job.progress
    rank, local_rank, world = dist_info()
    pre = base.preprocessing
    torch.manual_seed(opts.seed)
    net = base.wrap(base.with_head(head), device)
    train_net: nn.Module = _Logits(net)
    if world > 1:  # DDP must wrap the module whose forward is called, so gradients are synchronised
        ids = [local_rank] if device.type == "cuda" else None
        train_net = nn.parallel.DistributedDataParallel(train_net, device_ids=ids)
    epochs = opts.epochs or 10
    loader, sampler = _train_loader(root, splits.train, pre, opts, workers, device)
    val_loader = eval_loader(root, splits.val, pre, opts.batch_size, workers)
    amp = device.type == "cuda" and precision == "fp16"
    optim = _optimizer(net, opts, max(1, len(loader)), epochs, amp)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=opts.label_smoothing)
    last = run_dir / "last.pt"
    state = _resume(last, net, optim) if opts.resume and last.exists() else _Progress([])
    t0 = time.perf_counter() - (state.history[-1]["seconds"] if state.history else 0.0)
    for epoch in range(state.next_epoch, epochs + 1):
        if state.since >= opts.patience:
            break
        if isinstance(sampler, DistributedSampler):
            sampler.set_epoch(epoch)
        desc = f"epoch {epoch}/{epochs}"
        loss, acc = _train_epoch(
            train_net, net, loader, optim, loss_fn, device, precision, desc, progress and rank == 0
        )
        probs, yv, okv = evaluate(net, val_loader, precision, device)
        vprobs, vy = probs[okv], yv[okv]
        val_loss = float(nn.functional.nll_loss(vprobs.clamp_min(1e-12).log(), vy)) if len(vy) else 0.0
        val_acc = float((vprobs.argmax(1) == vy).float().mean()) if len(vy) else 0.0
        lr = optim.opt.param_groups[0]["lr"]
        seconds = time.perf_counter() - t0
        record = {"epoch": epoch, "train_loss": loss, "train_acc": acc, "val_loss": val_loss, "val_acc": val_acc}
        state.history.append({**record, "lr": lr, "seconds": seconds})
        state.next_epoch = epoch + 1
        if val_acc > state.best_acc:
            state.best_acc, state.best_epoch, state.since = val_acc, epoch, 0
            if rank == 0:
                save_model(run_dir / "model.pt", net.backbone, base, splits.classes, opts, state.history, "full")
        else:
            state.since += 1
        if rank == 0:
            _save_last(last, net, optim, state)
        if world > 1:
            dist.barrier()
    if world > 1:
        _check_replicas_in_sync(net, device)
    best = load.load(weights=run_dir / "model.pt", device=str(device.type), precision="fp32", progress=False)
    return best.net, state.history, state.best_epoch
