"""``load``: a model name or weights file → a ``LoadedModel``, in one straight line: resolve the
weights → ``decision.decide`` the device, runtime and precision → measure what only this machine
can settle (``choice``) → one loader. ``auto`` falls back to torch fp32, saying why in ``note``,
when the ONNX graph cannot be made or does not match torch.
"""

from __future__ import annotations

from pathlib import Path

from animalsort.errors import RuntimeCheckError
from animalsort.model.build import build, wrap
from animalsort.model.decision import Decision, decide
from animalsort.model.device import this_machine
from animalsort.model.resolve import WeightsFile, resolve
from animalsort.model.runner import LoadedModel


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
    """Resolve, fetch, verify and load a model ready for inference (``decision.decide`` says
    where and how). ``look``: it will look at whole frames too (``--view frame``/``tiles``:
    ``LoadedModel.look``). ``only`` / ``exclude``: the labels it answers with
    (``LabelSet.restricted``; the graph is the same)."""
    decision = decide(device, runtime, precision, this_machine(), look)
    source = resolve(model, weights, progress=progress)
    loaded = _open(source, labels, decision, progress, look)
    if look:
        attach_look(loaded, source, labels, progress)
    loaded.labels = loaded.labels.restricted(only, exclude)
    return loaded


def _open(source: WeightsFile, labels: str, decision: Decision, progress: bool, look: bool) -> LoadedModel:
    """The one loader: the measured choices settled, then the model in its runtime; torch fp32,
    saying why, where the decision allows that fallback and the graph cannot be used."""
    from animalsort.model import choice

    try:
        runtime, precision, note = _settle(decision, source, labels, progress, look)
        if runtime != "torch":
            loaded = choice.load_graph(source, labels, runtime, precision, progress)
            loaded.note = note
            return loaded
    except RuntimeCheckError as exc:
        if not decision.fallback:
            raise
        runtime, precision, note = "torch", "fp32", f"ONNX Runtime not used ({exc}); ran in torch"
    loaded = _torch(source, labels, decision.device, precision)
    loaded.note = note
    return loaded


def _settle(decision: Decision, source: WeightsFile, labels: str, progress: bool, look: bool) -> tuple[str, str, str]:
    """(runtime, precision, note) once what the decision left to measure is measured."""
    from animalsort.model import choice

    if decision.precision == "fast":  # the whole-frame look runs fp32 or bf16: no int8 candidates
        return choice.fastest_reduced(source, labels, progress, decision.within, int8=not look)
    if decision.runtime == "fastest":
        return choice.fastest_fp32_runtime(source, labels, progress), "fp32", ""
    return decision.runtime, decision.precision, ""


def _torch(source: WeightsFile, labels: str, device: str, precision: str) -> LoadedModel:
    import torch

    from animalsort.taxonomy import label_set

    built = build(source)
    lset = label_set(labels, built.model_labels)
    dev = torch.device(device)
    net = wrap(built.backbone, built.preprocessing, lset, dev)
    return LoadedModel(net, lset, built.preprocessing, dev, precision, built.name, source.sha256)


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
