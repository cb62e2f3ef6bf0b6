"""The sort journal: append-only JSON lines, one record a line.

    header  version, created, ops (how many op lines follow), src, dest, mode, tmp (the token
            of the run's temporary names), the options …
    op      id, kind (move | copy | link), src, dst, size, mtime_ns, sha256 — the whole plan,
            written and fsync'd (under a temporary name, then linked into place) before the
            first change, so a journal that exists always holds its whole plan
    mkdir   path — a folder about to be created
    done    id — the operation completed
    failed  id, why — the operation could not be done (nothing changed)
    end     done, failed — the run finished: no operation was cut off
    undo    id, outcome — undo put that file back (or found that the run had not placed it)
    undone  at, restored — every operation is back

Operations run in id order, each followed by its ``done`` or ``failed`` record, so the one a
kill cut off is the first after the last recorded. A line a kill cut off (or a tail of NUL
bytes a crash left) is skipped; a line that is JSON but not such a record is an error naming
the journal and the line. A record is never appended onto a cut-off line.
"""

from __future__ import annotations

import errno
import json
import os
import re
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from animalsort._version import __version__
from animalsort.atomic import fsync_dir, new_file_mode
from animalsort.errors import InputError
from animalsort.hashes import sha256_bytes
from animalsort.paths import RowPaths, is_uri

STATE_DIR = "_animalsort"
JOURNAL_VERSION = 2  # 2: failed, end and undo records; absolute paths checked; the tmp token
_READABLE = (1, 2)
OP_KINDS = ("copy", "move", "link")
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
    """Append-only JSON lines: a header, the planned ops, then the records of what happened."""

    def __init__(self, path: Path, f: IO[str]):
        self.path = path
        self._f = f
        self._last_sync = time.monotonic()

    @classmethod
    def create(cls, path: Path, ops: list[Op], header: dict[str, Any]) -> Journal:
        """Write the header and every planned op, fsync'd, before anything moves. They are
        written under a temporary name and linked into place, so a kill while they are written
        leaves no journal rather than half a plan (FileExistsError if ``path`` exists)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        created = datetime.now(UTC).isoformat(timespec="microseconds")  # orders runs of one second
        head = {"type": "header", "version": JOURNAL_VERSION, "animalsort": __version__, "created": created}
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                os.fchmod(f.fileno(), new_file_mode())
                plan = cls(tmp, f)
                plan._write({**head, "ops": len(ops), **header})
                for op in ops:
                    plan._write({"type": "op", **asdict(op)})
                plan.sync()
            _link_into_place(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)  # also when it could not be written whole (a full disk)
        fsync_dir(path.parent)
        return cls(path, open(path, "a", encoding="utf-8"))

    @classmethod
    def append_to(cls, path: Path) -> Journal:
        """Open for more records, after a newline when the last line was cut off mid-record."""
        f = open(path, "a", encoding="utf-8")
        if f.tell() > 0:
            with open(path, "rb") as r:
                r.seek(-1, os.SEEK_END)
                if r.read(1) != b"\n":
                    f.write("\n")
        return cls(path, f)

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
        try:
            self.sync()
        finally:
            self._f.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _link_into_place(tmp: Path, path: Path) -> None:
    """``tmp`` under the name ``path``, never replacing a file there (a hard link, or a
    checked rename where the file system has none)."""
    try:
        os.link(tmp, path)
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK):
            raise
        if os.path.lexists(path):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(path)) from None
        os.rename(tmp, path)


# --------------------------------------------------------------------------- reading


def journal_bytes(path: Path) -> bytes:
    """A journal's bytes, or the InputError that says why they cannot be read."""
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such journal") from None
    except OSError as exc:
        raise InputError(f"cannot read journal {path}: {exc.strerror or exc}") from None


