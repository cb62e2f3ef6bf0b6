"""The runtime decision: one table of rules, one pure function, checked from a table of cases
(every device, runtime and precision a user can ask for, on machines with and without a GPU,
ONNX Runtime, OpenVINO, native bf16)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from animalsort.cli import main
from animalsort.errors import DeviceError, UsageError
from animalsort.model.decision import DEVICES, PRECISIONS, RUNTIMES, Decision, Machine, decide

ALL = Machine(("cpu",), ("torch", "onnx", "openvino"), ("avx2", "avx512f", "avx512_bf16"))
AVX2 = Machine(("cpu",), ("torch", "onnx", "openvino"), ("avx2",))
ONNX_ONLY = Machine(("cpu",), ("torch", "onnx"), ("avx2",))
BARE = Machine(("cpu",), ("torch",), ("avx2",))
CUDA = Machine(("cpu", "cuda"), ("torch", "onnx"), ("avx2",), cuda_bf16=True)
OLD_CUDA = Machine(("cpu", "cuda"), ("torch", "onnx"), ("avx2",), cuda_bf16=False)
MAC = Machine(("cpu", "mps"), ("torch", "onnx"), ("arm_bf16",))

CASES = [
    # (device, runtime, precision, machine) → Decision
    (("auto", "auto", "auto", ALL), Decision("cpu", "fastest", "fp32", fallback=True)),
    (("auto", "auto", "auto", ONNX_ONLY), Decision("cpu", "onnx", "fp32", fallback=True)),
    (("auto", "auto", "auto", BARE), Decision("cpu", "torch", "fp32")),
    (("cpu", "auto", "fp32", ALL), Decision("cpu", "fastest", "fp32", fallback=True)),
    (("cpu", "onnx", "auto", ALL), Decision("cpu", "onnx", "fp32")),  # asked by name: no fallback
    (("cpu", "openvino", "auto", ALL), Decision("cpu", "openvino", "fp32")),
    (("cpu", "openvino", "bf16", ALL), Decision("cpu", "openvino", "bf16")),
    (("cpu", "auto", "bf16", ALL), Decision("cpu", "torch", "bf16")),
    (("cpu", "torch", "auto", ALL), Decision("cpu", "torch", "fp32")),
    (("cpu", "torch", "fast", ALL), Decision("cpu", "torch", "bf16")),  # native bf16
    (("cpu", "torch", "fast", AVX2), Decision("cpu", "torch", "fp32")),  # emulated bf16 is many times slower
    (("cpu", "auto", "fast", ALL), Decision("cpu", "fastest", "fast", fallback=True)),
    (("cpu", "onnx", "fast", ALL), Decision("cpu", "onnx", "fast", within="onnx")),
    (("cpu", "auto", "fast", BARE), Decision("cpu", "torch", "fp32")),
    (("cpu", "auto", "int8", ALL), Decision("cpu", "onnx", "int8")),  # int8 never falls back
    (("cpu", "openvino", "int8", ALL), Decision("cpu", "openvino", "int8")),
    (("auto", "auto", "auto", CUDA), Decision("cuda", "torch", "bf16")),
    (("auto", "auto", "fast", OLD_CUDA), Decision("cuda", "torch", "fp16")),
    (("cuda", "torch", "fp32", CUDA), Decision("cuda", "torch", "fp32")),
    (("auto", "auto", "auto", MAC), Decision("mps", "torch", "fp32")),
    (("mps", "auto", "fp16", MAC), Decision("mps", "torch", "fp16")),
]


@pytest.mark.parametrize(("asked", "decided"), CASES)
def test_decisions(asked: tuple, decided: Decision) -> None:
    assert decide(*asked) == decided


REFUSED = [
    (("tpu", "auto", "auto", ALL), UsageError, "unknown device 'tpu'; choose one of: auto, cpu, cuda, mps"),
    (("cpu", "jax", "auto", ALL), UsageError, "unknown runtime 'jax'"),
    (("cpu", "auto", "fp8", ALL), UsageError, "unknown precision 'fp8'"),
    (("cuda", "auto", "auto", BARE), DeviceError, "--device cuda: no CUDA GPU is available here"),
    (("mps", "auto", "auto", BARE), DeviceError, "--device mps: Apple MPS is not available here"),
    (("cuda", "onnx", "auto", CUDA), DeviceError, "--runtime onnx runs on the CPU; on cuda use --runtime torch"),
    (("cuda", "torch", "int8", CUDA), UsageError, "--precision int8 runs in ONNX Runtime or OpenVINO on the CPU"),
    (("cpu", "openvino", "auto", ONNX_ONLY), UsageError, "--runtime openvino needs OpenVINO: pip install"),
    (("cpu", "onnx", "auto", BARE), UsageError, "--runtime onnx needs onnxruntime: pip install onnxruntime"),
    (("cpu", "auto", "fp16", ALL), DeviceError, "--precision fp16 is not supported on the CPU"),
    (("cpu", "onnx", "bf16", ALL), UsageError, "--runtime onnx runs fp32 or int8"),
    (("cpu", "torch", "int8", ALL), UsageError, "--precision int8 runs in ONNX Runtime or OpenVINO"),
]


@pytest.mark.parametrize(("asked", "error", "message"), REFUSED)
def test_refusals_say_why(asked: tuple, error: type, message: str) -> None:
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        decide(*asked)


def test_int8_is_refused_for_the_whole_frame_look() -> None:
    with pytest.raises(UsageError, match="--precision int8 runs --view centre only"):
        decide("cpu", "auto", "int8", ALL, look=True)
    assert decide("cpu", "auto", "int8", ALL, look=False).precision == "int8"


def test_the_help_is_made_from_the_same_table(runner: CliRunner) -> None:
    text = " ".join(runner.invoke(main, ["classify", "--help"], terminal_width=10_000).output.split())
    for table in (DEVICES, RUNTIMES, PRECISIONS):
        for name, rule in table.items():
            assert f"{name}: {' '.join(rule.split())}" in text, name
