"""``LoadedModel``: a classifier ready to run, whatever runtime holds it, and the forward pass
(``infer``: inference mode, autocast for the precision, float32 probabilities out).
"""

from __future__ import annotations

import contextlib
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from animalsort.sources.preprocess import Preprocessing
from animalsort.taxonomy import LabelSet

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn

    from animalsort.model.onnx_graph import OnnxModel
    from animalsort.model.openvino_graph import OpenVinoModel


# --------------------------------------------------------------------------- inference


def autocast(device: torch.device, precision: str) -> AbstractContextManager[object]:
    """The autocast context for ``precision`` (a no-op for fp32)."""
    import torch

    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def infer(net: nn.Module, images: torch.Tensor, precision: str, *, logits: bool = False) -> torch.Tensor:
    """One forward pass of an inference wrapper (see :func:`wrap`) on a uint8 NHWC batch on
    its device: ``inference_mode``, autocast for ``precision``, float32 out. Label
    probabilities, or with ``logits`` the raw outputs (features, for a headless backbone)."""
    import torch

    with torch.inference_mode(), autocast(images.device, precision):
        out = net.logits(images) if logits else net(images)
    return out.float()


@dataclass
class LoadedModel:
    """A ready-to-run classifier and what is needed to describe its output. The forward pass
    runs in torch (``net``) or in ONNX Runtime or OpenVINO (``session``, and then no torch model
    is built)."""

    net: nn.Module | None
    labels: LabelSet
    preprocessing: Preprocessing
    device: torch.device
    precision: str
    name: str
    sha256: str
    runtime: str = "torch"  # or "onnx" (ONNX Runtime), "openvino"
    session: OnnxModel | OpenVinoModel | None = None
    note: str = ""  # why the runtime asked for was not used, when it was not
    gate_agreement: float | None = None  # a reduced precision's first-label agreement with fp32 (its gate)
    look_session: OnnxModel | OpenVinoModel | None = None  # the whole-frame look graph (``attach_look``)

    def infer(self, images: torch.Tensor) -> torch.Tensor:
        """Label probabilities for a uint8 NHWC batch on the model's device (the labels left out
        by --only/--exclude given to the others: ``LabelSet.renormalised``)."""
        import torch

        if self.session is not None:
            probs = torch.from_numpy(self.session(images.numpy()))
        else:
            assert self.net is not None
            probs = infer(self.net, images, self.precision)
        if self.labels.excluded:
            probs = torch.from_numpy(self.labels.renormalised(probs.cpu().numpy())).to(probs.device)
        return probs

    def look(self, images: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """(the frames' class logits N × K, per-cell class logits N × h × w × K) for a uint8 NHWC
        batch of whole frames on the STRIDE grid (``build.Classifier.look``), as float32 numpy."""
        if self.look_session is not None:
            logits, cells = self.look_session.outputs(images.cpu().numpy())
            return logits, cells
        import torch

        assert self.net is not None
        with torch.inference_mode(), autocast(images.device, self.precision):
            logits, cells = self.net.look(images)
        return logits.float().cpu().numpy(), cells.float().cpu().numpy()

    def images_per_s(self, images: torch.Tensor, seconds: float) -> float:
        """Model-only speed: ``images`` run again and again for ``seconds`` after a warm-up call
        (outputs brought to the CPU, so a GPU's asynchronous work is counted)."""
        import time

        self.infer(images)
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            self.infer(images).cpu()
            n += len(images)
        return n / (time.perf_counter() - t0)
