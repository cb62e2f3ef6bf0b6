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

from animalsort.sources.decode import EmptyImageError, open_rgb
from animalsort.sources.views import Box, first_look_size, look_side

# --------------------------------------------------------------------------- model input


@dataclass(frozen=True)
class Preprocessor:
    """path → uint8 HWC array of ``input_size``², as timm's eval transform would give it
    (resize the shorter side to ``resize_size``, centre crop), in a single resampling step."""

    pre: Preprocessing
    draft: bool = True

    def __call__(self, path: str | Path | IO[bytes], view: str = "orig", window: Box | None = None) -> np.ndarray:
        """``crop`` of the image file at ``path``; ``window`` (a square as x, y, w, h fractions
        of the frame: a closer look's) replaces the centre crop as the window ``view`` varies."""
        draft = None
        if self.draft:  # a zoomed view needs 1/ZOOM more pixels to stay at full resolution
            draft = self.closer_draft(window) if window is not None else self.pre.resize_size
            draft = math.ceil(draft / ZOOM) if view.startswith("zoom") else draft
        im = open_rgb(path, draft)
        if window is None:
            return self.crop(im, view)
        x, y, w, h = window
        return self.crop(im, view, (x * im.width, y * im.height, (x + w) * im.width, (y + h) * im.height))

    def crop_box(self, w: int, h: int) -> tuple[float, float, float, float]:
        """The window of a ``w``×``h`` image that the model sees, in that image's pixels.

        The shorter side becomes ``resize``, the longer keeps the aspect (truncated, as
        torchvision does); then the centred size×size window of that resized image."""
        if w < 1 or h < 1:
            raise EmptyImageError(f"an image of {w}×{h} pixels: nothing to classify")
        size, resize = self.pre.input_size, self.pre.resize_size
        if w <= h:
            rw, rh = resize, int(resize * h / w)
        else:
            rw, rh = int(resize * w / h), resize
        left, top = round((rw - size) / 2), round((rh - size) / 2)
        sx, sy = w / rw, h / rh
        return (left * sx, top * sy, (left + size) * sx, (top + size) * sy)

    def crop(self, im: Image.Image, view: str = "orig", box: tuple[float, ...] | None = None) -> np.ndarray:
        """An RGB image → the model's uint8 input (one resampling step); ``view`` (one of
        AUGMENTATIONS) picks a fixed variation of the eval window (or of ``box``, in ``im``'s pixels)
        for head mode's augmentation."""
        out = self.window(im, _view_box(box if box is not None else self.crop_box(*im.size), view))
        if view in ("flip", "zoom_flip"):
            out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        return np.array(out, dtype=np.uint8)  # a writable copy, as torch wants

    def window(self, im: Image.Image, box: tuple[float, ...]) -> Image.Image:
        """``box`` (left, top, right, bottom in ``im``'s pixels) resampled to the model's input."""
        size = self.pre.input_size
        return im.resize((size, size), getattr(Image.Resampling, _RESAMPLE[self.pre.interpolation]), box=box)

    def look(self, im: Image.Image) -> np.ndarray:
        """The first look at ``im``: the whole frame resized to ``views.first_look_size`` (one
        resampling step), uint8 H × W × 3."""
        if not im.width or not im.height:
            raise EmptyImageError(f"an image of {im.width}×{im.height} pixels: nothing to classify")
        size = first_look_size(im.width, im.height, look_side(self.pre.input_size))
        return np.array(im.resize(size, getattr(Image.Resampling, _RESAMPLE[self.pre.interpolation])), dtype=np.uint8)

    def closer(self, im: Image.Image, box: Box) -> np.ndarray:
        """A closer look: ``box`` (x, y, w, h as fractions of ``im``) resampled to the model's
        square input, uint8."""
        x, y, w, h = box
        return np.array(
            self.window(im, (x * im.width, y * im.height, (x + w) * im.width, (y + h) * im.height)), dtype=np.uint8
        )

    def square(self, im: Image.Image, box: Box) -> np.ndarray:
        """A detection's crop: ``box`` (a square as fractions of ``im``, ``views.detection_square``)
        resampled to the model's square input, uint8; the part of it past the frame's edges is
        black (as MegaDetector pads its square crops)."""
        x, y, w, h = box
        x0, y0, x1, y1 = x * im.width, y * im.height, (x + w) * im.width, (y + h) * im.height
        inside = (max(x0, 0.0), max(y0, 0.0), min(x1, im.width), min(y1, im.height))
        size = self.pre.input_size
        scale = size / (x1 - x0)
        # where the frame's part lands in the square (half a pixel of overhang is rounding, not padding)
        left, top = round((inside[0] - x0) * scale), round((inside[1] - y0) * scale)
        right, bottom = size - round((x1 - inside[2]) * scale), size - round((y1 - inside[3]) * scale)
        if (left, top, right, bottom) == (0, 0, size, size):
            return np.array(self.window(im, inside), dtype=np.uint8)
        out = Image.new("RGB", (size, size))
        resample = getattr(Image.Resampling, _RESAMPLE[self.pre.interpolation])
        out.paste(im.resize((max(1, right - left), max(1, bottom - top)), resample, box=inside), (left, top))
        return np.array(out, dtype=np.uint8)

    def closer_draft(self, square: Box) -> int | None:
        """The draft size that decodes a frame with ``square`` (fractions of the frame) at the
        model's input resolution at least: never from the downscaled first look. (A square's
        share of the frame's shorter side is the larger of its two fractions.)"""
        if not self.draft:
            return None
        return math.ceil(self.pre.input_size / max(square[2], square[3], 1e-6))

    def draft_for(self, view: str) -> int | None:
        """How far a JPEG may be scaled down while decoding (its shorter side stays at least
        this): the centre crop's resize, or the first look's side."""
        if not self.draft:
            return None
        return self.pre.resize_size if view == "centre" else look_side(self.pre.input_size)


#: Head mode's fixed views of a photo: the eval window, its mirror image, and the window's
#: centre 80% (zoomed in) as is and mirrored. Features of each are cached, so the head trains
#: on four views per photo at the cost of computing them once; evaluation uses "orig" only.
AUGMENTATIONS = ("orig", "flip", "zoom", "zoom_flip")
ZOOM = 0.8


def _view_box(box: tuple[float, float, float, float], view: str) -> tuple[float, float, float, float]:
    if view not in AUGMENTATIONS:
        raise ValueError(f"unknown view {view!r}; views: {', '.join(AUGMENTATIONS)}")
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
