"""The journals of a folder, summed up: what ``animalsort undo --list FOLDER`` shows and how
``animalsort undo FOLDER`` picks the run to undo.

A folder's runs are the sort and tag journals in ``FOLDER/_animalsort/`` (sorts into FOLDER,
tags of it) and those its ``journals-elsewhere.txt`` names (sorts that moved FOLDER's photos
into another DEST). Any kind of journal is read the same way here: its header and how many
operations were planned, done and put back; undo itself checks every line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from animalsort.errors import InputError
from animalsort.formats.journal import POINTERS, STATE_DIR, journal_records

_SAME_SECOND = re.compile(r"\d{8}-\d{6}-(\d+)\.jsonl$")  # sort-20261122-101500-2.jsonl: the second run of that second


@dataclass(frozen=True)
class JournalInfo:
    """One run, as its journal tells it."""

    path: Path
    kind: str = "?"  # sort or tag
    created: str = ""  # the header's time (ISO 8601, UTC)
    how: str = ""  # move, copy or link; sidecar or embed
    planned: int = 0  # operations (files) planned
    done: int = 0  # files the run changed
    back: int = 0  # operations an undo put back
    undone: bool = False
    problem: str | None = None  # why the journal cannot be read

    @property
    def when(self) -> str:
        """The run's local time, to the second."""
        try:
            return datetime.fromisoformat(self.created).astimezone().strftime("%Y-%m-%d %H:%M:%S")
        except ValueError:
            return self.created or "?"

    @property
    def state(self) -> str:
        if self.problem is not None:
            return f"unreadable: {self.problem}"
        if self.undone:
            return "undone"
        return f"partly undone ({self.planned - self.back} left)" if self.back else "not undone"


def journal_info(path: Path) -> JournalInfo:
    """What the journal at ``path`` says of its run (``problem`` when it cannot be read)."""
    try:
        records, _ = journal_records(path)
    except InputError as exc:
        return JournalInfo(path, problem=str(exc).removeprefix(f"{path}, ").split("; ")[0])
    if not records or records[0][1]["type"] != "header":
        return JournalInfo(path, problem="its first line is no header")
    header = records[0][1]
    ids: dict[str, set[Any]] = {"done": set(), "undo": set(), "tag": set()}
    undone = False
    for _, rec in records[1:]:
        if rec["type"] in ids:
            ids[rec["type"]].add(rec.get("id"))
        undone = undone or (rec["type"] == "undone" and not rec.get("refused"))
    kind = str(header.get("kind", "sort"))
    planned = header.get("ops") if kind == "sort" else len(ids["tag"])
    how = header.get("mode") if kind == "sort" else ("embed" if header.get("embed") else "sidecar")
    return JournalInfo(
        path,
        kind,
        created=str(header.get("created", "")),
        how=str(how),
        planned=planned if type(planned) is int else 0,
        done=len(ids["done"]),
        back=len(ids["undo"]),
        undone=undone,
    )


def journals_of(folder: Path) -> list[JournalInfo]:
    """The runs recorded for ``folder`` (or in it, when it is an ``_animalsort`` folder), oldest first."""
    folder = Path(folder).absolute()
    state = folder if folder.name == STATE_DIR else folder / STATE_DIR
    if not state.is_dir():
        raise InputError(f"{folder} has no animalsort journals (no {STATE_DIR}/ in it): no sort or tag ran there")
    found = sorted([*state.glob("sort-*.jsonl"), *state.glob("tag-*.jsonl")])
    try:
        pointed = [Path(line) for line in (state / POINTERS).read_text(encoding="utf-8").splitlines() if line]
    except OSError:
        pointed = []
    paths = list(dict.fromkeys([*found, *pointed]))
    return sorted((journal_info(p) for p in paths), key=_order)


def _order(info: JournalInfo) -> tuple[str, int, str]:
    same_second = _SAME_SECOND.search(info.path.name)
    return info.created, int(same_second.group(1)) if same_second else 1, info.path.name


def last_journal(folder: Path) -> JournalInfo:
    """The latest run on ``folder`` that is not undone (partly undone counts)."""
    runs = journals_of(folder)
    pending = [r for r in runs if not r.undone and r.problem is None]
    if not pending:
        raise InputError(
            f"nothing to undo in {folder}: every run recorded for it is undone or unreadable ({len(runs)} in "
            f"all); see them with `animalsort undo --list {folder}`"
        )
    return pending[-1]
