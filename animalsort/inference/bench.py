"""``animalsort bench``: measure classify on this machine and recommend settings.

Runs the real pipeline (``inference.pipeline.classify_folder``) on a sample of the user's photos (or on
generated JPEGs) for a small grid of batch sizes, worker counts and precisions, next to the
model-only ceiling, and says which setting was fastest.
"""

from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from animalsort.errors import NoImagesError

if TYPE_CHECKING:
    import torch


@dataclass
class Trial:
    batch_size: int
    workers: int
    runtime: str
    precision: str
    images_per_s: float
    seconds: float

    @property
    def setting(self) -> str:
        return f"{self.runtime} {self.precision}"


@dataclass
class BenchResult:
    device: str
    sample: int
    source: str
    ceiling: dict[str, float] = field(default_factory=dict)  # "runtime precision" → images/s, model only
    trials: list[Trial] = field(default_factory=list)
    features: tuple[str, ...] = ()  # the CPU's (machine.cpu_features)
    refused: dict[str, str] = field(default_factory=dict)  # "runtime precision" → why (a gate, a missing feature)
    agreement: dict[str, float] = field(default_factory=dict)  # a reduced precision's gate agreement with fp32

    @property
    def best(self) -> Trial:
        return max(self.trials, key=lambda t: t.images_per_s)


def _sample(src: Path, n: int, into: Path) -> int:
    """Symlink the first ``n`` images of ``src`` into ``into`` (flat, numbered)."""
    from animalsort.sources.listing import check_source, discover

    check_source(src)
    count = 0
    for count, rel in enumerate(itertools.islice(discover(src), n), start=1):
        os.symlink(os.path.abspath(os.path.join(src, rel)), into / f"{count:06d}{Path(rel).suffix.lower()}")
    if count == 0:
        raise NoImagesError(f"no image files under {src}; check the folder")
    return count


def _generate(n: int, into: Path, size: tuple[int, int] = (640, 480)) -> int:
    """Photo-like JPEGs (smooth shapes plus sensor noise) when no folder is given."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFilter

    rng = np.random.default_rng(0)
    w, h = size
    for i in range(n):
        img = Image.new("RGB", size, tuple(int(c) for c in rng.integers(0, 255, 3)))
        draw = ImageDraw.Draw(img)
        for _ in range(12):
            x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
            draw.ellipse(
                (x0, y0, x0 + int(rng.integers(20, w // 2)), y0 + int(rng.integers(20, h // 2))),
                fill=tuple(int(c) for c in rng.integers(0, 255, 3)),
            )
        arr = np.asarray(img.filter(ImageFilter.GaussianBlur(3)), dtype=np.int16)
        arr = (arr + rng.normal(0, 6, arr.shape)).clip(0, 255).astype("uint8")
        Image.fromarray(arr).save(into / f"{i:06d}.jpg", quality=90)
    return n


def _grid(device_type: str, settings: list[tuple[str, str]], quick: bool) -> Iterator[tuple[int, int, str, str]]:
    from animalsort.machine import cpu_count, default_workers

    workers = sorted({max(1, default_workers() // 2), default_workers(), min(cpu_count(), default_workers() + 1)})
    batches = (16, 32, 64) if device_type == "cpu" else (64, 128, 256)
    if quick:
        workers, batches = [default_workers()], batches[1:]
    for runtime, precision in settings:
        for w in workers:
            for b in batches:
                yield b, w, runtime, precision


def _settings(dev: torch.device) -> list[tuple[str, str]]:
    """(runtime, precision) pairs worth timing on ``dev``."""
    import torch

    from animalsort.machine import cpu_features, has_native_bf16
    from animalsort.model.device import installed_runtimes

    if dev.type == "cuda":
        return [("torch", "fp16"), ("torch", "bf16")] if torch.cuda.is_bf16_supported() else [("torch", "fp16")]
    if dev.type != "cpu":
        return [("torch", "fp32")]
    native_bf16 = has_native_bf16(cpu_features())
    found = [(rt, "fp32") for rt in ("onnx", "openvino") if rt in installed_runtimes()]
    if native_bf16 and "openvino" in installed_runtimes():
        found.append(("openvino", "bf16"))  # behind its gate: a refusal leaves it out
    found.append(("torch", "fp32"))
    if native_bf16:
        found.append(("torch", "bf16"))
    return found


def benchmark_folder(
    src: Path | None = None,
    *,
    sample: int = 256,
    model: str | None = None,
    weights: Path | None = None,
    device: str = "auto",
    quick: bool = False,
    progress: bool = True,
) -> BenchResult:
    import torch
    from tqdm import tqdm

    from animalsort.inference.options import ClassifyOptions
    from animalsort.inference.pipeline import classify_folder
    from animalsort.model import load
    from animalsort.model.device import pick_device

    dev = pick_device(device)
    settings = _settings(dev)
    with tempfile.TemporaryDirectory(prefix="animalsort-bench-") as tmp:
        folder = Path(tmp) / "images"
        folder.mkdir()
        n = _sample(Path(src), sample, folder) if src else _generate(sample, folder)
        result = BenchResult(device=str(dev), sample=n, source=str(src) if src else "generated 640x480 JPEGs")
        from animalsort.errors import RuntimeCheckError
        from animalsort.machine import cpu_features

        result.features = cpu_features()
        kept = []
        for runtime, precision in settings:
            try:
                loaded = load.load(model, weights, device=device, precision=precision, runtime=runtime, progress=False)
            except RuntimeCheckError as exc:
                result.refused[f"{runtime} {precision}"] = str(exc)
                continue
            kept.append((runtime, precision))
            if loaded.gate_agreement is not None:
                result.agreement[f"{runtime} {precision}"] = loaded.gate_agreement
            size = loaded.preprocessing.input_size
            x = torch.randint(0, 256, (32, size, size, 3), dtype=torch.uint8, device=dev)
            result.ceiling[f"{runtime} {precision}"] = loaded.images_per_s(x, 2 if quick else 5)
        grid = list(_grid(dev.type, kept, quick))
        for b, w, runtime, precision in tqdm(grid, desc="bench", disable=not progress):
            opts = ClassifyOptions(
                model=model,
                weights=weights,
                device=device,
                precision=precision,
                runtime=runtime,
                batch_size=b,
                workers=w,
            )
            summary = classify_folder(folder, Path(tmp) / "preds.csv", opts, progress=False)
            streaming = summary.seconds - summary.startup_seconds
            result.trials.append(Trial(b, w, runtime, precision, summary.found / streaming, streaming))
    return result
