"""``animalsort finetune``: a model for the user's own classes.

Two modes. ``head`` (default on CPU): the pretrained backbone stays frozen, its features are
computed once per file and cached in RUN_DIR (``features.py``), and a linear head is trained
on them in seconds (``head.py``). ``full`` (default on GPU): the whole network trains
(``full.py``: AdamW, warmup + cosine, label smoothing, augmentation, class-balanced sampling,
gradient clipping, AMP, early stopping, last + best checkpoints every epoch, ``resume``, DDP
under ``torchrun`` with only rank 0 writing).

The dataset is checked first (``check.py``), and either way RUN_DIR/model.pt is an animalsort
checkpoint that ``classify --weights`` and ``sort --weights`` use directly, next to the
run-folder reports (``reports.py``). ``run.py`` puts the steps in order.
"""

from animalsort.training.base import base_weights, load_base, new_head
from animalsort.training.check import check_dataset
from animalsort.training.finetuning import finetune_folder, run_from_predictions, run_on_crops
from animalsort.training.options import DatasetCheck, FinetuneOptions, FinetuneResult
from animalsort.training.reports import min_confidence_for_precision

__all__ = [
    "DatasetCheck",
    "FinetuneOptions",
    "FinetuneResult",
    "base_weights",
    "check_dataset",
    "load_base",
    "min_confidence_for_precision",
    "new_head",
    "finetune_folder",
    "run_from_predictions",
    "run_on_crops",
]
