"""Decoding a photo into RGB, without torch: the content is sniffed (not the extension), EXIF
orientation applied, HEIC/AVIF through their Pillow openers, JPEGs in draft mode when a
smaller decode still covers the model's input; a failure becomes a short, specific reason.
"""

from __future__ import annotations

import errno
import io
import math
import os
import re
import warnings
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from animalsort.errors import UsageError
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


#: The most pixels a photo may have (in millions) before it is refused as a decompression bomb
#: (a small file that decodes to gigabytes). Pillow's own limit, 89.5 MP, refuses real photos:
#: the 102 MP of medium-format cameras (Fujifilm GFX100, Hasselblad X2D: 11648 × 8736) and the
#: 151 MP of the Phase One IQ4 150MP (14204 × 10652), the largest single-shot sensor sold.
#: 160 MP takes every camera's photo (a 160 MP RGB image is 480 MB decoded); pixel-shift
#: composites (240–400 MP) and stitched panoramas need :data:`MAX_MEGAPIXELS_ENV`.
DEFAULT_MAX_MEGAPIXELS = 160
#: Raises (or lowers) the limit: read by every process that decodes (DataLoader workers, Ray
#: tasks, thumbnail processes), so ``animalsort --max-megapixels N`` sets it for them all.
MAX_MEGAPIXELS_ENV = "ANIMALSORT_MAX_MEGAPIXELS"
TOO_LARGE = "too large to decode"  # how describe_error starts a refused bomb's reason (inspect tells it apart)


def max_pixels() -> int:
    """The decode limit in pixels: ``$ANIMALSORT_MAX_MEGAPIXELS`` million, else the default."""
    text = os.environ.get(MAX_MEGAPIXELS_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_MEGAPIXELS * 1_000_000
    try:
        megapixels = float(text)
    except ValueError:
        megapixels = math.nan
    if not 0 < megapixels < math.inf:
        raise UsageError(f"{MAX_MEGAPIXELS_ENV}={text!r}: give a number of megapixels, e.g. 400")
    return int(megapixels * 1_000_000)


def apply_pixel_limit() -> None:
    """Make Pillow refuse what is over the limit, and nothing under it (its warning, escalated
    to an error in :func:`open_rgb`, comes from the same number)."""
    Image.MAX_IMAGE_PIXELS = max_pixels()


class EmptyImageError(ValueError):
    """An image with no pixels (a side of 0): nothing to classify, crop or measure."""


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
    apply_pixel_limit()
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
    apply_pixel_limit()
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)  # over the limit: as open_rgb says
        im = Image.open(path)
    with im:
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
        return _too_large(str(exc))
    if isinstance(exc, (RawError, NotRegularFileError, EmptyImageError)):
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


def _too_large(pillow_message: str) -> str:
    """Pillow's "Image size (N pixels) exceeds limit of M pixels …" in a person's words, with the fix."""
    found = re.search(r"\((\d+) pixels\)", pillow_message)
    size = f" ({int(found.group(1)) / 1e6:.1f} MP)" if found else ""
    return (
        f"{TOO_LARGE}{size}: over the limit of {max_pixels() / 1e6:g} MP that guards against decompression bombs; "
        f"if the photo is real, raise it with {MAX_MEGAPIXELS_ENV}=N or `animalsort --max-megapixels N …`"
    )


def empty_reason(path: str | IO[bytes]) -> str | None:
    try:
        if (path.getbuffer().nbytes if isinstance(path, io.BytesIO) else os.path.getsize(path)) == 0:
            return "empty file (0 bytes)"
    except OSError:
        return None
    return None
