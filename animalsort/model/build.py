"""Networks: an architecture by name (timm or torchvision), weights loaded strictly into it, and
the inference wrapper that takes uint8 images straight from the loader and does normalisation,
layout and label aggregation on the device (workers ship 4× fewer bytes than float tensors).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from animalsort.errors import UsageError, WeightsError
from animalsort.model.checkpoints import CHECKPOINT_FORMAT, load_state
from animalsort.model.resolve import WeightsFile
from animalsort.sources.preprocess import Preprocessing
from animalsort.taxonomy import LabelSet

if TYPE_CHECKING:
    import torch
    from torch import nn


# --------------------------------------------------------------------------- architectures


def build_arch(arch: str, num_classes: int) -> nn.Module:
    """``timm:NAME`` or ``torchvision:NAME`` with random weights and ``num_classes`` outputs."""
    lib, _, name = arch.partition(":")
    if lib == "timm":
        import timm

        return timm.create_model(name, pretrained=False, num_classes=num_classes)
    if lib == "torchvision":
        import torchvision

        return torchvision.models.get_model(name, weights=None, num_classes=num_classes)
    raise UsageError(f"unknown architecture {arch!r}; use 'timm:NAME' or 'torchvision:NAME'")


def load_weights(model: nn.Module, state: Mapping, key_map: str | None = None) -> None:
    """Strictly load ``state`` into ``model`` (after the named key map, if any)."""
    if key_map:
        from animalsort.model.keymaps import KEY_MAPS

        if key_map not in KEY_MAPS:
            raise WeightsError(f"unknown key_map {key_map!r}; known: {', '.join(KEY_MAPS)}")
        state = KEY_MAPS[key_map](state, model)
    result = model.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise WeightsError(
            f"weights do not fit {type(model).__name__}: "
            f"{len(result.missing_keys)} missing (e.g. {result.missing_keys[:3]}), "
            f"{len(result.unexpected_keys)} unexpected (e.g. {result.unexpected_keys[:3]})"
        )


def _classifier_class() -> type:
    import torch
    from torch import nn

    class Classifier(nn.Module):
        """uint8 NHWC images → label probabilities (float32), all on the device."""

        def __init__(self, backbone: nn.Module, pre: Preprocessing, matrix: torch.Tensor | None):
            super().__init__()
            self.backbone = backbone
            mean = torch.tensor(pre.mean).view(1, 3, 1, 1) * 255.0
            std = torch.tensor(pre.std).view(1, 3, 1, 1) * 255.0
            self.register_buffer("mean", mean, persistent=False)
            self.register_buffer("inv_std", 1.0 / std, persistent=False)
            self.register_buffer("matrix", matrix, persistent=False)

        def logits(self, images_nhwc: torch.Tensor) -> torch.Tensor:
            # NHWC uint8 permuted to NCHW is already channels_last in memory: no copy.
            x = images_nhwc.permute(0, 3, 1, 2).float()
            x = (x - self.mean) * self.inv_std
            return self.backbone(x.contiguous(memory_format=torch.channels_last))

        def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
            """Model outputs → label probabilities (summed over each label's members)."""
            probs = logits.float().softmax(dim=1)
            if self.matrix is not None:
                probs = probs @ self.matrix
            return probs

        def forward(self, images_nhwc: torch.Tensor) -> torch.Tensor:
            return self.probabilities(self.logits(images_nhwc))

        def look(self, images_nhwc: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            """(the frames' class logits N × K, per-cell class logits N × h × w × K): one pass
            over whole frames of any size on the STRIDE grid. A frame's logits are the head on
            its pooled feature map, as for a centre crop; a cell's are the head on that cell
            alone (for a pooling + linear head, the frame's logits are exactly their mean)."""
            x = images_nhwc.permute(0, 3, 1, 2).float()
            x = (x - self.mean) * self.inv_std
            features, head = cell_parts(self.backbone)
            f = features(x.contiguous(memory_format=torch.channels_last))
            n, c, h, w = f.shape
            frame = head(f)  # the head pools the map itself
            z = head(f.permute(0, 2, 3, 1).reshape(n * h * w, c, 1, 1))
            return frame.float(), z.reshape(n, h, w, -1).float()

    return Classifier


def cell_parts(backbone: nn.Module) -> tuple[Callable, Callable]:
    """(the trunk up to the last feature map, the head on one pooled cell) of a timm or
    torchvision CNN. The head of timm models (``forward_head``) and of torchvision's
    ``features``/``avgpool``/``classifier`` and ResNet ``fc`` models acts on a 1 × 1 map as on a
    pooled one; a model of another shape cannot look at a whole frame at once."""
    import torch

    if hasattr(backbone, "forward_features") and hasattr(backbone, "forward_head"):
        return backbone.forward_features, backbone.forward_head
    if all(hasattr(backbone, a) for a in ("features", "avgpool", "classifier")):
        # ConvNeXt's classifier flattens itself (after a LayerNorm2d); the others' forward flattens first
        flat = any(isinstance(m, torch.nn.Flatten) for m in backbone.classifier.modules())
        return backbone.features, lambda x: backbone.classifier(
            backbone.avgpool(x) if flat else torch.flatten(backbone.avgpool(x), 1)
        )
    if all(hasattr(backbone, a) for a in ("layer4", "avgpool", "fc")):
        names = [name for name, _ in backbone.named_children()]
        trunk = torch.nn.Sequential(*list(backbone.children())[: names.index("avgpool")])
        return trunk, lambda x: backbone.fc(torch.flatten(backbone.avgpool(x), 1))
    raise UsageError(
        f"{type(backbone).__name__} has no feature map and head that --view frame can use; classify with --view centre"
    )


def wrap(backbone: nn.Module, pre: Preprocessing, labels: LabelSet, device: torch.device) -> nn.Module:
    """The inference module for ``backbone``: eval mode, on ``device``, channels_last."""
    import torch

    net = _classifier_class()(backbone, pre, labels.matrix(num_outputs(backbone)))
    net.eval().to(device)
    net.backbone.to(memory_format=torch.channels_last)
    return net


def last_linear(net: nn.Module) -> tuple[str, nn.Linear]:
    """The classifier: the last ``nn.Linear`` of a timm or torchvision model, with its name."""
    from torch import nn

    found = [(name, m) for name, m in net.named_modules() if isinstance(m, nn.Linear)]
    if not found:
        raise UsageError(f"{type(net).__name__} has no Linear classifier to replace")
    return found[-1]


def set_module(net: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = net.get_submodule(parent_name) if parent_name else net
    setattr(parent, child, module)


def num_outputs(backbone: nn.Module) -> int:
    if hasattr(backbone, "num_classes"):
        return int(backbone.num_classes)  # timm
    linears = [m for m in backbone.modules() if hasattr(m, "out_features")]
    return int(linears[-1].out_features)  # torchvision: the final Linear


@dataclass
class Built:
    backbone: nn.Module
    preprocessing: Preprocessing
    model_labels: str | tuple[str, ...]  # "imagenet1k", or a fine-tuned head's own labels
    name: str
    arch: str  # what build_arch made (finetune saves it with the new head)


def build(source: WeightsFile) -> Built:
    """The torch model for ``source``. A file saved by ``animalsort finetune`` carries its
    own architecture, labels and preprocessing; a plain state dict is loaded into the
    registry model's architecture (after its key map, if it needs one)."""
    spec, path = source.spec, source.path
    if not source.explicit:
        backbone = build_arch(spec.arch, spec.num_classes)
        load_weights(backbone, load_state(path), spec.key_map)
        return Built(backbone, spec.preprocessing, spec.labels, spec.name, spec.arch)
    state = load_state(path, keep_metadata=True)
    if state.get("format") == CHECKPOINT_FORMAT:
        model_labels = tuple(state["labels"])
        backbone = build_arch(state["arch"], len(model_labels))
        load_weights(backbone, state["state_dict"])
        pre = Preprocessing.from_dict(state["preprocessing"])
        return Built(backbone, pre, model_labels, str(state.get("name") or path.stem), state["arch"])
    state.pop("format", None)
    backbone = build_arch(spec.arch, spec.num_classes)
    try:
        load_weights(backbone, state)
    except WeightsError:
        if not spec.key_map:
            raise
        load_weights(backbone, state, spec.key_map)
    return Built(backbone, spec.preprocessing, spec.labels, path.name, spec.arch)
