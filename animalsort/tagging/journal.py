"""The tag journal, read back for undo: JSON lines written by :class:`animalsort.formats.journal.Journal`.

    header  kind "tag", planned (how many files the run meant to look at), src, options …
    tag     id, kind (sidecar | embed), row, path (the file's real path), before (how to give
            it back its earlier bytes), after_sha256 — written and flushed before the file changes
    done    id — the file was replaced
    end     ops — the run finished, having journalled that many files
    undo    id, outcome — undo gave that file back (or found nothing of the run's to undo)
    undone  every file was given back

Every line is checked before undo changes anything: a line that is not such a record is one
error naming the journal and the line. Only the last line may be cut off (a kill while it
was written: its file was never changed): it is ignored, and removed before anything is
appended, so no record is ever written onto it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from animalsort.errors import InputError
from animalsort.formats.journal import Journal, journal_bytes
from animalsort.tagging import delta

KIND = "tag"

_INT, _STR, _BOOL, _DICT = (int,), (str,), (bool,), (dict,)
_FIELDS: dict[str, dict[str, tuple[type, ...]]] = {
    "header": {},  # its own fields are checked once it is known to be a tag journal's
    "tag": {"id": _INT, "kind": _STR, "row": _STR, "path": _STR, "before": _DICT, "after_sha256": _STR},
    "done": {"id": _INT},
    "end": {"ops": _INT},
    "undo": {"id": _INT, "outcome": _STR},
    "undone": {},
}
_HEADER = {"planned": _INT}
_BEFORE = {"sha256": _STR, "mode": _INT, "atime_ns": _INT, "mtime_ns": _INT, "head": _INT, "tail": _INT}


class _Malformed(Exception):
    """A line that is not a tag journal record (the message says what is wrong)."""


@dataclass
class TagOp:
    """One file the run changed (or was about to, when killed)."""

    id: int
    kind: str
    row: str
    path: str
    before: dict[str, Any]
    after_sha256: str
    done: bool = False  # the run replaced the file
    undone: bool = False  # an earlier undo gave it back


@dataclass
class TagJournal:
    path: Path
    header: dict[str, Any]
    ops: list[TagOp] = field(default_factory=list)
    ended: int | None = None  # the end record's op count: None when the run did not finish
    undone: bool = False  # an ``undone`` record: every file was given back
    torn_at: int | None = None  # the offset of a last line cut off mid-record
    unterminated: bool = False  # the last record is whole but lacks its newline
    by_id: dict[int, TagOp] = field(default_factory=dict, repr=False)

    @property
    def fully_undone(self) -> bool:
        return self.undone or all(op.undone for op in self.ops)

    @property
    def spill(self) -> Path:
        """The folder beside the journal with the earlier bytes too long to keep inline."""
        return delta.spill_folder(self.path)

    def notes(self) -> list[str]:
        """What undo should say about the journal itself: cut off, unfinished, lines missing."""
        notes = []
        if self.torn_at is not None:
            notes.append(
                f"the journal's last line was cut off at byte {self.torn_at} (a kill as it was written, or a "
                "damaged copy): ignored, and removed before undo wrote its own records"
            )
        listed = len(self.ops)
        ids_ok = [op.id for op in self.ops] == list(range(listed))
        if self.ended is None and "planned" in self.header:
            notes.append(
                f"the tag run did not finish (killed), or this journal was cut short: it lists {listed} of the "
                f"{self.header['planned']} files the run planned; undo gave back what it lists"
            )
        elif (self.ended is not None and self.ended != listed) or not ids_ok:
            notes.append(
                f"lines are missing from the journal: it lists {listed} files, the run journalled "
                f"{self.ended if self.ended is not None else 'more'}; files it no longer lists keep the run's keywords"
            )
        return notes

    @contextmanager
    def appending(self) -> Iterator[Journal]:
        """Append records — after removing a cut-off last line, or ending an unterminated one."""
        if self.torn_at is not None:
            os.truncate(self.path, self.torn_at)
            self.torn_at = None
        elif self.unterminated:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write("\n")
            self.unterminated = False
        with Journal.append_to(self.path) as out:
            yield out


def read(path: Path) -> TagJournal:
    """The journal at ``path``, every line checked (:class:`InputError` naming a bad one)."""
    raw = journal_bytes(path)
    lines = raw.split(b"\n")
    last = lines.pop()  # b"" when the file ends with its newline
    journal: TagJournal | None = None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            journal = _add(journal, _record(line), path)
        except _Malformed as exc:
            raise InputError(
                f"{path}, line {number}: {exc}: {line[:120].decode('utf-8', 'replace')!r}; the journal was edited or "
                "damaged, so undo changed nothing: restore it from a backup"
            ) from None
    if journal is None:
        raise InputError(f"{path} is not an animalsort tag journal (it holds no records)")
    if last.strip():
        try:
            _add(journal, _record(last), path)
            journal.unterminated = True
        except _Malformed:
            journal.torn_at = len(raw) - len(last)
    return journal


def _record(line: bytes) -> dict[str, Any]:
    try:
        rec = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _Malformed("not JSON") from None
    if not isinstance(rec, dict):
        raise _Malformed("not a record (a JSON object)")
    kind = rec.get("type")
    if kind not in _FIELDS:
        raise _Malformed(f"an unknown record type {kind!r}")
    _check(rec, _FIELDS[kind], kind)
    if kind == "tag":
        before = rec["before"]
        _check(before, {"exists": _BOOL}, "tag record's before")
        if before["exists"]:
            _check(before, _BEFORE, "tag record's before")
            middle = before.get("middle_file")
            if not isinstance(before.get("middle"), str) and not _plain_name(middle):
                raise _Malformed("a tag record's before has neither middle nor a middle_file name")
    return rec


def _check(rec: dict[str, Any], fields: dict[str, tuple[type, ...]], what: str) -> None:
    for name, types in fields.items():
        value = rec.get(name)
        if not isinstance(value, types) or (types is _INT and isinstance(value, bool)):
            raise _Malformed(f"a {what} without a valid {name!r}")


def _plain_name(name: object) -> bool:
    return isinstance(name, str) and name not in ("", ".", "..") and os.path.basename(name) == name


def _add(journal: TagJournal | None, rec: dict[str, Any], path: Path) -> TagJournal:
    kind = rec["type"]
    if journal is None:
        if kind != "header" or rec.get("kind") != KIND:
            raise InputError(f"{path} is not an animalsort tag journal")
        if "planned" in rec:  # journals of tag before #35 lack it (and the end record)
            _check(rec, _HEADER, "header")
        return TagJournal(Path(path), rec)
    if kind == "header":
        raise _Malformed("a second header")
    if kind == "tag":
        if rec["id"] in journal.by_id:
            raise _Malformed(f"a second tag record with id {rec['id']}")
        op = TagOp(**{k: rec[k] for k in ("id", "kind", "row", "path", "before", "after_sha256")})
        journal.ops.append(op)
        journal.by_id[op.id] = op
    elif kind in ("done", "undo"):
        if rec["id"] not in journal.by_id:
            raise _Malformed(f"a {kind} record for id {rec['id']}, which no tag record has")
        if kind == "done":
            journal.by_id[rec["id"]].done = True
        else:
            journal.by_id[rec["id"]].undone = True
    elif kind == "end":
        journal.ended = rec["ops"]
    else:
        journal.undone = True
    return journal
