"""Plan → journal → apply → undo: placing photos into per-label folders without ever losing one.

The plan is computed in full before anything changes. The journal (JSON lines, next to the
output in ``DEST/_animalsort/``) records the plan, every folder created and every operation
completed; it is written and fsync'd before the first change. Moves within a file system are
single ``rename`` calls that refuse to replace an existing file, so a kill -9 at any moment
leaves each photo at its source or at its destination, whole. ``undo`` (``undo.py``) reads the
journal and the disk, and puts back what it finds, refusing to touch anything that changed since.

This module never imports torch.
"""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from animalsort.atomic import make_folder
from animalsort.corrections import REVIEWED
from animalsort.errors import InputError, NoImagesError, OutputError, UsageError
from animalsort.fileops import apply_one, describe
from animalsort.journal import STATE_DIR, Journal, Op, journal_paths, read_journal
from animalsort.predictions import file_of
from animalsort.sources import is_uri
from animalsort.undo import undo as undo  # `sort.undo`: the other half of a sort
from animalsort.weights import sha256_file

if TYPE_CHECKING:
    from animalsort.predict import ClassifyOptions, Summary

MODES = ("copy", "move", "link")
UNCERTAIN = "_uncertain"
DEFAULT_MIN_CONFIDENCE = 0.5  # below it a photo is "uncertain" (sort, report)
NO_ANIMAL = "_no_animal"

# --------------------------------------------------------------------------- names

_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL"} | {f"{p}{i}" for p in ("COM", "LPT") for i in range(1, 10)}
_UNSAFE = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')


def safe_folder_name(label: str, max_len: int = 100) -> str:
    """A label as a folder name that is valid and inert on Linux, macOS and Windows:
    no separators, no ``..``, no control or reserved characters, no reserved device names."""
    name = _UNSAFE.sub("_", label).strip().strip(".")
    name = name[:max_len].rstrip(" .")
    if not name:
        return "_unnamed"
    if name.split(".")[0].upper() in _WINDOWS_RESERVED:
        name = "_" + name
    return name


def _numbered(path: Path, n: int) -> Path:
    """``name (n).ext`` beside ``path``."""
    stem, suffix = (path.stem, path.suffix) if path.suffix else (path.name, "")
    return path.with_name(f"{stem} ({n}){suffix}")


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


def folder_for(row: dict[str, str], min_confidence: float, by_sequence: bool = False) -> str:
    """The folder a row's file goes to: its label's, or with ``by_sequence`` its burst's. A
    row a person reviewed (``corrections.apply``) goes by its corrected label, however sure
    the model was and whatever its burst says."""
    label, conf = row["label"], float(row.get("confidence") or 0.0)
    if REVIEWED in row:
        conf = 1.0
    elif by_sequence and row.get("sequence"):
        label, conf = row["sequence_label"], float(row.get("sequence_confidence") or 0.0)
    if conf < min_confidence:
        return UNCERTAIN
    if label == "no_animal":
        return NO_ANIMAL
    return safe_folder_name(label)


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


# --------------------------------------------------------------------------- journal


@dataclass
class ApplyResult:
    journal: Path
    done: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0


def apply(p: Plan, journal_path: Path, *, verify: bool = False, extra: dict[str, Any] | None = None) -> ApplyResult:
    """Carry out ``p``: journal first, then each op, each marked done as it completes.

    An op that fails (permissions, a file changed since planning) is reported and skipped;
    the others go on.
    """
    start = time.perf_counter()
    try:
        header = {"src": str(p.src), "dest": str(p.dest), "mode": p.mode, **(extra or {})}
        journal = Journal.create(journal_path, p.ops, header)
    except OSError as exc:
        raise OutputError(f"cannot write the journal {journal_path}: {exc.strerror or exc}") from None
    result = ApplyResult(journal=journal_path)
    created: set[str] = set()
    try:
        for op in p.ops:
            try:
                _ensure_dirs(Path(op.dst).parent, p.dest, journal, created)
                apply_one(op, verify)
            except OSError as exc:
                result.failed.append((op.src, describe(exc)))
                continue
            journal.record({"type": "done", "id": op.id})
            result.done += 1
    finally:
        journal.close()
    result.seconds = time.perf_counter() - start
    return result


def _ensure_dirs(folder: Path, dest: Path, journal: Journal, created: set[str]) -> None:
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
        created.add(str(d))


# --------------------------------------------------------------------------- helpers for callers


def preview(p: Plan, lines: int = 10) -> Iterator[str]:
    """The first lines of a plan, relative to its folders."""
    for op in p.ops[:lines]:
        yield f"{op.kind} {os.path.relpath(op.src, p.src)} → {os.path.relpath(op.dst, p.dest)}"


def check_folders(src: Path, dest: Path, mode: str) -> None:
    if not Path(src).is_dir():
        raise InputError(f"{src}: no such folder; check the path")
    if Path(dest).exists() and not Path(dest).is_dir():
        raise UsageError(f"--dest {dest} is a file; give a folder")
    if mode not in MODES:
        raise UsageError(f"unknown mode {mode!r}; choose one of: {', '.join(MODES)}")


