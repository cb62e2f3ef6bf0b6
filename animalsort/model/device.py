"""Where and how the forward pass runs: the device (auto, cpu, cuda, mps), the precision
(fp32, bf16, fp16, int8), where JPEGs are decoded, and the runtime (torch or ONNX Runtime).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from animalsort.errors import DeviceError, UsageError

if TYPE_CHECKING:
    import torch

from typing import TYPE_CHECKING

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fast", "fp32", "bf16", "fp16", "int8")
DECODERS = ("auto", "cpu", "gpu")


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
    """``auto``: fp16 on CUDA (bf16 where supported); fp32 on a CPU (fp32's answers: reduced precision
    on a CPU only when asked, ``bf16``, or chosen behind its gate, ``fast``). ``fast`` in torch is
    auto's choice on CUDA and bf16 on a CPU with native bf16."""
    import torch

    if name not in PRECISIONS:
        raise UsageError(f"unknown precision {name!r}; choose one of: {', '.join(PRECISIONS)}")
    if name in ("auto", "fast"):
        if device.type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        if name == "fast" and device.type == "cpu" and cpu_has_fast_bf16():
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


RUNTIMES = ("auto", "torch", "onnx", "openvino")


def onnx_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def pick_runtime(name: str, device_type: str) -> str:
    """``auto``: ONNX Runtime on the CPU (when installed), torch on CUDA and MPS."""
    if name not in RUNTIMES:
        raise UsageError(f"unknown runtime {name!r}; choose one of: {', '.join(RUNTIMES)}")
    if name == "auto":
        return "onnx" if device_type == "cpu" and onnx_available() else "torch"
    if name in ("onnx", "openvino"):
        if device_type != "cpu":
            raise DeviceError(f"--runtime {name} runs on the CPU; on {device_type} use --runtime torch (or auto)")
        if name == "onnx" and not onnx_available():
            raise UsageError("--runtime onnx needs onnxruntime: pip install onnxruntime (or use --runtime torch)")
        if name == "openvino":
            from animalsort.model.openvino_graph import openvino_available

            if not openvino_available():
                raise UsageError("--runtime openvino needs OpenVINO: pip install 'animalsort[openvino]'")
    return name
