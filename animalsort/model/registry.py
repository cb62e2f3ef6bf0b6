"""The model registry: ``weights.toml`` parsed into ``WeightsSpec`` entries (file, sha256, size,
architecture, labels, preprocessing, sources). Data only: fetching is ``fetch.py``.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from animalsort.errors import UnknownModelError
from animalsort.sources.preprocess import Preprocessing


@dataclass(frozen=True)
class WeightsSpec:
    """One registry entry: everything needed to build, fetch, verify and use a model."""

    name: str
    arch: str
    file: str
    sha256: str
    size: int
    preprocessing: Preprocessing
    labels: str | tuple[str, ...] = "imagenet1k"
    url: str | None = None
    package: str | None = None
    key_map: str | None = None
    license: str = ""
    top1: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return 1000 if self.labels == "imagenet1k" else len(self.labels)


@dataclass(frozen=True)
class Registry:
    default: str  # what classify, sort, explain and export use
    models: dict[str, WeightsSpec]
    finetune_default: str = ""  # what finetune starts from (``default`` when not set)

    @property
    def finetune_base(self) -> str:
        return self.finetune_default or self.default

    def get(self, name: str) -> WeightsSpec:
        try:
            return self.models[name]
        except KeyError:
            raise UnknownModelError(
                f"unknown model {name!r}; available models: {', '.join(self.models)} (see `animalsort models list`)"
            ) from None


_PREPROCESSING_KEYS = ("input_size", "crop_pct", "interpolation", "mean", "std")


def parse_registry(text: str) -> Registry:
    data = tomllib.loads(text)
    models = {}
    for name, entry in data.get("models", {}).items():
        entry = dict(entry)
        pre = Preprocessing.from_dict({k: entry.pop(k) for k in _PREPROCESSING_KEYS})
        labels = entry.pop("labels", "imagenet1k")
        models[name] = WeightsSpec(
            name=name,
            arch=entry.pop("arch"),
            file=entry.pop("file"),
            sha256=entry.pop("sha256").lower(),
            size=int(entry.pop("size")),
            preprocessing=pre,
            labels=labels if isinstance(labels, str) else tuple(labels),
            url=entry.pop("url", None),
            package=entry.pop("package", None),
            key_map=entry.pop("key_map", None),
            license=entry.pop("license", ""),
            top1=entry.pop("top1", None),
            extra=entry,
        )
    reg = Registry(default=data["default"], models=models, finetune_default=data.get("finetune_default", ""))
    for name in (reg.default, reg.finetune_base):
        reg.get(name)  # a default that names no model is a broken registry, not a later surprise
    return reg


def registry_path() -> Path:
    """``weights.toml``: inside the installed package (the wheel ships it there), else at the
    top of a source checkout, where the project keeps it (editable installs read that one)."""
    packaged = resources.files("animalsort").joinpath("weights.toml")
    if packaged.is_file():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "weights.toml"


def load_registry() -> Registry:
    """The model registry (see :func:`registry_path`)."""
    return parse_registry(registry_path().read_text(encoding="utf-8"))
