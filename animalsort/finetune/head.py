"""Head mode's training: a linear head on cached features, full-batch AdamW with cosine
decay, early stopping on validation loss."""

from __future__ import annotations

import math
import time

import torch
from torch import nn

from animalsort.finetune.options import FinetuneOptions


def train_head(
    head: nn.Linear,
    xtr: torch.Tensor,
    ytr: torch.Tensor,
    xva: torch.Tensor,
    yva: torch.Tensor,
    opts: FinetuneOptions,
    class_weights: torch.Tensor | None,
) -> list[dict[str, float]]:
    """Train ``head`` in place; keeps the best head by validation loss (early stopping with
    ``patience`` × 10 steps of no improvement). Returns one record per step."""
    steps = opts.epochs or 300
    lr = opts.lr or 1e-2
    wd = opts.weight_decay if opts.weight_decay is not None else 1e-3
    opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=wd)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / steps)))
    loss_fn = nn.CrossEntropyLoss(weight=class_weights, label_smoothing=opts.label_smoothing)
    eval_fn = nn.CrossEntropyLoss()
    history: list[dict[str, float]] = []
    best, best_state, since = math.inf, None, 0
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
            vo, vy = (head(xva), yva) if len(xva) else (out, ytr)
            vloss = eval_fn(vo, vy).item()
            history.append(
                {
                    "epoch": step,
                    "train_loss": loss.item(),
                    "train_acc": (out.argmax(1) == ytr).float().mean().item(),
                    "val_loss": vloss,
                    "val_acc": (vo.argmax(1) == vy).float().mean().item(),
                    "lr": opt.param_groups[0]["lr"],
                    "seconds": time.perf_counter() - t0,
                }
            )
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


def class_weights(y: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Loss weights inversely proportional to class frequency (``--balance``)."""
    counts = torch.bincount(y, minlength=n_classes).float().clamp_min(1)
    return counts.sum() / (len(counts) * counts)
