"""``load``: a model name or weights file → a ``LoadedModel`` on the chosen device, in torch or
in ONNX Runtime (``auto`` falls back to torch, saying why, when the graph cannot be used).
"""

from __future__ import annotations

from pathlib import Path

from animalsort.errors import DeviceError, UsageError
from animalsort.model.build import build, wrap
from animalsort.model.device import pick_device, pick_precision
from animalsort.model.loaded import LoadedModel
from animalsort.model.resolve import WeightsFile, resolve


def load(
    model: str | None = None,
    weights: Path | None = None,
    *,
    labels: str = "animals",
    device: str = "auto",
    precision: str = "auto",
    runtime: str = "torch",
    progress: bool = True,
    look: bool = False,
    only: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
) -> LoadedModel:
    """Resolve, fetch, verify and load a model ready for inference, in torch or (``runtime``
    onnx, or auto on a CPU) in ONNX Runtime. ``auto`` falls back to torch, saying why in
    ``note``, when the ONNX graph cannot be made or does not match torch. ``look``: it will
    look at whole frames too (``--view frame``/``tiles``: ``LoadedModel.look``). ``only`` /
    ``exclude``: the labels it answers with (``LabelSet.restricted``; the graph is the same)."""
    if look and precision == "int8":
        raise UsageError(
            "--precision int8 runs --view centre only: the whole-frame look (--view frame or tiles) runs fp32 or bf16"
        )
    loaded = _load(model, weights, labels, device, precision, runtime, progress, look)
    if look:
        attach_look(loaded, resolve(model, weights, progress=progress), labels, progress)
    loaded.labels = loaded.labels.restricted(only, exclude)
    return loaded


def attach_look(loaded: LoadedModel, source: WeightsFile, labels: str, progress: bool = False) -> None:
    """Give ``loaded`` its whole-frame look in the same runtime and precision: in torch the
    network's own ``look``; in ONNX Runtime and OpenVINO the cached look graph (made from the
    torch model once, checked against it at three frame shapes)."""
    if loaded.runtime == "torch":
        return
    from animalsort.model.onnx_graph import OnnxModel
    from animalsort.model.onnx_runtime import cached_graph

    path = cached_graph(source, labels, progress, output="look")
    if loaded.runtime == "openvino":
        from animalsort.model.openvino_graph import OpenVinoModel, graph_metadata_of

        loaded.look_session = OpenVinoModel(path, loaded.precision, metadata=graph_metadata_of(path))
    else:
        loaded.look_session = OnnxModel(path)


def _load(
    model: str | None,
    weights: Path | None,
    labels: str,
    device: str,
    precision: str,
    runtime: str,
    progress: bool,
    look: bool,
) -> LoadedModel:
    from animalsort.errors import RuntimeCheckError
    from animalsort.model.device import pick_runtime
    from animalsort.taxonomy import label_set

    dev = pick_device(device)
    chosen = pick_runtime(runtime, dev.type)
    cpu_runtime = dev.type == "cpu" and (runtime == "auto" or chosen in ("onnx", "openvino"))
    if cpu_runtime and (precision == "fast" or runtime == "auto" and precision in ("auto", "fp32")):
        return _measured_choice(model, weights, labels, runtime, precision, progress, look)
    if chosen == "openvino":
        from animalsort.model.openvino_runtime import load_openvino

        return load_openvino(resolve(model, weights, progress=progress), labels, _cpu_precision(precision), progress)
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


def _cpu_precision(precision: str) -> str:
    """``auto`` in ONNX Runtime and OpenVINO is fp32: the answers of ``--runtime torch --precision fp32``."""
    return "fp32" if precision == "auto" else precision


def _measured_choice(
    model: str | None, weights: Path | None, labels: str, runtime: str, precision: str, progress: bool, look: bool
) -> LoadedModel:
    """``--runtime auto`` (fp32: the fastest runtime with fp32's answers) and ``--precision fast``
    (the fastest reduced precision that passed its gate) on a CPU, measured once (``choice``)."""
    from animalsort.errors import RuntimeCheckError
    from animalsort.model import choice

    source = resolve(model, weights, progress=progress)
    note = ""
    try:
        if precision == "fast":  # --runtime X --precision fast: X's own reduced precisions only
            within = None if runtime == "auto" else runtime
            rt, prec, note = choice.fastest_reduced(source, labels, progress, within, int8=not look)
        else:
            rt, prec = choice.fastest_fp32_runtime(source, labels, progress), "fp32"
        if rt == "torch":
            return load(model, weights, labels=labels, device="cpu", precision=prec, runtime="torch", progress=progress)
        loaded = choice._load(source, labels, rt, prec, progress)
    except RuntimeCheckError as exc:  # the graph cannot be made or does not match torch: as before, torch
        loaded = load(model, weights, labels=labels, device="cpu", precision="fp32", runtime="torch", progress=progress)
        loaded.note = f"ONNX Runtime not used ({exc}); ran in torch"
        return loaded
    loaded.note = note
    return loaded
