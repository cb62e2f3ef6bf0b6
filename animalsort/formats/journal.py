"""The sort journal: append-only JSON lines — a header, the planned operations, then a record
for every folder created and every operation completed, and ``undone`` when undone.

It is written and fsync'd before the first change, so ``undo`` can restore the tree after a
complete or an interrupted sort, and a later sort knows which files an earlier one placed.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from animalsort._version import __version__
from animalsort.atomic import fsync_dir
from animalsort.errors import InputError
from animalsort.paths import RowPaths, is_uri

STATE_DIR = "_animalsort"
JOURNAL_VERSION = 1
_FSYNC_EVERY_S = 1.0


@dataclass(frozen=True)
class Op:
    """One file operation. Paths are absolute; size and mtime describe the source as planned."""

    id: int
    kind: str
    src: str
    dst: str
    size: int
    mtime_ns: int
    sha256: str | None = None


class Journal:
    """Append-only JSON lines: a header, the planned ops, then mkdir / done / undone records."""

    def __init__(self, path: Path, f: IO[str]):
        self.path = path
        self._f = f
        self._last_sync = time.monotonic()

    @classmethod
    def create(cls, path: Path, ops: list[Op], header: dict[str, Any]) -> Journal:
        """Write the header and every planned op, fsync'd, before anything moves."""
        path.parent.mkdir(parents=True, exist_ok=True)
        f = open(path, "x", encoding="utf-8")
        j = cls(path, f)
        created = datetime.now(UTC).isoformat(timespec="seconds")
        j._write(
            {
                "type": "header",
                "version": JOURNAL_VERSION,
                "animalsort": __version__,
                "created": created,
                "ops": len(ops),
                **header,
            }
        )
        for op in ops:
            j._write({"type": "op", **asdict(op)})
        j.sync()
        fsync_dir(path.parent)
        return j

    @classmethod
    def append_to(cls, path: Path) -> Journal:
        return cls(path, open(path, "a", encoding="utf-8"))

    def _write(self, record: dict[str, Any]) -> None:
        self._f.write(json.dumps(record, separators=(",", ":")) + "\n")

    def record(self, record: dict[str, Any]) -> None:
        """Append and flush (a killed process loses nothing); fsync at most once a second."""
        self._write(record)
        self._f.flush()
        if time.monotonic() - self._last_sync > _FSYNC_EVERY_S:
            self.sync()

    def sync(self) -> None:
        self._f.flush()
        os.fsync(self._f.fileno())
        self._last_sync = time.monotonic()

    def close(self) -> None:
        self.sync()
        self._f.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class JournalState:
    header: dict[str, Any]
    ops: list[Op]
    done: set[int]
    mkdirs: list[str]
    undone: bool


def journal_kind(path: Path) -> str:
    """``"sort"`` or ``"tag"``: what wrote the journal (its header's ``kind``; sort journals
    written before tag existed have none)."""
    try:
        with open(path, encoding="utf-8") as f:
            first = f.readline()
    except FileNotFoundError:
        raise InputError(f"{path}: no such journal") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read journal {path}: {exc}") from None
    try:
        header = json.loads(first)
    except json.JSONDecodeError:
        raise InputError(f"{path} is not an animalsort journal") from None
    return str(header.get("kind", "sort")) if isinstance(header, dict) else "sort"


def read_journal(path: Path) -> JournalState:
    try:
        lines = Path(path).read_text(encoding="utf-8").split("\n")
    except FileNotFoundError:
        raise InputError(f"{path}: no such journal") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read journal {path}: {exc}") from None
    header: dict[str, Any] | None = None
    ops: list[Op] = []
    done: set[int] = set()
    mkdirs: list[str] = []
    undone = False
    for line in lines:
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue  # the last line of a killed run may be cut off
        kind = rec.pop("type", None)
        if kind == "header":
            header = rec
        elif kind == "op":
            ops.append(Op(**rec))
        elif kind == "done":
            done.add(rec["id"])
        elif kind == "mkdir":
            mkdirs.append(rec["path"])
        elif kind == "undone":
            undone = True
    if header is None or header.get("version") != JOURNAL_VERSION:
        raise InputError(f"{path} is not an animalsort sort journal (version {JOURNAL_VERSION})")
    return JournalState(header, ops, done, mkdirs, undone)


