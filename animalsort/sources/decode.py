"""Decoding a photo into RGB, without torch: the content is sniffed (not the extension), EXIF
orientation applied, HEIC/AVIF through their Pillow openers, JPEGs in draft mode when a
smaller decode still covers the model's input; a failure becomes a short, specific reason.
"""

from __future__ import annotations

import errno
import io
import os
import warnings
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from animalsort.sources.raw import RawError, is_raw_name, open_raw, raw_size
from animalsort.sources.storage import NotRegularFileError


def _register_heif() -> None:
    """HEIC/HEIF (iPhone photos) through pillow-heif's Pillow opener; AVIF is Pillow's own."""
    try:
        from pillow_heif import register_heif_opener
    except ImportError:  # optional at import time; then .heic files become error rows that say so
        return
    register_heif_opener()


_register_heif()


# --------------------------------------------------------------------------- decoding


def open_rgb(path: str | Path | IO[bytes], draft_size: int | None = None) -> Image.Image:
    """Open any supported image as RGB: content sniffed (not the extension), EXIF orientation
    applied, first frame of animations, transparency composited on white, 16-bit scaled.

    ``draft_size`` lets the JPEG decoder scale down by 1/2, 1/4 or 1/8 while decoding so
    that both sides stay ≥ ``draft_size`` (DCT scaling: several times faster on big photos).
    A RAW photo (by its extension) is read with LibRaw (``raw.py``: its preview, or a half-size
    demosaic).
    """
    name = getattr(path, "name", path)  # a fetched URI's bytes keep the URI as their name
    if isinstance(name, (str, os.PathLike)) and is_raw_name(os.fspath(name)):
        return open_raw(path, draft_size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # e.g. "Corrupt EXIF data": the pixels are fine
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
            out = to_rgb(im)
            if out is im and getattr(im, "n_frames", 1) > 1:
                out = im.copy()  # detach from the still-open multi-frame file
        except BaseException:
            im.close()
            raise
        if out is not im:
            im.close()
        return out


def oriented_size(path: str | Path) -> tuple[int, int]:
    """(width, height) as :func:`open_rgb` returns the image, from the header alone."""
    if is_raw_name(os.fspath(path)):
        return raw_size(path)
    with Image.open(path) as im:
        w, h = im.size
        try:
            orientation = im.getexif().get(0x0112, 1)
        except Exception:  # a corrupt EXIF block: open_rgb does not rotate either
            orientation = 1
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def to_rgb(im: Image.Image) -> Image.Image:
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
    if isinstance(exc, (RawError, NotRegularFileError)):
        return str(exc)
    if isinstance(exc, UnidentifiedImageError):
        return "not a readable image (unknown or corrupt format)"
    if isinstance(exc, IsADirectoryError):
        return "is a directory"
    if isinstance(exc, FileNotFoundError):
        return "file not found (not there when read: removed, renamed, or a broken symlink)"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, OSError) and exc.errno == errno.ELOOP:
        return "symlink loop"
    msg = str(exc).strip() or type(exc).__name__
    if "truncated" in msg.lower():
        return f"truncated image: {msg}"
    return f"{type(exc).__name__}: {msg}"


def empty_reason(path: str | IO[bytes]) -> str | None:
    try:
        if (path.getbuffer().nbytes if isinstance(path, io.BytesIO) else os.path.getsize(path)) == 0:
            return "empty file (0 bytes)"
    except OSError:
        return None
    return None
