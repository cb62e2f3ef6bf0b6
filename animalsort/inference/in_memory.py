"""Images a caller already holds (PIL images, numpy arrays, paths) → the CSV's rows, with no
files listed or written: what ``animalsort.Classifier.predict`` runs. Each image is prepared
exactly as classify prepares a file (the same resize and crop), and goes through the same
scoring, so a photo gets the same row either way."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image

from animalsort.formats.predictions import header
from animalsort.inference.options import Summary
from animalsort.inference.pipeline import csv_rows
from animalsort.inference.scoring import score_batch
from animalsort.model.loaded import LoadedModel
from animalsort.sources.decode import describe_error, empty_reason, open_rgb, to_rgb
from animalsort.sources.preprocess import Preprocessor
from animalsort.sources.views import Box


def classify_images(
    loaded: LoadedModel, items: Sequence[Any], top_k: int, batch_size: int = 32, view: str = "frame"
) -> tuple[list[str], list[list[str]]]:
    """The CSV's columns and one row per item, in order. A path's row is named by the path,
    an in-memory image's ``<image N>`` (N its index); an item that cannot be read is an error
    row with the reason. ``view``: as classify's ``--view``."""
    prepare = Preprocessor(loaded.preprocessing)
    size = loaded.preprocessing.input_size
    boxes = view != "centre"
    rows: list[list[str]] = []
    for start in range(0, len(items), batch_size):
        windows = [
            w
            for n, item in enumerate(items[start : start + batch_size], start)
            for w in _prepare(prepare, n, item, view)
        ]
        images = torch.zeros(len(windows), size, size, 3, dtype=torch.uint8)
        for i, (_, array, _, _) in enumerate(windows):
            if array is not None:
                images[i] = torch.from_numpy(array)
        meta: dict[str, Any] = {
            "paths": [name for name, _, _, _ in windows],
            "ok": [array is not None for _, array, _, _ in windows],
            "errors": [error for _, _, error, _ in windows],
        }
        if boxes:
            meta.update(boxes=[box for _, _, _, box in windows], view=view)
        scored = score_batch(loaded, images.to(loaded.device), meta, top_k)
        for batch_rows, _ in csv_rows([scored], loaded.labels.labels, top_k, Summary(), boxes):
            rows.extend(batch_rows)
    return header(top_k, boxes), rows


Window = tuple[str, np.ndarray | None, str, Box | None]  # row name, pixels or None, why not, box


def _prepare(prepare: Preprocessor, n: int, item: Any, view: str) -> list[Window]:
    """An item's windows (one for ``centre``), or a single row saying why it has none."""
    name = os.fspath(item) if isinstance(item, (str, os.PathLike)) else f"<image {n}>"
    try:
        if isinstance(item, (str, os.PathLike)):
            im = open_rgb(name, prepare.draft_for(view))
        else:
            if isinstance(item, np.ndarray):
                item = _from_array(item)
            if not isinstance(item, Image.Image):
                raise TypeError(f"not an image: {type(item).__name__} (give a path, a PIL image or a numpy array)")
            im = to_rgb(item)
        if view == "centre":
            return [(name, prepare.crop(im), "", None)]
        return [(name, array, "", box) for box, array in prepare.views(im, view)]
    except Exception as exc:  # every failure becomes that image's row, never a crash
        reason = (empty_reason(name) if isinstance(item, (str, os.PathLike)) else None) or describe_error(exc)
        return [(name, None, reason, None)]


def _from_array(array: np.ndarray) -> Image.Image:
    """H×W (grey) or H×W×3 / H×W×4 (RGB / RGBA) uint8 → a PIL image; other shapes and types
    are refused with what was given."""
    if array.dtype != np.uint8 or array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ValueError(
            f"a numpy image must be uint8 H×W, H×W×3 (RGB) or H×W×4 (RGBA); got {array.dtype} {array.shape}"
        )
    return Image.fromarray(np.ascontiguousarray(array))
