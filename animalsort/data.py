"""Turning image files into uint8 batches for the model (discovery and decoding: images.py).

Each DataLoader worker walks the tree itself and decodes every W-th batch; the loader hands
batches back round-robin, so rows come out in discovery order with no list of paths held anywhere. A file that cannot be
decoded gives a zero image with ``ok=False`` and a reason: it never shifts or drops a row.

A video clip is decoded whole in the batch that holds it: its sampled frames are consecutive
image rows with the clip's path and their times (``Batch.frames``). A clip weighs
``max_frames`` photos when batches are cut, so no batch holds more than
max(batch size, max_frames) images.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from animalsort.images import Listing, Sample, describe_error, empty_reason, is_video_name, open_rgb
from animalsort.sources import Source, open_path, read_bytes
from animalsort.video import Sampling, describe_video_error, read_frames
from animalsort.weights import Preprocessing

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


# --------------------------------------------------------------------------- batches


@dataclass
class Batch:
    images: torch.Tensor  # uint8, N×H×W×3
    paths: list[str]  # relative to the source folder (a clip's frames repeat its path)
    ok: list[bool]
    errors: list[str]
    # With device-side JPEG decoding: the file's bytes (still to decode) and EXIF orientation.
    raw: list[torch.Tensor | None] | None = None
    orientation: list[int] | None = None
    frames: list[float | None] | None = None  # a clip frame's time in seconds; None for photos

    def meta(self) -> dict[str, list[Any]]:
        """What scoring needs besides the pixels (JSON-able: Ray ships it between tasks)."""
        frames = self.frames if self.frames is not None else [None] * len(self.paths)
        return {"paths": self.paths, "ok": self.ok, "errors": self.errors, "frames": frames}

    def pin_memory(self) -> Batch:
        self.images = self.images.pin_memory()
        return self


class ImageStream(IterableDataset):
    """Batches of decoded images in listing order; worker w of W makes batches k ≡ w (mod W)."""

    def __init__(
        self,
        listing: Source,
        preprocessor: Preprocessor,
        batch_size: int,
        done: frozenset[str] = frozenset(),
        raw_jpeg: bool = False,
        video: Sampling | None = None,
    ):
        self.listing = listing
        self.root = listing.root
        self.preprocessor = preprocessor
        self.batch_size = batch_size
        self.done = done
        self.raw_jpeg = raw_jpeg  # ship JPEG bytes for decoding on the device
        self.video = video  # how clips are sampled (None: every file is decoded as a photo)

    def paths(self) -> Iterator[str]:
        return (p for p in self.listing if p not in self.done)

    def __iter__(self) -> Iterator[Batch]:
        info = get_worker_info()
        wid, nw = (info.id, info.num_workers) if info else (0, 1)
        for k, chunk in enumerate(chunks(self.paths(), self.batch_size, self.video)):
            if k % nw == wid:
                yield self.make_batch(chunk)

    def make_batch(self, rels: list[str]) -> Batch:
        """Decode ``rels`` (a clip: its sampled frames, one image row each)."""
        size = self.preprocessor.pre.input_size
        arrays: list[np.ndarray | None] = []
        paths, ok, errors, raw, orientation, frames = [], [], [], [], [], []
        for rel in rels:
            clip = self.video is not None and is_video_name(rel)
            path: str | io.BytesIO = rel
            try:
                path = open_path(self.root, rel)  # a URI's bytes are fetched here, in the worker
                if clip:
                    decoded = self.read_clip(path)
                elif self.raw_jpeg and (jpeg := read_jpeg(path)) is not None:
                    decoded = [(None, None, jpeg)]
                else:
                    decoded = [(None, self.preprocessor(path), None)]
            except Exception as exc:  # every failure becomes that file's row, never a crash
                reason = empty_reason(path) or (describe_video_error(exc) if clip else describe_error(exc))
                decoded = [(None, None, None)]
            else:
                reason = ""
            for t, array, jpeg in decoded:
                paths.append(rel)
                ok.append(not reason)
                errors.append(reason)
                frames.append(t)
                arrays.append(array)
                raw.append(jpeg[0] if jpeg else None)
                orientation.append(jpeg[1] if jpeg else 1)
        images = torch.zeros(len(paths), size, size, 3, dtype=torch.uint8)
        for i, array in enumerate(arrays):
            if array is not None:
                images[i] = torch.from_numpy(array)
        batch = Batch(images, paths, ok, errors, frames=frames if self.video is not None else None)
        if self.raw_jpeg:
            batch.raw, batch.orientation = raw, orientation
        return batch

    def read_clip(self, path: str | io.BytesIO) -> list[tuple[float | None, np.ndarray | None, None]]:
        assert self.video is not None
        draft = self.preprocessor.pre.resize_size if self.preprocessor.draft else None
        return [(t, self.preprocessor.crop(im), None) for t, im in read_frames(path, self.video, draft)]


def chunks(paths: Iterable[str], batch_size: int, video: Sampling | None) -> Iterator[list[str]]:
    """Consecutive lists of paths, one per batch, in listing order (every engine cuts them
    here, so every engine makes the same batches). A clip weighs ``max_frames`` photos: it
    starts a new batch unless it fits in the current one."""
    chunk: list[str] = []
    weight = 0
    for rel in paths:
        w = video.max_frames if video is not None and is_video_name(rel) else 1
        if chunk and weight + w > batch_size:
            yield chunk
            chunk, weight = [], 0
        chunk.append(rel)
        weight += w
        if weight >= batch_size:
            yield chunk
            chunk, weight = [], 0
    if chunk:
        yield chunk


def image_stream(
    source: Source | Path,
    pre: Preprocessing,
    batch_size: int,
    done: Iterable[str] = (),
    draft: bool = True,
    raw_jpeg: bool = False,
    video: Sampling | None = None,
) -> ImageStream:
    listing = Listing.of(source) if isinstance(source, (str, os.PathLike)) else source
    return ImageStream(listing, Preprocessor(pre, draft), batch_size, frozenset(done), raw_jpeg, video)


def loader(stream: ImageStream, workers: int, pin_memory: bool = False) -> DataLoader:
    return DataLoader(
        stream,
        batch_size=None,  # the stream batches itself
        num_workers=workers,
        pin_memory=pin_memory,
        prefetch_factor=4 if workers else None,
        persistent_workers=False,
    )


# --------------------------------------------------------------------------- device-side JPEG decoding

_JPEG_MAGIC = b"\xff\xd8\xff"


def read_jpeg(path: str | io.BytesIO) -> tuple[torch.Tensor, int] | None:
    """A baseline RGB/grey JPEG's bytes and EXIF orientation, for decoding on the GPU; None for
    anything the device decoder should not get (other formats, CMYK, oversized: PIL decodes
    those in the worker as usual). Only the header is parsed here."""
    data = read_bytes(path)
    if not data.startswith(_JPEG_MAGIC) or not data.rstrip(b"\0").endswith(b"\xff\xd9"):
        return None  # not a JPEG, or cut short: the CPU path decides (and names the problem)
    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.mode not in ("RGB", "L") or im.size[0] * im.size[1] > (Image.MAX_IMAGE_PIXELS or 1 << 62):
                return None
            try:
                orientation = int(im.getexif().get(0x0112, 1))
            except Exception:
                orientation = 1
    except Exception:
        return None  # let the CPU path give the precise error
    return torch.frombuffer(bytearray(data), dtype=torch.uint8), orientation


def _orient(x: torch.Tensor, orientation: int) -> torch.Tensor:
    """EXIF orientation on a (…, H, W) tensor, as PIL's ImageOps.exif_transpose does."""
    if orientation == 2:
        return x.flip(-1)
    if orientation == 3:
        return x.flip(-2, -1)
    if orientation == 4:
        return x.flip(-2)
    if orientation == 5:
        return x.transpose(-2, -1)
    if orientation == 6:
        return torch.rot90(x, k=-1, dims=(-2, -1))
    if orientation == 7:
        return x.flip(-2, -1).transpose(-2, -1)
    if orientation == 8:
        return torch.rot90(x, k=1, dims=(-2, -1))
    return x


