"""What undo needs to give a file back its exact earlier bytes, kept small: tagging changes a
photo's metadata segments only, so the file before and after share a long head and tail (the
image data). The journal keeps the lengths of both and the earlier bytes between them — inline
when small, else in a file beside the journal, written and fsync'd before the change."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

from animalsort.atomic import atomic_write

INLINE_LIMIT = 64 * 1024
_CHUNK = 1 << 16


def _common_prefix(a: memoryview, b: memoryview) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i : i + _CHUNK] == b[i : i + _CHUNK]:
        i += _CHUNK
    if i >= n:
        return n
    lo, hi = i, min(i + _CHUNK, n)  # the first difference is in [lo, hi)
    while lo < hi:
        mid = (lo + hi) // 2
        if a[i : mid + 1] == b[i : mid + 1]:
            lo = mid + 1
        else:
            hi = mid
    return lo


def affixes(before: bytes, after: bytes) -> tuple[int, int]:
    """(head, tail): how many leading and trailing bytes the two share (not overlapping)."""
    head = _common_prefix(memoryview(before), memoryview(after))
    rest = min(len(before), len(after)) - head
    tail = _common_prefix(memoryview(before[::-1][:rest]), memoryview(after[::-1][:rest]))
    return head, tail


def encode(before: bytes, after: bytes, spill: Path) -> dict[str, Any]:
    """The record that turns ``after`` back into ``before``; a middle over INLINE_LIMIT goes to
    the file ``spill`` (its name is recorded)."""
    head, tail = affixes(before, after)
    middle = before[head : len(before) - tail]
    record: dict[str, Any] = {"head": head, "tail": tail}
    if len(middle) <= INLINE_LIMIT:
        record["middle"] = base64.b64encode(middle).decode("ascii")
    else:
        spill.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(spill, "wb") as f:
            f.write(middle)
        record["middle_file"] = spill.name
    return record


def decode(record: dict[str, Any], current: bytes, spill: Path) -> bytes:
    """The earlier bytes, from the file as the run left it (``current``) and the record
    (its long middles in the folder ``spill``: :func:`spill_folder`)."""
    if "middle" in record:
        middle = base64.b64decode(record["middle"])
    else:
        middle = (spill / record["middle_file"]).read_bytes()
    head, tail = record["head"], record["tail"]
    return current[:head] + middle + current[len(current) - tail :] if tail else current[:head] + middle


def spill_folder(journal: Path) -> Path:
    """The folder beside ``journal`` for the middles too long to keep inline."""
    return journal.with_name(journal.stem + ".d")


def spill_path(journal: Path, op_id: int) -> Path:
    return spill_folder(journal) / f"{op_id}.bin"


def remove_spill(folder: Path) -> None:
    if folder.is_dir():
        for f in folder.iterdir():
            f.unlink(missing_ok=True)
        os.rmdir(folder)
