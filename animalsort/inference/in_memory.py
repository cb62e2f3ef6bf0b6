"""Images a caller already holds (PIL images, numpy arrays, paths) → the predictions' rows, with no
files listed or written: what ``animalsort.Classifier.predict`` runs. Each image is prepared
exactly as classify prepares a file (the same resize and crop), and goes through the same
scoring, so a photo gets the same row either way. With boxes (``predict(images, boxes=…)``)
each image's animal boxes are classified from their crops as ``classify --detections`` does."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from animalsort.errors import UsageError
from animalsort.formats.detection_rows import columns
from animalsort.formats.detections import DEFAULT_THRESHOLD, Detections, Entry, given_entry
from animalsort.formats.predictions import Row, header
from animalsort.inference.batches import crop_row
from animalsort.inference.detected import DetectionRows
from animalsort.inference.options import Summary
from animalsort.inference.pipeline import scored_rows
from animalsort.inference.scoring import BatchRows, Closer, Scorer
from animalsort.model.runner import LoadedModel
from animalsort.sources.decode import describe_error, empty_reason, open_rgb, to_rgb
from animalsort.sources.preprocess import Preprocessor
from animalsort.sources.views import Box


def classify_images(
    loaded: LoadedModel, items: Sequence[Any], top_k: int, batch_size: int = 32, view: str = "frame"
) -> tuple[list[str], list[Row]]:
    """The CSV's columns and one row per item, in order (``formats.predictions.prediction_row``'s).
    A path's row is named by the path, an in-memory image's ``<image N>`` (N its index); an item
    that cannot be read is an error row with the reason. ``view``: as classify's ``--view`` (a
    closer look crops the image the caller gave, at its full resolution)."""
    prepare = Preprocessor(loaded.preprocessing)
    boxes = view != "centre"
    rows: list[Row] = []
    for start in range(0, len(items), batch_size):
        prepared = [_prepare(prepare, n, item, view) for n, item in enumerate(items[start : start + batch_size], start)]
        images = _stacked(prepared)
        looks = [p.look for p in prepared] if boxes else None
        described = BatchRows(*_described(prepared), looks=looks, view=view)
        closer = _closer(prepare, {p.name: p.image for p in prepared if p.image is not None})
        scored = Scorer(loaded, top_k, closer=closer)(images.to(loaded.device), described)
        for batch_rows, _ in scored_rows([scored], loaded.labels.labels, top_k, Summary(), boxes):
            rows.extend(batch_rows)
    return header(top_k, boxes), rows


def classify_boxes(
    loaded: LoadedModel,
    items: Sequence[Any],
    boxes: Sequence[Any],
    top_k: int,
    batch_size: int = 32,
    rows: str = "files",
    threshold: float = DEFAULT_THRESHOLD,
) -> tuple[list[str], list[Row]]:
    """As :func:`classify_images`, each item with its boxes (``boxes[n]``: ``formats.detections.
    given_entry``'s): the rows ``classify --detections --rows ROWS`` writes for a file with
    those boxes. A bad box is a UsageError naming it."""
    if len(boxes) != len(items):
        raise UsageError(
            f"boxes= has {len(boxes)} lists for {len(items)} images: give one list (maybe empty) per image"
        )
    found = Detections(Path("boxes="), Path.cwd(), threshold)
    for n, (item, given) in enumerate(zip(items, boxes)):
        try:
            found.entries[str(n)] = given_entry(_name(n, item), n, given, threshold)
        except (TypeError, ValueError) as exc:
            raise UsageError(f"boxes=: {exc}; a box is (x, y, w, h) as fractions of the image") from None
    prepare = Preprocessor(loaded.preprocessing)
    detected = DetectionRows(found, rows, loaded.labels.labels, top_k)
    out: list[Row] = []
    for start in range(0, len(items), batch_size):
        prepared = [
            p
            for n in range(start, min(len(items), start + batch_size))
            for p in _crops(prepare, n, items[n], found.entries[str(n)])
        ]
        described = BatchRows(*_described(prepared), crops=[p.crop for p in prepared])
        scored = Scorer(loaded, top_k)(_stacked(prepared).to(loaded.device), described)
        for batch_rows, _ in scored_rows([scored], loaded.labels.labels, top_k, Summary(), True, detected):
            out.extend(batch_rows)
    return header(top_k, True) + columns(rows), out


def _crops(prepare: Preprocessor, n: int, item: Any, entry: Entry) -> list[_Prepared]:
    """Item ``n``'s rows: a crop per animal box, or one row without pixels (no animal box, or why it cannot be read)."""
    boxes = [(k, d) for k, d in enumerate(entry.detections) if d.category == "animal"]
    if not boxes:
        return [_Prepared(str(n), crop=-1)]
    found = _prepare(prepare, n, item, "centre", whole=True)
    if found.image is None:
        return [_Prepared(str(n), error=found.error, crop=-1)]
    return [_Prepared(str(n), crop_row(prepare, found.image, k, d).array, crop=k) for k, d in boxes]


def _described(prepared: list[_Prepared]) -> tuple[list[str], list[bool], list[str]]:
    """The items' row names, whether each has an answer to look for, and why not."""
    return [p.name for p in prepared], [not p.error for p in prepared], [p.error for p in prepared]


def _stacked(prepared: list[_Prepared]) -> torch.Tensor:
    """The items' pixels in one uint8 batch, each in the top left of the largest's size (zeros for those without)."""
    height = max([p.array.shape[0] for p in prepared if p.array is not None], default=1)
    width = max([p.array.shape[1] for p in prepared if p.array is not None], default=1)
    images = torch.zeros(len(prepared), height, width, 3, dtype=torch.uint8)
    for i, p in enumerate(prepared):
        if p.array is not None:
            images[i, : p.array.shape[0], : p.array.shape[1]] = torch.from_numpy(p.array)
    return images


def _closer(prepare: Preprocessor, held: dict[str, Image.Image]) -> Closer:
    """Closer looks as classify takes them: a file decoded again at the resolution the square
    needs; an image the caller holds, cropped at its full resolution."""

    def closer(name: str, t: float | None, square: Box) -> np.ndarray:
        im = held[name] if name in held else open_rgb(name, prepare.closer_draft(square))
        return prepare.closer(im, square)

    return closer


@dataclass
class _Prepared:
    """One item ready for the model: its row name, its pixels (or why there are none), with a
    view its first look's and frame's sizes, and an image the caller holds (for a closer look)."""

    name: str
    array: np.ndarray | None = None
    error: str = ""
    look: tuple[int, int, int, int] | None = None
    image: Image.Image | None = None
    crop: int | None = None  # with boxes: ``BatchRows.crops``


def _name(n: int, item: Any) -> str:
    """A row's path: the item's, or ``<image N>`` for an image held in memory."""
    return os.fspath(item) if isinstance(item, (str, os.PathLike)) else f"<image {n}>"


def _prepare(prepare: Preprocessor, n: int, item: Any, view: str, whole: bool = False) -> _Prepared:
    """An item's model input (its centre crop, or its first look), or why it has none;
    ``whole``: the image itself at full resolution instead (for its boxes' crops)."""
    name = _name(n, item)
    try:
        held = not isinstance(item, (str, os.PathLike))
        if not held:
            im = open_rgb(name, None if whole else prepare.draft_for(view))
        else:
            if isinstance(item, np.ndarray):
                item = _from_array(item)
            if not isinstance(item, Image.Image):
                raise TypeError(f"not an image: {type(item).__name__} (give a path, a PIL image or a numpy array)")
            im = to_rgb(item)
        if whole:
            return _Prepared(name, image=im)
        if view == "centre":
            return _Prepared(name, prepare.crop(im))
        array = prepare.look(im)
        look = (array.shape[1], array.shape[0], im.width, im.height)
        return _Prepared(name, array, look=look, image=im if held else None)
    except Exception as exc:  # every failure becomes that image's row, never a crash
        reason = (empty_reason(name) if isinstance(item, (str, os.PathLike)) else None) or describe_error(exc)
        return _Prepared(name, error=reason)


def _from_array(array: np.ndarray) -> Image.Image:
    """H×W (grey) or H×W×3 / H×W×4 (RGB / RGBA) uint8 → a PIL image; other shapes and types
    are refused with what was given."""
    if array.dtype != np.uint8 or array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ValueError(
            f"a numpy image must be uint8 H×W, H×W×3 (RGB) or H×W×4 (RGBA); got {array.dtype} {array.shape}"
        )
    return Image.fromarray(np.ascontiguousarray(array))
