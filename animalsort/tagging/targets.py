"""Where a tag write lands, and whether it may.

A symbolic link (a photo, a sidecar, or a folder on the way) is written through: the file it
points to gets the keywords, is journalled by its own path, and the link stays a link — the
person sees the keywords wherever they look, and undo gives that file back. A link that leads
outside the folder tag was given is refused: tag writes nothing outside it. Only regular
files are opened (a FIFO would block, a folder is not a sidecar), and a read-only file (by
its mode bits: root may write anything, but ``chmod 444`` is a person's "do not touch") or a
file in a read-only folder is left alone.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass


class Refused(Exception):
    """A file tag leaves alone (the message says why and what to do)."""


@dataclass(frozen=True)
class Read:
    """A file's bytes and the stat of what was read (to notice a replacement before writing)."""

    data: bytes
    st: os.stat_result


def _inside(path: str, root: str) -> bool:
    return os.path.commonpath([path, root]) == root


def resolve(path: str, root: str) -> str:
    """The real path to read and write for ``path`` (links resolved), or :class:`Refused`
    for a link leading out of ``root``, a link to nothing, or a file that is not regular."""
    real = os.path.realpath(path)
    root_real = os.path.realpath(root)
    if not _inside(real, root_real):
        if os.path.normpath(os.path.abspath(path)) == real:
            raise Refused(f"{real} is outside {root}: tag writes nothing outside it")
        raise Refused(f"leads through a symbolic link to {real}, outside {root}: tag writes nothing outside it")
    try:
        _regular(os.stat(real))
    except FileNotFoundError:
        if os.path.islink(path):
            raise Refused(f"a symbolic link to {real}, which does not exist: left as it is") from None
    return real


def _regular(st: os.stat_result) -> None:
    if stat.S_ISDIR(st.st_mode):
        raise Refused("a folder, not a file: left as it is")
    if not stat.S_ISREG(st.st_mode):
        raise Refused("not a regular file (a FIFO, socket or device): never opened")


def check_writable(path: str, st: os.stat_result | None) -> None:
    """Refuse to replace a read-only file (``st``: its stat; None for a new file) or to write
    into a read-only folder — by the mode bits, which bind root too, and by access."""
    if st is not None and (not st.st_mode & stat.S_IWUSR or not os.access(path, os.W_OK)):
        raise Refused(f"read-only (mode {st.st_mode & 0o7777:04o}): left as it is; `chmod u+w` it to tag it")
    folder = os.path.dirname(path)
    mode = os.stat(folder).st_mode
    if not mode & stat.S_IWUSR or not os.access(folder, os.W_OK):
        raise Refused(f"its folder {folder} is read-only (mode {mode & 0o7777:04o}): make it writable to tag it")


def read(path: str) -> Read:
    """The bytes of the regular file at ``path`` (not a link: ``path`` is what
    :func:`resolve` returned), with the stat of the file they came from."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise Refused("became a symbolic link while being tagged: left as it is") from None
        raise
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        _regular(st)
        return Read(f.read(), st)


def unchanged(path: str, before: os.stat_result | None) -> None:
    """Refuse to write when the file is no longer the one read (``before``; None: there was
    none): another program wrote or replaced it meanwhile, and its bytes are not ours to lose."""
    try:
        now: os.stat_result | None = os.lstat(path)
    except FileNotFoundError:
        now = None
    if before is None and now is None:
        return
    if before is None or now is None or _identity(now) != _identity(before):
        raise Refused("changed while being tagged (another program wrote it): left as it is; tag again")


def _identity(st: os.stat_result) -> tuple[int, int, int, int]:
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns
