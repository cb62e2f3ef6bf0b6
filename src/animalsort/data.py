"""Finding image files and turning them into uint8 batches.

Discovery is a sorted generator (memory does not grow with the folder). Each DataLoader worker
walks the tree itself and decodes every W-th batch; the loader hands batches back round-robin,
so rows come out in discovery order with no list of paths held anywhere. A file that cannot be
decoded gives a zero image with ``ok=False`` and a reason: it never shifts or drops a row.
"""

from __future__ import annotations

import errno
import os
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from animalsort.errors import InputError
from animalsort.weights import Preprocessing

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}
)


# --------------------------------------------------------------------------- discovery


def is_image_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def discover(root: Path, exclude: Iterable[Path] = ()) -> Iterator[str]:
    """Relative ``/``-separated paths of image files under ``root``, sorted by path components.

    Symlinked files are listed (a broken one becomes an error row); symlinked folders are not
    followed (no loops, no files seen twice). ``exclude`` holds files or folders to skip, such
    as the output CSV or a destination folder inside ``root``.
    """
    root = Path(root)
    skip = {os.path.realpath(p) for p in exclude}
    yield from _walk(str(root), "", skip)


def _walk(top: str, prefix: str, skip: set[str]) -> Iterator[str]:
    try:
        with os.scandir(top) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError:
        return  # an unreadable sub-folder holds nothing we can classify
    for entry in entries:
        rel = prefix + entry.name
        if skip and os.path.realpath(entry.path) in skip:
            continue
        try:
            is_dir = entry.is_dir(follow_symlinks=False)
        except OSError:
            is_dir = False
        if is_dir:
            yield from _walk(entry.path, rel + "/", skip)
        elif is_image_name(entry.name):
            yield rel


def first_image(root: Path, exclude: Iterable[Path] = ()) -> str | None:
    return next(iter(discover(root, exclude)), None)


def check_source(root: Path) -> Path:
    root = Path(root)
    if not root.exists():
        raise InputError(f"{root}: no such folder; check the path")
    if not root.is_dir():
        raise InputError(f"{root} is not a folder; pass the folder that holds the photos")
    return root


# --------------------------------------------------------------------------- decoding


def open_rgb(path: str | Path, draft_size: int | None = None) -> Image.Image:
    """Open any supported image as RGB: content sniffed (not the extension), EXIF orientation
    applied, first frame of animations, transparency composited on white, 16-bit scaled.

    ``draft_size`` lets the JPEG decoder scale down by 1/2, 1/4 or 1/8 while decoding so
    that both sides stay ≥ ``draft_size`` (DCT scaling: several times faster on big photos).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        im = Image.open(path)
        try:
            if draft_size and im.format == "JPEG":
                im.draft("RGB", (draft_size, draft_size))
            im.load()
            try:
                im = ImageOps.exif_transpose(im) or im
            except Exception:  # a corrupt EXIF block: keep the pixels, skip the rotation
                pass
            out = _to_rgb(im)
            if out is im and getattr(im, "n_frames", 1) > 1:
                out = im.copy()  # detach from the still-open multi-frame file
        except BaseException:
            im.close()
            raise
        if out is not im:
            im.close()
        return out


def _to_rgb(im: Image.Image) -> Image.Image:
    if im.mode == "RGB":
        return im
    if im.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        a = np.asarray(im, dtype=np.float64)
        hi = 65535.0 if im.mode.startswith("I;16") or a.max() > 255 else 255.0
        if im.mode == "F":
            lo, hi = float(a.min()), float(a.max()) or 1.0
            a = (a - lo) / max(hi - lo, 1e-12) * 255.0
        else:
            a = a / hi * 255.0
        return Image.fromarray(a.clip(0, 255).astype("uint8")).convert("RGB")
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return im.convert("RGB")


def describe_error(exc: BaseException) -> str:
    """A short, specific reason for a row's ``error`` column."""
    if isinstance(exc, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
        return f"decompression bomb refused: {exc}"
    if isinstance(exc, UnidentifiedImageError):
        return "not a readable image (unknown or corrupt format)"
    if isinstance(exc, IsADirectoryError):
        return "is a directory"
    if isinstance(exc, FileNotFoundError):
        return "file not found (removed after discovery, or a broken symlink)"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, OSError) and exc.errno == errno.ELOOP:
        return "symlink loop"
    msg = str(exc).strip() or type(exc).__name__
    if "truncated" in msg:
        return f"truncated image: {msg}"
    return f"{type(exc).__name__}: {msg}"


