"""``animalsort models export``: the graph classify runs, as a self-describing ONNX file that runs with
onnxruntime alone (labels, preprocessing, the weights' sha256 and the version in its metadata).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from animalsort.atomic import atomic_write
from animalsort.errors import OutputError, UsageError
from animalsort.model.device import onnx_available
from animalsort.model.onnx_graph import record_path
from animalsort.model.onnx_runtime import load_onnx


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
    """``animalsort models export``: a self-describing ONNX file (labels, label set, preprocessing,
    the weights' sha256 and the animalsort version in its metadata) that runs with
    onnxruntime alone: the graph classify runs, from the cache (made first if needed). int8
    only for a model that passes its gate (else the refusal says why)."""
    import onnx

    from animalsort.model.resolve import resolve

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
