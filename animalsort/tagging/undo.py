"""``animalsort undo`` of a tag journal: every sidecar and every embedded photo back to its
earlier bytes, byte for byte (:mod:`animalsort.tagging.delta`), mode and times included; the
sidecars the run created are removed. A file that changed since the run (its sha256 is neither
the one we wrote nor the one before) is left alone and reported.

Each file given back is marked in the journal as it is done, so an undo that left files alone
(or was killed) can be run again once the person has dealt with them: it does the rest.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from animalsort.atomic import leftover_temporaries, replace_bytes
from animalsort.hashes import sha256_bytes, sha256_file
from animalsort.locks import folders_locked
from animalsort.tagging import delta, targets, xmp
from animalsort.tagging.journal import TagJournal, TagOp, read


@dataclass
class TagUndoResult:
    restored: int = 0
    removed: int = 0  # sidecars the run had created
    already: int = 0  # never written (a killed run) or already as before
    earlier: int = 0  # given back by an earlier undo of this journal
    refused: list[tuple[str, str]] = field(default_factory=list)
    was_undone: bool = False
    notes: list[str] = field(default_factory=list)  # about the journal: cut off, unfinished


def undo_tag(journal_path: Path) -> TagUndoResult:
    path = Path(journal_path)
    with folders_locked([path.parent.parent], "undo"):  # the journal is SRC/_animalsort/tag-*.jsonl
        journal = read(path)
        result = TagUndoResult(notes=journal.notes())
        if journal.fully_undone:
            result.was_undone = True
            return result
        with journal.appending() as out:
            for op in reversed(journal.ops):
                if op.undone:
                    result.earlier += 1
                    continue
                outcome = _undo_logged(op, journal, result)
                if outcome is not None:
                    out.record({"type": "undo", "id": op.id, "outcome": outcome})
                    op.undone = True
            if journal.fully_undone:
                at = datetime.now(UTC).isoformat(timespec="seconds")
                out.record({"type": "undone", "at": at, "restored": result.restored + result.removed})
    if journal.fully_undone:
        delta.remove_spill(journal.spill)
    return result


def _undo_logged(op: TagOp, journal: TagJournal, result: TagUndoResult) -> str | None:
    """Undo one op and count it: its outcome, or None when the file was left alone."""
    for tmp in leftover_temporaries(op.path):
        tmp.unlink(missing_ok=True)
    try:
        outcome = _undo_one(op, journal.spill)
    except (OSError, xmp.MetadataError, targets.Refused) as exc:
        why = getattr(exc, "strerror", None) or str(exc)
        where = getattr(exc, "filename", None)
        result.refused.append((op.path, f"{why} ({where})" if where and where != op.path else why))
        return None
    if outcome == "restored":
        result.restored += 1
    elif outcome == "removed":
        result.removed += 1
    else:
        result.already += 1
    return outcome


def _undo_one(op: TagOp, spill: Path) -> str:
    """``restored``, ``removed`` or ``already`` (nothing of the run's there), or Refused."""
    path, before = op.path, op.before
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        if before["exists"]:
            raise targets.Refused("gone since the run (nothing to restore it into)") from None
        return "already"
    if not stat.S_ISREG(st.st_mode):
        raise targets.Refused("no longer a regular file (a link, folder or device took its place): left as it is")
    now = sha256_file(Path(path))
    if now == before.get("sha256"):
        return "already"
    if now != op.after_sha256:
        if not op.done:
            return "already"  # the run was killed before it wrote this file; someone changed it since
        raise targets.Refused("changed since the run: left as it is")
    if (real := os.path.realpath(path)) != path:  # the run journalled real paths
        raise targets.Refused(f"now reached through a symbolic link (to {real}): left as it is")
    targets.check_writable(path, st)
    if not before["exists"]:
        os.unlink(path)
        return "removed"
    data = delta.decode(before, Path(path).read_bytes(), spill)
    if sha256_bytes(data) != before["sha256"]:
        raise targets.Refused("cannot rebuild the earlier bytes from the journal: left as it is")
    replace_bytes(path, data, like=st, keep_mtime=False)
    os.utime(path, ns=(before["atime_ns"], before["mtime_ns"]))
    os.chmod(path, before["mode"])
    return "restored"
