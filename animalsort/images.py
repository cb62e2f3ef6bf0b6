"""Finding image files and decoding them, without torch (so sort, report and inspect start fast).

Discovery is a sorted generator (memory does not grow with the folder); decoding sniffs the
content, applies EXIF orientation and turns any mode into RGB; a failure becomes a short,
specific reason. Also the labelled-folder layout that finetune and inspect read.
"""

from __future__ import annotations

import errno
import io
import os
import random
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from animalsort.errors import InputError

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".heic", ".heif", ".hif", ".avif"}
)
# Clips (classified frame by frame: video.py; skipped with --no-videos), and what else a camera or
# phone folder holds besides photos, named in the summary of what was skipped.
VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".avi", ".mkv", ".m4v", ".3gp", ".mts", ".m2ts", ".wmv", ".webm"})
RAW_EXTENSIONS = frozenset({".cr2", ".cr3", ".nef", ".arw", ".dng", ".raf", ".orf", ".rw2", ".pef", ".srw"})
SKIPPED_EXAMPLES = 1000  # skipped files listed by name (--verbose); the rest are only counted


def _register_heif() -> None:
    """HEIC/HEIF (iPhone photos) through pillow-heif's Pillow opener; AVIF is Pillow's own."""
    try:
        from pillow_heif import register_heif_opener
    except ImportError:  # optional at import time; then .heic files become error rows that say so
        return
    register_heif_opener()


_register_heif()


# --------------------------------------------------------------------------- discovery


def is_image_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def is_video_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in VIDEO_EXTENSIONS


def discover(root: Path, exclude: Iterable[Path] = ()) -> Iterator[str]:
    """Relative ``/``-separated paths of image files under ``root``, sorted by path components.

    Symlinked files are listed (a broken one becomes an error row); symlinked folders are not
    followed (no loops, no files seen twice). ``exclude`` holds files or folders to skip, such
    as the output CSV or a destination folder inside ``root``.
    """
    return (rel for rel, image in walk(root, exclude) if image)


def walk(root: Path, exclude: Iterable[Path] = ()) -> Iterator[tuple[str, bool]]:
    """Every file under ``root`` as in :func:`discover`, with whether it is an image file."""
    skip = {os.path.realpath(p) for p in exclude}
    yield from _walk(str(root), "", skip)


def _walk(top: str, prefix: str, skip: set[str]) -> Iterator[tuple[str, bool]]:
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
        else:
            yield rel, is_image_name(entry.name)


def first_image(root: Path, exclude: Iterable[Path] = ()) -> str | None:
    return next(iter(discover(root, exclude)), None)


@dataclass
class Inventory:
    """How many files a listing will classify, and what it leaves out, by extension."""

    images: int = 0
    videos: int = 0  # clips to classify (counted apart from the photos)
    skipped: Counter[str] = field(default_factory=Counter)  # ".mov" → 300 ("(none)" for no extension)
    examples: list[str] = field(default_factory=list)  # the first skipped files, by path

    def describe_skipped(self) -> str:
        """``312 files: .mov 300, .aae 12`` (most common first)."""
        n = sum(self.skipped.values())
        kinds = ", ".join(f"{ext} {k}" for ext, k in sorted(self.skipped.items(), key=lambda kv: (-kv[1], kv[0])))
        return f"{n} file{'s' * (n != 1)}: {kinds}"


@dataclass(frozen=True)
class Listing:
    """What to classify: folders (walked in sorted order) and files named one by one, as
    paths relative to ``root``, their common parent. Picklable and re-iterable: each
    DataLoader worker walks it itself, so no list of paths is held anywhere.

    A file named explicitly is classified whatever its extension (its content decides).
    """

    root: Path
    entries: tuple[tuple[str, bool], ...]  # (path relative to root, is a folder), in the order given
    exclude: tuple[Path, ...] = ()
    videos: bool = False  # list video clips too (by extension), not only photos

    @classmethod
    def of(cls, sources: Path | Sequence[Path], exclude: Iterable[Path] = (), videos: bool = False) -> Listing:
        """A listing of folders and files as given on the command line. A file inside a
        folder that is also given, or a folder inside another, is listed once."""
        paths = [Path(sources)] if isinstance(sources, (str, os.PathLike)) else [Path(p) for p in sources]
        if not paths:
            raise InputError("nothing to classify: give a folder or image files")
        for p in paths:
            if not p.exists():
                raise InputError(f"{p}: no such folder or file; check the path")
        folders = [p.absolute() for p in paths if p.is_dir()]
        kept: list[tuple[Path, bool]] = []
        for p in paths:
            a, is_dir = p.absolute(), p.is_dir()
            inside = any(a != f and a.is_relative_to(f) for f in folders)  # another folder given covers it
            if not inside and (a, is_dir) not in kept:
                kept.append((a, is_dir))
        root = Path(os.path.commonpath([a if is_dir else a.parent for a, is_dir in kept]))
        entries = tuple((os.path.relpath(a, root).replace(os.sep, "/"), is_dir) for a, is_dir in kept)
        return cls(root, entries, tuple(exclude), videos)

    def _items(self) -> Iterator[tuple[str, bool]]:
        for rel, is_dir in self.entries:
            if not is_dir:
                yield rel, True
                continue
            prefix = "" if rel == "." else rel + "/"
            for sub, image in walk(self.root / rel, self.exclude):
                yield prefix + sub, image or (self.videos and is_video_name(sub))

    def __iter__(self) -> Iterator[str]:
        return (rel for rel, image in self._items() if image)

    def inventory(self) -> Inventory:
        """Count what will be classified and what will not (one walk, nothing kept but counts)."""
        inv = Inventory()
        for rel, image in self._items():
            if image:
                if self.videos and is_video_name(rel):
                    inv.videos += 1
                else:
                    inv.images += 1
                continue
            inv.skipped[os.path.splitext(rel)[1].lower() or "(none)"] += 1
            if len(inv.examples) < SKIPPED_EXAMPLES:
                inv.examples.append(rel)
        return inv


