"""Finding photos and clips under folders, without torch (so sort, report and inspect start fast).

Discovery is a sorted generator (memory does not grow with the folder); what is not a photo or
a clip is counted by extension (``Inventory``). ``Listable`` is what classify iterates: a
folder's ``Listing``, or a manifest or shard (``manifests``).
"""

from __future__ import annotations

import os
import stat
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from animalsort.errors import InputError
from animalsort.sources.raw import RAW_EXTENSIONS
from animalsort.sources.storage import kind_of

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".heic", ".heif", ".hif", ".avif"}
)
# Clips (classified frame by frame: video.py; skipped with --no-videos), and what else a camera or
# phone folder holds besides photos, named in the summary of what was skipped.
VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".avi", ".mkv", ".m4v", ".3gp", ".mts", ".m2ts", ".wmv", ".webm"})
SKIPPED_EXAMPLES = 1000  # skipped files listed by name (--verbose); the rest are only counted


# --------------------------------------------------------------------------- discovery


def is_image_name(name: str) -> bool:
    """A photo by its extension: what PIL reads (IMAGE_EXTENSIONS) or a RAW (LibRaw)."""
    ext = os.path.splitext(name)[1].lower()
    return ext in IMAGE_EXTENSIONS or ext in RAW_EXTENSIONS


#: The key under which files that are not regular files are counted (never opened).
NOT_REGULAR = "not a regular file"


def is_video_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in VIDEO_EXTENSIONS


def discover(
    root: Path, exclude: Iterable[Path] = (), skip_folder: Callable[[str], bool] | None = None
) -> Iterator[str]:
    """Relative ``/``-separated paths of image files under ``root``, sorted by path components.

    Symlinked files are listed (a broken one becomes an error row); symlinked folders are not
    followed (no loops, no files seen twice). ``exclude`` holds files or folders to skip, such
    as the output CSV or a destination folder inside ``root``; ``skip_folder`` says of a
    folder's path whether to leave it out (finetune's run folders inside a dataset).
    """
    return (rel for rel, image in walk(root, exclude, skip_folder) if image)


def walk(
    root: Path, exclude: Iterable[Path] = (), skip_folder: Callable[[str], bool] | None = None
) -> Iterator[tuple[str, bool | None]]:
    """Every file under ``root`` as in :func:`discover`, with whether it is an image file (None:
    not a regular file — a FIFO, a socket, a device — which nothing may open: a read blocks)."""
    skip = {os.path.realpath(p) for p in exclude}
    yield from _walk(str(root), "", skip, skip_folder)


def _walk(
    top: str, prefix: str, skip: set[str], skip_folder: Callable[[str], bool] | None
) -> Iterator[tuple[str, bool | None]]:
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
            if skip_folder is None or not skip_folder(entry.path):
                yield from _walk(entry.path, rel + "/", skip, skip_folder)
        elif _irregular(entry):
            yield rel, None
        else:
            yield rel, is_image_name(entry.name)


def _irregular(entry: os.DirEntry[str]) -> bool:
    """An entry that exists and is neither a folder nor a regular file (a symlink followed);
    a broken symlink is not: it becomes an error row that says so."""
    try:
        if entry.is_file():  # from the directory's own record for plain files: no extra call
            return False
        mode = entry.stat().st_mode
        return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)
    except OSError:
        return False


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
            mode = p.stat().st_mode
            if not stat.S_ISDIR(mode) and not stat.S_ISREG(mode):
                raise InputError(f"{p} is {kind_of(mode)}, not a photo file; animalsort does not read from it")
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

    def _items(self) -> Iterator[tuple[str, bool | None]]:
        for rel, is_dir in self.entries:
            if not is_dir:
                yield rel, True
                continue
            prefix = "" if rel == "." else rel + "/"
            for sub, image in walk(self.root / rel, self.exclude):
                yield prefix + sub, image if image is None else image or (self.videos and is_video_name(sub))

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
            inv.skipped[NOT_REGULAR if image is None else os.path.splitext(rel)[1].lower() or "(none)"] += 1
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
    note = f" — {' and '.join(kinds)} are not classified" if kinds else ""
    return (
        f"no image files under {where}: found {inv.describe_skipped()}{note}; "
        f"animalsort reads {', '.join(sorted(IMAGE_EXTENSIONS))}, RAW photos ({', '.join(sorted(RAW_EXTENSIONS))})"
        + (f" and videos ({', '.join(sorted(VIDEO_EXTENSIONS))})" if listing.videos else "")
    )


def check_source(root: Path) -> Path:
    root = Path(root)
    if not root.exists():
        raise InputError(f"{root}: no such folder; check the path")
    if not root.is_dir():
        raise InputError(f"{root} is not a folder; pass the folder that holds the photos")
    return root


class Listable(Protocol):
    """What classify iterates: :class:`Listing`, ``manifests.Manifest`` or ``manifests.Shard``."""

    @property
    def root(self) -> Path: ...

    @property
    def videos(self) -> bool: ...

    def __iter__(self) -> Iterator[str]: ...

    def inventory(self) -> Inventory: ...
