"""Writing a file so that its name never holds half of it.

Every file animalsort writes whole (a CSV rewritten for ``--resume``, a checkpoint, a feature
cache, an HTML page, a weights file imported into the cache) goes through :func:`atomic_write`:
a temporary file in the same folder, flushed and fsync'd, then ``os.replace``'d onto the name,
and removed again if anything fails on the way. Files that grow in place (the streamed CSV,
the sort journal) and the resumable ``.part`` of a download are the exceptions, on purpose.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()

# mkstemp's names: PREFIX + 8 random characters of this alphabet + SUFFIX
_RANDOM = re.compile(r"[a-z0-9_]{8}")
_TMP_SUFFIX = ".tmp"
_TMP_ROOM = 8 + len(_TMP_SUFFIX)
_DIGEST = 8  # hex digits of the name's sha256 in a shortened temporary name


def fsync_dir(path: str | Path) -> None:
    """Make a rename in ``path`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(
    path: str | Path,
    mode: str = "w",
    *,
    like: os.stat_result | None = None,
    keep_mtime: bool = True,
    **open_kwargs: Any,
) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` for writing; on success it replaces ``path``.

    ``mode`` is ``"w"`` (text; pass ``encoding`` and friends) or ``"wb"``. On any exception
    the temporary file is removed and ``path`` is left as it was. With ``like`` (the stat of
    the file being replaced) the new file keeps its mode, its owner where we may set it, and —
    with ``keep_mtime`` — its access and modification times.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write writes whole files: mode 'w' or 'wb', not {mode!r}")
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temporary_prefix(path), suffix=_TMP_SUFFIX)
    try:
        # mkstemp makes 0600; a written file gets the usual mode, or the one it replaces
        os.fchmod(fd, (like.st_mode & 0o7777) if like is not None else 0o666 & ~_UMASK)
        if like is not None:
            with contextlib.suppress(OSError):
                os.fchown(fd, like.st_uid, like.st_gid)
        with os.fdopen(fd, mode, **open_kwargs) as f:
            yield f
            f.flush()
            if like is not None and keep_mtime:
                os.utime(f.fileno(), ns=(like.st_atime_ns, like.st_mtime_ns))
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def make_folder(path: str | Path, fix: str) -> None:
    """``mkdir -p`` for an output folder, or an ``OutputError`` that names it and ``fix``."""
    from animalsort.errors import OutputError

    try:
        Path(path).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {path}: {exc.strerror or exc}; {fix}") from None


def write_text(path: str | Path, text: str, encoding: str = "utf-8") -> None:
    """``Path.write_text``, atomically."""
    with atomic_write(path, "w", encoding=encoding, newline="") as f:
        f.write(text)


def replace_bytes(path: str | Path, data: bytes, like: os.stat_result | None = None, keep_mtime: bool = True) -> None:
    """Write ``data`` over ``path`` atomically, keeping what ``like`` says (:func:`atomic_write`)."""
    with atomic_write(path, "wb", like=like, keep_mtime=keep_mtime) as f:
        f.write(data)


def name_max(folder: str | Path) -> int:
    """The longest file name, in bytes, the file system of ``folder`` takes (255 where it
    cannot say)."""
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):  # no such folder (yet), no pathconf (Windows)
        return 255


def name_fits(path: str | Path) -> bool:
    """Whether ``path``'s last part is short enough for its folder's file system."""
    path = Path(path)
    return len(os.fsencode(path.name)) <= name_max(path.parent)


def temporary_prefix(path: str | Path) -> str:
    """How the temporary files for ``path`` start: ``.NAME.`` — or, where that would leave
    no room for mkstemp's 8 random characters and ``.tmp`` within the file system's name
    limit, ``.HEAD~DIGEST.``: as much of the name as fits (whole characters) and 8 hex digits
    of its sha256, so a name of any length gets a temporary name that is its own."""
    path = Path(path)
    name = path.name
    room = name_max(path.parent) - _TMP_ROOM - 2  # the dots before and after the name
    if len(os.fsencode(name)) <= room:
        return f".{name}."
    digest = hashlib.sha256(os.fsencode(name)).hexdigest()[:_DIGEST]
    head = name
    while len(os.fsencode(head)) > room - 1 - _DIGEST:
        head = head[:-1]
    return f".{head}~{digest}."


def leftover_temporaries(path: str | Path) -> list[Path]:
    """Temporary files of :func:`atomic_write` / :func:`replace_bytes` for ``path`` that a
    killed process left behind (:func:`temporary_prefix` + 8 random characters + ``.tmp``
    beside it) — those of ``path`` only, not of a longer name that starts the same."""
    path = Path(path)
    prefix = temporary_prefix(path)
    found = path.parent.glob(f"{glob_escape(prefix)}{'?' * 8}{_TMP_SUFFIX}")
    return sorted(p for p in found if _RANDOM.fullmatch(p.name[len(prefix) : -len(_TMP_SUFFIX)]))


def glob_escape(name: str) -> str:
    import glob

    return glob.escape(name)


def new_file_mode() -> int:
    """The mode a new file gets here (0666 less the umask)."""
    return 0o666 & ~_UMASK


def new_dir_mode() -> int:
    """The mode a new folder gets here (0777 less the umask)."""
    return 0o777 & ~_UMASK
