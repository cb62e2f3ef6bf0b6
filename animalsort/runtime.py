"""Where the forward pass runs: torch (CUDA, MPS or CPU) or ONNX Runtime (CPU).

On a CPU without a GPU the forward pass is the bottleneck, and ONNX Runtime runs our models
2–4× faster than eager torch with the same answers. The graph is made on first use from the
same torch model and cached (``onnx_graph``); with it cached, no torch model is built at all.
int8 is a quantized graph behind an accuracy gate (``int8``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from animalsort.atomic import atomic_write
from animalsort.errors import DeviceError, OutputError, RuntimeCheckError, UsageError
from animalsort.int8 import quantize
from animalsort.onnx_graph import GraphKey, OnnxModel, cached, ensure, record_path

if TYPE_CHECKING:
    from torch import nn

    from animalsort.model import Built, LoadedModel, Source
    from animalsort.taxonomy import LabelSet

__all__ = ["RUNTIMES", "RuntimeCheckError", "load_onnx", "onnx_available", "pick_runtime"]

RUNTIMES = ("auto", "torch", "onnx")


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
    if name == "onnx":
        if device_type != "cpu":
            raise DeviceError(f"--runtime onnx runs on the CPU; on {device_type} use --runtime torch (or auto)")
        if not onnx_available():
            raise UsageError("--runtime onnx needs onnxruntime: pip install onnxruntime (or use --runtime torch)")
    return name


# --------------------------------------------------------------------------- loading


def model_key(source: Source, labels: str, output: str = "probabilities", precision: str = "fp32") -> GraphKey:
    spec = source.spec
    if not source.explicit:
        name = spec.name
    else:  # a finetune run's model.pt is named after its run folder
        name = source.path.parent.name if source.path.name == "model.pt" else source.path.stem
    return GraphKey(
        name=name,
        sha256=source.sha256,
        arch=spec.arch,
        preprocessing=spec.preprocessing.to_dict(),
        output=output,
        labels=labels if output == "probabilities" else "-",
        precision=precision,
    )


def describe(built: Built, lset: LabelSet, source: Source) -> dict[str, str]:
    """The metadata that makes an exported file self-describing."""
    model_labels = built.model_labels if isinstance(built.model_labels, str) else list(built.model_labels)
    return {
        "model_name": built.name,
        "model_labels": json.dumps(model_labels),
        "label_set": lset.name,
        "labels": json.dumps(list(lset.labels)),
        "preprocessing": json.dumps(built.preprocessing.to_dict()),
        "source_sha256": source.sha256,
        "input": "images: uint8, N×H×W×3 (RGB), the centre crop described by preprocessing",
        "decision": (
            "animals: the first label is no_animal if its probability is at least 0.5, else the most "
            "probable other label; later ranks by probability"
            if lset.no_animal is not None
            else "argmax"
        ),
    }


def load_onnx(source: Source, labels: str, precision: str, progress: bool = False) -> LoadedModel:
    """The model in ONNX Runtime: from the cache when the graph is there (no torch model is
    built), else exported from the torch model, checked and cached first."""
    import torch

    from animalsort.model import LoadedModel, build, wrap
    from animalsort.taxonomy import label_set
    from animalsort.weights import Preprocessing

    if precision not in ("fp32", "int8"):
        raise UsageError(f"--precision {precision}: ONNX Runtime runs fp32 or int8")
    key = model_key(source, labels)

    def make() -> tuple[nn.Module, int, dict[str, str]]:
        built = build(source)
        lset = label_set(labels, built.model_labels)
        net = wrap(built.backbone, built.preprocessing, lset, torch.device("cpu"))
        return net, built.preprocessing.input_size, describe(built, lset, source)

    path = ensure(key, make, progress)
    session = OnnxModel(path)
    meta = session.metadata
    model_labels = json.loads(meta["model_labels"])
    lset = label_set(labels, model_labels if isinstance(model_labels, str) else tuple(model_labels))
    pre = Preprocessing.from_dict(json.loads(meta["preprocessing"]))
    if precision == "int8":
        int8_key = model_key(source, labels, precision="int8")
        int8 = cached(int8_key) or quantize(path, int8_key, pre, lset)
        session = OnnxModel(int8)
    cpu = torch.device("cpu")
    return LoadedModel(None, lset, pre, cpu, precision, meta["model_name"], source.sha256, "onnx", session)


@dataclass
class Exported:
    path: Path
    name: str
    labels: list[str]
    label_set: str
    max_abs_diff: float  # the fp32 graph against torch on the check batch
    bytes: int
    precision: str = "fp32"


def export_file(
    out: Path,
    *,
    model: str | None = None,
    weights: Path | None = None,
    labels: str = "animals",
    precision: str = "fp32",
    progress: bool = True,
) -> Exported:
    """``animalsort export``: a self-describing ONNX file (labels, label set, preprocessing,
    the weights' sha256 and the animalsort version in its metadata) that runs with
    onnxruntime alone: the graph classify runs, from the cache (made first if needed). int8
    only for a model that passes its gate (else the refusal says why)."""
    import onnx

    from animalsort.model import resolve

    if not onnx_available():
        raise UsageError("export needs onnxruntime to check the graph: pip install onnxruntime")
    source = resolve(model, weights, progress=progress)
    fp32 = load_onnx(source, labels, "fp32", progress)
    loaded = fp32 if precision == "fp32" else load_onnx(source, labels, precision, progress)
    assert fp32.session is not None and loaded.session is not None
    proto = onnx.load(str(loaded.session.path))
    del proto.metadata_props[:]
    for k, v in {**fp32.session.metadata, "precision": precision}.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
    try:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(out, "wb") as f:
            f.write(proto.SerializeToString())
    except OSError as exc:
        raise OutputError(f"cannot write {out}: {exc.strerror or exc}; choose another --out") from None
    record = json.loads(record_path(fp32.session.path).read_text(encoding="utf-8"))
    return Exported(
        path=Path(out),
        name=loaded.name,
        labels=list(loaded.labels.labels),
        label_set=loaded.labels.name,
        max_abs_diff=float(record["max_abs_diff"]),
        bytes=Path(out).stat().st_size,
        precision=precision,
    )
