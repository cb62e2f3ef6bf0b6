"""Which device, runtime and precision a run uses: one table of the choices and their rules
(``DEVICES``, ``RUNTIMES``, ``PRECISIONS``: the command line's help is made from it), and one
pure function that applies it (``decide``), tested from a table of cases. No torch here: what
the machine has comes in as a ``Machine``.

What only a measurement on this machine can settle is left in the ``Decision`` as a question:
``runtime="fastest"`` (the faster of ONNX Runtime and OpenVINO with fp32's answers) and
``precision="fast"`` (the fastest reduced precision that passed its accuracy gate here). The
loader asks ``model.choice`` (timed once, remembered beside the graph), then loads what it says.
"""

from __future__ import annotations

from dataclasses import dataclass

from animalsort.errors import DeviceError, UsageError
from animalsort.machine import has_native_bf16

#: The choices and the rule of each, in the order the help lists them.
DEVICES = {
    "auto": "cuda > mps > cpu",
    "cpu": "the CPU",
    "cuda": "an NVIDIA GPU",
    "mps": "Apple's GPU",
}
RUNTIMES = {
    "auto": "on a CPU the faster of onnx and openvino with fp32's answers (timed once here, remembered), "
    "torch when neither is installed or the graph cannot be made; torch on a GPU",
    "torch": "eager PyTorch (CPU or GPU)",
    "onnx": "ONNX Runtime (CPU): the model's graph made once and cached; 2-4x torch, the same answers",
    "openvino": "OpenVINO (CPU; the openvino extra): the same graph, f32 set explicitly",
}
PRECISIONS = {
    "auto": "fp32 on a CPU in every runtime; bf16 (fp16 where bf16 is missing) on CUDA; fp32 on MPS",
    "fast": "on a CPU the fastest reduced precision that passed its accuracy gate here (OpenVINO bf16 or "
    "int8, ONNX Runtime int8; in torch bf16 on CPUs with native bf16), else fp32 with a note; on a GPU auto's",
    "fp32": "float32",
    "bf16": "bfloat16 (torch, or OpenVINO behind its gate on CPUs with native bf16)",
    "fp16": "float16 (GPUs only)",
    "int8": "ONNX Runtime or OpenVINO (CPU) behind its accuracy gate; --view centre only",
}
CPU_RUNTIMES = ("onnx", "openvino")


def described(table: dict[str, str]) -> str:
    """``name: rule; …`` for a help text."""
    return "; ".join(f"{name}: {rule}" for name, rule in table.items())


@dataclass(frozen=True)
class Machine:
    """What ``decide`` needs to know about this machine."""

    devices: tuple[str, ...] = ("cpu",)  # usable: cpu always; cuda, mps where present
    runtimes: tuple[str, ...] = ("torch",)  # installed: torch always; onnx, openvino
    cpu_features: tuple[str, ...] = ()
    cuda_bf16: bool = False  # the CUDA device computes in bfloat16


@dataclass(frozen=True)
class Decision:
    """What a run uses. ``runtime="fastest"`` and ``precision="fast"`` are still to be measured
    (``within``: among one runtime's own precisions); ``fallback``: torch fp32 is taken, saying
    why, when the ONNX graph cannot be made or does not match torch."""

    device: str
    runtime: str
    precision: str
    within: str | None = None
    fallback: bool = False


def decide(device: str, runtime: str, precision: str, machine: Machine, look: bool = False) -> Decision:
    """The device, runtime and precision for what was asked (``look``: the whole-frame look of
    ``--view frame``/``tiles``). Raises ``UsageError``/``DeviceError`` for what cannot run here."""
    for name, value, table in (("device", device, DEVICES), ("runtime", runtime, RUNTIMES)):
        if value not in table:
            raise UsageError(f"unknown {name} {value!r}; choose one of: {', '.join(table)}")
    if precision not in PRECISIONS:
        raise UsageError(f"unknown precision {precision!r}; choose one of: {', '.join(PRECISIONS)}")
    if look and precision == "int8":
        raise UsageError(
            "--precision int8 runs --view centre only: the whole-frame look (--view frame or tiles) runs fp32 or bf16"
        )
    where = _device(device, machine)
    if where != "cpu":
        return _gpu(where, runtime, precision, machine)
    if runtime in CPU_RUNTIMES and runtime not in machine.runtimes:
        extra = "pip install onnxruntime" if runtime == "onnx" else "pip install 'animalsort[openvino]'"
        raise UsageError(f"--runtime {runtime} needs {'onnxruntime' if runtime == 'onnx' else 'OpenVINO'}: {extra}")
    if precision == "fp16":
        raise DeviceError("--precision fp16 is not supported on the CPU; use fp32, bf16 or int8")
    if runtime == "torch":
        return _cpu_torch(precision, machine)
    return _cpu_graph(runtime, precision, machine)


def _device(device: str, machine: Machine) -> str:
    if device == "auto":
        return next((d for d in ("cuda", "mps") if d in machine.devices), "cpu")
    if device not in machine.devices:
        what = "no CUDA GPU is available here" if device == "cuda" else "Apple MPS is not available here"
        raise DeviceError(f"--device {device}: {what}; use --device auto or cpu")
    return device


def _gpu(device: str, runtime: str, precision: str, machine: Machine) -> Decision:
    if runtime in CPU_RUNTIMES:
        raise DeviceError(f"--runtime {runtime} runs on the CPU; on {device} use --runtime torch (or auto)")
    if precision == "int8":
        raise UsageError("--precision int8 runs in ONNX Runtime or OpenVINO on the CPU: add --device cpu")
    if precision in ("auto", "fast"):
        precision = ("bf16" if machine.cuda_bf16 else "fp16") if device == "cuda" else "fp32"
    return Decision(device, "torch", precision)


def _cpu_torch(precision: str, machine: Machine) -> Decision:
    if precision == "int8":
        raise UsageError("--precision int8 runs in ONNX Runtime or OpenVINO on the CPU: add --runtime onnx (or auto)")
    if precision == "fast":
        precision = "bf16" if has_native_bf16(machine.cpu_features) else "fp32"
    return Decision("cpu", "torch", "fp32" if precision == "auto" else precision)


def _cpu_graph(runtime: str, precision: str, machine: Machine) -> Decision:
    """ONNX Runtime or OpenVINO on the CPU (``runtime`` auto, onnx or openvino)."""
    graphs = tuple(r for r in CPU_RUNTIMES if r in machine.runtimes)
    if runtime == "auto" and not graphs:
        return _cpu_torch(precision, machine)
    if precision == "fast":  # measured: among every graph runtime (auto), or one runtime's own precisions
        if runtime == "auto":
            return Decision("cpu", "fastest", "fast", fallback=True)
        return Decision("cpu", runtime, "fast", within=runtime)
    if precision == "bf16":
        if runtime == "onnx":
            raise UsageError("--runtime onnx runs fp32 or int8; for bf16 use --runtime openvino or torch")
        if runtime == "auto":  # OpenVINO's bf16 is gated and measured under fast; asked by name: torch's
            return Decision("cpu", "torch", "bf16")
        return Decision("cpu", "openvino", "bf16")
    if precision == "int8":  # never a fallback: int8 exists only in the graph runtimes (refused, never guessed)
        return Decision("cpu", graphs[0] if runtime == "auto" else runtime, "int8")
    if runtime == "auto":
        return Decision("cpu", "fastest" if len(graphs) > 1 else graphs[0], "fp32", fallback=True)
    return Decision("cpu", runtime, "fp32")
