"""Build architectures, load weights, choose device and precision, wrap for inference.

The wrapper takes uint8 images straight from the loader and does normalisation, layout and
label aggregation on the device, so workers ship 4× fewer bytes than float tensors.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from animalsort.errors import DeviceError, UsageError, WeightsError
from animalsort.taxonomy import LabelSet
from animalsort.weights import Preprocessing, WeightsSpec

if TYPE_CHECKING:
    import torch
    from torch import nn

    from animalsort.runtime import OnnxModel

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16", "fp16", "int8")
DECODERS = ("auto", "cpu", "gpu")


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
    except (OSError, RuntimeError, EOFError) as exc:
        raise WeightsError(f"cannot read weights file {path}: {exc}") from None
    if isinstance(obj, dict) and obj.get("format") == CHECKPOINT_FORMAT and keep_metadata:
        return obj
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise WeightsError(f"{path} does not hold a state dict (found {type(obj).__name__})")
    return obj


def load_weights(model: nn.Module, state: Mapping, key_map: str | None = None) -> None:
    """Strictly load ``state`` into ``model`` (after the named key map, if any)."""
    if key_map:
        from animalsort.keymaps import KEY_MAPS

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


# --------------------------------------------------------------------------- device, precision


def pick_device(name: str = "auto") -> torch.device:
    import torch

    if name not in DEVICES:
        raise UsageError(f"unknown device {name!r}; choose one of: {', '.join(DEVICES)}")
    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if name == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if name == "cuda" and not cuda:
        raise DeviceError("--device cuda: no CUDA GPU is available here; use --device auto or cpu")
    if name == "mps" and not mps:
        raise DeviceError("--device mps: Apple MPS is not available here; use --device auto or cpu")
    return torch.device(name)


def cpu_has_fast_bf16() -> bool:
    """True where the CPU has native bfloat16 math (AVX-512 BF16 or AMX)."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def pick_precision(name: str, device: torch.device) -> str:
    """``auto``: fp16 on CUDA (bf16 where supported), bf16 on CPUs with native bf16, else fp32."""
    import torch

    if name not in PRECISIONS:
        raise UsageError(f"unknown precision {name!r}; choose one of: {', '.join(PRECISIONS)}")
    if name == "auto":
        if device.type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        if device.type == "cpu" and cpu_has_fast_bf16():
            return "bf16"
        return "fp32"
    if name == "fp16" and device.type == "cpu":
        raise DeviceError("--precision fp16 is not supported on the CPU; use bf16 or fp32")
    if name == "int8":
        raise UsageError("--precision int8 runs in ONNX Runtime on the CPU: add --runtime onnx (or auto) --device cpu")
    return name


def pick_decode(name: str, device: torch.device) -> str:
    """Where JPEGs are decoded. ``auto`` keeps PIL in the CPU workers (its draft mode makes big
    photos cheap, and the nvJPEG path has not been measured on real hardware yet); ``gpu``
    decodes with nvJPEG on the model's CUDA device."""
    if name not in DECODERS:
        raise UsageError(f"unknown decoder {name!r}; choose one of: {', '.join(DECODERS)}")
    if name == "gpu" and device.type != "cuda":
        raise DeviceError("--decode gpu needs a CUDA device; use --decode cpu (or --device cuda)")
    if name == "auto":
        return "cpu"
    return name


# --------------------------------------------------------------------------- inference


def autocast(device: torch.device, precision: str) -> AbstractContextManager[object]:
    """The autocast context for ``precision`` (a no-op for fp32)."""
    import torch

    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def infer(net: nn.Module, images: torch.Tensor, precision: str, *, logits: bool = False) -> torch.Tensor:
    """One forward pass of an inference wrapper (see :func:`wrap`) on a uint8 NHWC batch on
    its device: ``inference_mode``, autocast for ``precision``, float32 out. Label
    probabilities, or with ``logits`` the raw outputs (features, for a headless backbone)."""
    import torch

    with torch.inference_mode(), autocast(images.device, precision):
        out = net.logits(images) if logits else net(images)
    return out.float()


# --------------------------------------------------------------------------- inference wrapper


CHECKPOINT_FORMAT = "animalsort-checkpoint/1"


@dataclass
class LoadedModel:
    """A ready-to-run classifier and what is needed to describe its output. The forward pass
    runs in torch (``net``) or in ONNX Runtime (``session``, and then no torch model is built)."""

    net: nn.Module | None
    labels: LabelSet
    preprocessing: Preprocessing
    device: torch.device
    precision: str
    name: str
    sha256: str
    runtime: str = "torch"
    session: OnnxModel | None = None
    note: str = ""  # why the runtime asked for was not used, when it was not

    def infer(self, images: torch.Tensor) -> torch.Tensor:
        """Label probabilities for a uint8 NHWC batch on the model's device."""
        if self.session is not None:
            import torch

            return torch.from_numpy(self.session(images.numpy()))
        assert self.net is not None
        return infer(self.net, images, self.precision)


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

    return Classifier


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


