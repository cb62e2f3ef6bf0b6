"""Which weights file a run uses: ``--weights FILE`` (or a finetune run folder) over a registry
name, found and verified before anything is built (``WeightsFile``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from animalsort.errors import UsageError
from animalsort.model.registry import WeightsSpec


@dataclass(frozen=True)
class WeightsFile:
    """A model's weights file, found and verified, before anything is built."""

    spec: WeightsSpec  # the registry entry (the architecture a plain state dict is loaded into)
    path: Path
    sha256: str
    explicit: bool  # --weights FILE rather than a registry model


def resolve(model: str | None = None, weights: Path | None = None, *, progress: bool = True) -> WeightsFile:
    """``weights`` (a file, or a finetune run folder) wins over ``model`` (a registry name)."""
    from animalsort import hashes
    from animalsort.model import fetch, registry

    known = registry.load_registry()
    spec = known.get(model or known.default)
    if weights is None:
        return WeightsFile(spec, fetch.fetch(spec, progress=progress), spec.sha256, explicit=False)
    path = Path(weights)
    if path.is_dir() and (path / "model.pt").is_file():
        path = path / "model.pt"  # a finetune run folder
    if not path.is_file():
        raise UsageError(f"--weights {path}: no such file")
    return WeightsFile(spec, path, hashes.sha256_file(path), explicit=True)
