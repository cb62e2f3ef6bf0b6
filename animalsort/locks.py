"""One run that changes files at a time in a folder: sort, tag and undo share this lock.

Two sorts of one SRC (or into one DEST) at once would plan the same files, then one would
move what the other planned, and each journal would claim the other's changes; two tag runs
would read a sidecar before the other replaced it; a sort moving photos while a tag run
rewrites them would lose one of the two. A run holds an OS lock on its folders themselves
(``flock`` on the folder, so nothing is written into SRC: a ``--copy`` from a read-only SRC
works, undo leaves SRC exactly as it was, and a CSV that fails to read leaves no trace); the
lock goes when the process ends, even by a kill. A second run waits a little, then is refused.
Where the OS or file system has no such lock (Windows, some network file systems) the run
goes on without it: the journals' done records still keep each undo to its own run's changes.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from animalsort.errors import OutputError

WAIT_S = 5.0
_BUSY = (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES)


@contextlib.contextmanager
def folders_locked(folders: Iterable[Path], what: str, wait_s: float | None = None) -> Iterator[None]:
    """Hold the lock of every existing folder in ``folders`` inside the block (``what``:
    the run, for the message another one gets)."""
    wait_s = WAIT_S if wait_s is None else wait_s
    with contextlib.ExitStack() as held:
        # One order for every process, so two runs never each hold what the other waits for.
        for folder in sorted({os.path.realpath(f) for f in folders if os.path.isdir(f)}):
            fd = _lock(folder, what, wait_s)
            if fd is not None:
                held.callback(os.close, fd)
        yield


def _lock(folder: str, what: str, wait_s: float) -> int | None:
    """An open descriptor of ``folder`` holding its lock (None where locks are unavailable)."""
    try:
        import fcntl
    except ImportError:
        return None
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return None  # a folder we may enter but not list (mode 0311): no lock there, the run goes on
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except OSError as exc:
            if exc.errno not in _BUSY:
                os.close(fd)
                return None  # no locks on this file system
        if time.monotonic() >= deadline:
            os.close(fd)
            raise OutputError(
                f"another animalsort sort, tag or undo is working in {folder}; waited {wait_s:g} s for it: "
                f"run {what} again when it has finished"
            )
        time.sleep(0.05)
