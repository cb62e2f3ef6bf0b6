"""Applying a sort plan: the journal is written and fsync'd before the first change, folders
created are journalled, and each operation is recorded as it completes (or fails), so a kill
-9 at any moment leaves each photo whole at its source or its destination, and ``undo``
knows which operations this run did.
"""

from __future__ import annotations

import errno
import os
import secrets
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from animalsort.errors import OutputError
from animalsort.formats.journal import Journal, Op, leave_pointer
from animalsort.sorting.fileops import apply_one, placement_failure, temporary
from animalsort.sorting.plan import Plan

_FULL = (errno.ENOSPC, errno.EDQUOT)  # every later copy would fail too: stop


class Failed(NamedTuple):
    """An operation that could not be done."""

    source: str
    why: str
    at_source: bool  # the file is still where it was (False: something else moved or deleted it)


@dataclass
class ApplyResult:
    """What a run did (not what it planned)."""

    journal: Path
    done: int = 0
    failed: list[Failed] = field(default_factory=list)
    per_folder: Counter[str] = field(default_factory=Counter)  # photos placed, by their folder under DEST
    companions: int = 0  # companion files placed with them
    groups: set[int] = field(default_factory=set)  # the ops that placed a photo with companions
    stopped: str | None = None  # why the run stopped before its last operation (a full disk)
    seconds: float = 0.0

    @property
    def photos(self) -> int:
        return self.done - self.companions


def apply(p: Plan, journal_path: Path, *, verify: bool = False, extra: dict[str, Any] | None = None) -> ApplyResult:
    """Carry out ``p``: journal first, then each op, each recorded done or failed as it ends.

    An op that fails (permissions, a file changed or gone since planning) is reported and
    skipped; the others go on — unless DEST is full, which stops the run.
    """
    start = time.perf_counter()
    token = secrets.token_hex(4)
    try:
        header = {"src": str(p.src), "dest": str(p.dest), "mode": p.mode, "tmp": token, **(extra or {})}
        journal = Journal.create(journal_path, p.ops, header)
        if p.mode == "move" and p.dest != p.src:
            leave_pointer(p.src, journal_path)  # so report and tag find where SRC's photos went
    except OSError as exc:
        raise OutputError(f"cannot write the journal {journal_path}: {exc.strerror or exc}") from None
    result = ApplyResult(journal=journal_path)
    try:
        _run(p, journal, token, verify, result)
    except OSError as exc:  # the journal itself cannot be written: stop, say what was done
        left = len(p.ops) - result.done - len(result.failed)
        raise OutputError(
            f"cannot write the journal {journal_path}: {exc.strerror or exc}; {result.done} of {len(p.ops)} files "
            f"were placed, {left} were not tried and are still at their source: free space, then undo with "
            f"`animalsort undo '{journal_path}'` or run the same sort again"
        ) from None
    finally:
        try:
            journal.close()
        except OSError:
            pass  # reported above, or the records written so far are flushed: undo reads them
    result.seconds = time.perf_counter() - start
    return result


def _run(p: Plan, journal: Journal, token: str, verify: bool, result: ApplyResult) -> None:
    for op in p.ops:
        try:
            _ensure_dirs(Path(op.dst).parent, p.dest, journal)
            apply_one(op, verify, temporary(os.path.dirname(op.dst), token, op.id))
        except OSError as exc:
            why = placement_failure(exc)
            journal.record({"type": "failed", "id": op.id, "why": why})
            result.failed.append(Failed(op.src, why, os.path.lexists(op.src)))
            if exc.errno in _FULL:
                result.stopped = f"{why} in {p.dest}"
                break
            continue
        journal.record({"type": "done", "id": op.id})
        _count(p, op, result)
    journal.record({"type": "end", "done": result.done, "failed": len(result.failed)})


def _count(p: Plan, op: Op, result: ApplyResult) -> None:
    result.done += 1
    if op.id in p.companion_of:
        result.companions += 1
        result.groups.add(p.companion_of[op.id])
    else:
        result.per_folder[Path(op.dst).relative_to(p.dest).parts[0]] += 1


def _ensure_dirs(folder: Path, dest: Path, journal: Journal) -> None:
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


# --------------------------------------------------------------------------- helpers for callers


def preview(p: Plan, lines: int = 10) -> Iterator[str]:
    """The first lines of a plan, relative to its folders."""
    for op in p.ops[:lines]:
        yield f"{op.kind} {os.path.relpath(op.src, p.src)} → {os.path.relpath(op.dst, p.dest)}"