def _empty_reason(path: str) -> str | None:
    try:
        if os.path.getsize(path) == 0:
            return "empty file (0 bytes)"
    except OSError:
        return None
    return None


@dataclass(frozen=True)
class Preprocessor:
    """path → uint8 HWC array of ``input_size``², as timm's eval transform would give it
    (resize the shorter side to ``resize_size``, centre crop), in a single resampling step."""

    pre: Preprocessing
    draft: bool = True

    def __call__(self, path: str | Path) -> np.ndarray:
        size, resize = self.pre.input_size, self.pre.resize_size
        im = open_rgb(path, resize if self.draft else None)
        w, h = im.size
        # The shorter side becomes `resize`, the longer keeps the aspect (truncated, as
        # torchvision does); then the centred size×size window of that resized image.
        if w <= h:
            rw, rh = resize, int(resize * h / w)
        else:
            rw, rh = int(resize * w / h), resize
        left, top = round((rw - size) / 2), round((rh - size) / 2)
        sx, sy = w / rw, h / rh
        box = (left * sx, top * sy, (left + size) * sx, (top + size) * sy)
        resample = _RESAMPLE[self.pre.interpolation]
        out = im.resize((size, size), getattr(Image.Resampling, resample), box=box)
        return np.array(out, dtype=np.uint8)  # a writable copy, as torch wants


_RESAMPLE = {"bicubic": "BICUBIC", "bilinear": "BILINEAR", "nearest": "NEAREST", "lanczos": "LANCZOS"}


# --------------------------------------------------------------------------- batches


@dataclass
class Batch:
    images: torch.Tensor  # uint8, N×H×W×3
    paths: list[str]  # relative to the source folder
    ok: list[bool]
    errors: list[str]

    def pin_memory(self) -> Batch:
        self.images = self.images.pin_memory()
        return self


class ImageStream(IterableDataset):
    """Batches of decoded images in discovery order; worker w of W makes batches k ≡ w (mod W)."""

    def __init__(
        self,
        root: Path,
        preprocessor: Preprocessor,
        batch_size: int,
        exclude: tuple[Path, ...] = (),
        done: frozenset[str] = frozenset(),
    ):
        self.root = Path(root)
        self.preprocessor = preprocessor
        self.batch_size = batch_size
        self.exclude = exclude
        self.done = done

    def paths(self) -> Iterator[str]:
        return (p for p in discover(self.root, self.exclude) if p not in self.done)

    def __iter__(self) -> Iterator[Batch]:
        info = get_worker_info()
        wid, nw = (info.id, info.num_workers) if info else (0, 1)
        chunk: list[str] = []
        k = 0
        for rel in self.paths():
            chunk.append(rel)
            if len(chunk) == self.batch_size:
                if k % nw == wid:
                    yield self.make_batch(chunk)
                chunk, k = [], k + 1
        if chunk and k % nw == wid:
            yield self.make_batch(chunk)

    def make_batch(self, rels: list[str]) -> Batch:
        size = self.preprocessor.pre.input_size
        images = torch.zeros(len(rels), size, size, 3, dtype=torch.uint8)
        ok, errors = [], []
        for i, rel in enumerate(rels):
            path = os.path.join(self.root, rel)
            try:
                images[i] = torch.from_numpy(self.preprocessor(path))
                ok.append(True)
                errors.append("")
            except Exception as exc:  # every failure becomes that file's row, never a crash
                ok.append(False)
                errors.append(_empty_reason(path) or describe_error(exc))
        return Batch(images, list(rels), ok, errors)


def image_stream(
    root: Path,
    pre: Preprocessing,
    batch_size: int,
    exclude: Iterable[Path] = (),
    done: Iterable[str] = (),
    draft: bool = True,
) -> ImageStream:
    return ImageStream(root, Preprocessor(pre, draft), batch_size, tuple(exclude), frozenset(done))


def default_workers() -> int:
    """One core stays with the model; the rest decode (at most 8: beyond that, I/O rules)."""
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(8, n - 1))


def loader(stream: ImageStream, workers: int, pin_memory: bool = False) -> DataLoader:
    return DataLoader(
        stream,
        batch_size=None,  # the stream batches itself
        num_workers=workers,
        pin_memory=pin_memory,
        prefetch_factor=4 if workers else None,
        persistent_workers=False,
    )