def journal_records(path: Path) -> tuple[list[tuple[int, dict[str, Any]]], int]:
    """(line number, record) for every whole line of a journal, and how many lines were
    skipped: cut off by a kill (or NUL bytes a crash left) — those never describe a change
    that was made. A line that is JSON but not a record (no ``type``) is an error naming the
    line. Any kind of journal (sort or tag)."""
    data = journal_bytes(path)
    records, torn = [], 0
    for number, line in enumerate(data.split(b"\n"), 1):
        if not line.strip(b" \t\r\0"):
            torn += bool(line)
            continue
        try:
            rec = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            torn += 1
            continue
        if not isinstance(rec, dict) or not isinstance(rec.get("type"), str):
            raise damaged(path, number, f"not a journal record: {line[:80].decode('utf-8', 'replace')!r}")
        records.append((number, rec))
    return records, torn


def damaged(path: Path, line: int, what: str) -> InputError:
    """The error for a line that cannot be what the journal says it is."""
    return InputError(
        f"{path}, line {line}: {what}; the journal was edited or damaged, so nothing was changed: "
        "restore it from a backup, or repair that line"
    )


@dataclass
class JournalState:
    """A sort journal as read back: the plan, and what its run and any undo did."""

    path: Path
    header: dict[str, Any]
    ops: list[Op] = field(default_factory=list)
    done: set[int] = field(default_factory=set)
    failed: set[int] = field(default_factory=set)
    back: set[int] = field(default_factory=set)  # ops an undo put back (or found not placed)
    mkdirs: list[str] = field(default_factory=list)
    ended: bool = False
    undone: bool = False
    torn: int = 0  # lines skipped: cut off by a kill, or unreadable
    ids: set[int] = field(default_factory=set, repr=False)

    @property
    def missing(self) -> int:
        """Planned ops the journal no longer holds (it was cut short or damaged)."""
        return max(0, int(self.header.get("ops", len(self.ops))) - len(self.ops))

    @property
    def token(self) -> str:
        """What the run's temporary names carry: the header's ``tmp``; for a journal of
        version 1, which had none, one made from its name (for undo's own)."""
        tmp = self.header.get("tmp")
        return tmp if isinstance(tmp, str) else sha256_bytes(self.path.name.encode())[:8]

    def in_flight(self) -> int | None:
        """The op a kill cut off: the first after the last recorded one, when the run did not
        end (None when it ended, or when the journal is cut short and its records lost)."""
        if self.ended or self.missing:
            return None
        nxt = max(self.done | self.failed, default=-1) + 1
        return nxt if nxt in self.ids else None

    def placed(self, op: Op) -> bool:
        """Whether this run completed ``op`` and no undo has put it back."""
        return op.id in self.done and op.id not in self.back


def read_journal(path: Path) -> JournalState:
    """A sort journal, every line checked: one ``InputError`` names the first line that is
    not a record of its kind (a torn line is skipped)."""
    records, torn = journal_records(path)
    if not records or records[0][1]["type"] != "header":
        what = "it is empty" if not records and not torn else "its first line is no header"
        raise InputError(f"{path} is not an animalsort journal ({what})")
    header = records[0][1]
    if header.get("kind", "sort") != "sort" or header.get("version") not in _READABLE:
        raise InputError(f"{path} is not an animalsort sort journal (version {JOURNAL_VERSION} or earlier)")
    if type(header.get("ops", 0)) is not int or not _TOKEN.fullmatch(str(header.get("tmp", "0"))):
        raise damaged(path, records[0][0], "a header whose 'ops' or 'tmp' is not what sort writes")
    j = JournalState(Path(path), header, torn=torn)
    for number, rec in records[1:]:
        _add(j, rec, path, number)
    return j


_TOKEN = re.compile(r"[0-9a-f]{1,16}")  # it becomes part of file names undo removes
_OP_FIELDS = {"id": int, "kind": str, "src": str, "dst": str, "size": int, "mtime_ns": int}


