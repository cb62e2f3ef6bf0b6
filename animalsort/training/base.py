"""The pretrained model a run starts from, the new head for the user's classes, and saving
the result as an animalsort checkpoint."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from animalsort.errors import OutputError
from animalsort.model import build, checkpoints
from animalsort.model.resolve import WeightsFile
from animalsort.sources.preprocess import Preprocessing
from animalsort.taxonomy import NUM_IMAGENET_CLASSES, LabelSet, imagenet_members
from animalsort.training.options import FinetuneOptions


@dataclass
class Base:
    """The pretrained model a run starts from, with its classifier split off."""

    name: str
    arch: str
    sha256: str
    preprocessing: Preprocessing
    backbone: nn.Module  # classifier replaced by Identity: outputs pre-logit features
    classifier_name: str
    pretrained_head: nn.Linear
    head_labels: tuple[str, ...] = ()  # a finetuned checkpoint's classes, one row of the head each

    def with_head(self, head: nn.Linear) -> nn.Module:
        """The backbone with ``head`` as its classifier (the whole network to save or train)."""
        build.set_module(self.backbone, self.classifier_name, head)
        return self.backbone

    def wrap(self, net: nn.Module, device: torch.device) -> nn.Module:
        """``net`` in the inference wrapper (uint8 NHWC in, normalisation on the device)."""
        return build.wrap(net, self.preprocessing, LabelSet("features", ()), device)


def base_weights(model: str | None, weights: Path | None, progress: bool) -> WeightsFile:
    """The weights a run starts from, found before any work (a missing ``--weights`` is said
    first): ``weights`` as classify's ``--weights`` reads it — an animalsort checkpoint (its
    own architecture and classes) or a state dict for ``model``'s architecture —, else the
    registry's ``model`` (default: its finetune base)."""
    from animalsort.model import registry
    from animalsort.model.resolve import resolve

    return resolve(model or registry.load_registry().finetune_base, weights, progress=progress)


def load_base(source: WeightsFile) -> Base:
    """The network in ``source`` with its classifier split off."""
    built = build.build(source)
    net = built.backbone
    name, head = build.last_linear(net)
    build.set_module(net, name, nn.Identity())
    labels = built.model_labels if isinstance(built.model_labels, tuple) else ()
    return Base(built.name, built.arch, source.sha256, built.preprocessing, net, name, head, labels)


def new_head(base: Base, classes: list[str], from_pretrained: bool = True) -> tuple[nn.Linear, dict[str, int]]:
    """A Linear head for ``classes``; a class the base already knows starts from its row (a
    checkpoint's class of the same name), and a class whose name denotes ImageNet classes
    (``dog``, ``tabby``, ``antelope_deer``) from the mean of their pretrained rows."""
    head = nn.Linear(base.pretrained_head.in_features, len(classes))
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    matched = {}
    imagenet = from_pretrained and base.pretrained_head.out_features == NUM_IMAGENET_CLASSES and not base.head_labels
    with torch.no_grad():
        for row, name in enumerate(classes):
            if from_pretrained and name in base.head_labels:
                idx = [base.head_labels.index(name)]
            else:
                idx = list(imagenet_members(name)) if imagenet else []
            if idx:
                head.weight[row] = base.pretrained_head.weight[idx].mean(dim=0)
                head.bias[row] = base.pretrained_head.bias[idx].mean()
                matched[name] = len(idx)
    return head, matched


def save_model(
    path: Path,
    backbone: nn.Module,
    base: Base,
    classes: list[str],
    opts: FinetuneOptions,
    history: list[dict[str, float]],
    mode: str,
    **extra: object,
) -> None:
    """RUN_DIR/model.pt: an animalsort checkpoint that ``classify --weights`` loads."""
    options = {
        k: list(v) if isinstance(v, tuple) else str(v) if isinstance(v, Path) else v
        for k, v in asdict(opts).items()
        if v is None or isinstance(v, (str, int, float, bool, tuple, Path))
    }
    try:
        checkpoints.save_checkpoint(
            path,
            backbone,
            arch=base.arch,
            labels=classes,
            preprocessing=base.preprocessing,
            name=path.parent.name,
            base_model=base.name,
            base_sha256=base.sha256,
            mode=mode,
            options=options,
            metrics=history[-1] if history else {},
            **extra,
        )
    except OSError as exc:
        raise OutputError(
            f"cannot write {path}: {exc.strerror or exc}; free some space or choose another --out"
        ) from None
