"""``animalsort undo`` of a sort: put back what the sort's own run placed, from its journal
and what is on disk now.

Only the operations the run recorded as done (and the one a kill cut off) are reverted:
never another run's. Each one undone is recorded at once, so an undo that was refused some
files, or killed, can be run again and does the rest; the journal is marked undone when
every operation is back. Moves go back the way they came (across file systems: copy, fsync,
verify, then remove), copies are removed only while their source still holds the same bytes,
and a file that changed since the sort, or a path that is taken again, is left alone and
reported.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from animalsort.errors import InputError
from animalsort.formats.journal import Journal, JournalState, Op, drop_pointer, journal_header, read_journal
from animalsort.hashes import sha256_file
from animalsort.locks import folders_locked
from animalsort.sorting.fileops import leftovers, move_file, temporary

RESTORED, ABSENT = "restored", "absent"  # the outcomes that leave an op back where it was


@dataclass
class UndoResult:
    restored: int = 0
    already: int = 0  # ops the run had not done, or an earlier undo had put back
    refused: list[tuple[str, str]] = field(default_factory=list)
    dirs_removed: int = 0
    was_undone: bool = False
    journal: Path | None = None
    incomplete: str | None = None  # the journal lost lines: what undo could not know


def undo_sort(journal_path: Path) -> UndoResult:
    """Put back what the sort of ``journal_path`` placed (see the module's docstring)."""
    header = journal_header(journal_path)
    _check_dest_is_where_it_was(journal_path, header)
    folders = [Path(header[k]) for k in ("src", "dest") if isinstance(header.get(k), str)]
    with folders_locked(folders, "this undo"):
        j = read_journal(journal_path)
        result = UndoResult(journal=Path(journal_path), was_undone=j.undone)
        if j.undone:
            return result
        with Journal.append_to(Path(journal_path)) as records:
            _undo_ops(j, records, result)
            result.dirs_removed = _remove_dirs(j.mkdirs)
            if j.missing:
                result.incomplete = (
                    f"the journal is cut short: it holds {len(j.ops)} of the {j.header['ops']} operations its "
                    f"header planned, and none of the records of what the run did after them; undo put back "
                    f"only what it still names, so compare {j.header.get('dest')} with {j.header.get('src')} by hand"
                )
            elif not result.refused:
                now = datetime.now(UTC).isoformat(timespec="seconds")
                records.record({"type": "undone", "at": now, "restored": result.restored, "refused": 0})
                if j.header.get("mode") == "move" and j.header.get("src") != j.header.get("dest"):
                    drop_pointer(Path(j.header["src"]), Path(journal_path))
    return result


def _check_dest_is_where_it_was(journal_path: Path, header: dict[str, object]) -> None:
    """A DEST that was renamed or moved (its journal with it): every path in the journal names
    the old place. Say so, rather than report every file missing."""
    dest = header.get("dest")
    here = Path(os.path.realpath(journal_path)).parent.parent
    if isinstance(dest, str) and not os.path.isdir(dest) and here != Path(os.path.realpath(dest)):
        raise InputError(
            f"this sort placed its files in {dest}, which is no longer there, and its journal is now in {here}: "
            f"if that folder was renamed or moved, put it back at {dest} and run undo again"
        )


def _undo_ops(j: JournalState, records: Journal, result: UndoResult) -> None:
    """Each op, last first: undone, and recorded as back at once (a rerun skips it)."""
    in_flight, others = j.in_flight(), _Others(j)
    for op in reversed(j.ops):
        if op.id in j.back:
            result.already += 1
            continue
        for tmp in leftovers(op, j.token, legacy=j.header.get("version") == 1):
            with contextlib.suppress(OSError):  # mostly not there; a folder in the way is reported below
                os.unlink(tmp)  # a copy a kill cut off: never a user's file
        try:
            if op.id in j.done or (op.id == in_flight and not others.placed(op)):
                outcome = _undo_own(op, j.token)
            else:
                outcome = ABSENT if op.id in j.failed else _not_recorded(op, others)
        except OSError as exc:
            outcome = exc.strerror or str(exc)
        if outcome not in (RESTORED, ABSENT):
            result.refused.append((op.dst, outcome))
            continue
        result.restored += outcome == RESTORED
        result.already += outcome == ABSENT
        records.record({"type": "undo", "id": op.id, "outcome": outcome})


class _Others:
    """What the other sorts recorded beside this journal placed (read once, when asked): a
    file one of them put at a destination this run had planned is theirs to undo."""

    def __init__(self, j: JournalState):
        self.j = j
        self._placed: set[str] | None = None

    def placed(self, op: Op) -> bool:
        if not _looks_placed(op):
            return False
        if self._placed is None:
            self._placed = set()
            for path in sorted(self.j.path.parent.glob("sort-*.jsonl")):
                if os.path.realpath(path) == os.path.realpath(self.j.path):
                    continue
                try:
                    other = read_journal(path)
                except InputError:
                    continue  # undo of that one reports it
                self._placed |= {o.dst for o in other.ops if other.placed(o)} if not other.undone else set()
        return op.dst in self._placed


def _looks_placed(op: Op) -> bool:
    return os.path.lexists(op.dst) and (op.kind != "move" or not os.path.lexists(op.src))


def _not_recorded(op: Op, others: _Others) -> str:
    """An op with no record: the run never got to it — unless its file is at its destination
    and no other sort placed it there: then this journal lost its records of it."""
    if not _looks_placed(op) or others.placed(op):
        return ABSENT
    return "left where it is: it is where this sort would have put it, but the journal has no record of placing it"


def _undo_own(op: Op, token: str) -> str:
    if op.kind == "move":
        return _move_back(op, token)
    if op.kind == "copy":
        return _remove_copy(op)
    return _remove_link(op)


def _unchanged(path: str, op: Op) -> bool:
    st = os.lstat(path)
    if st.st_size != op.size or st.st_mtime_ns != op.mtime_ns:
        return False
    return op.sha256 is None or sha256_file(path) == op.sha256


def _move_back(op: Op, token: str) -> str:
    src_there, dst_there = os.path.lexists(op.src), os.path.lexists(op.dst)
    if dst_there and not src_there:
        if not _unchanged(op.dst, op):
            return "changed since the sort: left where it is"
        os.makedirs(os.path.dirname(op.src), exist_ok=True)
        tmp = temporary(os.path.dirname(op.src), token, op.id, "b")
        move_file(op.dst, op.src, tmp, op.size, op.sha256, verify=True)  # across file systems: as sort moved it
        return RESTORED
    if dst_there and src_there:
        # Cut off between a copy across file systems and the removal of its source: the copy goes.
        if not os.path.samefile(op.src, op.dst) and _unchanged(op.dst, op) and _same_bytes(op.src, op.dst):
            os.unlink(op.dst)
            return RESTORED
        return "both the source path and the destination exist and differ: left alone"
    if src_there:
        return ABSENT
    return "missing from both the source and the destination (was either folder renamed or moved?)"


def _same_bytes(a: str, b: str) -> bool:
    return os.path.getsize(a) == os.path.getsize(b) and sha256_file(a) == sha256_file(b)


def _remove_copy(op: Op) -> str:
    """A copy goes only while its source still holds the same bytes: else it may be the only one."""
    if not os.path.lexists(op.dst):
        return ABSENT
    if not _unchanged(op.dst, op):
        return "changed since the sort: left where it is"
    if not os.path.isfile(op.src):
        return f"its source {op.src} is gone, so this copy may be the only one: left where it is"
    if not _same_bytes(op.src, op.dst):
        return f"its source {op.src} differs from it now, so this copy may be the only one of it: left where it is"
    os.unlink(op.dst)
    return RESTORED


def _remove_link(op: Op) -> str:
    if not os.path.lexists(op.dst):
        return ABSENT
    ours = (
        (os.path.islink(op.dst) and os.readlink(op.dst) in (op.src, os.path.realpath(op.src)))
        or _same_file(op.dst, op.src, os.stat)  # a link to the file the source leads to
        or _same_file(op.dst, op.src, os.lstat)  # a hard link of the source symlink itself (before version 2)
    )
    if not ours:
        return "no longer a link to the source: left where it is"
    os.unlink(op.dst)
    return RESTORED


def _same_file(a: str, b: str, stat: Callable[[str], os.stat_result]) -> bool:
    try:
        return os.path.samestat(stat(a), stat(b))
    except OSError:
        return False


def _remove_dirs(mkdirs: list[str]) -> int:
    """The folders the sort created, deepest first, where they are empty again."""
    removed = 0
    for d in reversed(mkdirs):
        try:
            os.rmdir(d)
            removed += 1
        except OSError:
            pass  # not empty (something new in it, or a file refused) or already gone: leave it
    return removed