def new_journal_path(folder: Path, kind: str, stamp: str | None = None) -> Path:
    """``FOLDER/_animalsort/KIND-STAMP.jsonl`` (``-2``, ``-3`` … when a run of the same second has it)."""
    stamp = stamp or datetime.now().strftime("%Y%m%d-%H%M%S")
    state = Path(folder).absolute() / STATE_DIR
    journal = state / f"{kind}-{stamp}.jsonl"
    n = 2
    while journal.exists():
        journal = state / f"{kind}-{stamp}-{n}.jsonl"
        n += 1
    return journal


def journal_paths(dest: Path, stamp: str | None = None) -> tuple[Path, Path]:
    """(journal, predictions CSV) for a new sort into ``dest``."""
    journal = new_journal_path(dest, "sort", stamp)
    return journal, journal.with_name(journal.name.replace("sort-", "preds-").removesuffix(".jsonl") + ".csv")


POINTERS = "journals-elsewhere.txt"


def leave_pointer(src: Path, journal: Path) -> None:
    """Note in ``SRC/_animalsort/`` a journal kept elsewhere (a sort that moved SRC's photos
    into another DEST), so :func:`moved_by_sorts` finds it from SRC. Best effort: a SRC we
    cannot write into is one the sort cannot move files out of either."""
    try:
        folder = Path(src) / STATE_DIR
        folder.mkdir(exist_ok=True)
        with open(folder / POINTERS, "a", encoding="utf-8") as f:
            f.write(str(Path(journal).absolute()) + "\n")
    except OSError:
        pass


def drop_pointer(src: Path, journal: Path) -> None:
    """Undo :func:`leave_pointer` (the pointer file and ``_animalsort/`` go when emptied)."""
    folder = Path(src) / STATE_DIR
    pointers = folder / POINTERS
    try:
        lines = pointers.read_text(encoding="utf-8").splitlines()
    except OSError:
        return
    keep = [line for line in lines if line and line != str(Path(journal).absolute())]
    try:
        if keep:
            pointers.write_text("".join(f"{line}\n" for line in keep), encoding="utf-8")
        else:
            pointers.unlink()
            folder.rmdir()
    except OSError:
        pass  # something else lives in _animalsort/: leave it


def _journals_in(folder: Path) -> list[Path]:
    """The sort journals in ``folder`` and those its pointer file names."""
    found = sorted(folder.glob("sort-*.jsonl"))
    try:
        lines = (folder / POINTERS).read_text(encoding="utf-8").splitlines()
    except OSError:
        lines = []
    return found + [Path(line) for line in dict.fromkeys(lines) if line and Path(line) not in found]


def moved_by_sorts(predictions: Path, src: Path | None = None) -> dict[str, str]:
    """Where sorts from ``predictions`` moved its files (source → destination, absolute paths),
    read from their journals: those in the CSV's own folder (a sort that classified keeps its
    CSV in ``DEST/_animalsort/``) and in ``SRC/_animalsort/`` (``sort SRC --from CSV``, whose
    DEST defaults to SRC). Undone sorts do not count; a file moved twice maps to where it is now."""
    csv_path = str(Path(predictions).absolute())
    folders = {Path(csv_path).parent}
    if src is not None:
        folders.add(Path(src).absolute() / STATE_DIR)
    moved: dict[str, str] = {}
    for folder in sorted(folders):
        for path in _journals_in(folder):
            try:
                j = read_journal(path)
            except InputError:
                continue
            if j.undone or j.header.get("predictions") != csv_path:
                continue
            done = (op for op in j.ops if op.kind == "move" and op.id in j.done)
            moved.update({os.path.normpath(op.src): os.path.normpath(op.dst) for op in done})
    for source, dst in moved.items():
        seen = {source}
        while dst in moved and dst not in seen:
            seen.add(dst)
            dst = moved[dst]
        moved[source] = dst
    return moved


class Locator:
    """Where a CSV row's file is now: ``SRC/<path>``, or where a sort from that CSV moved it
    (:func:`moved_by_sorts`, read once, when a file is first found missing). A row that leads
    outside SRC raises ``RowPathError`` (``paths.RowPaths``)."""

    def __init__(self, predictions: Path, src: Path):
        self.predictions, self.src = Path(predictions), Path(src)
        self._moved: dict[str, str] | None = None
        self._paths = RowPaths(self.src)

    def __call__(self, rel: str) -> str:
        full = self._paths.resolve(rel)
        if is_uri(full) or os.path.lexists(full):  # an object-storage URI: where it always is
            return full
        if self._moved is None:
            self._moved = moved_by_sorts(self.predictions, self.src)
        return self._moved.get(os.path.abspath(full), full)
