"""Applying a sort plan: the journal is written and fsync'd before the first change, folders
created are journalled, and each operation is recorded as it completes, so a kill -9 at any
moment leaves each photo whole at its source or its destination (``undo`` reads the journal).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from animalsort.errors import OutputError
from animalsort.formats.journal import Journal, leave_pointer
from animalsort.sorting.fileops import apply_one, describe_os_error
from animalsort.sorting.plan import Plan

# --------------------------------------------------------------------------- journal


@dataclass
class ApplyResult:
    journal: Path
    done: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0


def apply(p: Plan, journal_path: Path, *, verify: bool = False, extra: dict[str, Any] | None = None) -> ApplyResult:
    """Carry out ``p``: journal first, then each op, each marked done as it completes.

    An op that fails (permissions, a file changed since planning) is reported and skipped;
    the others go on.
    """
    start = time.perf_counter()
    try:
        header = {"src": str(p.src), "dest": str(p.dest), "mode": p.mode, **(extra or {})}
        journal = Journal.create(journal_path, p.ops, header)
        if p.mode == "move" and p.dest != p.src:
            leave_pointer(p.src, journal_path)  # so report and tag find where SRC's photos went
    except OSError as exc:
        raise OutputError(f"cannot write the journal {journal_path}: {exc.strerror or exc}") from None
    result = ApplyResult(journal=journal_path)
    created: set[str] = set()
    try:
        for op in p.ops:
            try:
                _ensure_dirs(Path(op.dst).parent, p.dest, journal, created)
                apply_one(op, verify)
            except OSError as exc:
                result.failed.append((op.src, describe_os_error(exc)))
                continue
            journal.record({"type": "done", "id": op.id})
            result.done += 1
    finally:
        journal.close()
    result.seconds = time.perf_counter() - start
    return result


def _ensure_dirs(folder: Path, dest: Path, journal: Journal, created: set[str]) -> None:
    missing = []
    d = folder
    while not d.exists():
        missing.append(d)
        if d == dest or d.parent == d:
            break
        d = d.parent
    for d in reversed(missing):
        journal.record({"type": "mkdir", "path": str(d)})  # recorded before it exists
        os.mkdir(d)
        created.add(str(d))


# --------------------------------------------------------------------------- helpers for callers


def preview(p: Plan, lines: int = 10) -> Iterator[str]:
    """The first lines of a plan, relative to its folders."""
    for op in p.ops[:lines]:
        yield f"{op.kind} {os.path.relpath(op.src, p.src)} → {os.path.relpath(op.dst, p.dest)}"
