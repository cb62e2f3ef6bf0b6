"""What this machine has for running a model — the devices torch can use, the runtimes that are
installed, the CPU's features (``this_machine``: what ``decision.decide`` decides from) — and the
torch-side helpers built on it: the device, and where JPEGs are decoded.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from animalsort.errors import DeviceError, UsageError
from animalsort.model.decision import Machine, decide

if TYPE_CHECKING:
    import torch

DECODERS = ("auto", "cpu", "gpu")


def onnx_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


@lru_cache(maxsize=1)
def installed_runtimes() -> tuple[str, ...]:
    """torch, and the graph runtimes whose packages import here."""
    from animalsort.model.openvino_graph import openvino_available

    return ("torch",) + (("onnx",) if onnx_available() else ()) + (("openvino",) if openvino_available() else ())


def this_machine() -> Machine:
    """What ``decide`` needs to know about this machine."""
    import torch

    from animalsort.machine import cpu_features

    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    devices = ("cpu",) + (("cuda",) if cuda else ()) + (("mps",) if mps else ())
    return Machine(devices, installed_runtimes(), cpu_features(), cuda_bf16=cuda and torch.cuda.is_bf16_supported())


def pick_device(name: str = "auto") -> torch.device:
    """The torch device ``--device name`` means here (``decision.decide``'s rule)."""
    import torch

    return torch.device(decide(name, "torch", "fp32", this_machine()).device)


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
