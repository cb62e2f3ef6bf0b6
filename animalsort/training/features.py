"""Head mode's feature cache: the frozen backbone's features, computed once per file.

The cache file is keyed by the model's weights and preprocessing; each entry by the file's
real path, size and mtime, so a second run (or another split of the same photos) skips
extraction and a changed file is recomputed.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from animalsort.atomic import atomic_write
from animalsort.datasets.labelled import Sample
from animalsort.errors import OutputError
from animalsort.inference.batches import Loader
from animalsort.model import runner
from animalsort.sources.decode import describe_error, open_rgb
from animalsort.sources.preprocess import Preprocessor
from animalsort.sources.views import Box, closer_box
from animalsort.training.base import Base
from animalsort.training.dataset import LabelledImages


@dataclass
class Features:
    """Features of the samples that decoded (``kept``, in order): ``x`` is kept × views ×
    dim, view 0 the eval window ("orig"); and the counts (of photos, not views)."""

    x: torch.Tensor
    y: torch.Tensor
    kept: list[Sample]
    unreadable: list[tuple[str, str]]
    computed: int
    cached: int
    windows: dict[str, Box | None] = field(default_factory=dict)  # --view frame/tiles: path → window chosen


def cache_name(base: Base) -> str:
    pre = json.dumps(base.preprocessing.to_dict(), sort_keys=True)
    return f"features-{base.name}-{hashlib.sha256((base.sha256 + pre).encode()).hexdigest()[:12]}.pt"


def _key(root: Path, s: Sample) -> str:
    """The file itself (symlinks resolved), its size and mtime: a changed file is recomputed,
    the same file seen through another split or folder is not."""
    path = os.path.realpath(root / s.path)
    st = os.stat(path)
    return f"{path}\0{st.st_size}\0{st.st_mtime_ns}"


#: Bumped when how a frame's window is chosen changes (2: the closer look of ``inference.looking``),
#: so features cached for the old windows are not taken for the new.
WINDOW_METHOD = 2


#: The window of a crop folder's images (``finetune --detections``): the whole square crop, resampled
#: to the model's input as ``Preprocessor.square`` does for ``classify --detections`` — not the
#: centre crop, which would trim about 6% of each edge that classify then sees.
WHOLE = "whole"


def _view_key(key: str, view: str, window_mode: str = "centre") -> str:
    base = key if window_mode == "centre" else f"{key}\0{window_mode}\0{WINDOW_METHOD}"
    return base if view == "orig" else f"{base}\0{view}"


def _load(cache: Path) -> dict[str, torch.Tensor]:
    if not cache.exists():
        return {}
    try:
        blob = torch.load(cache, map_location="cpu", weights_only=True)
        return dict(zip(blob["keys"], blob["features"], strict=True))
    except Exception:  # a damaged cache is only a cache: recompute
        return {}


def _save(cache: Path, stored: dict[str, torch.Tensor]) -> None:
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(cache, "wb") as f:
            torch.save({"keys": list(stored), "features": torch.stack(list(stored.values()))}, f)
    except OSError as exc:
        raise OutputError(
            f"cannot write the feature cache {cache}: {exc.strerror or exc}; free some space or choose another --out"
        ) from None


def _forward(
    base: Base, device: torch.device, precision: str, runtime: str, progress: bool
) -> Callable[[torch.Tensor], torch.Tensor]:
    """uint8 NHWC batch → features, in ONNX Runtime or torch."""
    from animalsort.errors import RuntimeCheckError
    from animalsort.model import onnx_graph
    from animalsort.model.device import installed_runtimes

    # features run in ONNX Runtime when asked, or by auto on a CPU that has it (fp32: its answers are torch's)
    graph = runtime == "onnx" or runtime == "auto" and device.type == "cpu" and "onnx" in installed_runtimes()
    if graph and precision == "fp32":
        key = onnx_graph.GraphKey(base.name, base.sha256, base.arch, base.preprocessing.to_dict(), "features", "-")
        meta = {"model_name": base.name, "output": "features", "preprocessing": json.dumps(key.preprocessing)}

        def make() -> tuple[torch.nn.Module, int, dict[str, str]]:
            return base.wrap(base.backbone, torch.device("cpu")), base.preprocessing.input_size, meta

        try:
            session = onnx_graph.OnnxModel(onnx_graph.ensure(key, make, progress))
            return lambda images: torch.from_numpy(session(images.numpy()))
        except RuntimeCheckError:
            if runtime != "auto":
                raise
    net = base.wrap(base.backbone, device)
    return lambda images: runner.infer(net, images.to(device), precision, logits=True).cpu()


def _reason(path: Path) -> str:
    """Why a file the loader could not decode failed (the same words as a classify row)."""
    try:
        open_rgb(path)
    except Exception as exc:
        return describe_error(exc)
    return "could not be decoded"


def extract(
    base: Base,
    root: Path,
    samples: list[Sample],
    cache: Path,
    *,
    views: tuple[str, ...] = ("orig",),
    window_mode: str = "centre",
    device: torch.device,
    precision: str,
    runtime: str,
    batch_size: int,
    workers: int,
    progress: bool,
) -> Features:
    """Features of each of ``views`` (AUGMENTATIONS, "orig" first) of ``samples``, computing only
    those not in ``cache`` (in ONNX Runtime when ``runtime`` picks it: the same features,
    2–4× faster on a CPU). ``window_mode`` (``frame``/``tiles``, as classify's ``--view``):
    the views vary the window of the frame where the pretrained model sees an animal stand out
    (``_choose_windows``) instead of the centre crop."""
    from tqdm import tqdm

    if views[0] != "orig":
        raise ValueError("the first view must be 'orig' (the one evaluation uses)")
    stored = _load(cache)
    keys = [_key(root, s) for s in samples]
    todo = [(i, v) for i, k in enumerate(keys) for v in views if _view_key(k, v, window_mode) not in stored]
    bad: dict[int, str] = {}
    chosen: dict[int, Box | None] = {}
    if todo:
        forward = _forward(base, device, precision, runtime, progress)
        if window_mode == WHOLE:  # a detection's square crop: all of it, as classify --detections sees it
            chosen = {i: (0.0, 0.0, 1.0, 1.0) for i, _ in todo}
        elif window_mode != "centre":
            chosen = _choose_windows(base, root, samples, sorted({i for i, _ in todo}), window_mode)
        ds = LabelledImages(
            root,
            [samples[i] for i, _ in todo],
            Preprocessor(base.preprocessing),
            views=[v for _, v in todo],
            windows=[chosen.get(i) for i, _ in todo] if chosen else None,
        )
        loader = Loader(ds, batch_size=batch_size, num_workers=workers)
        pos = 0
        with tqdm(total=len(todo), desc="features", unit="view", disable=not progress) as bar:
            for images, _, ok in loader:
                feats = forward(images)
                for j in range(len(images)):
                    i, view = todo[pos + j]
                    if ok[j]:
                        stored[_view_key(keys[i], view, window_mode)] = feats[j].clone()
                    elif i not in bad:
                        bad[i] = _reason(root / samples[i].path)
                pos += len(images)
                bar.update(len(images))
        _save(cache, stored)
    good = [i for i in range(len(samples)) if i not in bad]
    dim = base.pretrained_head.in_features
    x = (
        torch.stack([torch.stack([stored[_view_key(keys[i], v, window_mode)] for v in views]) for i in good])
        if good
        else torch.zeros(0, len(views), dim)
    )
    y = torch.tensor([samples[i].label for i in good], dtype=torch.long)
    unreadable = [(samples[i].path, bad[i]) for i in sorted(bad)]
    fresh = {i for i, _ in todo} - set(bad)
    windows = {samples[i].path: box for i, box in chosen.items()}
    return Features(x, y, [samples[i] for i in good], unreadable, len(fresh), len(good) - len(fresh), windows)


def _choose_windows(
    base: Base,
    root: Path,
    samples: list[Sample],
    which: list[int],
    mode: str,
) -> dict[int, Box | None]:
    """For each sample in ``which``: a square around the animal that a first look at the whole
    frame finds with the pretrained model (its own ImageNet head, grouped into the animal
    labels: ``inference.looking``, as classify's ``--view``), with the closer look's margin and
    large enough to hold the whole animal — or None (the centre crop: the frame shows no
    animal, or the file does not decode; the loader then says why)."""
    from animalsort.inference.looking import RULES, Labels, first_look
    from animalsort.model import build
    from animalsort.taxonomy import NUM_IMAGENET_CLASSES, label_set

    if base.pretrained_head.out_features != NUM_IMAGENET_CLASSES:
        return {}  # a base without ImageNet's 1000 outputs: nothing to choose with
    labels = label_set("animals")
    net = build.wrap(_Pretrained(base), base.preprocessing, labels, torch.device("cpu"))
    rule, grouped = RULES[mode], Labels(labels, base.pretrained_head.out_features)
    pre = Preprocessor(base.preprocessing)
    out: dict[int, Box | None] = {}
    for i in which:
        try:
            im = open_rgb(root / samples[i].path, pre.draft_for(mode))
        except Exception:
            out[i] = None
            continue
        with torch.inference_mode():
            logits, cells = net.look(torch.from_numpy(pre.look(im))[None])
        look = first_look(logits[0].numpy(), cells[0].numpy(), grouped, rule, im.size)
        square = closer_box(look.box, *im.size, rule.contexts[0], rule.least, 1.0) if look.box else None
        out[i] = square if look.animal else None
    return out


class _Pretrained(torch.nn.Module):
    """The base with its pretrained ImageNet head back on top, for a first look (``cell_parts``)."""

    def __init__(self, base: Base):
        super().__init__()
        self.backbone, self.head = base.backbone, base.pretrained_head

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        from animalsort.model.build import cell_parts

        return cell_parts(self.backbone)[0](x)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        from animalsort.model.build import cell_parts

        return self.head(cell_parts(self.backbone)[1](x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))
