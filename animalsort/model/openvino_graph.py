"""An OpenVINO compiled model over one of our graphs, and what it needs to know about them:
whether OpenVINO is installed, and a graph's self-describing metadata. (The loading, the gates
and NNCF's int8 live in ``openvino_runtime``; this module stays below ``loaded``.)"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from animalsort.errors import RuntimeCheckError, UsageError
from animalsort.machine import cpu_count
from animalsort.paths import cache_dir

if TYPE_CHECKING:
    import numpy as np

OV_PRECISION = {"fp32": "f32", "bf16": "bf16"}


def openvino_available() -> bool:
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def graph_metadata_of(path: Path) -> dict[str, str]:
    """The self-describing metadata of one of our ONNX graphs (labels, preprocessing, …)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return {p.key: p.value for p in model.metadata_props}


_CORE: Any = None


def core() -> Any:
    """The process's one OpenVINO Core (OpenVINO expects one: several in a process, with their
    compiled models, crashed it here — a SIGSEGV some time later)."""
    global _CORE
    if _CORE is None:
        import openvino as ov

        _CORE = ov.Core()
    return _CORE


class OpenVinoModel:
    """An OpenVINO compiled model over one of our graphs (the ONNX file, or NNCF's int8 IR):
    uint8 NHWC images in, float32 out. ``precision`` is the inference precision of the layers
    that are not quantized: fp32 or bf16."""

    def __init__(
        self, path: Path, precision: str = "fp32", threads: int | None = None, metadata: dict[str, str] | None = None
    ):

        if precision not in OV_PRECISION:
            raise UsageError(f"--runtime openvino runs fp32, bf16 or int8, not {precision}")
        ov_core = core()
        config: dict[str, Any] = {
            "INFERENCE_PRECISION_HINT": OV_PRECISION[precision],
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_NUM_THREADS": threads or cpu_count(),
            "CACHE_DIR": str(cache_dir() / "openvino"),  # the compiled model, for the next run's quick start
        }
        try:
            self.compiled = ov_core.compile_model(ov_core.read_model(str(path)), "CPU", config)
        except Exception as exc:  # OpenVINO raises its own exception types
            raise RuntimeCheckError(f"OpenVINO cannot compile {path}: {exc}") from None
        self.path, self.precision = path, precision
        self.applied = str(self.compiled.get_property("INFERENCE_PRECISION_HINT"))
        self.request = self.compiled.create_infer_request()
        self.metadata = metadata if metadata is not None else graph_metadata_of(path)

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return self.outputs(images)[0]

    def outputs(self, images: np.ndarray) -> list[np.ndarray]:
        """Every output of the graph, as float32 copies (the request's buffers are reused)."""
        import numpy as np

        result = self.request.infer([np.ascontiguousarray(images)])
        return [np.array(result[out], dtype=np.float32, copy=True) for out in self.compiled.outputs]
