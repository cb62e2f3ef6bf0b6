"""What a finetune run is asked for, and what it reports back."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch
    from torch import nn

    from animalsort.datasets.crops import Cropped
    from animalsort.datasets.labelled import LabelledSplits
    from animalsort.datasets.links import Linked

MODES = ("auto", "head", "full")


@dataclass
class FinetuneOptions:
    model: str | None = None
    # start from this weights file (as classify --weights): an animalsort checkpoint, or a state
    # dict for ``model``'s architecture; None: the registry's weights for ``model``
    weights: Path | None = None
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
    runtime: str = "auto"  # what computes head mode's features: auto (ONNX Runtime on the CPU) | torch | onnx
    workers: int | None = None
    label_smoothing: float = 0.1
    weight_decay: float | None = None  # head: 1e-3; full: 0.05
    init_from_pretrained: bool = True  # start matching classes from the ImageNet classifier
    inspect: bool = True  # check the dataset first (duplicates, leaks, blank/tiny images); RUN/inspect.html
    # head mode: the fixed views of each photo whose features the head trains on (data.AUGMENTATIONS; "orig" first)
    views: tuple[str, ...] = ("orig", "flip", "zoom", "zoom_flip")
    # head mode: the window of each photo those views vary — centre (the centre crop) or, as
    # classify's --view, frame / tiles: the window where the pretrained model sees the animal
    view: str = "centre"
    refit: bool = True  # head mode: refit on training + validation photos at the step validation chose
    # head mode: choose that step by k-fold cross-validation (None: 5 folds up to 5,000 photos
    # without a val/ folder, else the held-out split; 1: always the held-out split)
    folds: int | None = None


@dataclass
class Job:
    """One run's fixed context, handed to either mode whole instead of as eight arguments."""

    root: Path
    splits: LabelledSplits
    run_dir: Path
    opts: FinetuneOptions
    device: torch.device
    precision: str
    workers: int
    progress: bool
    folds: int = 1  # head mode: k-fold choice of the stopping step (1: the held-out split)


@dataclass
class DatasetCheck:
    classes: list[str]
    counts: dict[str, dict[str, int]]  # class → {"train": n, "val": n, "test": n}
    corrupt: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class Evaluation:
    """What either mode hands back: the trained network, its history, and its outputs on
    the validation and test photos (the reports and the threshold come from these)."""

    backbone: nn.Module  # the whole network, classifier included
    history: list[dict[str, float]]
    best_epoch: int
    val_probs: torch.Tensor
    val_labels: torch.Tensor
    val_paths: list[str]
    test_probs: torch.Tensor
    test_labels: torch.Tensor
    features_computed: int = 0
    features_cached: int = 0
    refit_photos: int = 0  # head mode: photos the saved head was refit on (0: not refit)
    folds: int = 1  # >1: validation numbers are out-of-fold over every photo


@dataclass
class Scores:
    """The honest numbers of a run: accuracy on photos it did not train on, and the
    ``--min-confidence`` that reaches 95% precision on validation (None if none does)."""

    val_accuracy: float
    val_loss: float
    test_accuracy: float | None
    min_confidence: float | None
    coverage: float


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
    refit_photos: int = 0
    folds: int = 1
    linked: Linked | None = None  # finetune --from: the labelled folder of links it trained on
    cropped: Cropped | None = None  # --detections, or --from a CSV made with them: the crops it trained on
