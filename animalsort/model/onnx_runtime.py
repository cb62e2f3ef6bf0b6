"""Loading a model into ONNX Runtime (CPU).

On a CPU without a GPU the forward pass is the bottleneck, and ONNX Runtime runs our models
2–4× faster than eager torch with the same answers. The graph is made on first use from the
same torch model and cached (``onnx_graph``); with it cached, no torch model is built at all.
int8 is a quantized graph behind an accuracy gate (``int8``).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from animalsort.errors import UsageError
from animalsort.model.int8 import quantize
from animalsort.model.onnx_graph import GraphKey, OnnxModel, cached, ensure

if TYPE_CHECKING:
    from pathlib import Path

    from torch import nn

    from animalsort.model.build import Built
    from animalsort.model.resolve import WeightsFile
    from animalsort.model.runner import LoadedModel
    from animalsort.sources.preprocess import Preprocessing
    from animalsort.taxonomy import LabelSet


# --------------------------------------------------------------------------- loading


def model_key(source: WeightsFile, labels: str, output: str = "probabilities", precision: str = "fp32") -> GraphKey:
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
        labels=labels if output == "probabilities" else "-",  # features and looks are class outputs
        precision=precision,
    )


def graph_metadata(built: Built, lset: LabelSet, source: WeightsFile) -> dict[str, str]:
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


def cached_graph(source: WeightsFile, labels: str, progress: bool = False, output: str = "probabilities") -> Path:
    """The model's fp32 ONNX graph from the cache (made from the torch model, checked and
    cached first when missing). No torch model is built when the graph is cached. ONNX Runtime
    and OpenVINO both run it. ``output="look"``: the graph of whole-frame looks (class logits
    of the frames and of their cells, whatever the label set: it is applied after)."""
    import torch

    from animalsort.model.build import build, wrap
    from animalsort.taxonomy import label_set

    def make() -> tuple[nn.Module, int, dict[str, str]]:
        built = build(source)
        lset = label_set(labels, built.model_labels)
        net = wrap(built.backbone, built.preprocessing, lset, torch.device("cpu"))
        return net, built.preprocessing.input_size, graph_metadata(built, lset, source)

    return ensure(model_key(source, labels, output), make, progress)


def described(meta: dict[str, str], labels: str) -> tuple[LabelSet, Preprocessing]:
    """The label set and preprocessing a graph's metadata describes."""
    from animalsort.sources.preprocess import Preprocessing
    from animalsort.taxonomy import label_set

    model_labels = json.loads(meta["model_labels"])
    lset = label_set(labels, model_labels if isinstance(model_labels, str) else tuple(model_labels))
    return lset, Preprocessing.from_dict(json.loads(meta["preprocessing"]))


def load_onnx(source: WeightsFile, labels: str, precision: str, progress: bool = False) -> LoadedModel:
    """The model in ONNX Runtime: from the cache when the graph is there (no torch model is
    built), else exported from the torch model, checked and cached first."""
    import torch

    from animalsort.model.runner import LoadedModel

    if precision not in ("fp32", "int8"):
        raise UsageError(f"--precision {precision}: ONNX Runtime runs fp32 or int8")
    path = cached_graph(source, labels, progress)
    session = OnnxModel(path)
    meta = session.metadata  # from the session: no second read of the graph
    lset, pre = described(meta, labels)
    if precision == "int8":
        from animalsort.machine import cpu_features, has_vnni

        # the recipe depends on the CPU (7-bit ranges without VNNI): one cached graph per kind
        int8_key = model_key(source, labels, precision="int8-vnni" if has_vnni(cpu_features()) else "int8")
        int8 = cached(int8_key) or quantize(path, int8_key, pre, lset)
        session = OnnxModel(int8)
    cpu = torch.device("cpu")
    return LoadedModel(None, lset, pre, cpu, precision, meta["model_name"], source.sha256, "onnx", session)
