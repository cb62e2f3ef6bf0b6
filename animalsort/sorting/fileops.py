"""File operations that never lose a photo: a rename that refuses to replace, a copy that
never leaves half a file under the destination name, and one placement step (move, copy or
link) that checks the source has not changed since the plan was made."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import shutil
from typing import Any

from animalsort.atomic import fsync_dir
from animalsort.formats.journal import Op
from animalsort.hashes import sha256_file

_AT_FDCWD = -100
_RENAME_NOREPLACE = 1


def _load_renameat2() -> Any:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


_renameat2 = _load_renameat2()


def rename_noreplace(src: str, dst: str) -> None:
    """Atomically rename ``src`` to ``dst``, failing with FileExistsError if ``dst`` exists.

    Linux's renameat2(RENAME_NOREPLACE) makes the check and the rename one step; elsewhere
    (or on file systems without it) the check comes just before a plain rename.
    """
    if _renameat2 is not None:
        if _renameat2(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), _RENAME_NOREPLACE) == 0:
            return
        e = ctypes.get_errno()
        if e not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
            raise OSError(e, os.strerror(e), src, None, dst)
    if os.path.lexists(dst):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), dst)
    os.rename(src, dst)


def temporary(folder: str, token: str, op_id: int, role: str = "") -> str:
    """A temporary name in ``folder`` that fits any file system's 255 bytes whatever the
    photo's name: ``.as-<the journal's token>-<op id><role>.tmp`` (undo's role is ``b``)."""
    return os.path.join(folder, f".as-{token}-{op_id}{role}.tmp")


def leftovers(op: Op, token: str, legacy: bool = False) -> list[str]:
    """Where a run of this journal may have left a temporary copy for ``op``: beside the
    destination (sort), beside the source (undo's copy back); with ``legacy`` (a journal of
    version 1) also the name sort gave them then, after the file."""
    d, name = os.path.split(op.dst)
    return [temporary(d, token, op.id), temporary(os.path.dirname(op.src), token, op.id, "b")] + (
        [os.path.join(d, f".{name}.animalsort-{op.id}.tmp")] if legacy else []
    )


def copy_verified(src: str, dst: str, tmp: str, size: int, sha256: str | None, verify: bool) -> None:
    """Copy to ``tmp`` beside the destination, fsync, check, then rename into place: the
    destination name never holds a half-written file, and a failed copy (a full disk, a
    read error) leaves no temporary behind."""
    try:
        shutil.copy2(src, tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        copied = os.path.getsize(tmp)
        if copied != size:
            raise OSError(errno.EIO, f"copy has {copied} bytes, source {size}", src)
        if verify and sha256_file(tmp) != (sha256 or sha256_file(src)):
            raise OSError(errno.EIO, "copy differs from source (sha256)", src)
        rename_noreplace(tmp, dst)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(os.path.dirname(dst))


def move_file(src: str, dst: str, tmp: str, size: int, sha256: str | None, verify: bool) -> None:
    """One atomic rename that never replaces a file; across file systems copy → fsync →
    verify → rename into place → delete the source (a kill in between leaves the file whole
    at both ends, never at neither)."""
    try:
        rename_noreplace(src, dst)
        return
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
    copy_verified(src, dst, tmp, size, sha256, verify)
    try:
        os.unlink(src)
    except OSError:  # the source cannot go: the move did not happen, the copy goes again
        os.unlink(dst)
        raise
    fsync_dir(os.path.dirname(src))


def apply_one(op: Op, verify: bool, tmp: str) -> None:
    """Carry out one planned operation (``tmp``: the temporary name a copy goes through); an
    OSError says why it could not be done."""
    st = os.lstat(op.src) if op.kind == "move" else os.stat(op.src)
    if st.st_size != op.size or st.st_mtime_ns != op.mtime_ns:
        raise OSError(errno.ESTALE, "the file changed since the plan was made", op.src)
    if op.kind == "move":
        move_file(op.src, op.dst, tmp, op.size, op.sha256, verify)
    elif op.kind == "copy":
        copy_verified(op.src, op.dst, tmp, op.size, op.sha256, verify)
    elif op.kind == "link":
        # The file a symlink leads to, not the link: a hard link to a relative symlink, or a
        # symlink to it, would dangle in DEST.
        target = os.path.realpath(op.src)
        try:
            os.link(target, op.dst)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.ENOTSUP, errno.EMLINK):
                raise
            os.symlink(target, op.dst)


def placement_failure(exc: OSError) -> str:
    """Why a file could not be placed, in the words of sort's summary (the plan's terms)."""
    if exc.errno == errno.ESTALE:
        return "changed since the plan was made"
    if exc.errno == errno.ENOENT and exc.filename is not None and not os.path.lexists(exc.filename):
        return "no longer there (moved or deleted since the plan was made)"
    if exc.errno == errno.ENOTDIR:
        return "a file is in the way of the folder it goes to"
    return exc.strerror or str(exc)
