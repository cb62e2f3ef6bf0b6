"""A tiny random-initialised model (timm test_efficientnet at 32 px) saved as an animalsort
checkpoint, for where the pipeline, not the network, is the subject: the tests' ``tiny_weights``
fixture and benchmarks/memory_scale.py."""

from __future__ import annotations

from pathlib import Path


def save_tiny(path: Path, labels: list[str]) -> Path:
    """The model for ``labels``, its weights drawn from seed 0 (the same file every time)."""
    import torch

    from animalsort.model.build import build_arch
    from animalsort.model.checkpoints import save_checkpoint
    from animalsort.sources.preprocess import Preprocessing

    torch.manual_seed(0)
    net = build_arch("timm:test_efficientnet", len(labels))
    return save_checkpoint(
        path,
        net,
        arch="timm:test_efficientnet",
        labels=labels,
        preprocessing=Preprocessing(input_size=32, crop_pct=1.0),
        name="tiny",
    )
