"""Head mode's training: a linear head on cached features, full-batch AdamW with cosine
decay. The stopping step is chosen on validation (k-fold cross-validation on small sets, a
held-out split otherwise), then the head is refit on every labelled photo for that many
steps."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator

import torch
from torch import nn

from animalsort.training.options import FinetuneOptions


def _steps(
    head: nn.Linear, x: torch.Tensor, y: torch.Tensor, opts: FinetuneOptions, class_weights: torch.Tensor | None
) -> Iterator[tuple[int, float, torch.Tensor, float]]:
    """One full-batch AdamW step at a time on (x, y), the learning rate on a cosine over
    ``opts.epochs`` steps; yields (step, training loss, training logits, next learning rate)."""
    steps = opts.epochs or 300
    lr = opts.lr or 1e-2
    wd = opts.weight_decay if opts.weight_decay is not None else 1e-3
    opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=wd)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / steps)))
    loss_fn = nn.CrossEntropyLoss(weight=class_weights, label_smoothing=opts.label_smoothing)
    for step in range(1, steps + 1):
        head.train()
        opt.zero_grad()
        out = head(x)
        loss = loss_fn(out, y)
        loss.backward()
        opt.step()
        sched.step()
        yield step, loss.item(), out.detach(), opt.param_groups[0]["lr"]


def train_head(
    head: nn.Linear,
    xtr: torch.Tensor,
    ytr: torch.Tensor,
    xva: torch.Tensor,
    yva: torch.Tensor,
    opts: FinetuneOptions,
    class_weights: torch.Tensor | None,
    *,
    early_stop: bool = True,
) -> list[dict[str, float]]:
    """Train ``head`` in place; keeps the best head by validation loss (early stopping with
    ``patience`` × 10 steps of no improvement, unless ``early_stop`` is off: then every step
    of the schedule runs). Returns one record per step.

    ``xtr`` may hold several views per photo (photos × views × dim): the head trains on all
    of them; ``ytr`` has one label per photo. ``xva`` is one view (photos × dim)."""
    xtr, ytr = _flatten(xtr, ytr)
    eval_fn = nn.CrossEntropyLoss()
    history: list[dict[str, float]] = []
    best, best_state, since = math.inf, None, 0
    t0 = time.perf_counter()
    for step, loss, out, lr in _steps(head, xtr, ytr, opts, class_weights):
        with torch.no_grad():
            head.eval()
            vo, vy = (head(xva), yva) if len(xva) else (out, ytr)
            vloss = eval_fn(vo, vy).item()
        history.append(
            {
                "epoch": step,
                "train_loss": loss,
                "train_acc": (out.argmax(1) == ytr).float().mean().item(),
                "val_loss": vloss,
                "val_acc": (vo.argmax(1) == vy).float().mean().item(),
                "lr": lr,
                "seconds": time.perf_counter() - t0,
            }
        )
        if vloss < best - 1e-4:
            best, since = vloss, 0
            best_state = {k: v.clone() for k, v in head.state_dict().items()}
        else:
            since += 1
            if early_stop and since >= max(1, opts.patience) * 10:
                break
    if best_state is not None:
        head.load_state_dict(best_state)
    return history


def refit_head(
    start: nn.Linear,
    x: torch.Tensor,
    y: torch.Tensor,
    steps: int,
    opts: FinetuneOptions,
    class_weights: torch.Tensor | None,
) -> nn.Linear:
    """A copy of ``start`` (the head before training) trained on (x, y) with the same
    schedule as ``train_head``, stopped at ``steps``: the step validation chose."""
    head = copy.deepcopy(start)
    x, y = _flatten(x, y)
    for step, *_ in _steps(head, x, y, opts, class_weights):
        if step >= steps:
            break
    head.eval()
    return head


def cross_validate(
    start: nn.Linear,
    x: torch.Tensor,
    y: torch.Tensor,
    folds: int,
    opts: FinetuneOptions,
    weights_for: Callable[[torch.Tensor], torch.Tensor | None],
) -> tuple[list[dict[str, float]], int, torch.Tensor]:
    """Choose the number of steps by ``folds``-fold cross-validation over every photo (x:
    photos × views × dim; validation on view 0). Returns the per-step history with
    out-of-fold validation loss and accuracy (each photo scored by the head that did not see
    it), the step with the lowest out-of-fold loss, and the out-of-fold probabilities at that
    step (what the reports and the suggested --min-confidence are computed from)."""
    assign = stratified_folds(y, folds, opts.seed)
    runs: list[tuple[torch.Tensor, list[dict[str, float]]]] = []
    for j in range(folds):
        tr, va = assign != j, assign == j
        if va.any() and tr.any():
            head = copy.deepcopy(start)
            hist = train_head(head, x[tr], y[tr], x[va][:, 0], y[va], opts, weights_for(y[tr]), early_stop=False)
            runs.append((va, hist))
    n = sum(int(va.sum()) for va, _ in runs)
    history = []
    for step in range(len(runs[0][1])):
        rows = [(int(va.sum()), hist[step]) for va, hist in runs]
        history.append(
            {
                "epoch": step + 1,
                "train_loss": sum(r["train_loss"] for _, r in rows) / len(rows),
                "train_acc": sum(r["train_acc"] for _, r in rows) / len(rows),
                "val_loss": sum(k * r["val_loss"] for k, r in rows) / n,
                "val_acc": sum(k * r["val_acc"] for k, r in rows) / n,
                "lr": rows[0][1]["lr"],
                "seconds": sum(r["seconds"] for _, r in rows),
            }
        )
    best = min(history, key=lambda h: h["val_loss"])["epoch"]
    probs = torch.zeros(len(y), start.out_features)
    for va, _ in runs:
        tr = ~va
        head = refit_head(start, x[tr], y[tr], best, opts, weights_for(y[tr]))
        with torch.no_grad():
            probs[va] = head(x[va][:, 0]).softmax(1)
    return history, best, probs


def stratified_folds(y: torch.Tensor, folds: int, seed: int) -> torch.Tensor:
    """A fold number per photo: each class's photos shuffled (seeded) and dealt round-robin,
    so every fold gets its share of every class (a class smaller than ``folds`` lands in the
    first folds)."""
    g = torch.Generator().manual_seed(seed)
    assign = torch.empty(len(y), dtype=torch.long)
    for c in y.unique():
        idx = (y == c).nonzero().flatten()
        idx = idx[torch.randperm(len(idx), generator=g)]
        assign[idx] = torch.arange(len(idx)) % folds
    return assign


def _flatten(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """photos × views × dim → (photos·views) × dim, each label repeated per view."""
    if x.dim() == 2:
        return x, y
    return x.reshape(-1, x.shape[-1]), y.repeat_interleave(x.shape[1])


def class_weights(y: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Loss weights inversely proportional to class frequency (``--balance``)."""
    counts = torch.bincount(y, minlength=n_classes).float().clamp_min(1)
    return counts.sum() / (len(counts) * counts)
