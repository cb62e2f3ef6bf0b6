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
from animalsort.sources.decode import describe_error, empty_reason, to_rgb
from animalsort.sources.preprocess import Preprocessor


def classify_images(
    loaded: LoadedModel, items: Sequence[Any], top_k: int, batch_size: int = 32
) -> tuple[list[str], list[list[str]]]:
    """The CSV's columns and one row per item, in order. A path's row is named by the path,
    an in-memory image's ``<image N>`` (N its index); an item that cannot be read is an error
    row with the reason."""
    prepare = Preprocessor(loaded.preprocessing)
    size = loaded.preprocessing.input_size
    rows: list[list[str]] = []
    for start in range(0, len(items), batch_size):
        chunk = list(enumerate(items[start : start + batch_size], start))
        prepared = [_prepare(prepare, n, item) for n, item in chunk]
        images = torch.zeros(len(prepared), size, size, 3, dtype=torch.uint8)
        for i, (_, array, _) in enumerate(prepared):
            if array is not None:
                images[i] = torch.from_numpy(array)
        meta = {
            "paths": [name for name, _, _ in prepared],
            "ok": [array is not None for _, array, _ in prepared],
            "errors": [error for _, _, error in prepared],
        }
        scored = score_batch(loaded, images.to(loaded.device), meta, top_k)
        for batch_rows, _ in csv_rows([scored], loaded.labels.labels, top_k, Summary()):
            rows.extend(batch_rows)
    return header(top_k), rows


def _prepare(prepare: Preprocessor, n: int, item: Any) -> tuple[str, np.ndarray | None, str]:
    """(row name, the model's uint8 input or None, why not)."""
    if isinstance(item, (str, os.PathLike)):
        name = os.fspath(item)
        try:
            return name, prepare(name), ""
        except Exception as exc:  # every failure becomes that image's row, never a crash
            return name, None, empty_reason(name) or describe_error(exc)
    name = f"<image {n}>"
    try:
        if isinstance(item, np.ndarray):
            item = _from_array(item)
        if not isinstance(item, Image.Image):
            raise TypeError(f"not an image: {type(item).__name__} (give a path, a PIL image or a numpy array)")
        return name, prepare.crop(to_rgb(item)), ""
    except Exception as exc:
        return name, None, describe_error(exc)


def _from_array(array: np.ndarray) -> Image.Image:
    """H×W (grey) or H×W×3 / H×W×4 (RGB / RGBA) uint8 → a PIL image; other shapes and types
    are refused with what was given."""
    if array.dtype != np.uint8 or array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ValueError(
            f"a numpy image must be uint8 H×W, H×W×3 (RGB) or H×W×4 (RGBA); got {array.dtype} {array.shape}"
        )
    return Image.fromarray(np.ascontiguousarray(array))
