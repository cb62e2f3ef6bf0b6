"""The run folder's reports: metrics.csv, curves.png, confusion.png/.csv, report.csv,
misclassified.csv, summary.json, and the suggested ``--min-confidence``.

Every file is written whole (``atomic_write``), so a run killed while reporting never leaves
a half-written report behind.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from animalsort.atomic import atomic_write, write_text
from animalsort.errors import OutputError
from animalsort.training.options import Evaluation, Scores

if TYPE_CHECKING:
    from matplotlib.figure import Figure

METRIC_COLUMNS = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds"]


def min_confidence_for_precision(
    conf: torch.Tensor, correct: torch.Tensor, target: float = 0.95
) -> tuple[float | None, float]:
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


def scores(ev: Evaluation) -> Scores:
    """Validation accuracy and loss, test accuracy, and the suggested threshold."""
    if len(ev.val_probs):
        conf, pred = ev.val_probs.max(1)
    else:
        conf, pred = torch.zeros(0), torch.zeros(0, dtype=torch.long)
    threshold, coverage = min_confidence_for_precision(conf, pred == ev.val_labels)
    val_acc = float((pred == ev.val_labels).float().mean()) if len(ev.val_labels) else 0.0
    val_loss = min(h["val_loss"] for h in ev.history) if ev.history else 0.0
    test_acc = float((ev.test_probs.argmax(1) == ev.test_labels).float().mean()) if len(ev.test_labels) else None
    return Scores(val_acc, val_loss, test_acc, threshold, coverage)


def _write_reports(run_dir: Path, classes: list[str], ev: Evaluation) -> None:
    """metrics.csv, curves.png, confusion.csv/.png, report.csv, misclassified.csv: the
    history, and the validation photos' answers."""
    history, probs, labels, paths = ev.history, ev.val_probs, ev.val_labels, ev.val_paths
    with atomic_write(run_dir / "metrics.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=METRIC_COLUMNS)
        w.writeheader()
        for h in history:
            w.writerow({k: (round(v, 6) if isinstance(v, float) else v) for k, v in h.items()})
    n = len(classes)
    pred = probs.argmax(1) if len(probs) else torch.zeros(0, dtype=torch.long)
    cm = torch.zeros(n, n, dtype=torch.long)
    for t, p in zip(labels.tolist(), pred.tolist()):
        cm[t, p] += 1
    with atomic_write(run_dir / "confusion.csv", "w", newline="", encoding="utf-8", errors="surrogateescape") as f:
        w = csv.writer(f)
        w.writerow(["true \\ predicted", *classes])
        for i, c in enumerate(classes):
            w.writerow([c, *cm[i].tolist()])
    with atomic_write(run_dir / "report.csv", "w", newline="", encoding="utf-8", errors="surrogateescape") as f:
        w = csv.writer(f)
        w.writerow(["class", "precision", "recall", "f1", "support"])
        for i, c in enumerate(classes):
            tp, fp, fn = int(cm[i, i]), int(cm[:, i].sum() - cm[i, i]), int(cm[i].sum() - cm[i, i])
            p = tp / (tp + fp) if tp + fp else 0.0
            r = tp / (tp + fn) if tp + fn else 0.0
            f1 = 2 * p * r / (p + r) if p + r else 0.0
            w.writerow([c, f"{p:.4f}", f"{r:.4f}", f"{f1:.4f}", int(cm[i].sum())])
    with atomic_write(run_dir / "misclassified.csv", "w", newline="", encoding="utf-8", errors="surrogateescape") as f:
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
    _save_figure(fig, run_dir / "curves.png")
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
                ax.text(
                    j,
                    i,
                    int(cm[i, j]),
                    ha="center",
                    va="center",
                    color="white" if cm[i, j] > cm.max() / 2 else "black",
                    fontsize=8,
                )
    fig.tight_layout()
    _save_figure(fig, run_dir / "confusion.png")
    plt.close(fig)


def _save_figure(fig: Figure, path: Path) -> None:
    with atomic_write(path, "wb") as f:
        fig.savefig(f, format="png", dpi=100)


def write_reports(run_dir: Path, classes: list[str], ev: Evaluation, summary: dict[str, Any]) -> None:
    """Every report of the run folder, or an ``OutputError`` that names the folder."""
    try:
        _write_reports(run_dir, classes, ev)
        write_text(run_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
    except OSError as exc:
        raise OutputError(
            f"cannot write the reports in {run_dir}: {exc.strerror or exc}; free some space or choose another --out"
        ) from None
