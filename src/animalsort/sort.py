"""Plan → journal → apply → undo: placing photos into per-label folders without ever losing one.

The plan is computed in full before anything changes. The journal (JSON lines, next to the
output in ``DEST/_animalsort/``) records the plan, every folder created and every operation
completed; it is written and fsync'd before the first change. Moves within a file system are
single ``rename`` calls that refuse to replace an existing file, so a kill -9 at any moment
leaves each photo at its source or at its destination, whole. ``undo`` reads the journal and
the disk, and puts back what it finds, refusing to touch anything that changed since.

This module never imports torch.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import re
import shutil
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from animalsort import __version__
from animalsort.errors import InputError, NoImagesError, OutputError, UsageError
from animalsort.weights import sha256_file

MODES = ("copy", "move", "link")
STATE_DIR = "_animalsort"
UNCERTAIN = "_uncertain"
DEFAULT_MIN_CONFIDENCE = 0.5  # below it a photo is "uncertain" (sort, report)
NO_ANIMAL = "_no_animal"
JOURNAL_VERSION = 1
_FSYNC_EVERY_S = 1.0

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


@dataclass
class Plan:
    src: Path
    dest: Path
    mode: str
    ops: list[Op] = field(default_factory=list)
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (source, identical file)
    left: list[tuple[str, str]] = field(default_factory=list)  # (source, why it stays)
    renamed: int = 0  # destinations that got a " (n)" suffix
    per_folder: Counter[str] = field(default_factory=Counter)


def folder_for(row: dict[str, str], min_confidence: float) -> str:
    conf = float(row.get("confidence") or 0.0)
    if conf < min_confidence:
        return UNCERTAIN
    if row["label"] == "no_animal":
        return NO_ANIMAL
    return safe_folder_name(row["label"])


def plan(
    src: Path,
    dest: Path,
    rows: Iterable[dict[str, str]],
    *,
    mode: str = "copy",
    min_confidence: float = DEFAULT_MIN_CONFIDENCE,
    flat: bool = False,
    verify: bool = False,
) -> Plan:
    """Where each classified file goes. Nothing on disk changes.

    ``DEST/<label>/<sub-path under SRC>`` (``--flat``: no sub-path); below
    ``min_confidence`` → ``_uncertain/``; ``no_animal`` → ``_no_animal/``; error rows stay.
    A name already taken gets `` (2)``, `` (3)``…; a file identical to the one already there
    (same sha256) is reported as a duplicate and not placed twice.
    """
    if mode not in MODES:
        raise UsageError(f"unknown mode {mode!r}; choose one of: {', '.join(MODES)}")
    src, dest = Path(src).absolute(), Path(dest).absolute()
    p = Plan(src=src, dest=dest, mode=mode)
    taken: dict[str, str] = {}  # planned destination → its source
    hashes: dict[str, str] = {}

    def digest(path: str) -> str:
        if path not in hashes:
            hashes[path] = sha256_file(path)
        return hashes[path]

    for row in rows:
        rel = row["path"]
        source = str(src / rel)
        if row.get("status", "ok") != "ok":
            p.left.append((rel, f"not classified: {row.get('error') or 'error'}"))
            continue
        try:
            # A move takes a symlink itself; a copy or link takes what it points to.
            st = os.lstat(source) if mode == "move" else os.stat(source)
        except OSError:
            p.left.append((rel, "not found (moved or deleted since it was classified)"))
            continue
        if os.path.islink(source) and mode == "move":
            p.left.append((rel, "symlink: left in place (use --copy to copy what it points to)"))
            continue
        if not os.path.isfile(source):
            p.left.append((rel, "not a regular file"))
            continue
        folder = folder_for(row, min_confidence)
        target = dest / folder / (Path(rel).name if flat else rel)
        if str(target) == source:
            p.left.append((rel, "already in place"))
            continue
        n, candidate, duplicate_of = 1, target, None
        while True:
            key = str(candidate)
            other = taken.get(key)
            exists = os.path.lexists(candidate)
            if other is None and not exists:
                break
            against = other if other is not None else key
            if os.path.isfile(against) and os.path.getsize(against) == st.st_size and digest(against) == digest(source):
                duplicate_of = against if other is None else key
                break
            n += 1
            candidate = _numbered(target, n)
        if duplicate_of is not None:
            p.duplicates.append((rel, duplicate_of))
            continue
        if n > 1:
            p.renamed += 1
        taken[str(candidate)] = source
        sha = digest(source) if verify else None
        p.ops.append(Op(len(p.ops), mode, source, str(candidate), st.st_size, st.st_mtime_ns, sha))
        p.per_folder[folder] += 1
    return p


def excluded_from_scan(src: Path, dest: Path) -> list[Path]:
    """What classification for a sort must not scan: DEST when it lies inside SRC, or, when
    sorting in place (DEST == SRC), the journal folder and the folders earlier sorts created."""
    src, dest = Path(src).absolute(), Path(dest).absolute()
    if dest != src:
        return [dest] if dest.is_relative_to(src) else []
    out = [dest / STATE_DIR]
    for journal in sorted((dest / STATE_DIR).glob("sort-*.jsonl")):
        j = read_journal(journal)
        if not j.undone:
            out += [Path(d) for d in j.mkdirs if Path(d).parent == dest]
    return out


# --------------------------------------------------------------------------- journal


class Journal:
    """Append-only JSON lines: a header, the planned ops, then mkdir / done / undone records."""

    def __init__(self, path: Path, f: IO[str]):
        self.path = path
        self._f = f
        self._last_sync = time.monotonic()

    @classmethod
    def create(cls, path: Path, p: Plan, extra: dict[str, Any]) -> Journal:
        path.parent.mkdir(parents=True, exist_ok=True)
        f = open(path, "x", encoding="utf-8")
        j = cls(path, f)
        j._write({"type": "header", "version": JOURNAL_VERSION, "animalsort": __version__,
                  "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                  "src": str(p.src), "dest": str(p.dest), "mode": p.mode, "ops": len(p.ops), **extra})  # fmt: skip
        for op in p.ops:
            j._write({"type": "op", **asdict(op)})
        j.sync()
        _fsync_dir(path.parent)
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


# --------------------------------------------------------------------------- file operations

_AT_FDCWD = -100
_RENAME_NOREPLACE = 1


def _load_renameat2() -> Any:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


_renameat2 = _load_renameat2()


def rename_noreplace(src: str, dst: str) -> None:
    """Atomically rename ``src`` to ``dst``, failing with FileExistsError if ``dst`` exists.

    Linux's renameat2(RENAME_NOREPLACE) makes the check and the rename one step; elsewhere
    (or on file systems without it) the check comes just before a plain rename.
    """
    if _renameat2 is not None:
        if _renameat2(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), _RENAME_NOREPLACE) == 0:
            return
        e = ctypes.get_errno()
        if e not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
            raise OSError(e, os.strerror(e), src, None, dst)
    if os.path.lexists(dst):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), dst)
    os.rename(src, dst)


def _fsync_dir(path: str | Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _tmp_for(op: Op) -> str:
    d, name = os.path.split(op.dst)
    return os.path.join(d, f".{name}.animalsort-{op.id}.tmp")


def _copy_verified(op: Op, verify: bool) -> None:
    """Copy to a temporary name beside the destination, fsync, check, then rename into place:
    the destination name never holds a half-written file."""
    tmp = _tmp_for(op)
    shutil.copy2(op.src, tmp)
    try:
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        size = os.path.getsize(tmp)
        if size != op.size:
            raise OSError(errno.EIO, f"copy has {size} bytes, source {op.size}", op.src)
        if verify and sha256_file(tmp) != (op.sha256 or sha256_file(op.src)):
            raise OSError(errno.EIO, "copy differs from source (sha256)", op.src)
        rename_noreplace(tmp, op.dst)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise
    _fsync_dir(os.path.dirname(op.dst))


def _apply_one(op: Op, verify: bool) -> None:
    st = os.lstat(op.src) if op.kind == "move" else os.stat(op.src)
    if st.st_size != op.size or st.st_mtime_ns != op.mtime_ns:
        raise OSError(errno.ESTALE, "the file changed since the plan was made", op.src)
    if op.kind == "move":
        try:
            rename_noreplace(op.src, op.dst)
            return
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
        _copy_verified(op, verify)  # across file systems: copy → fsync → verify → delete
        os.unlink(op.src)
    elif op.kind == "copy":
        _copy_verified(op, verify)
    elif op.kind == "link":
        try:
            os.link(op.src, op.dst)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.ENOTSUP, errno.EMLINK):
                raise
            os.symlink(op.src, op.dst)


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
        journal = Journal.create(journal_path, p, extra or {})
    except OSError as exc:
        raise OutputError(f"cannot write the journal {journal_path}: {exc.strerror or exc}") from None
    result = ApplyResult(journal=journal_path)
    created: set[str] = set()
    try:
        for op in p.ops:
            try:
                _ensure_dirs(Path(op.dst).parent, p.dest, journal, created)
                _apply_one(op, verify)
            except OSError as exc:
                result.failed.append((op.src, _describe(exc)))
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


def _describe(exc: OSError) -> str:
    return exc.strerror or str(exc) if exc.errno != errno.ESTALE else "changed since the plan was made"


# --------------------------------------------------------------------------- undo


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


def undo(journal_path: Path) -> UndoResult:
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
        tmp = _tmp_for(op)
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
    with Journal.append_to(journal_path) as jr:
        jr.record({"type": "undone", "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                   "restored": result.restored, "refused": len(result.refused)})  # fmt: skip
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
            if not os.path.samefile(op.src, op.dst) and _unchanged(op.dst, op) and sha256_file(op.dst) == sha256_file(op.src):
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


# --------------------------------------------------------------------------- helpers for callers


def journal_paths(dest: Path, stamp: str | None = None) -> tuple[Path, Path]:
    """(journal, predictions CSV) for a new sort into ``dest``."""
    stamp = stamp or datetime.now().strftime("%Y%m%d-%H%M%S")
    state = Path(dest).absolute() / STATE_DIR
    journal = state / f"sort-{stamp}.jsonl"
    n = 2
    while journal.exists():
        journal = state / f"sort-{stamp}-{n}.jsonl"
        n += 1
    return journal, journal.with_name(journal.name.replace("sort-", "preds-").removesuffix(".jsonl") + ".csv")


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
    predictions: Path
    applied: ApplyResult | None = None  # None for a dry run
    classified: Any = None  # predict.Summary when this run classified


def run(
    src: Path,
    dest: Path | None = None,
    *,
    mode: str = "copy",
    predictions: Path | None = None,
    classify_options: Any = None,
    min_confidence: float = DEFAULT_MIN_CONFIDENCE,
    flat: bool = False,
    dry_run: bool = False,
    verify: bool = False,
    progress: bool = True,
) -> SortResult:
    """``animalsort sort``: classify (or read ``predictions``), plan, journal, apply.

    Without ``predictions`` the folder is classified first and the CSV is kept beside the
    journal. DEST defaults to SRC (label folders inside it; they are not re-scanned later).
    """
    src = Path(src).absolute()
    dest = Path(dest).absolute() if dest is not None else src
    check_folders(src, dest, mode)
    journal_path, preds_path = journal_paths(dest)
    classified = None
    if predictions is None:
        from animalsort.predict import classify  # torch is imported only here

        excluded = excluded_from_scan(src, dest)
        preds_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            classified = classify(src, preds_path, classify_options, progress=progress, exclude=excluded)
        except NoImagesError:
            if excluded:  # everything is in folders an earlier sort made: nothing new to sort
                return SortResult(plan=Plan(src=src, dest=dest, mode=mode), predictions=preds_path)
            raise
    else:
        preds_path = Path(predictions)
        if not preds_path.is_file():
            raise InputError(f"--from {preds_path}: no such file")
    from animalsort.predict import read_predictions

    rows = read_predictions(preds_path)
    p = plan(src, dest, rows, mode=mode, min_confidence=min_confidence, flat=flat, verify=verify)
    result = SortResult(plan=p, predictions=preds_path, classified=classified)
    if not dry_run and p.ops:
        extra = {"predictions": str(preds_path.absolute()), "min_confidence": min_confidence, "flat": flat}
        result.applied = apply(p, journal_path, verify=verify, extra=extra)
    return result
