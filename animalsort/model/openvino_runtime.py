"""``--runtime openvino``: the cached ONNX graph (the one ONNX Runtime runs: one export serves
both) compiled by OpenVINO for the CPU.

Precision is set explicitly. OpenVINO's own default on CPUs with AVX512-BF16 or AMX is bf16,
which changes answers (97.5% first-label agreement with fp32 on our measurements): so ``fp32``
sets ``INFERENCE_PRECISION_HINT=f32`` (answers equal to ONNX Runtime's within 1e-4, tested),
and ``bf16`` is used only on a CPU with native bf16 and only when its first labels agree with
f32's on the shipped check views for the same gate as int8 (``int8.INT8_GATE``); the gate's
result is cached beside the graph. ``int8`` is NNCF's post-training quantization of the same
graph (:func:`quantize_nncf`), behind that gate too. Latency hint, one thread per core the run
may use; the compiled model is cached (OpenVINO's CACHE_DIR) for a quick start next time.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from animalsort.atomic import write_text
from animalsort.errors import RuntimeCheckError, UsageError
from animalsort.machine import cpu_features, has_native_bf16, has_vnni
from animalsort.model.int8 import INT8_GATE, agreement, views
from animalsort.model.openvino_graph import OV_PRECISION, OpenVinoModel, core, graph_metadata_of

if TYPE_CHECKING:
    from animalsort.model.resolve import WeightsFile
    from animalsort.model.runner import LoadedModel
    from animalsort.sources.preprocess import Preprocessing
    from animalsort.taxonomy import LabelSet


def bf16_gate(path: Path, pre: Preprocessing, lset: LabelSet, meta: dict[str, str]) -> float:
    """OpenVINO bf16's first-label agreement with its f32 on the shipped check views; refuses
    (RuntimeCheckError) below the gate or on a CPU without native bf16. Cached per graph and CPU."""
    features = cpu_features()
    if not has_native_bf16(features):
        raise RuntimeCheckError(
            "--precision bf16 needs a CPU with native bf16 (AVX512-BF16 or AMX); this one has "
            f"{', '.join(features) or 'neither'} (emulated bf16 is many times slower than fp32)"
        )
    record_file = path.with_name(path.stem + ".openvino-bf16.json")
    try:
        record = json.loads(record_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        record = {}
    if record.get("features") != list(features) or record.get("gate") != INT8_GATE:
        fp32, bf16 = OpenVinoModel(path, "fp32", metadata=meta), OpenVinoModel(path, "bf16", metadata=meta)
        agreed, n = agreement(fp32, bf16, pre, lset)
        record = {"features": list(features), "gate": INT8_GATE, "views": n, "agreement": agreed}
        write_text(record_file, json.dumps(record, indent=2) + "\n")
    agreed = float(record["agreement"])
    if agreed < INT8_GATE:
        raise RuntimeCheckError(
            f"--precision bf16 refused for {meta['model_name']} in OpenVINO: its first label agreed with fp32 on "
            f"{agreed:.1%} of the check photos, below the {INT8_GATE:.0%} gate; use fp32"
        )
    return agreed


def quantize_nncf(fp32: Path, pre: Preprocessing, lset: LabelSet, meta: dict[str, str]) -> tuple[Path, float]:
    """OpenVINO int8 by NNCF post-training quantization of the cached fp32 graph (MIXED preset:
    asymmetric activations; the first two convolutions and the head kept in float), calibrated
    on the shipped views (so the same int8 model for any
    folder), with full 8-bit ranges on CPUs
    whose int8 dot products do not saturate (VNNI, AMX) and NNCF's overflow fix (7-bit) on the
    others; then the int8 gate on the check views. (IR path, agreement); cached per graph and
    CPU kind, a refusal too."""
    features = cpu_features()
    kind = "vnni" if has_vnni(features) else "novnni"
    xml = fp32.with_name(f"{fp32.stem}.openvino-int8-{kind}.xml")
    record_file = xml.with_suffix(".json")
    try:
        record = json.loads(record_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        record = {}
    name = meta["model_name"]
    if record.get("gate") == INT8_GATE and (record.get("passed") is False or xml.is_file()):
        if not record["passed"]:
            raise RuntimeCheckError(_int8_refusal(name, record["agreement"]))
        return xml, float(record["agreement"])
    _nncf_quantize(fp32, xml, pre, overflow_fix=kind == "novnni")
    fp32_model, int8_model = OpenVinoModel(fp32, "fp32", metadata=meta), OpenVinoModel(xml, "fp32", metadata=meta)
    agreed, n = agreement(fp32_model, int8_model, pre, lset)
    passed = agreed >= INT8_GATE
    record = {"gate": INT8_GATE, "views": n, "agreement": agreed, "passed": passed, "cpu": kind}
    write_text(record_file, json.dumps(record, indent=2) + "\n")
    if not passed:
        xml.unlink(missing_ok=True)
        xml.with_suffix(".bin").unlink(missing_ok=True)
        raise RuntimeCheckError(_int8_refusal(name, agreed))
    return xml, agreed


def _nncf_quantize(fp32: Path, xml: Path, pre: Preprocessing, *, overflow_fix: bool) -> None:
    import contextlib
    import io
    import logging
    import os
    import tempfile

    import nncf
    import openvino as ov
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, OverflowFix

    calibration = views(pre, calibration=True)
    model = core().read_model(str(fp32))
    dataset = nncf.Dataset([calibration[i : i + 1] for i in range(len(calibration))])
    # The most sensitive layers stay in float: the first two convolutions (the image's own range)
    # and the head (the classifier and the label sums). Measured on animals-dev (closing note of #31).
    ops = [(op.get_friendly_name(), op.get_type_name()) for op in model.get_ordered_ops()]
    convs = [name for name, kind in ops if kind in ("Convolution", "GroupConvolution")][:2]
    heads = [name for name, kind in ops if kind == "MatMul"]
    advanced = AdvancedQuantizationParameters(overflow_fix=OverflowFix.ENABLE if overflow_fix else OverflowFix.DISABLE)
    nncf.set_log_level(logging.ERROR)  # its advice would go to the user's stderr
    # MIXED: symmetric weights, asymmetric activations (PERFORMANCE's symmetric activations lose more).
    quiet = io.StringIO()
    with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):  # its progress bars
        quantized = nncf.quantize(
            model,
            dataset,
            preset=nncf.QuantizationPreset.MIXED,
            target_device=nncf.TargetDevice.CPU,
            subset_size=len(calibration),
            advanced_parameters=advanced,
            ignored_scope=nncf.IgnoredScope(names=convs + heads),
        )
    with tempfile.TemporaryDirectory(dir=xml.parent) as tmp:
        ov.save_model(quantized, os.path.join(tmp, "m.xml"), compress_to_fp16=False)
        os.replace(os.path.join(tmp, "m.bin"), xml.with_suffix(".bin"))  # the weights first, then the graph
        os.replace(os.path.join(tmp, "m.xml"), xml)


def _int8_refusal(name: str, agreement: float) -> str:
    return (
        f"--precision int8 refused for {name} in OpenVINO: its first label agreed with fp32 on {agreement:.1%} of "
        f"the check photos, below the {INT8_GATE:.0%} gate (a fast wrong answer is no answer); use fp32"
    )


def load_openvino(source: WeightsFile, labels: str, precision: str, progress: bool = False) -> LoadedModel:
    """The model in OpenVINO, from the same cached ONNX graph as ONNX Runtime's."""
    from animalsort.model.onnx_runtime import cached_graph, described
    from animalsort.model.runner import LoadedModel

    if precision not in (*OV_PRECISION, "int8"):
        raise UsageError(f"--runtime openvino runs fp32, bf16 or int8, not {precision}")
    path = cached_graph(source, labels, progress)
    meta = graph_metadata_of(path)
    lset, pre = described(meta, labels)
    gate = None
    if precision == "bf16":
        gate = bf16_gate(path, pre, lset, meta)
    elif precision == "int8":
        path, gate = quantize_nncf(path, pre, lset, meta)
    import torch

    session = OpenVinoModel(path, "bf16" if precision == "bf16" else "fp32", metadata=meta)
    loaded = LoadedModel(
        None, lset, pre, torch.device("cpu"), precision, meta["model_name"], source.sha256, "openvino", session
    )
    loaded.gate_agreement = gate
    return loaded
