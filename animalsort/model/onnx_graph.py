"""ONNX graphs of our models: exported from torch, checked against it, cached, loaded.

The graph takes uint8 NHWC images (normalisation and the cast inside, so batches travel as
uint8) and gives label probabilities, or a headless backbone's features. It is cached under
the cache folder's ``onnx/``, keyed by everything it depends on (the weights' sha256, the
preprocessing, what it outputs, the label set, the exporter and opset versions), written
atomically, and verified by its own sha256 each time it is loaded: a damaged file is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from animalsort._version import __version__
from animalsort.atomic import atomic_write, write_text
from animalsort.errors import RuntimeCheckError
from animalsort.hashes import sha256_file
from animalsort.paths import cache_dir

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn

OPSET = 18
GRAPH_FORMAT = 1  # bump when what the graph takes or gives changes
LOOK_FORMAT = 2  # a look graph's own: 2 = TF-"same" padding as the convolutions' own pads (_grid_padded)
CHECK_TOLERANCE = 1e-4  # max |ONNX Runtime − torch| on the check batch (probabilities, features)
LOGIT_TOLERANCE = 1e-3  # the same for a look's logits (ten times the scale of probabilities)


# --------------------------------------------------------------------------- the cache


@dataclass(frozen=True)
class GraphKey:
    """Everything an exported graph depends on."""

    name: str  # for the file name only
    sha256: str  # the weights file
    arch: str
    preprocessing: dict[str, Any]
    output: str  # "probabilities" (label probabilities) or "features" (a headless backbone)
    labels: str  # the label set the probabilities are summed into ("-" for features)
    precision: str = "fp32"

    def digest(self) -> str:
        import torch

        record = {
            **self.__dict__,
            "format": GRAPH_FORMAT,
            "opset": OPSET,
            "torch": torch.__version__.split("+")[0],
        }
        if self.output == "look":
            record["look_format"] = LOOK_FORMAT
        return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()

    def path(self) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in self.name)[:60]
        return cache_dir() / "onnx" / f"{safe}-{self.output}-{self.precision}-{self.digest()[:16]}.onnx"


def record_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def cached(key: GraphKey) -> Path | None:
    """The cached graph for ``key`` if it is there and whole (its sha256 matches)."""
    path = key.path()
    try:
        record = json.loads(record_path(path).read_text(encoding="utf-8"))
        if record.get("key") == key.digest() and record.get("sha256") == sha256_file(path):
            return path
    except (OSError, ValueError):
        pass
    return None


# --------------------------------------------------------------------------- sessions


class OnnxModel:
    """An ONNX Runtime session over one of our graphs: uint8 NHWC images in, float32 out."""

    def __init__(self, path: Path, threads: int | None = None):
        import onnxruntime as ort

        from animalsort.machine import cpu_count

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or cpu_count()
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3  # errors only: no warnings on stderr
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise RuntimeCheckError(f"ONNX Runtime cannot load {path}: {exc}") from None
        self.path = path
        self.input = self.session.get_inputs()[0].name
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return self.outputs(images)[0]

    def outputs(self, images: np.ndarray) -> list[np.ndarray]:
        """Every output of the graph (a look graph has two: the frames' logits and the cells')."""
        import numpy as np

        return self.session.run(None, {self.input: np.ascontiguousarray(images)})


# --------------------------------------------------------------------------- export


#: What a graph gives, by ``GraphKey.output``: label probabilities; a headless backbone's
#: features; or a look at whole frames of any size on the STRIDE grid — the frames' class logits
#: and the per-cell class logits of the last feature map (``build.Classifier.look``).
OUTPUT_NAMES = {"probabilities": ["probabilities"], "features": ["features"], "look": ["logits", "cells"]}


class _Graph:
    """What is exported: the inference wrapper's probabilities, its raw outputs, or its look."""

    @staticmethod
    def module(net: nn.Module, output: str) -> nn.Module:
        from torch import nn

        class Probabilities(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.net = net

            def forward(self, images: torch.Tensor) -> torch.Tensor:
                return self.net.probabilities(self.net.logits(images))

        class Features(Probabilities):
            def forward(self, images: torch.Tensor) -> torch.Tensor:
                return self.net.logits(images).float()

        class Look(Probabilities):
            def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
                return self.net.look(images)

        return {"probabilities": Probabilities, "features": Features, "look": Look}[output]().eval()


def check_batch(input_size: int, n: int = 3, width: int | None = None) -> np.ndarray:
    """A fixed uint8 batch for comparing runtimes: smooth colour fields with some texture
    (``input_size`` square, or ``input_size`` high and ``width`` wide)."""
    import numpy as np

    rng = np.random.default_rng(0)
    width = width or input_size
    y, x = np.mgrid[0:input_size, 0:width] / max(input_size, width)
    out = np.empty((n, input_size, width, 3), dtype=np.uint8)
    for i in range(n):
        base = np.stack([x * (i + 1), y, (x + y) / 2], axis=-1) * 200
        out[i] = np.clip(base + rng.normal(0, 25, base.shape), 0, 255).astype(np.uint8)
    return out


def export(net: nn.Module, key: GraphKey, input_size: int, metadata: dict[str, str], out: Path | None = None) -> Path:
    """Export ``net`` (an inference wrapper, see ``model.wrap``) to ONNX, check it against
    torch on a fixed batch, and write it atomically to ``out`` (default: the cache)."""
    import torch

    path = out or key.path()
    module = _Graph.module(_grid_padded(net.cpu()) if key.output == "look" else net.cpu(), key.output)
    module.net.backbone.to(memory_format=torch.contiguous_format)
    n, height, width = _example_shape(key.output, input_size)
    example = torch.from_numpy(check_batch(height, n, width))
    try:
        proto = _to_onnx(module, example, key.output)
    except Exception as exc:  # both exporters failed: say so (auto then runs torch)
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise RuntimeCheckError(f"torch cannot export {key.name} to ONNX ({reason})") from None
    meta = {**metadata, "animalsort_version": __version__, "graph_key": key.digest()}
    del proto.metadata_props[:]
    for k, v in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
    data = proto.SerializeToString()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path, "wb") as f:
            f.write(data)
    except OSError as exc:  # a read-only or full cache: auto then runs torch
        raise RuntimeCheckError(f"cannot write the ONNX graph {path}: {exc.strerror or exc}") from None
    try:
        diff = _compare(module, OnnxModel(path), input_size)
    except RuntimeCheckError:
        path.unlink(missing_ok=True)
        raise
    tolerance = LOGIT_TOLERANCE if key.output == "look" else CHECK_TOLERANCE
    if diff > tolerance:
        path.unlink(missing_ok=True)
        raise RuntimeCheckError(
            f"the ONNX export of {key.name} differs from torch by {diff:.2g} (more than {tolerance:g})"
        )
    record = {"key": key.digest(), "sha256": hashlib.sha256(data).hexdigest(), "max_abs_diff": diff, **meta}
    try:
        write_text(record_path(path), json.dumps(record, indent=2) + "\n")
    except OSError as exc:
        raise RuntimeCheckError(f"cannot write {record_path(path)}: {exc.strerror or exc}") from None
    return path


