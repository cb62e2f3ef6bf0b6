"""Turning image files into uint8 batches for the model (listing and decoding: ``sources``).

Each DataLoader worker walks the tree itself and decodes every W-th batch; the loader hands
batches back round-robin, so rows come out in discovery order with no list of paths held
anywhere. A file that cannot be decoded gives a zero image with ``ok=False`` and a reason: it
never shifts or drops a row.

A video clip is decoded whole in the batch that holds it: its sampled frames are consecutive
image rows with the clip's path and their times (``BatchRows.frames``). A clip weighs
``max_frames`` photos when batches are cut, so no batch holds more than
max(batch size, max_frames) images.

With ``--view frame`` or ``tiles`` each photo (or clip frame) is one first look at the whole
frame, at its own aspect ratio (``Preprocessor.look``): the rows of a batch may differ in size,
so they are padded to the largest and each row carries its own (``BatchRows.looks``); scoring runs
the rows of each size together. A closer look is decoded again from the file by the process
that runs the model (``ImageStream.closer``), at the resolution it needs.

With ``--detections`` a file the JSON lists is not looked at whole: each of its animal boxes is
one image row, the box's square crop (``views.detection_square``) decoded at the resolution the
smallest box needs, and a file without any (empty, or a person or vehicle only) is one row
without pixels that the model never sees (``BatchRows.crops``; ``scoring.Scorer``).
"""

from __future__ import annotations

import gc
import io
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from animalsort.inference.scoring import BatchRows
from animalsort.sources.decode import describe_error, empty_reason, open_rgb, oriented_size
from animalsort.sources.listing import Listable, Listing, is_video_name
from animalsort.sources.preprocess import Preprocessing, Preprocessor
from animalsort.sources.storage import open_path, read_bytes
from animalsort.sources.video import Sampling, describe_video_error, frame_at, read_frames
from animalsort.sources.views import Box, detection_square

if TYPE_CHECKING:
    from collections.abc import Callable

    from animalsort.formats.detections import Detection, Entry

    #: A file's entry in the detections JSON, by its path under the root (None: not listed).
    Lookup = Callable[[str], Entry | None]

# --------------------------------------------------------------------------- batches


@dataclass
class Batch:
    images: torch.Tensor  # uint8, N×H×W×3
    rows: BatchRows  # what scoring needs of each image row besides its pixels
    # With device-side JPEG decoding: the file's bytes (still to decode) and EXIF orientation.
    raw: list[torch.Tensor | None] | None = None
    orientation: list[int] | None = None

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
        view: str = "centre",
        detections: Lookup | None = None,
    ):
        self.listing = listing
        self.root = listing.root
        self.preprocessor = preprocessor
        self.batch_size = batch_size
        self.done = done
        self.raw_jpeg = raw_jpeg  # ship JPEG bytes for decoding on the device
        self.video = video  # how clips are sampled (None: every file is decoded as a photo)
        self.view = view  # how much of each frame the model looks at (preprocess.VIEW_MODES)
        self.detections = detections  # --detections: a file's entry in the JSON

    def paths(self) -> Iterator[str]:
        return (p for p in self.listing if p not in self.done)

    def __iter__(self) -> Iterator[Batch]:
        info = get_worker_info()
        wid, nw = (info.id, info.num_workers) if info else (0, 1)
        for k, chunk in enumerate(chunks(self.paths(), self.batch_size, self.video)):
            if k % nw == wid:
                yield self.make_batch(chunk)

    def make_batch(self, rels: list[str]) -> Batch:
        """Decode ``rels`` (a clip: its sampled frames; with views, each photo or frame: its
        windows — one image row each)."""
        size = self.preprocessor.pre.input_size
        rows: list[_Row] = []
        for rel in rels:
            clip = self.video is not None and is_video_name(rel)
            entry = self.detections(rel) if self.detections is not None else None
            path: str | io.BytesIO = rel
            try:
                path = open_path(self.root, rel)  # a URI's bytes are fetched here, in the worker
                if entry is not None:
                    decoded = self.crop_rows(path, entry, clip)
                elif clip:
                    decoded = self.read_clip(path)
                elif self.raw_jpeg and (jpeg := read_jpeg(path)) is not None:
                    decoded = [_Row(rel, jpeg=jpeg)]
                elif self.view != "centre":
                    decoded = [self.look_row(open_rgb(path, self.preprocessor.draft_for(self.view)))]
                else:
                    decoded = [_Row(rel, array=self.preprocessor(path))]
            except Exception as exc:  # every failure becomes that file's row, never a crash
                reason = empty_reason(path) or (describe_video_error(exc) if clip else describe_error(exc))
                decoded = [_Row(rel, error=reason, crop=None if entry is None else -1)]
            for row in decoded:
                row.path = rel
            rows.extend(decoded)
        height = max([size] + [r.array.shape[0] for r in rows if r.array is not None])
        width = max([size] + [r.array.shape[1] for r in rows if r.array is not None])
        images = torch.zeros(len(rows), height, width, 3, dtype=torch.uint8)
        for i, row in enumerate(rows):
            if row.array is not None:
                h, w = row.array.shape[:2]
                images[i, :h, :w] = torch.from_numpy(row.array)
        batch = Batch(
            images,
            BatchRows(
                [r.path for r in rows],
                [not r.error for r in rows],
                [r.error for r in rows],
                [r.t for r in rows],
                looks=[r.look if not r.error else None for r in rows] if self.view != "centre" else None,
                view=self.view,
                crops=[r.crop for r in rows] if self.detections is not None else None,
            ),
        )
        if self.raw_jpeg:
            batch.raw = [r.jpeg[0] if r.jpeg else None for r in rows]
            batch.orientation = [r.jpeg[1] if r.jpeg else 1 for r in rows]
        return batch

    def read_clip(self, path: str | io.BytesIO) -> list[_Row]:
        """A clip's sampled frames (each a first look at the whole frame, with views), in time order."""
        assert self.video is not None
        pre = self.preprocessor
        centre = self.view == "centre"
        out = []
        for t, im in read_frames(path, self.video, pre.draft_for(self.view)):
            row = _Row("", array=pre.crop(im)) if centre else self.look_row(im)
            row.t = t
            out.append(row)
        return out

    def look_row(self, im: Image.Image) -> _Row:
        array = self.preprocessor.look(im)
        return _Row("", array=array, look=(array.shape[1], array.shape[0], im.width, im.height))

    def crop_rows(self, path: str | io.BytesIO, entry: Entry, clip: bool) -> list[_Row]:
        """A listed file's rows: the square crop of each animal box (a photo decoded once, at
        the resolution its smallest box needs; a clip's frame at each box's time), or one row
        without pixels — a file without animal boxes, or one the JSON says is wrong."""
        if entry.problem:
            return [_Row("", error=entry.problem, crop=-1)]
        boxes = [(k, d) for k, d in enumerate(entry.detections) if d.category == "animal"]
        if not boxes:
            return [_Row("", crop=-1)]  # no decode, no model: the detector's answer is the row
        pre = self.preprocessor
        if clip:
            times = sorted({d.frame_s or 0.0 for _, d in boxes})
            frames = {t: frame_at(path, t) for t in times}
            return [crop_row(pre, frames[d.frame_s or 0.0], k, d) for k, d in boxes]
        assert isinstance(path, str), "--detections reads local folders"  # refused before: _read_detections
        w, h = oriented_size(path)
        drafts = [pre.closer_draft(detection_square(d.bbox, w, h)) for _, d in boxes]
        im = open_rgb(path, max(d or 0 for d in drafts) or None)  # the smallest box's resolution, for all
        return [crop_row(pre, im, k, d) for k, d in boxes]

    def closer(self, rel: str, t: float | None, box: Box) -> np.ndarray:
        """A closer look at ``box`` (a square as fractions of the frame) of the photo at ``rel``
        (or of its clip's frame at ``t``), decoded again at the resolution the square needs:
        the model's uint8 input."""
        pre = self.preprocessor
        draft = pre.closer_draft(box)
        path = open_path(self.root, rel)
        im = frame_at(path, t, draft) if t is not None else open_rgb(path, draft)
        return pre.closer(im, box)