@dataclass
class SortResult:
    plan: Plan
    predictions: Path | None  # None when there was nothing new to classify
    applied: ApplyResult | None = None  # None for a dry run
    classified: Summary | None = None  # when this run classified
    corrections: Path | None = None  # the review's corrections file applied (with --from)


def run(
    src: Path,
    dest: Path | None = None,
    *,
    mode: str = "copy",
    predictions: Path | None = None,
    classify_options: ClassifyOptions | None = None,
    min_confidence: float = DEFAULT_MIN_CONFIDENCE,
    flat: bool = False,
    dry_run: bool = False,
    verify: bool = False,
    progress: bool = True,
    by_sequence: float | None = None,
) -> SortResult:
    """``animalsort sort``: classify (or read ``predictions``), plan, journal, apply.

    With ``predictions``, the corrections made in ``review`` beside it (``PREDS.corrections.csv``)
    apply: a reviewed row is placed by its corrected label.

    Without ``predictions`` the folder is classified first and the CSV is kept beside the
    journal. DEST defaults to SRC (label folders inside it; they are not re-scanned later).
    ``by_sequence`` (a gap in seconds): bursts are placed by their vote (``sequences.py``);
    a CSV without sequence columns gets them computed here (the CSV is not changed).
    """
    if is_uri(os.fspath(src)) or (dest is not None and is_uri(os.fspath(dest))):
        raise UsageError(
            f"sort moves, copies and links local files only; {src if is_uri(os.fspath(src)) else dest} is object "
            "storage. Classify it with `animalsort classify URI -o preds.csv` (and copy what you need locally)"
        )
    src = Path(src).absolute()
    dest = Path(dest).absolute() if dest is not None else src
    check_folders(src, dest, mode)
    journal_path, preds_path = journal_paths(dest)
    earlier = earlier_sorts(dest)
    classified = None
    if predictions is None:
        from animalsort.predict import classify  # torch is imported only here

        excluded = excluded_from_scan(src, dest, earlier)
        make_folder(preds_path.parent, "it holds the sort's journal and predictions: choose another --dest")
        if by_sequence is not None:
            from dataclasses import replace

            from animalsort.predict import ClassifyOptions

            classify_options = replace(classify_options or ClassifyOptions(), sequences=by_sequence)
        try:
            classified = classify(src, preds_path, classify_options, progress=progress, exclude=excluded)
        except NoImagesError:
            if not excluded:
                raise
            # everything is where an earlier sort put it: nothing new to sort
            preds_path = None
    else:
        preds_path = Path(predictions)
        if not preds_path.is_file():
            raise InputError(f"--from {preds_path}: no such file")
    from animalsort.predictions import read_predictions

    rows: Iterable[dict[str, str]] = read_predictions(preds_path) if preds_path is not None else iter(())
    corrections_file = None
    if predictions is not None:
        from animalsort import corrections

        reviewed = corrections.read(preds_path)
        if reviewed:
            rows = corrections.apply(rows, reviewed)
            corrections_file = corrections.corrections_path(preds_path)
    if by_sequence is not None:
        rows = _with_sequences(list(rows), src, by_sequence, preds_path)
    p = plan(
        src,
        dest,
        rows,
        mode=mode,
        min_confidence=min_confidence,
        flat=flat,
        verify=verify,
        earlier=earlier,
        by_sequence=by_sequence is not None,
    )
    if predictions is None:  # the files an earlier sort placed were not even scanned
        p.already_sorted += earlier.count_under(src)
    result = SortResult(plan=p, predictions=preds_path, classified=classified, corrections=corrections_file)
    if not dry_run and p.ops:
        assert preds_path is not None
        extra = {
            "predictions": str(preds_path.absolute()),
            "min_confidence": min_confidence,
            "flat": flat,
            "by_sequence": by_sequence,
            "corrections": str(corrections_file.absolute()) if corrections_file else None,
            "reviewed": p.reviewed,
        }
        result.applied = apply(p, journal_path, verify=verify, extra=extra)
    return result


def _with_sequences(rows: list[dict[str, str]], src: Path, gap: float, csv_path: Path | None) -> list[dict[str, str]]:
    """``rows`` with the sequence columns: the CSV's own when its sidecar says they were made
    with this gap, else computed now (the CSV is not changed)."""
    from animalsort.predictions import SEQUENCE_COLUMNS, read_sidecar
    from animalsort.sequences import group

    made = read_sidecar(csv_path).get("sequences") if csv_path is not None else None
    if rows and all(c in rows[0] for c in SEQUENCE_COLUMNS) and made and made.get("gap_s") == gap:
        return rows
    result = group(rows, src, gap)
    return [{**row, **dict(zip(SEQUENCE_COLUMNS, extra))} for row, extra in zip(rows, result.columns)]
