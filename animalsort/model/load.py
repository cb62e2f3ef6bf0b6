"""``load``: a model name or weights file → a ``LoadedModel`` on the chosen device, in torch or
in ONNX Runtime (``auto`` falls back to torch, saying why, when the graph cannot be used).
"""

from __future__ import annotations

from pathlib import Path

from animalsort.errors import DeviceError, UsageError
from animalsort.model.build import build, wrap
from animalsort.model.device import pick_device, pick_precision
from animalsort.model.loaded import LoadedModel
from animalsort.model.resolve import resolve


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
    from animalsort.errors import RuntimeCheckError
    from animalsort.model.device import pick_runtime
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
        from animalsort.model.onnx_runtime import load_onnx

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
