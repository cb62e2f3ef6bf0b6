"""Which CPU runtime and precision on this machine, measured once per model graph and CPU kind
and cached beside the graph.

- ``--runtime auto`` on a CPU: the fastest runtime that gives fp32's answers — ONNX Runtime or
  OpenVINO with its f32 hint (answers equal within 1e-4) — by model-only speed on the shipped
  check views.
- ``--precision fast``: the fastest reduced precision that passed its gate here (OpenVINO bf16
  on CPUs with native bf16, OpenVINO int8 by NNCF, ONNX Runtime int8), when it is faster than
  the fastest fp32; else fp32, with a ``note`` that says why.

A gate's refusal is part of the record: the next run does not try again.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from animalsort.atomic import write_text
from animalsort.errors import RuntimeCheckError
from animalsort.machine import cpu_features, has_native_bf16

if TYPE_CHECKING:
    from animalsort.model.resolve import WeightsFile
    from animalsort.model.runner import LoadedModel

FP32 = (("onnx", "fp32"), ("openvino", "fp32"))
REDUCED = (("openvino", "bf16"), ("openvino", "int8"), ("onnx", "int8"))
_SECONDS = 1.0  # model-only timing per candidate (after a warm-up batch)


def _available(runtime: str) -> bool:
    from animalsort.model.device import installed_runtimes

    return runtime in installed_runtimes()


def candidates(kind: str) -> list[tuple[str, str]]:
    features = cpu_features()
    pool = FP32 if kind == "fp32" else REDUCED
    return [(rt, prec) for rt, prec in pool if _available(rt) and (prec != "bf16" or has_native_bf16(features))]


def _speed(loaded: LoadedModel) -> float:
    import torch

    from animalsort.model.int8 import views

    return loaded.images_per_s(torch.from_numpy(views(loaded.preprocessing, calibration=False)[:32]), _SECONDS)


def _record_path(source: WeightsFile, labels: str) -> Path:
    from animalsort.model.onnx_runtime import model_key

    features = ",".join(cpu_features())
    tag = hashlib.sha256(f"{model_key(source, labels).digest()}|{features}".encode()).hexdigest()[:16]
    return model_key(source, labels).path().with_name(f"choice-{tag}.json")


def load_graph(source: WeightsFile, labels: str, runtime: str, precision: str, progress: bool) -> LoadedModel:
    """The model in a graph runtime (``onnx`` or ``openvino``) at ``precision``: what ``measured``
    times and what ``load`` runs."""
    if runtime == "openvino":
        from animalsort.model.openvino_runtime import load_openvino

        return load_openvino(source, labels, precision, progress)
    from animalsort.model.onnx_runtime import load_onnx

    return load_onnx(source, labels, precision, progress)


def measured(source: WeightsFile, labels: str, kind: str, progress: bool = False) -> dict[str, Any]:
    """``{"runtime precision": {"images_per_s": …, "agreement": …} or {"refused": why}}`` for
    the candidates of ``kind`` ("fp32" or "reduced"), measured now or read from the cache."""
    path = _record_path(source, labels)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        record = {}
    wanted = [f"{rt} {prec}" for rt, prec in candidates(kind)]
    if all(w in record for w in wanted):
        return {w: record[w] for w in wanted}
    for rt, prec in candidates(kind):
        key = f"{rt} {prec}"
        if key in record:
            continue
        try:
            loaded = load_graph(source, labels, rt, prec, progress)
        except RuntimeCheckError as exc:
            record[key] = {"refused": str(exc)}
            continue
        record[key] = {"images_per_s": round(_speed(loaded), 1), "agreement": loaded.gate_agreement}
    record["cpu_features"] = list(cpu_features())
    try:
        write_text(path, json.dumps(record, indent=2) + "\n")
    except OSError:
        pass  # a cache we cannot write: measured again next time

    return {w: record[w] for w in wanted}


def fastest_fp32_runtime(source: WeightsFile, labels: str, progress: bool = False) -> str:
    """``onnx`` or ``openvino``: whichever runs fp32 faster here (ONNX Runtime when it is the only one)."""
    found = candidates("fp32")
    if len(found) <= 1:
        return found[0][0] if found else "torch"
    speeds = measured(source, labels, "fp32", progress)
    ran = {k: v for k, v in speeds.items() if "images_per_s" in v}
    if not ran:  # the graph could not be made or loaded: say why (the caller falls back to torch)
        raise RuntimeCheckError(next(iter(speeds.values()))["refused"].removeprefix("RuntimeCheckError: "))
    return max(ran, key=lambda k: ran[k]["images_per_s"]).split()[0]


def fastest_reduced(
    source: WeightsFile, labels: str, progress: bool = False, within: str | None = None, int8: bool = True
) -> tuple[str, str, str]:
    """(runtime, precision, note) for ``--precision fast``: the fastest reduced precision that
    passed its gate, if faster than fp32; else the fastest fp32 runtime and a note why.
    ``within``: one runtime's own precisions only (``--runtime openvino --precision fast``);
    ``int8=False``: not int8 (the whole-frame look runs fp32 or bf16)."""
    fp32 = measured(source, labels, "fp32", progress)
    reduced = measured(source, labels, "reduced", progress)
    if not int8:
        reduced = {k: v for k, v in reduced.items() if not k.endswith("int8")}
    if within is not None:
        fp32 = {k: v for k, v in fp32.items() if k.split()[0] == within} or {f"{within} fp32": {}}
        reduced = {k: v for k, v in reduced.items() if k.split()[0] == within}
    best_fp32 = max(fp32, key=lambda k: fp32[k].get("images_per_s", 0.0))
    passed = {k: v for k, v in reduced.items() if "images_per_s" in v}
    if passed:
        best = max(passed, key=lambda k: passed[k]["images_per_s"])
        if passed[best]["images_per_s"] > fp32[best_fp32].get("images_per_s", 0.0):
            rt, prec = best.split()
            return rt, prec, ""
    why = "; ".join(
        f"{k}: {v['refused']}" if "refused" in v else f"{k}: not faster than fp32 ({v['images_per_s']:.0f} img/s)"
        for k, v in reduced.items()
    )
    note = f"--precision fast ran fp32: no reduced precision passed its gate and ran faster here ({why or 'none'})"
    return best_fp32.split()[0], "fp32", note
