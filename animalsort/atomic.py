"""Writing a file so that its name never holds half of it.

Every file animalsort writes whole (a CSV rewritten for ``--resume``, a checkpoint, a feature
cache, an HTML page, a weights file imported into the cache) goes through :func:`atomic_write`:
a temporary file in the same folder, flushed and fsync'd, then ``os.replace``'d onto the name,
and removed again if anything fails on the way. Files that grow in place (the streamed CSV,
the sort journal) and the resumable ``.part`` of a download are the exceptions, on purpose.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()


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
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
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


def leftover_temporaries(path: str | Path) -> list[Path]:
    """Temporary files of :func:`atomic_write` / :func:`replace_bytes` for ``path`` that a
    killed process left behind (``.NAME.<random>.tmp`` beside it)."""
    path = Path(path)
    return sorted(path.parent.glob(f".{glob_escape(path.name)}.*.tmp"))


def glob_escape(name: str) -> str:
    import glob

    return glob.escape(name)


def new_file_mode() -> int:
    """The mode a new file gets here (0666 less the umask)."""
    return 0o666 & ~_UMASK


def new_dir_mode() -> int:
    """The mode a new folder gets here (0777 less the umask)."""
    return 0o777 & ~_UMASK