def _resize_crop(img: torch.Tensor, orientation: int, pre: Preprocessing) -> torch.Tensor:
    """C×H×W uint8 → size×size×3 uint8: the same geometry as :class:`Preprocessor`."""
    import torch.nn.functional as F

    x = _orient(img.unsqueeze(0).float(), orientation)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    h, w = x.shape[-2:]
    size, resize = pre.input_size, pre.resize_size
    rw, rh = (resize, int(resize * h / w)) if w <= h else (int(resize * w / h), resize)
    mode = "bicubic" if pre.interpolation == "bicubic" else "bilinear"
    x = F.interpolate(x, size=(rh, rw), mode=mode, antialias=True, align_corners=False)
    top, left = round((rh - size) / 2), round((rw - size) / 2)
    x = x[..., top : top + size, left : left + size]
    return x.clamp_(0, 255).round_().to(torch.uint8)[0].permute(1, 2, 0)


def decode_on_device(batch: Batch, images: torch.Tensor, pre: Preprocessing, chunk: int = 64) -> None:
    """Fill ``images`` (on its device) with the batch's raw JPEGs, decoded there (nvJPEG on
    CUDA). A file the device decoder rejects is decoded by PIL instead; if that fails too,
    its row becomes an error. ``batch.ok`` / ``batch.errors`` are updated in place."""
    import warnings

    from torchvision.io import ImageReadMode, decode_jpeg

    # torchvision 0.29 marks its decoders deprecated in favour of TorchCodec; they still work.
    warnings.filterwarnings("ignore", message=".*decoding and encoding capabilities", category=DeprecationWarning)
    assert batch.raw is not None and batch.orientation is not None
    todo = [i for i, r in enumerate(batch.raw) if r is not None and batch.ok[i]]
    for start in range(0, len(todo), chunk):
        idx = todo[start : start + chunk]
        try:
            decoded = decode_jpeg([batch.raw[i] for i in idx], mode=ImageReadMode.RGB, device=images.device)
        except RuntimeError:
            decoded = [None] * len(idx)  # one bad file fails the call: isolate it below
        for i, img in zip(idx, decoded):
            try:
                if img is None:
                    img = decode_jpeg(batch.raw[i], mode=ImageReadMode.RGB, device=images.device)
                images[i] = _resize_crop(img, batch.orientation[i], pre)
            except RuntimeError:
                try:  # fall back to the CPU decoder, which also names the problem precisely
                    cpu = Preprocessor(pre)(io.BytesIO(batch.raw[i].numpy().tobytes()))
                    images[i] = torch.from_numpy(cpu).to(images.device)
                except Exception as exc:
                    batch.ok[i] = False
                    batch.errors[i] = describe_error(exc)


class LabelledImages(torch.utils.data.Dataset):
    """(uint8 H×W×3 image, label, ok) for a list of samples; ``augment`` maps a PIL image to
    an augmented PIL image of the model's input size (training), else the eval transform of
    ``views[i]`` (one of VIEWS; "orig" for every sample when not given)."""

    def __init__(
        self,
        root: Path,
        samples: list[Sample],
        preprocessor: Preprocessor,
        augment: Callable[[Image.Image], Image.Image] | None = None,
        views: list[str] | None = None,
    ):
        self.root = Path(root)
        self.samples = samples
        self.preprocessor = preprocessor
        self.augment = augment
        self.views = views

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, bool]:
        s = self.samples[i]
        size = self.preprocessor.pre.input_size
        path = self.root / s.path
        try:
            if self.augment is None:
                arr = self.preprocessor(path, self.views[i] if self.views is not None else "orig")
            else:
                arr = np.array(self.augment(open_rgb(path, self.preprocessor.pre.resize_size)), dtype=np.uint8)
            return torch.from_numpy(arr), s.label, True
        except Exception:
            return torch.zeros(size, size, 3, dtype=torch.uint8), s.label, False
