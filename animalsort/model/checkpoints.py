"""Weights on disk: reading any weights file safely (``torch.load(weights_only=True)`` or
safetensors; a pickled Python object is refused) and writing the animalsort checkpoint that
``finetune`` makes and ``classify --weights`` reads (architecture, labels, preprocessing inside).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from animalsort.errors import WeightsError
from animalsort.sources.preprocess import Preprocessing

if TYPE_CHECKING:
    from torch import nn


def load_state(path: Path, keep_metadata: bool = False) -> dict:
    """``torch.load(weights_only=True)`` with a message that helps when it refuses.

    Returns the state dict; with ``keep_metadata`` an animalsort checkpoint comes back whole.
    """
    import pickle

    import torch

    if Path(path).suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except (SafetensorError, OSError) as exc:
            raise WeightsError(f"cannot read weights file {path}: {exc}") from None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL (\S+)", str(exc))  # the worded message varies across torch versions
        if found:
            raise WeightsError(
                f"refusing to load {path}: it carries Python objects ({found.group(1)}) that "
                "could run code, and animalsort only loads plain weights (weights_only=True). "
                "Re-save it as a state dict, or get the file from its publisher"
            ) from None
        raise WeightsError(f"cannot read weights file {path}: not a PyTorch weights file") from None
    except (KeyError, ValueError, IndexError):  # other bytes read as pickle opcodes (b"junk": a memo lookup)
        raise WeightsError(f"cannot read weights file {path}: not a PyTorch weights file") from None
    except (OSError, RuntimeError, EOFError) as exc:
        raise WeightsError(f"cannot read weights file {path}: {exc}") from None
    if isinstance(obj, dict) and obj.get("format") == CHECKPOINT_FORMAT and keep_metadata:
        return obj
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise WeightsError(f"{path} does not hold a state dict (found {type(obj).__name__})")
    return obj


# --------------------------------------------------------------------------- inference wrapper


CHECKPOINT_FORMAT = "animalsort-checkpoint/1"


def save_checkpoint(
    path: Path,
    backbone: nn.Module,
    *,
    arch: str,
    labels: tuple[str, ...] | list[str],
    preprocessing: Preprocessing,
    name: str | None = None,
    **metadata: object,
) -> Path:
    """Save a model that ``load(weights=path)`` (and so ``classify --weights``) can use.

    Only tensors, strings, numbers, lists and dicts go in, so it loads with
    ``weights_only=True``. Written with ``atomic_write``: never half a file.
    """
    import torch

    from animalsort._version import __version__
    from animalsort.atomic import atomic_write

    record = {
        "format": CHECKPOINT_FORMAT,
        "animalsort_version": __version__,
        "name": name or Path(path).parent.name or Path(path).stem,
        "arch": arch,
        "labels": list(labels),
        "preprocessing": preprocessing.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in backbone.state_dict().items()},
        **metadata,
    }
    path = Path(path)
    with atomic_write(path, "wb") as f:
        torch.save(record, f)
    return path
