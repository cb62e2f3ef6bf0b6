"""Turning image files into uint8 batches for the model (listing and decoding: ``sources``).

Each DataLoader worker walks the tree itself and decodes every W-th batch; the loader hands
batches back round-robin, so rows come out in discovery order with no list of paths held
anywhere. A file that cannot be decoded gives a zero image with ``ok=False`` and a reason: it
never shifts or drops a row.

A video clip is decoded whole in the batch that holds it: its sampled frames are consecutive
image rows with the clip's path and their times (``Batch.frames``). A clip weighs
``max_frames`` photos when batches are cut, so no batch holds more than
max(batch size, max_frames) images.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from animalsort.sources.decode import describe_error, empty_reason
from animalsort.sources.listing import Listable, Listing, is_video_name
from animalsort.sources.preprocess import Preprocessing, Preprocessor
from animalsort.sources.storage import open_path, read_bytes
from animalsort.sources.video import Sampling, describe_video_error, read_frames

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
        listing: Listable,
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
    source: Listable | Path,
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
