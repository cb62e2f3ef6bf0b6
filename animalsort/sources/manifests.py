"""Where classify's files come from beyond local folders and files (``listing.Listing``).

- :class:`Manifest` — ``--files-from LIST``: a text file of paths (one per line) or a CSV with a
  ``path`` column (a predictions CSV works); ``-`` reads standard input, spooled to a temporary
  file so every DataLoader worker can read the list again. Relative paths are relative to
  ``--root``; rows come in the list's order, and each path keeps its spelling in the CSV.
- :func:`remote` — ``s3://bucket/prefix`` (and ``gs://``, ``az://``, … any fsspec protocol that
  lists): listed once with fsspec, photos and clips kept by extension, spooled to a manifest of
  URIs; the ``path`` column keeps each URI. Credentials and endpoints come from the usual
  environment (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, …); s3fs and friends are the
  ``animalsort[cloud]`` extra.
- :class:`Shard` — ``--shard I/N``: the paths of any listing whose stable hash falls in shard I,
  so N jobs over the same listing cover it exactly once, whatever order they run in.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from animalsort.errors import InputError, UsageError
from animalsort.paths import is_uri
from animalsort.sources.listing import Inventory, Listable, Listing
from animalsort.sources.storage import _filesystem, _storage_error

# --------------------------------------------------------------------------- manifests


@dataclass(frozen=True)
class Manifest:
    """The paths of a list file, in its order (re-read by each worker: nothing held in memory)."""

    file: str  # the list itself, or a spooled copy (stdin, a remote listing)
    root: Path  # relative paths are relative to it
    videos: bool = True
    column: bool = False  # a CSV whose ``path`` column holds the paths (else one path per line)
    name: str = ""  # what the user gave: "list.txt", "-", "s3://bucket/prefix"
    skipped: tuple[tuple[str, int], ...] = ()  # a remote listing's non-image files, by extension
    spooled: bool = field(default=False, compare=False)

    @classmethod
    def of(cls, files_from: str, root: Path | None, videos: bool = True) -> Manifest:
        if files_from == "-":
            file, spooled = _spool(sys.stdin), True
        else:
            if not os.path.isfile(files_from):
                raise InputError(f"--files-from {files_from}: no such file")
            file, spooled = os.path.abspath(files_from), False
        base = Path(root if root is not None else os.getcwd()).absolute()
        if root is not None and not base.is_dir():
            raise InputError(f"--root {root}: no such folder")
        return cls(file, base, videos, _has_path_column(file), files_from, spooled=spooled)

    def __iter__(self) -> Iterator[str]:
        with open(self.file, encoding="utf-8-sig", errors="surrogateescape", newline="") as f:
            if self.column:
                last = None
                for row in csv.DictReader(f):
                    path = (row.get("path") or "").strip()
                    if row.get("frame_s") and "#t=" in path:  # a frames-mode CSV: the clip, once
                        path = path.rsplit("#t=", 1)[0]
                    if path and path != last:
                        yield path
                    last = path
                return
            for line in f:
                path = line.rstrip("\r\n")
                if path.strip() and not path.startswith("#"):
                    yield path

    def inventory(self) -> Inventory:
        """Every listed path is classified (named one by one: its content decides); clips count apart."""
        from animalsort.sources.listing import Inventory

        inv = _tally(self, self.videos, Inventory())
        inv.skipped.update(dict(self.skipped))
        return inv

    def record(self) -> dict[str, Any]:
        if is_uri(self.name):
            return {"prefix": self.name}
        return {"files_from": self.name, "root": os.fsdecode(self.root)}


def _tally(paths: Iterable[str], videos: bool, inv: Inventory) -> Inventory:
    """Count ``paths`` into ``inv``: clips apart (when clips are classified), the rest as photos."""
    from animalsort.sources.listing import is_video_name

    for path in paths:
        if videos and is_video_name(path):
            inv.videos += 1
        else:
            inv.images += 1
    return inv


def _spool(stream: IO[str]) -> str:
    fd, path = tempfile.mkstemp(prefix="animalsort-files-", suffix=".txt")
    with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape", newline="") as f:
        shutil.copyfileobj(stream, f)
    return path


def _has_path_column(file: str) -> bool:
    """A CSV manifest: its first line, read as CSV, has a ``path`` field."""
    with open(file, encoding="utf-8-sig", errors="surrogateescape", newline="") as f:
        first = f.readline()
    try:
        return "path" in next(csv.reader([first]), [])
    except csv.Error:
        return False


def remote(uri: str, videos: bool = True) -> Manifest:
    """The photos (and clips) under an object-storage prefix, listed once, sorted by path."""
    from collections import Counter

    from animalsort.sources.listing import is_image_name, is_video_name

    fs, key = _filesystem(uri)
    try:
        keys = fs.find(key, withdirs=False) if fs.isdir(key) else ([key] if fs.exists(key) else [])
    except Exception as exc:  # each back-end has its own errors (botocore's, google's, azure's)
        raise InputError(f"{uri}: cannot list it: {_storage_error(exc)}") from None
    if not keys:
        raise InputError(f"{uri}: nothing there (no such bucket or prefix, or it is empty)")
    skipped: Counter[str] = Counter()
    fd, path = tempfile.mkstemp(prefix="animalsort-remote-", suffix=".txt")
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
        for k in sorted(keys, key=lambda k: k.split("/")):  # the order a folder walk gives
            if is_image_name(k) or (videos and is_video_name(k)):
                f.write(fs.unstrip_protocol(k) + "\n")
            else:
                skipped[os.path.splitext(k)[1].lower() or "(none)"] += 1
    return Manifest(path, Path(os.getcwd()), videos, False, uri, tuple(skipped.items()), spooled=True)


# --------------------------------------------------------------------------- shards


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` (1 ≤ I ≤ N) → (I, N)."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise UsageError(f"--shard {text!r}: give I/N with 1 ≤ I ≤ N, e.g. --shard 3/8")
    return int(m.group(1)), int(m.group(2))


def shard_of(path: str, count: int) -> int:
    """Which of ``count`` shards ``path`` belongs to (1-based): a stable hash of the path,
    the same on every machine and Python."""
    digest = hashlib.blake2b(path.encode("utf-8", "surrogateescape"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % count + 1


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` of another listing, in that listing's order."""

    listing: Listable  # a folder's Listing, or a Manifest
    index: int
    count: int

    @property
    def root(self) -> Path:
        return Path(self.listing.root)

    @property
    def videos(self) -> bool:
        return bool(self.listing.videos)

    def __iter__(self) -> Iterator[str]:
        return (p for p in self.listing if shard_of(p, self.count) == self.index)

    def inventory(self) -> Inventory:
        inv = self.listing.inventory()  # what is left out, for the whole listing
        inv.images = inv.videos = 0
        return _tally(self, self.videos, inv)

    def record(self) -> dict[str, Any]:
        inner = self.listing.record() if hasattr(self.listing, "record") else {}
        return {**inner, "shard": f"{self.index}/{self.count}"}