def crop_row(pre: Preprocessor, im: Image.Image, k: int, d: Detection) -> _Row:
    """The row of detection ``k`` of a frame: its square crop (``views.detection_square``)."""
    return _Row("", array=pre.square(im, detection_square(d.bbox, im.width, im.height)), crop=k)


@dataclass
class _Row:
    """One image row of a batch before it is stacked: the pixels (or the raw JPEG for the
    device decoder), or why there are none; a clip frame's time; a window's box."""

    path: str
    array: np.ndarray | None = None
    error: str = ""
    t: float | None = None
    look: tuple[int, int, int, int] | None = None  # a first look's width and height, the frame's
    jpeg: tuple[torch.Tensor, int] | None = None
    crop: int | None = None  # --detections: see ``BatchRows.crops``


def chunks(paths: Iterable[str], batch_size: int, video: Sampling | None) -> Iterator[list[str]]:
    """Consecutive lists of paths, one per batch, in listing order (every engine cuts them
    here, so every engine makes the same batches). A photo weighs one image (its centre crop,
    or its first look), a clip ``max_frames``: it starts a new batch unless it fits in the
    current one."""
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
    view: str = "centre",
    detections: Lookup | None = None,
) -> ImageStream:
    listing = Listing.of(source) if isinstance(source, (str, os.PathLike)) else source
    preprocessor = Preprocessor(pre, draft)
    return ImageStream(listing, preprocessor, batch_size, frozenset(done), raw_jpeg, video, view, detections)


class Loader(DataLoader):
    """A DataLoader whose worker processes never run the destructors of what their parent left
    for the garbage collector. A worker is a fork of the parent; a collection in it would
    finalize the parent's unreachable ONNX Runtime and OpenVINO objects, whose destructors wait
    on thread-pool conditions whose threads did not survive the fork: the worker hangs for ever
    (seen in the test suite: a worker stuck in ``pthread_cond_destroy`` under ``gc_collect_main``).
    So the parent collects first, where those destructors are safe, and what is left is frozen
    (``gc.freeze``: moved out of every collection) while the workers are forked."""

    def __iter__(self):  # type: ignore[no-untyped-def]
        if not self.num_workers:
            return super().__iter__()
        gc.collect()
        gc.freeze()
        try:
            return super().__iter__()
        finally:
            gc.unfreeze()


def loader(stream: ImageStream, workers: int, pin_memory: bool = False) -> DataLoader:
    """The DataLoader over ``stream``. More decode workers than cores is a measured choice
    (``--workers auto`` on large photos): torch's warning about it would only worry the user."""
    import warnings

    warnings.filterwarnings("ignore", message="This DataLoader will create", category=UserWarning)
    return Loader(
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
