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

from animalsort.errors import InputError, RowPathError, UsageError
from animalsort.formats.corrections import REVIEWED
from animalsort.formats.journal import STATE_DIR, JournalState, Op, read_journal
from animalsort.formats.predictions import file_of
from animalsort.formats.thresholds import Thresholds
from animalsort.hashes import sha256_file
from animalsort.paths import RowPaths, is_uri
from animalsort.sorting.companions import Group, Groups
from animalsort.sorting.fileops import leftovers
from animalsort.sorting.names import MODES, _numbered, folders_for

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
    groups: int = 0  # photos placed with companions (companions.py)
    companions: int = 0  # RAW twins, sidecars and Live Photo clips placed with their photo
    companion_of: dict[int, int] = field(default_factory=dict)  # the op placing one → the op placing its photo


@dataclass
class Earlier:
    """What earlier sorts into a DEST did, from their journals (undone ones do not count):
    a later sort leaves these files alone, so sorting again only places new files."""

    folders: list[Path] = field(default_factory=list)  # label folders they made directly in DEST
    placed: set[str] = field(default_factory=set)  # files they put in place (absolute paths)
    sources: set[str] = field(default_factory=set)  # copied or linked sources, unchanged since
    ops: list[tuple[str, str]] = field(default_factory=list)  # (source, destination) of each placed file
    leftovers: list[str] = field(default_factory=list)  # temporary files of runs a kill cut off

    def count_under(self, folder: Path) -> int:
        """How many placed files came from, or went to, somewhere under ``folder``."""
        return sum(1 for s, d in self.ops if Path(s).is_relative_to(folder) or Path(d).is_relative_to(folder))

    @property
    def files(self) -> set[str]:
        return self.placed | self.sources


def earlier_sorts(dest: Path) -> Earlier:
    """What the sorts recorded in ``DEST/_animalsort/`` placed that is still in place: an
    op its run completed, that no undo put back, whose destination is there."""
    dest = Path(dest).absolute()
    found = Earlier()
    state = dest / STATE_DIR
    found.leftovers += [str(t) for t in sorted(state.glob(".sort-*.tmp"))]  # a journal cut off as it was written
    for journal in sorted(state.glob("sort-*.jsonl")):
        j = read_journal(journal)
        found.leftovers += _leftovers(j)
        if j.undone:
            continue
        found.folders += [Path(d) for d in j.mkdirs if Path(d).parent == dest]
        for op in j.ops:
            if not j.placed(op) or not os.path.lexists(op.dst):
                continue
            found.placed.add(op.dst)
            found.ops.append((op.src, op.dst))
            if op.kind != "move" and _unchanged_source(op):
                found.sources.add(op.src)
    return found


def _leftovers(j: JournalState) -> list[str]:
    """The temporary copy of the op a kill cut off, if it is still there."""
    op_id = j.in_flight()
    op = next((op for op in j.ops if op.id == op_id), None)
    if op is None:
        return []
    return [t for t in leftovers(op, j.token, legacy=j.header.get("version") == 1) if os.path.lexists(t)]


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
    thresholds: Thresholds | None = None,
    flat: bool = False,
    verify: bool = False,
    earlier: Earlier | None = None,
    by_sequence: bool = False,
    companions: bool = True,
    classified_ns: int | None = None,
    by_labels: bool = False,
) -> Plan:
    """Where each classified file goes. Nothing on disk changes.

    ``DEST/<label>/<sub-path under SRC>`` (``--flat``: no sub-path); below its label's threshold
    (``thresholds``; default: --min-confidence 0.5) → ``_uncertain/``; ``no_animal`` →
    ``_no_animal/``; error rows stay; files an ``earlier`` sort placed stay as they are. A name
    already taken gets `` (2)``, `` (3)``…; a file identical to the one already there (same
    sha256) is reported as a duplicate and not placed twice. ``by_sequence``: a burst's photos
    go where its ``sequence_label`` says (all of them together). Frame rows (``--video-rows
    frames``) leave their clip in place: a clip is sorted from its one row. ``companions``: a
    photo's RAW twin, sidecars and Live Photo clip go with it (``companions.py``).
    ``classified_ns``: when the rows' classification began (the CSV's sidecar); a file
    modified since stays. ``by_labels``: a photo goes into the folder of every label in it
    (``detection_rows``; it is copied into each, and with ``mode`` "move" moved into its own
    label's, the last).
    """
    if mode not in MODES:
        raise UsageError(f"unknown mode {mode!r}; choose one of: {', '.join(MODES)}")
    src, dest = Path(os.path.abspath(src)), Path(os.path.abspath(dest))  # the journal's paths hold from anywhere
    p = Plan(src=src, dest=dest, mode=mode)
    groups = Groups() if companions else None
    planner = _Planner(
        p, thresholds or Thresholds(), flat, verify, by_sequence, earlier, groups, classified_ns, by_labels
    )
    for row in rows:
        planner.add(row)
    planner.finish()
    return p