def _add(j: JournalState, rec: dict[str, Any], path: Path, number: int) -> None:
    kind = rec["type"]
    if kind == "op":
        j.ops.append(_op(rec, path, number, j.ops[-1].id if j.ops else -1))
        j.ids.add(j.ops[-1].id)
    elif kind in ("done", "failed", "undo"):
        op_id = rec.get("id")
        if type(op_id) is not int:
            raise damaged(path, number, f"a {kind} record without an id")
        if op_id not in j.ids:
            if j.missing:
                return  # about an op the cut-off part held
            raise damaged(path, number, f"a {kind} record for op {op_id}, which the journal does not plan")
        {"done": j.done, "failed": j.failed, "undo": j.back}[kind].add(op_id)
    elif kind == "mkdir":
        if not isinstance(rec.get("path"), str) or not os.path.isabs(rec["path"]):
            raise damaged(path, number, "a mkdir record without an absolute path")
        j.mkdirs.append(rec["path"])
    elif kind == "end":
        j.ended = True
    elif kind == "undone":
        j.undone = j.undone or not rec.get("refused")  # before version 2 a partial undo wrote one too
    else:
        raise damaged(path, number, "a second header" if kind == "header" else f"an unknown record {kind!r}")


def _op(rec: dict[str, Any], path: Path, number: int, previous_id: int) -> Op:
    for key, typ in _OP_FIELDS.items():
        if key not in rec:
            raise damaged(path, number, f"an op without {key!r}")
        if type(rec[key]) is not typ:
            raise damaged(path, number, f"an op whose {key!r} is {rec[key]!r}")
    if rec["id"] <= previous_id:  # ids rise line by line (a gap is a lost line: ``missing``)
        raise damaged(path, number, f"op {rec['id']} after op {previous_id}")
    if rec["kind"] not in OP_KINDS:
        raise damaged(path, number, f"an op of kind {rec['kind']!r}")
    if not (os.path.isabs(rec["src"]) and os.path.isabs(rec["dst"])):
        raise damaged(path, number, "an op with a relative path (undo would act on the folder it is run from)")
    sha = rec.get("sha256")
    if sha is not None and not isinstance(sha, str):
        raise damaged(path, number, f"an op whose 'sha256' is {sha!r}")
    return Op(rec["id"], rec["kind"], rec["src"], rec["dst"], rec["size"], rec["mtime_ns"], sha)


def journal_header(path: Path) -> dict[str, Any]:
    """A journal's header (its first line, the only one read)."""
    try:
        with open(path, "rb") as f:
            first = f.readline()
    except FileNotFoundError:
        raise InputError(f"{path}: no such journal") from None
    except OSError as exc:
        raise InputError(f"cannot read journal {path}: {exc.strerror or exc}") from None
    try:
        header = json.loads(first.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        header = None
    if not isinstance(header, dict) or header.get("type") != "header":
        what = "it is empty" if not first else "its first line is no header"
        raise InputError(f"{path} is not an animalsort journal ({what})")
    return header


def journal_kind(path: Path) -> str:
    """``"sort"`` or ``"tag"``: what wrote the journal (its header's ``kind``; sort journals
    written before tag existed have none)."""
    return str(journal_header(path).get("kind", "sort"))


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
    gone = os.path.realpath(journal)
    keep = [line for line in lines if line and os.path.realpath(line) != gone]
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
    DEST defaults to SRC). What an undo put back does not count; a file moved twice maps to where it is now."""
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
            done = (op for op in j.ops if op.kind == "move" and j.placed(op))
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
    (:func:`moved_by_sorts`, read once, when a file is first found missing). Paths are
    absolute whatever the folder it is used from (a journal that records them must work from
    any other). A row that leads outside SRC raises ``RowPathError`` (``paths.RowPaths``)."""

    def __init__(self, predictions: Path, src: Path):
        self.predictions, self.src = Path(predictions), Path(os.path.abspath(src))
        self._moved: dict[str, str] | None = None
        self._paths = RowPaths(self.src)

    def __call__(self, rel: str) -> str:
        full = self._paths.resolve(rel)
        if is_uri(full) or os.path.lexists(full):  # an object-storage URI: where it always is
            return full
        if self._moved is None:
            self._moved = moved_by_sorts(self.predictions, self.src)
        return self._moved.get(os.path.abspath(full), full)
