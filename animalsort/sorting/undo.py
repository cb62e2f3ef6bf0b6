"""``animalsort undo``: restore the tree a sort changed, from its journal and what is on disk.

Works after a complete or an interrupted sort. A destination that changed since the sort, or
a source path that is taken again, is left alone and reported.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from animalsort.formats.journal import Journal, Op, drop_pointer, read_journal
from animalsort.hashes import sha256_file
from animalsort.sorting.fileops import rename_noreplace, tmp_for


@dataclass
class UndoResult:
    restored: int = 0
    already: int = 0  # ops that had not happened (nothing to undo)
    refused: list[tuple[str, str]] = field(default_factory=list)
    dirs_removed: int = 0
    was_undone: bool = False


def _unchanged(path: str, op: Op) -> bool:
    st = os.lstat(path)
    if st.st_size != op.size or st.st_mtime_ns != op.mtime_ns:
        return False
    return op.sha256 is None or sha256_file(path) == op.sha256


def undo_sort(journal_path: Path) -> UndoResult:
    """Restore the tree a sort changed, from its journal and what is on disk now.

    Works after a complete or an interrupted sort. A destination that changed since the sort,
    or a source path that is taken again, is left alone and reported.
    """
    j = read_journal(journal_path)
    result = UndoResult()
    if j.undone:
        result.was_undone = True
        return result
    for op in reversed(j.ops):
        tmp = tmp_for(op)
        if os.path.lexists(tmp):
            os.unlink(tmp)  # a copy cut off mid-way: never a user's file
        try:
            outcome = _undo_one(op)
        except OSError as exc:
            result.refused.append((op.dst, exc.strerror or str(exc)))
            continue
        if outcome == "restored":
            result.restored += 1
        elif outcome == "absent":
            result.already += 1
        else:
            result.refused.append((op.dst, outcome))
    for d in reversed(j.mkdirs):
        try:
            os.rmdir(d)
            result.dirs_removed += 1
        except OSError:
            pass  # not empty (something new in it) or already gone: leave it
    if j.header.get("src") and j.header.get("mode") == "move":
        drop_pointer(Path(j.header["src"]), journal_path)
    with Journal.append_to(journal_path) as jr:
        jr.record(
            {
                "type": "undone",
                "at": datetime.now(UTC).isoformat(timespec="seconds"),
                "restored": result.restored,
                "refused": len(result.refused),
            }
        )
    return result


def _undo_one(op: Op) -> str:
    src_there, dst_there = os.path.lexists(op.src), os.path.lexists(op.dst)
    if op.kind == "move":
        if dst_there and not src_there:
            if not _unchanged(op.dst, op):
                return "changed since the sort: left where it is"
            os.makedirs(os.path.dirname(op.src), exist_ok=True)
            rename_noreplace(op.dst, op.src)
            return "restored"
        if dst_there and src_there:
            # Cut off between a cross-device copy and the source's deletion: the copy goes.
            if (
                not os.path.samefile(op.src, op.dst)
                and _unchanged(op.dst, op)
                and sha256_file(op.dst) == sha256_file(op.src)
            ):
                os.unlink(op.dst)
                return "restored"
            return "both the source path and the destination exist and differ: left alone"
        if src_there:
            return "absent"
        return "missing from both the source and the destination"
    if not dst_there:
        return "absent"
    if op.kind == "copy":
        if not _unchanged(op.dst, op):
            return "changed since the sort: left where it is"
        os.unlink(op.dst)
        return "restored"
    # link
    if os.path.islink(op.dst) and os.readlink(op.dst) == op.src:
        os.unlink(op.dst)
        return "restored"
    if src_there and os.path.samefile(op.dst, op.src):
        os.unlink(op.dst)
        return "restored"
    return "no longer a link to the source: left where it is"