class _Planner:
    """The plan's running state: names taken, clips seen, and groups decided or waiting for
    their primary's row."""

    def __init__(
        self,
        p: Plan,
        thresholds: Thresholds,
        flat: bool,
        verify: bool,
        by_sequence: bool,
        earlier: Earlier | None,
        groups: Groups | None,
        classified_ns: int | None = None,
        by_labels: bool = False,
    ):
        self.p, self.thresholds, self.flat, self.verify, self.by_sequence = (
            p,
            thresholds,
            flat,
            verify,
            by_sequence,
        )
        self.done_before = earlier.files if earlier is not None else set()
        self.groups = groups
        self.paths = RowPaths(p.src)
        self.names = _Names()
        self.clips_seen: set[str] = set()
        self.decided: set[tuple[str, str]] = set()  # groups whose primary's row came
        self.waiting: dict[tuple[str, str], tuple[dict[str, str], str]] = {}  # a twin's row, till then
        self.classified_ns = classified_ns
        self.by_labels = by_labels

    def add(self, row: dict[str, str]) -> None:
        p, rel = self.p, row["path"]
        if (clip := file_of(row)) != rel:
            if clip not in self.clips_seen:
                self.clips_seen.add(clip)
                p.left.append((clip, "classified frame by frame (--video-rows frames); classify it with one row"))
            return
        try:
            source = self.paths.resolve(rel)
        except RowPathError as exc:
            p.left.append((rel, str(exc)))
            return
        if is_uri(source):
            p.left.append((rel, "object storage: sort places local files only"))
            return
        if source in self.done_before:
            p.already_sorted += 1
            return
        group = self.groups.of(source) if self.groups is not None else None
        name = os.path.basename(source)
        if group is not None and name in group.companions():  # a RAW twin: it goes where the primary goes
            gid = (group.folder, group.key)
            if gid not in self.decided:
                self.waiting.setdefault(gid, (row, source))
            return
        if group is not None and name == group.primary:
            self.decided.add((group.folder, group.key))
        self._place(row, source, group if group is not None and name == group.primary else None)

    def finish(self) -> None:
        """Groups whose primary has no row (not classified, or not in the CSV): their first
        classified twin decides for the group."""
        for gid, (row, source) in self.waiting.items():
            if gid not in self.decided:
                self._place(row, source, self.groups.of(source) if self.groups is not None else None)
        for orphan in self.groups.orphans if self.groups is not None else ():
            rel = os.path.relpath(orphan, self.p.src).replace(os.sep, "/")
            self.p.left.append((rel, "a sidecar with no photo of its name beside it"))

    def _place(self, row: dict[str, str], source: str, group: Group | None) -> None:
        p = self.p
        rel = os.path.relpath(source, p.src).replace(os.sep, "/")
        name = os.path.basename(source)
        others = [m for m in ([group.primary, *group.companions()] if group else []) if m != name]
        st, why = _plannable(row, source, p.mode, self.classified_ns)
        if st is None:
            p.left.append((rel, why + (f"; {len(others)} companion(s) stay with it" if others else "")))
            return
        folders = folders_for(row, self.thresholds, self.by_sequence, self.by_labels)
        placed = False
        for n, folder in enumerate(folders, start=1):
            # A photo of several labels is copied into each folder but the last; --move moves it there.
            kind = p.mode if n == len(folders) or p.mode != "move" else "copy"
            placed |= self._place_in(folder, kind, source, rel, st, group if others else None, others)
        p.reviewed += REVIEWED in row and placed

    def _place_in(
        self,
        folder: str,
        kind: str,
        source: str,
        rel: str,
        st: os.stat_result,
        group: Group | None,
        others: list[str],
    ) -> bool:
        """Plan the ops that put ``source`` (and its companions) into ``DEST/folder`` (False:
        it is there already, or a duplicate is)."""
        p = self.p
        target = p.dest / folder / (Path(rel).name if self.flat else rel)
        if str(target) == source:
            p.left.append((rel, "already in place"))
            return False
        if group is None:
            candidate, n, duplicate_of = self.names.free(target, source, st.st_size)
            members = [(source, candidate, st)]
        else:
            n, duplicate_of, members = self._group_names(group, os.path.basename(source), others, source, target, st)
        if duplicate_of is not None:
            p.duplicates.append((rel, duplicate_of))
            return False
        p.renamed += n > 1
        photo_op = len(p.ops)  # the first of the members' ops
        for member_source, candidate, member_st in members:
            if member_source != source:
                p.companion_of[len(p.ops)] = photo_op
            self.names.taken[str(candidate)] = member_source
            sha = self.names.digest(member_source) if self.verify else None
            p.ops.append(
                Op(len(p.ops), kind, member_source, str(candidate), member_st.st_size, member_st.st_mtime_ns, sha)
            )
        p.per_folder[folder] += 1
        if len(members) > 1:
            p.groups += 1
            p.companions += len(members) - 1
        return True

    def _group_names(
        self, group: Group, name: str, others: list[str], source: str, target: Path, st: os.stat_result
    ) -> tuple[int, str | None, list[tuple[str, Path, os.stat_result]]]:
        """(the suffix number that frees every member's name, the file the decider duplicates
        or None, [(source, destination, stat)] of the decider and its companions)."""
        kept = []
        for other in others:  # a companion that is gone, or not a regular file, stays (and says so)
            path = os.path.join(group.folder, other)
            member_st, why = _plannable({}, path, self.p.mode)
            if member_st is None:
                self.p.left.append((os.path.relpath(path, self.p.src).replace(os.sep, "/"), f"companion: {why}"))
            else:
                kept.append((other, path, member_st))
        n = 1
        while True:
            first = target.parent / group.renamed(name, n)
            _, _, duplicate_of = self.names.free(first, source, st.st_size, only=True)
            if duplicate_of is not None:
                return n, duplicate_of, []
            names = [first] + [target.parent / group.renamed(other, n) for other, _, _ in kept]
            if all(self.names.is_free(c) for c in names):
                return n, None, [(source, first, st)] + [(path, c, s) for (_, path, s), c in zip(kept, names[1:])]
            n += 1


def _plannable(
    row: dict[str, str], source: str, mode: str, classified_ns: int | None = None
) -> tuple[os.stat_result | None, str]:
    """The source's stat if this row can be placed, else None and why it stays. A file
    modified after its classification began (``classified_ns``) was replaced or edited: its
    row may describe another picture."""
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
    if classified_ns is not None and st.st_mtime_ns > classified_ns:
        return None, "changed since it was classified: classify it again"
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

    def is_free(self, candidate: Path) -> bool:
        return str(candidate) not in self.taken and not os.path.lexists(candidate)

    def free(self, target: Path, source: str, size: int, only: bool = False) -> tuple[Path, int, str | None]:
        """(the first free name ``target``, ``target (2)``, …; its number; or the file
        identical to ``source`` already there or planned, which makes it a duplicate). With
        ``only``, ``target`` alone is looked at (free, taken, or a duplicate)."""
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
            if only:
                return candidate, n, None
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