def _grid_padded(net: nn.Module) -> nn.Module:
    """A copy of ``net`` whose TF-"same" convolutions (timm's ``Conv2dSame``: EfficientNet-lite's
    stride-2 layers) carry their padding as the ONNX Conv's own ``pads``. Exported with symbolic
    height and width, ``Conv2dSame`` computes its padding from the input's shape at run time: a
    separate Pad that ONNX Runtime cannot fold into the convolution, and around which it reorders
    the blocked layout back and forth (a quarter of a look's time here). A look's frames are on the
    STRIDE grid, where every such layer's input is a multiple of its stride and the padding is the
    same for every size: (kernel − stride) split as TF splits it. Identical outputs on the grid
    (``_compare`` checks three shapes)."""
    import copy

    from torch import nn

    padded = copy.deepcopy(net)
    for parent in list(padded.modules()):
        for name, child in list(parent.named_children()):
            if type(child).__name__ == "Conv2dSame" and isinstance(child, nn.Conv2d):
                setattr(parent, name, _grid_same(child))
    return padded


def _grid_same(conv: nn.Conv2d) -> nn.Module:
    """``conv`` (a ``Conv2dSame``) for inputs on its stride's grid: the same weights, its padding
    fixed, exported as one Conv with asymmetric ``pads``."""
    import torch
    import torch.nn.functional as F  # noqa: N812
    from torch import nn

    pads = []
    for k, s, d in zip(conv.kernel_size, conv.stride, conv.dilation):
        if d != 1:
            raise RuntimeCheckError("a dilated TF-'same' convolution has no fixed padding to export")
        total = max(k - s, 0)  # timm's get_same_padding on a size that is a multiple of s
        pads.append((total // 2, total - total // 2))
    (top, bottom), (left, right) = pads
    onnx_pads, stride, groups = [top, left, bottom, right], list(conv.stride), conv.groups

    class Same(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any, weight: Any, bias: Any) -> Any:
            return F.conv2d(F.pad(x, [left, right, top, bottom]), weight, bias, stride, 0, 1, groups)

        @staticmethod
        def symbolic(g: Any, x: Any, weight: Any, bias: Any) -> Any:
            kernel = list(conv.kernel_size)
            inputs = [x, weight] if conv.bias is None else [x, weight, bias]
            return g.op("Conv", *inputs, strides_i=stride, pads_i=onnx_pads, group_i=groups, kernel_shape_i=kernel)

    class GridSameConv(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight, self.bias = conv.weight, conv.bias

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return Same.apply(x, self.weight, self.bias)

    return GridSameConv()


def _example_shape(output: str, input_size: int) -> tuple[int, int, int]:
    """(n, height, width) of the batch a graph is traced with: a look's is not square, so that
    its height and width are traced as two sizes."""
    from animalsort.sources.views import STRIDE, look_side

    if output == "look":
        side = look_side(input_size)
        return 2, side, side + 2 * STRIDE
    return 2, input_size, input_size


def _to_onnx(module: nn.Module, example: torch.Tensor, output: str) -> Any:
    """The ONNX model proto, from torch's dynamo exporter (faster graphs here), else the
    TorchScript one (older torch, or a model the dynamo exporter cannot take). A look takes
    frames of any height and width on the STRIDE grid: the TorchScript exporter, whose graph
    keeps every size symbolic in a few seconds (the dynamo exporter took ten minutes over
    three symbolic sizes here); the checks of ``_compare`` run it at three shapes."""
    import io
    import warnings

    import onnx
    import torch

    names = {"input_names": ["images"], "output_names": OUTPUT_NAMES[output], "opset_version": OPSET}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if output == "look":
            buf = io.BytesIO()
            axes = {"images": {0: "batch", 1: "height", 2: "width"}, "logits": {0: "batch"}}
            axes["cells"] = {0: "batch", 1: "rows", 2: "columns"}
            torch.onnx.export(module, (example,), buf, dynamo=False, dynamic_axes=axes, **names)
            return onnx.load_from_string(buf.getvalue())
        try:
            batch = torch.export.Dim("batch", min=1, max=4096)
            program = torch.onnx.export(
                module, (example,), dynamo=True, dynamic_shapes={"images": {0: batch}}, verbose=False, **names
            )
            return program.model_proto
        except Exception:
            buf = io.BytesIO()
            axes = {"images": {0: "batch"}, output: {0: "batch"}}  # one output: named after it
            torch.onnx.export(module, (example,), buf, dynamo=False, dynamic_axes=axes, **names)
            return onnx.load_from_string(buf.getvalue())


def _compare(module: nn.Module, session: OnnxModel, input_size: int) -> float:
    """The largest difference between torch and the graph on the check batches: one square
    batch, and for a look also a landscape and a portrait one of other sizes."""
    import numpy as np
    import torch

    from animalsort.sources.views import STRIDE, look_side

    batches = [check_batch(input_size)]
    if len(session.session.get_outputs()) > 1:
        side = look_side(input_size)
        batches = [check_batch(side), check_batch(side, 2, side + 4 * STRIDE), check_batch(side + STRIDE, 1, side)]
    diff = 0.0
    for x in batches:
        with torch.inference_mode():
            out = module(torch.from_numpy(x))
        wants = [t.float().numpy() for t in (out if isinstance(out, tuple) else (out,))]
        for want, got in zip(wants, session.outputs(x)):
            if got.shape != want.shape:
                raise RuntimeCheckError(f"the ONNX graph gives shape {got.shape}, torch {want.shape}")
            diff = max(diff, float(np.abs(got - want).max()))
    return diff


def ensure(key: GraphKey, make: Callable[[], tuple[nn.Module, int, dict[str, str]]], progress: bool = False) -> Path:
    """The cached graph for ``key``, or one exported now from what ``make()`` builds (an
    inference wrapper, its input size, the file's metadata): once per key, with a bar saying
    so, since exporting takes ~15 s."""
    path = cached(key)
    if path is None:
        from tqdm import tqdm

        remove(key.path())
        with tqdm(total=1, desc=f"making the ONNX Runtime graph of {key.name} (once)", disable=not progress) as bar:
            net, input_size, metadata = make()
            path = export(net, key, input_size, metadata)
            bar.update()
    return path


def remove(path: Path) -> None:
    """Drop a cached graph and its record (a damaged one is rebuilt on next use)."""
    for p in (path, record_path(path)):
        try:
            os.unlink(p)
        except OSError:
            pass
