"""The sort plan, computed in full before anything changes: every file's destination, the
duplicates (same sha256 already there), what stays and why, and what earlier sorts into the
same DEST placed (left alone, so sorting again only places new files).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from animalsort.errors import InputError, UsageError
from animalsort.formats.corrections import REVIEWED
from animalsort.formats.journal import STATE_DIR, Op, read_journal
from animalsort.formats.predictions import file_of
from animalsort.hashes import sha256_file
from animalsort.paths import is_uri
from animalsort.sorting.names import DEFAULT_MIN_CONFIDENCE, MODES, _numbered, folder_for

# --------------------------------------------------------------------------- plan


@dataclass
class Plan:
    src: Path
    dest: Path
    mode: str
    ops: list[Op] = field(default_factory=list)
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (source, identical file)
    left: list[tuple[str, str]] = field(default_factory=list)  # (source, why it stays)
    renamed: int = 0  # destinations that got a " (n)" suffix
    already_sorted: int = 0  # placed by an earlier sort into the same DEST: left as they are
    reviewed: int = 0  # placed by the label a person gave them (PREDS.corrections.csv)
    per_folder: Counter[str] = field(default_factory=Counter)


@dataclass
class Earlier:
    """What earlier sorts into a DEST did, from their journals (undone ones do not count):
    a later sort leaves these files alone, so sorting again only places new files."""

    folders: list[Path] = field(default_factory=list)  # label folders they made directly in DEST
    placed: set[str] = field(default_factory=set)  # files they put in place (absolute paths)
    sources: set[str] = field(default_factory=set)  # copied or linked sources, unchanged since
    ops: list[tuple[str, str]] = field(default_factory=list)  # (source, destination) of each placed file

    def count_under(self, folder: Path) -> int:
        """How many placed files came from, or went to, somewhere under ``folder``."""
        return sum(1 for s, d in self.ops if Path(s).is_relative_to(folder) or Path(d).is_relative_to(folder))

    @property
    def files(self) -> set[str]:
        return self.placed | self.sources


def earlier_sorts(dest: Path) -> Earlier:
    dest = Path(dest).absolute()
    found = Earlier()
    for journal in sorted((dest / STATE_DIR).glob("sort-*.jsonl")):
        j = read_journal(journal)
        if j.undone:
            continue
        found.folders += [Path(d) for d in j.mkdirs if Path(d).parent == dest]
        for op in j.ops:
            if op.id not in j.done:
                continue
            found.placed.add(op.dst)
            found.ops.append((op.src, op.dst))
            if op.kind != "move" and _unchanged_source(op):
                found.sources.add(op.src)
    return found


def _unchanged_source(op: Op) -> bool:
    try:
        st = os.stat(op.src)
    except OSError:
        return False
    return st.st_size == op.size and st.st_mtime_ns == op.mtime_ns


def plan(
    src: Path,
    dest: Path,
    rows: Iterable[dict[str, str]],
    *,
    mode: str = "copy",
    min_confidence: float = DEFAULT_MIN_CONFIDENCE,
    flat: bool = False,
    verify: bool = False,
    earlier: Earlier | None = None,
    by_sequence: bool = False,
) -> Plan:
    """Where each classified file goes. Nothing on disk changes.

    ``DEST/<label>/<sub-path under SRC>`` (``--flat``: no sub-path); below
    ``min_confidence`` → ``_uncertain/``; ``no_animal`` → ``_no_animal/``; error rows stay;
    files an ``earlier`` sort placed stay as they are. A name already taken gets `` (2)``,
    `` (3)``…; a file identical to the one already there (same sha256) is reported as a
    duplicate and not placed twice. ``by_sequence``: a burst's photos go where its
    ``sequence_label`` says (all of them together). Frame rows (``--video-rows frames``)
    leave their clip in place: a clip is sorted from its one row.
    """
    if mode not in MODES:
        raise UsageError(f"unknown mode {mode!r}; choose one of: {', '.join(MODES)}")
    src, dest = Path(src).absolute(), Path(dest).absolute()
    p = Plan(src=src, dest=dest, mode=mode)
    names = _Names()
    done_before = earlier.files if earlier is not None else set()
    clips_seen: set[str] = set()
    for row in rows:
        rel = row["path"]
        if (clip := file_of(row)) != rel:
            if clip not in clips_seen:
                clips_seen.add(clip)
                p.left.append((clip, "classified frame by frame (--video-rows frames); classify it with one row"))
            continue
        if is_uri(rel):
            p.left.append((rel, "object storage: sort places local files only"))
            continue
        source = str(src / rel)
        if source in done_before:
            p.already_sorted += 1
            continue
        st, why = _plannable(row, source, mode)
        if st is None:
            p.left.append((rel, why))
            continue
        folder = folder_for(row, min_confidence, by_sequence)
        target = dest / folder / (Path(rel).name if flat else rel)
        if str(target) == source:
            p.left.append((rel, "already in place"))
            continue
        candidate, n, duplicate_of = names.free(target, source, st.st_size)
        if duplicate_of is not None:
            p.duplicates.append((rel, duplicate_of))
            continue
        p.renamed += n > 1
        names.taken[str(candidate)] = source
        sha = names.digest(source) if verify else None
        p.ops.append(Op(len(p.ops), mode, source, str(candidate), st.st_size, st.st_mtime_ns, sha))
        p.per_folder[folder] += 1
        p.reviewed += REVIEWED in row
    return p


def _plannable(row: dict[str, str], source: str, mode: str) -> tuple[os.stat_result | None, str]:
    """The source's stat if this row can be placed, else None and why it stays."""
    if row.get("status", "ok") != "ok":
        return None, f"not classified: {row.get('error') or 'error'}"
    try:
        # A move takes a symlink itself; a copy or link takes what it points to.
        st = os.lstat(source) if mode == "move" else os.stat(source)
    except OSError:
        return None, "not found (moved or deleted since it was classified)"
    if os.path.islink(source) and mode == "move":
        return None, "symlink: left in place (use --copy to copy what it points to)"
    if not os.path.isfile(source):
        return None, "not a regular file"
    return st, ""


