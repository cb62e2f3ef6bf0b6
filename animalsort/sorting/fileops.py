"""File operations that never lose a photo: a rename that refuses to replace, a copy that
never leaves half a file under the destination name, and one placement step (move, copy or
link) that checks the source has not changed since the plan was made."""

from __future__ import annotations

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


def tmp_for(op: Op) -> str:
    d, name = os.path.split(op.dst)
    return os.path.join(d, f".{name}.animalsort-{op.id}.tmp")


def copy_verified(op: Op, verify: bool) -> None:
    """Copy to a temporary name beside the destination, fsync, check, then rename into place:
    the destination name never holds a half-written file."""
    tmp = tmp_for(op)
    shutil.copy2(op.src, tmp)
    try:
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        size = os.path.getsize(tmp)
        if size != op.size:
            raise OSError(errno.EIO, f"copy has {size} bytes, source {op.size}", op.src)
        if verify and sha256_file(tmp) != (op.sha256 or sha256_file(op.src)):
            raise OSError(errno.EIO, "copy differs from source (sha256)", op.src)
        rename_noreplace(tmp, op.dst)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise
    fsync_dir(os.path.dirname(op.dst))


def apply_one(op: Op, verify: bool) -> None:
    """Carry out one planned operation; an OSError says why it could not be done."""
    st = os.lstat(op.src) if op.kind == "move" else os.stat(op.src)
    if st.st_size != op.size or st.st_mtime_ns != op.mtime_ns:
        raise OSError(errno.ESTALE, "the file changed since the plan was made", op.src)
    if op.kind == "move":
        try:
            rename_noreplace(op.src, op.dst)
            return
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
        copy_verified(op, verify)  # across file systems: copy → fsync → verify → delete
        os.unlink(op.src)
    elif op.kind == "copy":
        copy_verified(op, verify)
    elif op.kind == "link":
        try:
            os.link(op.src, op.dst)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.ENOTSUP, errno.EMLINK):
                raise
            os.symlink(op.src, op.dst)


def describe_os_error(exc: OSError) -> str:
    """The reason an operation failed, for the summary."""
    return exc.strerror or str(exc) if exc.errno != errno.ESTALE else "changed since the plan was made"
