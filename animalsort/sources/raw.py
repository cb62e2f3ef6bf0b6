"""RAW photos (.cr2 .cr3 .nef .arw .dng .raf .orf .rw2 …) through LibRaw (rawpy), as RGB.

The fast path is the one every photo manager takes: the camera's embedded preview (a JPEG, or
a bitmap), when it covers the size the model needs — a JPEG preview is decoded in PIL's draft
mode like any JPEG. Otherwise the sensor data is demosaiced at half size (LibRaw's
``half_size``: each 2×2 Bayer block becomes one pixel, four times less work). Orientation is
the RAW's own (LibRaw's ``flip``); it is applied to the preview too, whose own EXIF, if any,
describes the unrotated sensor readout. No torch.
"""

from __future__ import annotations

import io
import os
import sys
import warnings
from typing import IO, Any

from PIL import Image

#: What LibRaw reads, by the extensions cameras write (case-insensitive).
RAW_EXTENSIONS = frozenset(
    {
        *(".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".raf", ".orf", ".rw2", ".dng"),
        *(".pef", ".srw", ".x3f", ".3fr", ".iiq", ".rwl", ".erf", ".kdc", ".mrw", ".mos", ".mef", ".raw"),
    }
)

#: LibRaw's ``flip`` → the PIL transpose that makes the photo upright.
_UPRIGHT = {3: Image.Transpose.ROTATE_180, 5: Image.Transpose.ROTATE_90, 6: Image.Transpose.ROTATE_270}


class RawError(Exception):
    """A RAW file LibRaw cannot read (the reason is the row's error)."""


def is_raw_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in RAW_EXTENSIONS


def open_raw(path: str | os.PathLike[str] | IO[bytes], draft_size: int | None = None) -> Image.Image:
    """The RAW photo at ``path`` as an upright RGB image: its embedded preview when both its
    sides reach ``draft_size`` (any preview when None), else a half-size demosaic."""
    rawpy = _rawpy()

    try:
        with rawpy.imread(_readable(path)) as raw:
            flip = int(raw.sizes.flip)
            preview = _preview(raw, draft_size)
            if preview is not None:
                upright = _UPRIGHT.get(flip)
                return preview.transpose(upright) if upright is not None else preview
            rgb = raw.postprocess(half_size=True, use_camera_wb=True, output_bps=8)  # LibRaw applies flip
    except rawpy.LibRawError as exc:
        raise RawError(_reason(exc)) from None
    return Image.fromarray(rgb, "RGB")


def raw_size(path: str | os.PathLike[str] | IO[bytes]) -> tuple[int, int]:
    """(width, height) of the upright photo, from the RAW's header."""
    rawpy = _rawpy()

    try:
        with rawpy.imread(_readable(path)) as raw:
            w, h = int(raw.sizes.width), int(raw.sizes.height)
            return (h, w) if int(raw.sizes.flip) in (5, 6) else (w, h)
    except rawpy.LibRawError as exc:
        raise RawError(_reason(exc)) from None


def _readable(path: str | os.PathLike[str] | IO[bytes]) -> str | IO[bytes]:
    if isinstance(path, (str, os.PathLike)):
        if os.path.getsize(path) == 0:
            raise RawError("empty file (0 bytes)")
        return os.fspath(path)
    return path


def _preview(raw: object, draft_size: int | None) -> Image.Image | None:
    """The embedded preview, if there is one large enough."""
    rawpy = _rawpy()

    try:
        thumb = raw.extract_thumb()  # type: ignore[attr-defined]
    except (rawpy.LibRawNoThumbnailError, rawpy.LibRawUnsupportedThumbnailError):
        return None
    except rawpy.LibRawError:
        return None  # a damaged preview: the sensor data may still be fine
    if thumb.format == rawpy.ThumbFormat.JPEG:
        try:
            im = Image.open(io.BytesIO(thumb.data))
            if draft_size and min(im.size) < draft_size:
                return None
            if draft_size:
                im.draft("RGB", (draft_size, draft_size))
            return im.convert("RGB")
        except Exception:
            return None  # not a JPEG PIL can read after all: demosaic instead
    im = Image.fromarray(thumb.data).convert("RGB")
    return None if draft_size and min(im.size) < draft_size else im


_WHY = {
    "LibRawFileUnsupportedError": "not a RAW format LibRaw reads (or not a RAW file)",
    "LibRawIOError": "damaged or cut short",
    "LibRawDataError": "damaged sensor data",
    "LibRawRequestForNonexistentImageError": "no image in the file",
    "LibRawTooBigError": "too large",
}


def _reason(exc: Exception) -> str:
    """``unreadable RAW: damaged or cut short (LibRaw: Input/output error)``."""
    text = str(exc).strip().removeprefix("b").strip("'\"") or type(exc).__name__
    return f"unreadable RAW: {_WHY.get(type(exc).__name__, 'LibRaw cannot read it')} (LibRaw: {text})"


def _rawpy() -> Any:
    """rawpy, imported with LibRaw's OpenMP runtime held to one thread.

    Decode workers are forked; an OpenMP runtime that started its thread pool before a fork
    (a RAW decoded in the main process: ``Classifier.predict``, ``explain``, a test) deadlocks
    in the child that calls it. rawpy's wheels bundle their own OpenMP runtime, which reads
    OMP_NUM_THREADS once, when it is loaded: set to 1 for that moment only (nothing else's
    threads change), it never starts a pool, so a fork is safe — and the decode workers are
    the parallelism. rawpy's warning about forked processes is then moot and is silenced."""
    warnings.filterwarnings("ignore", message="rawpy is being used in a process created by", category=RuntimeWarning)
    if "rawpy" not in sys.modules:
        before = os.environ.get("OMP_NUM_THREADS")
        os.environ["OMP_NUM_THREADS"] = "1"
        try:
            import rawpy  # noqa: F401
        finally:
            if before is None:
                del os.environ["OMP_NUM_THREADS"]
            else:
                os.environ["OMP_NUM_THREADS"] = before
    return sys.modules["rawpy"]
