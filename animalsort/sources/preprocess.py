"""The model's input: how a registry model wants images prepared (``Preprocessing``) and a
photo turned into it (``Preprocessor``: shorter side resized, centre crop, one resampling
step, uint8), plus head mode's fixed views.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
from PIL import Image

from animalsort.sources.decode import open_rgb

# --------------------------------------------------------------------------- model input


@dataclass(frozen=True)
class Preprocessor:
    """path → uint8 HWC array of ``input_size``², as timm's eval transform would give it
    (resize the shorter side to ``resize_size``, centre crop), in a single resampling step."""

    pre: Preprocessing
    draft: bool = True

    def __call__(self, path: str | Path | IO[bytes], view: str = "orig") -> np.ndarray:
        draft = None
        if self.draft:  # a zoomed view needs 1/ZOOM more pixels to stay at full resolution
            draft = math.ceil(self.pre.resize_size / ZOOM) if view.startswith("zoom") else self.pre.resize_size
        return self.crop(open_rgb(path, draft), view)

    def crop_box(self, w: int, h: int) -> tuple[float, float, float, float]:
        """The window of a ``w``×``h`` image that the model sees, in that image's pixels.

        The shorter side becomes ``resize``, the longer keeps the aspect (truncated, as
        torchvision does); then the centred size×size window of that resized image."""
        size, resize = self.pre.input_size, self.pre.resize_size
        if w <= h:
            rw, rh = resize, int(resize * h / w)
        else:
            rw, rh = int(resize * w / h), resize
        left, top = round((rw - size) / 2), round((rh - size) / 2)
        sx, sy = w / rw, h / rh
        return (left * sx, top * sy, (left + size) * sx, (top + size) * sy)

    def crop(self, im: Image.Image, view: str = "orig") -> np.ndarray:
        """An RGB image → the model's uint8 input (one resampling step); ``view`` (one of
        VIEWS) picks a fixed variation of the eval window for head mode's augmentation."""
        size = self.pre.input_size
        resample = _RESAMPLE[self.pre.interpolation]
        box = _view_box(self.crop_box(*im.size), view)
        out = im.resize((size, size), getattr(Image.Resampling, resample), box=box)
        if view in ("flip", "zoom_flip"):
            out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        return np.array(out, dtype=np.uint8)  # a writable copy, as torch wants


#: Head mode's fixed views of a photo: the eval window, its mirror image, and the window's
#: centre 80% (zoomed in) as is and mirrored. Features of each are cached, so the head trains
#: on four views per photo at the cost of computing them once; evaluation uses "orig" only.
VIEWS = ("orig", "flip", "zoom", "zoom_flip")
ZOOM = 0.8


def _view_box(box: tuple[float, float, float, float], view: str) -> tuple[float, float, float, float]:
    if view not in VIEWS:
        raise ValueError(f"unknown view {view!r}; views: {', '.join(VIEWS)}")
    if not view.startswith("zoom"):
        return box
    left, top, right, bottom = box
    dx, dy = (right - left) * (1 - ZOOM) / 2, (bottom - top) * (1 - ZOOM) / 2
    return (left + dx, top + dy, right - dx, bottom - dy)


_RESAMPLE = {"bicubic": "BICUBIC", "bilinear": "BILINEAR", "nearest": "NEAREST", "lanczos": "LANCZOS"}


@dataclass(frozen=True)
class Preprocessing:
    """How images are prepared for a model: resize the shorter side to
    ``floor(input_size / crop_pct)``, centre-crop ``input_size``, normalise with mean/std."""

    input_size: int = 224
    crop_pct: float = 0.875
    interpolation: str = "bicubic"
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)

    @property
    def resize_size(self) -> int:
        # floor, as timm does; the epsilon absorbs float noise in ratios such as 224/232.
        return math.floor(self.input_size / self.crop_pct + 1e-6)

    def to_dict(self) -> dict[str, Any]:
        return {
            "input_size": self.input_size,
            "crop_pct": self.crop_pct,
            "interpolation": self.interpolation,
            "mean": list(self.mean),
            "std": list(self.std),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Preprocessing:
        return cls(
            input_size=int(d["input_size"]),
            crop_pct=float(d["crop_pct"]),
            interpolation=str(d["interpolation"]),
            mean=tuple(float(x) for x in d["mean"]),  # type: ignore[arg-type]
            std=tuple(float(x) for x in d["std"]),  # type: ignore[arg-type]
        )
