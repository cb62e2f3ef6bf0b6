"""One tag run (or undo of one) at a time per folder.

Two runs at once would read a sidecar before the other replaced it and write over its
change, remove each other's temporary files as a killed run's leftovers, and race for one
journal name. A run holds ``SRC/_animalsort/tag.lock`` (an OS lock, released when the process
ends, even by a kill); a second one waits a little, then is refused.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from animalsort.atomic import make_folder
from animalsort.errors import OutputError

LOCK_NAME = "tag.lock"
WAIT_S = 5.0


@contextlib.contextmanager
def holding(state_dir: Path, wait_s: float | None = None) -> Iterator[None]:
    """Hold the tag lock of the folder ``state_dir`` (``SRC/_animalsort``) inside the block."""
    from filelock import FileLock, Timeout

    wait_s = WAIT_S if wait_s is None else wait_s
    make_folder(state_dir, "it holds the tag journal and lock: make the folder writable")
    lock = FileLock(str(state_dir / LOCK_NAME))
    try:
        lock.acquire(timeout=wait_s)
    except Timeout:
        raise OutputError(
            f"another `animalsort tag` or `undo` is writing in {state_dir.parent} (it holds {state_dir / LOCK_NAME}); "
            f"waited {wait_s:g} s: run this again when it has finished"
        ) from None
    try:
        yield
    finally:
        lock.release()