# --------------------------------------------------------------------------- choosing


def source_for(
    paths: list[str | os.PathLike[str]],
    *,
    files_from: str | None = None,
    root: Path | None = None,
    shard: str | None = None,
    exclude: list[Path] | tuple[Path, ...] = (),
    videos: bool = True,
) -> Listable:
    """The listing classify iterates, from the command line's paths or ``--files-from``."""
    listing: Listable
    if files_from is not None:
        if paths:
            raise UsageError("give folders and files, or --files-from LIST, not both")
        listing = Manifest.of(files_from, root, videos)
    elif any(is_uri(os.fspath(p)) for p in paths):
        if len(paths) != 1:
            raise UsageError("one object-storage prefix at a time (list several in a --files-from file)")
        if root is not None:
            raise UsageError("--root goes with --files-from")
        listing = remote(os.fspath(paths[0]), videos)
    else:
        if root is not None:
            raise UsageError("--root goes with --files-from")
        listing = Listing.of([Path(p) for p in paths], exclude, videos)
    if shard is not None:
        listing = Shard(listing, *parse_shard(shard))
    return listing


def whole(listing: Listable) -> Listable:
    """The listing a shard was cut from; any other listing itself."""
    return listing.listing if isinstance(listing, Shard) else listing


def src_of(listing: Listable) -> str:
    """What the CSV's ``path`` column is relative to (the sidecar's ``src``): a local folder, or
    the object-storage prefix (whose rows hold whole URIs)."""
    inner = whole(listing)
    if isinstance(inner, Manifest) and is_uri(inner.name):
        return inner.name
    return os.fsdecode(Path(listing.root).absolute())


def discard(listing: Listable) -> None:
    """Remove a spooled list (stdin, a remote listing) once classify is done with it."""
    inner = whole(listing)
    if isinstance(inner, Manifest) and inner.spooled:
        with contextlib.suppress(OSError):
            os.unlink(inner.file)


def describe_listing(listing: Listable) -> str:
    """The listing in a user's words: ``--files-from list.txt``, ``s3://b/p (shard 2/4)``, a folder."""
    inner = whole(listing)
    shard = f" (shard {listing.index}/{listing.count})" if isinstance(listing, Shard) else ""
    if isinstance(inner, Manifest):
        return (inner.name if is_uri(inner.name) else f"--files-from {inner.name}") + shard
    return os.fsdecode(Path(inner.root)) + shard