class _Names:
    """Destination names already planned, and sha256s computed once each."""

    def __init__(self) -> None:
        self.taken: dict[str, str] = {}  # planned destination → its source
        self._hashes: dict[str, str] = {}

    def digest(self, path: str) -> str:
        if path not in self._hashes:
            self._hashes[path] = sha256_file(path)
        return self._hashes[path]

    def free(self, target: Path, source: str, size: int) -> tuple[Path, int, str | None]:
        """(the first free name ``target``, ``target (2)``, …; its number; or the file
        identical to ``source`` already there or planned, which makes it a duplicate)."""
        n, candidate = 1, target
        while True:
            key = str(candidate)
            other = self.taken.get(key)
            if other is None and not os.path.lexists(candidate):
                return candidate, n, None
            against = other if other is not None else key
            same_size = os.path.isfile(against) and os.path.getsize(against) == size
            if same_size and self.digest(against) == self.digest(source):
                return candidate, n, against if other is None else key
            n += 1
            candidate = _numbered(target, n)


def excluded_from_scan(src: Path, dest: Path, earlier: Earlier) -> list[Path]:
    """What classification for a sort must not scan: DEST when it lies inside SRC; when
    sorting in place (DEST == SRC), the journal folder and the label folders earlier sorts
    made; and every file an earlier sort placed (or copied from, unchanged since)."""
    src, dest = Path(src).absolute(), Path(dest).absolute()
    files = [Path(f) for f in sorted(earlier.files)]
    if dest != src:
        return ([dest] if dest.is_relative_to(src) else []) + files
    return [dest / STATE_DIR, *earlier.folders, *files]


def check_folders(src: Path, dest: Path, mode: str) -> None:
    if not Path(src).is_dir():
        raise InputError(f"{src}: no such folder; check the path")
    if Path(dest).exists() and not Path(dest).is_dir():
        raise UsageError(f"--dest {dest} is a file; give a folder")
    if mode not in MODES:
        raise UsageError(f"unknown mode {mode!r}; choose one of: {', '.join(MODES)}")