@dataclass(frozen=True)
class Source:
    """A model's weights file, found and verified, before anything is built."""

    spec: WeightsSpec  # the registry entry (the architecture a plain state dict is loaded into)
    path: Path
    sha256: str
    explicit: bool  # --weights FILE rather than a registry model


@dataclass
class Built:
    backbone: nn.Module
    preprocessing: Preprocessing
    model_labels: str | tuple[str, ...]  # "imagenet1k", or a fine-tuned head's own labels
    name: str


def resolve(model: str | None = None, weights: Path | None = None, *, progress: bool = True) -> Source:
    """``weights`` (a file, or a finetune run folder) wins over ``model`` (a registry name)."""
    from animalsort import weights as W

    registry = W.load_registry()
    spec = registry.get(model or registry.default)
    if weights is None:
        return Source(spec, W.fetch(spec, progress=progress), spec.sha256, explicit=False)
    path = Path(weights)
    if path.is_dir() and (path / "model.pt").is_file():
        path = path / "model.pt"  # a finetune run folder
    if not path.is_file():
        raise UsageError(f"--weights {path}: no such file")
    return Source(spec, path, W.sha256_file(path), explicit=True)


def build(source: Source) -> Built:
    """The torch model for ``source``. A file saved by ``animalsort finetune`` carries its
    own architecture, labels and preprocessing; a plain state dict is loaded into the
    registry model's architecture (after its key map, if it needs one)."""
    spec, path = source.spec, source.path
    if not source.explicit:
        backbone = build_arch(spec.arch, spec.num_classes)
        load_weights(backbone, load_state(path), spec.key_map)
        return Built(backbone, spec.preprocessing, spec.labels, spec.name)
    state = load_state(path, keep_metadata=True)
    if state.get("format") == CHECKPOINT_FORMAT:
        model_labels = tuple(state["labels"])
        backbone = build_arch(state["arch"], len(model_labels))
        load_weights(backbone, state["state_dict"])
        pre = Preprocessing.from_dict(state["preprocessing"])
        return Built(backbone, pre, model_labels, str(state.get("name") or path.stem))
    state.pop("format", None)
    backbone = build_arch(spec.arch, spec.num_classes)
    try:
        load_weights(backbone, state)
    except WeightsError:
        if not spec.key_map:
            raise
        load_weights(backbone, state, spec.key_map)
    return Built(backbone, spec.preprocessing, spec.labels, path.name)


def load(
    model: str | None = None,
    weights: Path | None = None,
    *,
    labels: str = "animals",
    device: str = "auto",
    precision: str = "auto",
    runtime: str = "torch",
    progress: bool = True,
) -> LoadedModel:
    """Resolve, fetch, verify and load a model ready for inference, in torch or (``runtime``
    onnx, or auto on a CPU) in ONNX Runtime. ``auto`` falls back to torch, saying why in
    ``note``, when the ONNX graph cannot be made or does not match torch."""
    from animalsort.runtime import RuntimeCheckError, pick_runtime
    from animalsort.taxonomy import label_set

    dev = pick_device(device)
    chosen = pick_runtime(runtime, dev.type)
    if chosen == "onnx" and precision == "bf16":
        if runtime != "auto":
            raise UsageError("--runtime onnx runs fp32 or int8; for bf16 use --runtime torch")
        chosen = "torch"
    prec = pick_precision(precision, dev) if chosen == "torch" else ("fp32" if precision == "auto" else precision)
    if prec == "fp16" and chosen == "onnx":
        raise DeviceError("--precision fp16 is not supported on the CPU; use fp32 or int8")
    source = resolve(model, weights, progress=progress)
    note = ""
    if chosen == "onnx":
        from animalsort.runtime import load_onnx

        try:
            return load_onnx(source, labels, prec, progress)
        except RuntimeCheckError as exc:
            if runtime != "auto" or prec == "int8":  # int8 exists only in ONNX Runtime: refuse, never guess
                raise
            note = f"ONNX Runtime not used ({exc}); ran in torch"
    built = build(source)
    lset = label_set(labels, built.model_labels)
    net = wrap(built.backbone, built.preprocessing, lset, dev)
    return LoadedModel(net, lset, built.preprocessing, dev, prec, built.name, source.sha256, note=note)


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

    from animalsort import __version__
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