def nothing_to_classify(listing: Listing, inv: Inventory) -> str:
    """The message for a listing without a single image file: what it found instead."""
    where = listing.root if len(listing.entries) == 1 else f"the {len(listing.entries)} paths given"
    if not inv.skipped:
        return f"no image files under {where} (it holds no files at all); check the path"
    kinds = []
    if inv.skipped.keys() & VIDEO_EXTENSIONS:
        kinds.append("videos (--no-videos)")
    if inv.skipped.keys() & RAW_EXTENSIONS:
        kinds.append("RAW photos (convert them to JPEG or TIFF first)")
    note = f" — {' and '.join(kinds)} are not classified" if kinds else ""
    return (
        f"no image files under {where}: found {inv.describe_skipped()}{note}; "
        f"animalsort reads {', '.join(sorted(IMAGE_EXTENSIONS))}"
        + (f" and videos ({', '.join(sorted(VIDEO_EXTENSIONS))})" if listing.videos else "")
    )


def check_source(root: Path) -> Path:
    root = Path(root)
    if not root.exists():
        raise InputError(f"{root}: no such folder; check the path")
    if not root.is_dir():
        raise InputError(f"{root} is not a folder; pass the folder that holds the photos")
    return root


def cpu_count() -> int:
    """Cores this process may use (respects affinity masks and cgroup-pinned CPUs)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def default_workers() -> int:
    """One core stays with the main process (the model); the rest decode (at most 8: beyond that, I/O rules)."""
    return max(1, min(8, cpu_count() - 1))


# --------------------------------------------------------------------------- decoding


def open_rgb(path: str | Path, draft_size: int | None = None) -> Image.Image:
    """Open any supported image as RGB: content sniffed (not the extension), EXIF orientation
    applied, first frame of animations, transparency composited on white, 16-bit scaled.

    ``draft_size`` lets the JPEG decoder scale down by 1/2, 1/4 or 1/8 while decoding so
    that both sides stay ≥ ``draft_size`` (DCT scaling: several times faster on big photos).
    """
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
            out = _to_rgb(im)
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
    with Image.open(path) as im:
        w, h = im.size
        try:
            orientation = im.getexif().get(0x0112, 1)
        except Exception:  # a corrupt EXIF block: open_rgb does not rotate either
            orientation = 1
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


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


# --------------------------------------------------------------------------- labelled folders (finetune)


@dataclass(frozen=True)
class Sample:
    path: str  # relative to the dataset root, "/"-separated
    label: int


@dataclass
class LabelledSplits:
    classes: list[str]
    train: list[Sample]
    val: list[Sample]
    test: list[Sample]
    presplit: bool


def _class_folder(root: Path) -> tuple[list[str], list[Sample]]:
    classes = sorted(
        e.name
        for e in os.scandir(root)
        if e.is_dir() and not e.name.startswith(".")  # class links followed
    )
    samples = []
    for label, name in enumerate(classes):
        samples += [Sample(f"{name}/{rel}", label) for rel in discover(root / name)]
    return classes, samples


def labelled_splits(root: Path, val_split: float = 0.2, seed: int = 0) -> LabelledSplits:
    """An ImageFolder (``ROOT/<class>/**/*.jpg``) split per class, seeded; or a pre-split one
    (``ROOT/train``, ``ROOT/val``, optional ``ROOT/test``, each with the same class folders)."""
    root = check_source(root)
    if (root / "train").is_dir() and (root / "val").is_dir():
        classes, train = _class_folder(root / "train")
        parts = {}
        for part in ("val", "test"):
            if (root / part).is_dir():
                part_classes, samples = _class_folder(root / part)
                index = {c: i for i, c in enumerate(classes)}
                unknown = set(part_classes) - set(classes)
                if unknown:
                    raise InputError(
                        f"{root / part} has classes that train/ lacks: {', '.join(sorted(unknown))}; "
                        "use the same class folders in train/, val/ and test/"
                    )
                parts[part] = [Sample(f"{part}/{s.path}", index[part_classes[s.label]]) for s in samples]
        train = [Sample(f"train/{s.path}", s.label) for s in train]
        return LabelledSplits(classes, train, parts.get("val", []), parts.get("test", []), presplit=True)
    classes, samples = _class_folder(root)
    by_class: dict[int, list[Sample]] = {}
    for s in samples:
        by_class.setdefault(s.label, []).append(s)
    rng = random.Random(seed)
    train, val = [], []
    for label in sorted(by_class):
        items = sorted(by_class[label], key=lambda s: s.path)
        rng.shuffle(items)
        n_val = min(len(items) - 1, max(1, round(len(items) * val_split))) if len(items) > 1 and val_split > 0 else 0
        val += items[:n_val]
        train += items[n_val:]
    return LabelledSplits(
        classes, sorted(train, key=lambda s: s.path), sorted(val, key=lambda s: s.path), [], presplit=False
    )
