"""``--precision int8``: post-training static quantization of a model's ONNX graph, behind
an accuracy gate.

Calibration and the gate use views of photos that ship with the package
(``animalsort/calibration``), so a model gives the same int8 answers whatever folder it
classifies. A model whose int8 answers miss the gate refuses int8, saying so.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from animalsort.atomic import atomic_write, write_text
from animalsort.errors import RuntimeCheckError
from animalsort.model.onnx_graph import GraphKey, OnnxModel, record_path

if TYPE_CHECKING:
    import numpy as np

    from animalsort.sources.preprocess import Preprocessing
    from animalsort.taxonomy import LabelSet


INT8_GATE = 0.98  # share of check views whose first label must agree with fp32


def views(pre: Preprocessing, calibration: bool) -> np.ndarray:
    """uint8 model inputs cut from the photos that ship with the package: one set of views
    to calibrate on, another (other crops, a slight turn) to check the int8 answers on."""
    from importlib import resources

    import numpy as np
    from PIL import Image, ImageOps

    from animalsort.sources.preprocess import Preprocessor

    crop = Preprocessor(pre).crop
    folder = resources.files("animalsort").joinpath("calibration")
    out = []
    for photo in sorted(p for p in folder.iterdir() if p.name.endswith(".jpg")):
        with Image.open(str(photo)) as im:
            im = im.convert("RGB")
        for flip in (False, True):
            base = ImageOps.mirror(im) if flip else im
            if not calibration:
                base = base.rotate(6 if flip else -6, resample=Image.Resampling.BICUBIC, expand=False)
            w, h = base.size
            scales = (1.0, 0.8, 0.6) if calibration else (0.9, 0.7)
            for s in scales:
                cw, ch = int(w * s), int(h * s)
                spots = ((0.5, 0.5), (0.0, 0.0), (1.0, 1.0)) if calibration else ((0.25, 0.75), (0.75, 0.25))
                for fx, fy in spots if s < 1 else ((0.5, 0.5),):
                    x0, y0 = int((w - cw) * fx), int((h - ch) * fy)
                    out.append(crop(base.crop((x0, y0, x0 + cw, y0 + ch))))
    return np.stack(out)


def agreement(
    reference: Callable[[np.ndarray], np.ndarray],
    candidate: Callable[[np.ndarray], np.ndarray],
    pre: Preprocessing,
    lset: LabelSet,
) -> tuple[float, int]:
    """(share of the shipped check views on which ``candidate``'s first label is ``reference``'s,
    how many views): what every reduced precision's gate compares with ``INT8_GATE``."""
    from animalsort.taxonomy import first_labels

    check = views(pre, calibration=False)
    same = first_labels(reference(check), lset) == first_labels(candidate(check), lset)
    return float(same.mean()), len(check)


def quantize(fp32: Path, key: GraphKey, pre: Preprocessing, lset: LabelSet) -> Path:
    """Post-training static int8 (QDQ): per-channel weights, 7-bit ranges on CPUs without
    VNNI or AMX (without them those saturate the u8×s8 products and the answers go wrong) and
    full 8-bit ranges on the others, MinMax calibration on the shipped views. Then the gate:
    on other views its first label must agree with fp32's for ``INT8_GATE`` of them, else the
    model refuses int8 (cached, so the refusal is quick the next time)."""

    path = key.path()
    record_file = record_path(path)
    try:
        record = json.loads(record_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        record = {}
    if record.get("key") == key.digest() and record.get("passed") is False:
        raise RuntimeCheckError(_refusal(key.name, record["agreement"]))
    data = quantize_file(fp32, path, pre)
    agreed, n = agreement(OnnxModel(fp32), OnnxModel(path), pre, lset)
    passed = agreed >= INT8_GATE
    record = {
        "key": key.digest(),
        "sha256": hashlib.sha256(data).hexdigest(),
        "agreement": agreed,
        "views": n,
        "gate": INT8_GATE,
        "passed": passed,
    }
    write_text(record_file, json.dumps(record, indent=2) + "\n")
    if not passed:
        path.unlink(missing_ok=True)
        raise RuntimeCheckError(_refusal(key.name, agreed))
    return path


def quantize_file(fp32: Path, out: Path, pre: Preprocessing, reduce_range: bool | None = None) -> bytes:
    """The int8 graph of ``fp32`` (no gate), written atomically to ``out``; its bytes.
    ``reduce_range`` (7-bit ranges): on CPUs without VNNI/AMX, whose u8×s8 dot products
    saturate; full 8-bit ranges where they do not (default: from this CPU's features)."""
    from animalsort.machine import cpu_features, has_vnni

    if reduce_range is None:
        reduce_range = not has_vnni(cpu_features())
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    calibration = views(pre, calibration=True)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(calibration[i : i + 8] for i in range(0, len(calibration), 8))

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self.batches, None)
            return None if batch is None else {"images": batch}

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    logging.disable(logging.WARNING)  # the quantizer's advice goes to the root logger, i.e. the user's stderr
    try:
        quantize_static(
            str(fp32),
            str(tmp),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            reduce_range=reduce_range,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
        )
        data = tmp.read_bytes()
    finally:
        logging.disable(logging.NOTSET)
        tmp.unlink(missing_ok=True)
    with atomic_write(out, "wb") as f:
        f.write(data)
    return data


def _refusal(name: str, agreement: float) -> str:
    return (
        f"--precision int8 refused for {name}: its first label agreed with fp32 on {agreement:.1%} of the "
        f"check photos, below the {INT8_GATE:.0%} gate (a fast wrong answer is no answer); use fp32"
    )
