"""The reduced-precision gate (#13, #31): for every model that can be had offline, each
reduced-precision recipe against its fp32 graph on ../shared/data/animals-dev:

  ort-int8    ONNX Runtime QDQ int8 (per-channel, 7-bit ranges, MinMax on the shipped views)
  ov-int8     OpenVINO int8 by NNCF (MIXED preset, first two convolutions and the head in float;
              full 8-bit ranges on VNNI/AMX CPUs, else NNCF's overflow fix), calibrated on the
              same shipped views
  ov-bf16     OpenVINO with bf16 inference precision (CPUs with native bf16 only)


  agreement   first label equal to fp32's, on the animal labels and on the 1000 ImageNet classes
  accuracy    top-1 on the animal labels (benchmarks/accuracy.py's group → labels), fp32 and int8
  speed       model only, batch 32, images/s, fp32 and int8
  shipped     the runtime gate: agreement on the shipped check views (what classify checks)

The gate a model must pass to offer int8: ≥ 98% agreement on animal labels, ≥ 93% on the fine
classes, accuracy within 1 point of fp32.

    python benchmarks/int8_gate.py [--data ../shared/data] [--models lite0] [--recipes ort-int8,ov-int8,ov-bf16]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from accuracy import GROUP_LABELS  # noqa: E402

from animalsort.model import int8 as I  # noqa: E402
from animalsort.model import (
    onnx_graph,  # noqa: E402
    onnx_runtime,  # noqa: E402
    resolve,  # noqa: E402
)
from animalsort.model.fetch import availability
from animalsort.model.registry import load_registry  # noqa: E402
from animalsort.sources.preprocess import Preprocessor  # noqa: E402
from animalsort.taxonomy import first_labels  # noqa: E402

GATE_ANIMALS, GATE_FINE, GATE_ACCURACY = 0.98, 0.93, 0.01


def speed(session: onnx_graph.OnnxModel, size: int, seconds: float = 5.0) -> float:
    x = np.random.default_rng(0).integers(0, 256, (32, size, size, 3), dtype=np.uint8)
    session(x)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        session(x)
        n += 32
    return n / (time.perf_counter() - t0)


def _candidate(recipe: str, fp32: Path, pre, meta: dict, tmp: Path, tag: str):
    """The reduced-precision model of ``recipe`` over the fp32 graph, without its gate."""
    if recipe == "ort-int8":
        out = tmp / f"{tag}.int8.onnx"
        I.quantize_file(fp32, out, pre)
        return onnx_graph.OnnxModel(out)
    from animalsort.machine import cpu_features, has_vnni
    from animalsort.model import openvino_runtime as ov

    if recipe == "ov-int8":
        xml = tmp / f"{tag}.ov-int8.xml"
        ov._nncf_quantize(fp32, xml, pre, overflow_fix=not has_vnni(cpu_features()))
        return ov.OpenVinoModel(xml, "fp32", metadata=meta)
    if recipe == "ov-bf16":
        return ov.OpenVinoModel(fp32, "bf16", metadata=meta)
    raise SystemExit(f"unknown recipe {recipe}")


def run_model(name: str, data: Path, recipe: str) -> dict:
    manifest = list(csv.DictReader(open(data / "animals-dev" / "manifest.csv")))
    rows = [r for r in manifest if r["group"] in GROUP_LABELS]
    out: dict = {"model": name, "recipe": recipe, "photos": len(rows)}
    firsts: dict[str, dict[str, np.ndarray]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for labels in ("animals", "imagenet"):
            source = resolve.resolve(name, progress=False)
            fp32 = onnx_runtime.load_onnx(source, labels, "fp32")
            assert fp32.session is not None
            x = np.stack([Preprocessor(fp32.preprocessing)(data / "animals-dev" / r["path"]) for r in rows])
            reduced = _candidate(
                recipe, fp32.session.path, fp32.preprocessing, fp32.session.metadata, Path(tmp), labels
            )
            firsts[labels] = {
                "fp32": first_labels(fp32.session(x), fp32.labels),
                "int8": first_labels(reduced(x), fp32.labels),
            }
            if labels == "animals":
                names = fp32.labels.labels
                for k in ("fp32", "int8"):
                    correct = [names[i] in GROUP_LABELS[r["group"]] for i, r in zip(firsts[labels][k], rows)]
                    out[f"accuracy_{k}"] = float(np.mean(correct))
                size = fp32.preprocessing.input_size
                out["fp32_images_per_s"] = speed(fp32.session, size)
                out["int8_images_per_s"] = speed(reduced, size)
                out["shipped_check_agreement"] = I.agreement(fp32.session, reduced, fp32.preprocessing, fp32.labels)[0]
    out["agreement_animals"] = float((firsts["animals"]["fp32"] == firsts["animals"]["int8"]).mean())
    out["agreement_fine"] = float((firsts["imagenet"]["fp32"] == firsts["imagenet"]["int8"]).mean())
    out["passes"] = (
        out["agreement_animals"] >= GATE_ANIMALS
        and out["agreement_fine"] >= GATE_FINE
        and out["accuracy_fp32"] - out["accuracy_int8"] <= GATE_ACCURACY
    )
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--models", default=None, help="comma-separated; default: every model available offline")
    ap.add_argument("--recipes", default="ort-int8,ov-int8,ov-bf16", help="which reduced precisions to check")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    from animalsort.machine import cpu_features, has_native_bf16

    features = cpu_features()
    print(f"CPU features: {', '.join(features) or 'none of AVX2/AVX-512/VNNI/BF16/AMX'}")
    recipes = [r for r in args.recipes.split(",") if r != "ov-bf16" or has_native_bf16(features)]
    reg = load_registry()
    names = args.models.split(",") if args.models else [n for n, s in reg.models.items() if availability(s) != "no"]
    print(
        f"{'model':<12} {'recipe':<9} {'agree animals':>13} {'agree fine':>10} {'acc fp32':>8} {'acc red.':>8} "
        f"{'fp32 img/s':>10} {'red. img/s':>10} {'x':>5} {'shipped':>7}  gate"
    )
    results = []
    for name in names:
        for recipe in recipes:
            r = run_model(name, args.data, recipe)
            results.append(r)
            print(
                f"{name:<12} {recipe:<9} {r['agreement_animals']:>13.3f} {r['agreement_fine']:>10.3f} "
                f"{r['accuracy_fp32']:>8.3f} "
                f"{r['accuracy_int8']:>8.3f} {r['fp32_images_per_s']:>10.1f} {r['int8_images_per_s']:>10.1f} "
                f"{r['int8_images_per_s'] / r['fp32_images_per_s']:>5.2f} {r['shipped_check_agreement']:>7.3f}  "
                f"{'pass' if r['passes'] else 'FAIL'}"
            )
    print(
        f"gate: agreement ≥ {GATE_ANIMALS:.0%} (animal labels) and ≥ {GATE_FINE:.0%} (fine classes), accuracy "
        f"within {GATE_ACCURACY * 100:.0f} point of fp32"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
