"""Paths: where animalsort keeps its files, what an object-storage URI is, and where the rows
of a CSV may name files (:class:`RowPaths`)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from animalsort.errors import RowPathError

CACHE_ENV = "ANIMALSORT_CACHE_DIR"


def cache_dir() -> Path:
    """The weights cache: ``$ANIMALSORT_CACHE_DIR`` or the platform's user cache dir."""
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("animalsort", appauthor=False))


_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")


def is_uri(path: str | os.PathLike[str]) -> bool:
    return isinstance(path, str) and _URI.match(path) is not None


#: The URIs a CSV row may name instead of a file under SRC: object storage and the web. Not
#: ``file://`` or ``local://`` (a local file outside SRC in disguise), nor what a browser runs
#: (``javascript://`` in a report's link).
REMOTE_SCHEMES = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "hf", "http", "https"})


class RowPaths:
    """Where the rows of a CSV (predictions, corrections) name their files: under ``root``,
    the folder the CSV's paths are relative to (SRC), and nowhere else.

    A CSV is easy to hand-edit or to get from someone else, so a row may not lead out of SRC:
    no ``..`` segment, no absolute path outside SRC, no folder on the way that is a symlink
    leading out (compared by real paths). An absolute path inside SRC is fine (a
    ``--files-from`` list keeps its paths' spelling), and so is a symlinked SRC itself, or a
    symlinked photo (classify reads those where they point, as the person who made the link
    meant). Object-storage URIs (:data:`REMOTE_SCHEMES`) pass unchanged. To allow files
    outside, a person names a folder that holds them as SRC (``--src``).
    """

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root)
        self._root = os.fspath(self.root)
        self._real_root = os.path.realpath(self.root)
        self._folders: dict[str, str | None] = {}  # folder → the real folder it leads out to, or None

    def resolve(self, rel: str) -> str:
        """The file ``rel`` names under SRC, or :class:`RowPathError` saying why it is refused
        (the message leaves the row's path to the caller, which names it)."""
        if is_uri(rel):
            scheme, key = rel.split("://", 1)
            if scheme.lower() not in REMOTE_SCHEMES:
                raise RowPathError(
                    f"refused: a {scheme}:// URI; a CSV row names a file inside {self.root}, or an object in "
                    "storage or on the web (s3://, gs://, az://, https://, …)"
                )
            problem = _malformed(key)  # a key becomes a local path where an object is downloaded
            if problem is None:
                return rel
            raise RowPathError(f"refused: {problem} in the URI")
        problem = _malformed(rel)
        if problem is not None:
            raise RowPathError(f"refused: {problem}; a CSV row may only name a file inside {self.root}")
        full = os.path.join(self._root, os.path.normpath(rel))  # "./a//b.jpg" → SRC/a/b.jpg (no ".." is left)
        absolute = _is_absolute(rel)
        out = self._leads_out(os.path.dirname(full))
        if out is None and not (absolute and not _spelled_inside(full, self.root)):
            return full
        what = "an absolute path" if absolute else f"a symlinked folder that leads to {out},"
        raise RowPathError(
            f"refused: {what} outside {self.root} (the folder the CSV's paths are relative to); "
            "to allow it, name a folder that holds it as SRC (--src)"
        )

    def _leads_out(self, folder: str) -> str | None:
        if folder not in self._folders:
            real = os.path.realpath(folder)
            inside = real == self._real_root or real.startswith(self._real_root.rstrip(os.sep) + os.sep)
            self._folders[folder] = None if inside else real
        return self._folders[folder]


_OTHER_SEPARATORS = sorted({os.sep, os.altsep or "/"} - {"/"})  # a backslash on Windows; none on POSIX


def _segments(rel: str) -> list[str]:
    """``rel``'s parts, split at every separator this OS knows."""
    for sep in _OTHER_SEPARATORS:
        rel = rel.replace(sep, "/")
    return rel.split("/")


def _malformed(rel: str) -> str | None:
    """Why ``rel`` cannot name a file under any folder, or None."""
    if "\0" in rel:
        return "a NUL character in the path"
    parts = _segments(os.path.splitdrive(rel)[1])
    if ".." in parts:
        return "a '..' segment (it could climb out)"
    if not [p for p in parts if p not in ("", ".")]:
        return "no file name (an empty path, or SRC itself)"
    return None


def _is_absolute(rel: str) -> bool:
    return os.path.isabs(rel) or bool(os.path.splitdrive(rel)[0])


def _spelled_inside(path: str, root: Path) -> bool:
    """An absolute row spelled under SRC as SRC is spelled (so the sub-path under SRC that
    sort keeps, and finetune --from links by, is the row's own, with no ``..``)."""
    top = os.path.abspath(root)
    try:
        return os.path.commonpath([top, os.path.normpath(path)]) == top
    except ValueError:  # another drive (Windows)
        return False
