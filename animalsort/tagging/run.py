"""``animalsort tag``: a predictions CSV's labels as keywords, in XMP sidecars (the default:
the photo's own bytes are never touched) or embedded (``embed``).

For each classified row: find the photo (where a sort from the CSV moved it, too), decide
where its keywords go, build the new bytes in memory with libexiv2, and — when they differ —
journal the change (what was there before, the new file's sha256) and then replace the file
atomically, keeping its mode and times. ``undo`` (:mod:`animalsort.tagging.undo`) reads the
journal back. Never torch, never click.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from animalsort.atomic import leftover_temporaries, make_folder, replace_bytes
from animalsort.errors import RowPathError
from animalsort.formats.journal import Journal, Locator, new_journal_path
from animalsort.formats.predictions import file_of
from animalsort.hashes import sha256_bytes
from animalsort.sources.listing import VIDEO_EXTENSIONS
from animalsort.sources.raw import RAW_EXTENSIONS
from animalsort.tagging import delta, heic, xmp
from animalsort.tagging.keywords import Wording, tags_for

SIDECAR_NAMINGS = ("full", "stem")  # IMG_0001.CR2.xmp (digiKam, darktable) / IMG_0001.xmp (Lightroom)
JOURNAL_KIND = "tag"


@dataclass(frozen=True)
class TagOptions:
    """``animalsort tag``'s choices."""

    wording: Wording = field(default_factory=Wording)
    embed: bool = False
    embed_or_sidecar: bool = False  # a format that cannot hold XMP gets a sidecar instead of an error
    sidecar_name: str = "full"
    touch: bool = False  # an embedded file's mtime is updated (kept by default)


@dataclass
class Job:
    """One file to write: a sidecar or a photo (``embed``), and the row it tags."""

    row_path: str
    photo: str
    target: str
    embed: bool
    tags: xmp.Tags


@dataclass
class TagResult:
    rows: int = 0
    tagged: int = 0  # files written (sidecars created or updated, photos embedded)
    created: int = 0  # new sidecars among them
    embedded: int = 0
    unchanged: int = 0  # already carried these keywords
    no_keyword: int = 0  # no_animal / uncertain rows with nothing to write (and no earlier tags)
    error_rows: int = 0  # rows classify could not read: left alone
    shared: list[tuple[str, str]] = field(default_factory=list)  # (row, the row whose sidecar it shares)
    fallbacks: int = 0  # --embed-or-sidecar: formats without embedded XMP got a sidecar
    failed: list[tuple[str, str]] = field(default_factory=list)
    hard_linked: list[str] = field(default_factory=list)  # embedded: other names keep the old bytes
    journal: Path | None = None
    planned: list[Job] = field(default_factory=list)  # for a dry run: what would be written


def _sidecar_names(photo: str) -> dict[str, str]:
    name = os.path.basename(photo)
    return {"full": name + ".xmp", "stem": os.path.splitext(name)[0] + ".xmp"}


class _Folders:
    """Folder listings (lower-cased name → name), read once per folder, for sidecar lookups."""

    def __init__(self) -> None:
        self._names: dict[str, dict[str, str]] = {}

    def find(self, folder: str, name: str) -> str | None:
        if folder not in self._names:
            try:
                self._names[folder] = {n.lower(): n for n in os.listdir(folder)}
            except OSError:
                self._names[folder] = {}
        found = self._names[folder].get(name.lower())
        return os.path.join(folder, found) if found else None


def sidecar_for(photo: str, naming: str, folders: _Folders | None = None) -> tuple[str, bool]:
    """(the sidecar to write for ``photo``, whether it exists): an existing one of either
    naming (the chosen naming first), else a new one of the chosen naming."""
    folders = folders or _Folders()
    folder = os.path.dirname(photo)
    names = _sidecar_names(photo)
    for n in (naming, *(m for m in SIDECAR_NAMINGS if m != naming)):
        found = folders.find(folder, names[n])
        if found is not None:
            return found, True
    return os.path.join(folder, names[naming]), False


def _sidecar_only(path: str) -> bool:
    ext = os.path.splitext(path)[1].lower()
    return ext in RAW_EXTENSIONS or ext in VIDEO_EXTENSIONS


def plan(
    rows: Iterable[dict[str, str]],
    locate: Locator,
    options: TagOptions,
    provenance: dict[str, Any],
    result: TagResult,
) -> list[Job]:
    """The files to write, one job per target (a sidecar two rows would share is written once,
    for the RAW when one of them is a RAW)."""
    folders = _Folders()
    now = datetime.now(UTC)
    jobs: dict[str, Job] = {}
    for row in rows:
        result.rows += 1
        if row.get("status", "ok") != "ok":
            result.error_rows += 1
            continue
        if file_of(row) != row["path"]:
            continue  # a clip's frame row: the clip's own row carries its label
        try:
            photo = locate(row["path"])
        except RowPathError as exc:
            result.failed.append((row["path"], str(exc)))
            continue
        if not os.path.lexists(photo):
            result.failed.append((row["path"], "no such file (moved or deleted since it was classified)"))
            continue
        tags = tags_for(row, options.wording, provenance, now)
        embed = options.embed and not _sidecar_only(photo)
        if embed:
            target = photo
        else:
            target, exists = sidecar_for(photo, options.sidecar_name, folders)
            if not exists and not tags.keywords:
                result.no_keyword += 1
                continue
        other = jobs.get(target)
        if other is not None and not _sidecar_only(photo):  # the row there first keeps the sidecar
            result.shared.append((row["path"], other.row_path))
            continue
        if other is not None:  # a RAW takes its twin's sidecar over
            result.shared.append((other.row_path, row["path"]))
        jobs[target] = Job(row["path"], photo, target, embed, tags)
    return list(jobs.values())


class _Writer:
    """Journals and writes the jobs; the journal is created with the first change."""

    def __init__(self, journal_path: Path, header: dict[str, Any], options: TagOptions, result: TagResult):
        self.journal_path, self.header, self.options, self.result = journal_path, header, options, result
        self._journal: Journal | None = None
        self._next_id = 0

    def _open(self) -> Journal:
        if self._journal is None:
            make_folder(self.journal_path.parent, "it holds the tag journal (for undo): make SRC writable")
            self._journal = Journal.create(self.journal_path, [], {"kind": JOURNAL_KIND, **self.header})
            self.result.journal = self.journal_path
        return self._journal

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()

    def run(self, job: Job) -> None:
        for tmp in leftover_temporaries(job.target):
            tmp.unlink(missing_ok=True)  # a replace cut off by a kill: never a user's file
        if job.embed:
            self._embed(job)
        else:
            self._sidecar(job)

    def _sidecar(self, job: Job) -> None:
        try:
            before = Path(job.target).read_bytes()
            st: os.stat_result | None = os.stat(job.target)
        except FileNotFoundError:
            before, st = None, None
        image = xmp.open_bytes(before if before is not None else xmp.EMPTY_PACKET)
        if before is not None and not _is_xmp(image):
            raise xmp.MetadataError("not an XMP sidecar (exiv2 reads it as another format); left as it is")
        after = _retagged(image, before, job.tags, iptc=False)
        if isinstance(after, str):
            return self._nothing(after)
        self._commit(job, "sidecar", before, after, st)
        self.result.created += before is None

    def _embed(self, job: Job) -> None:
        st = os.stat(job.target)
        data = Path(job.target).read_bytes()
        if heic.is_bmff(job.target):
            return self._embed_bmff(job, st, data)
        image = xmp.open_bytes(data)
        if not xmp.can_hold(image, "xmp"):
            return self._cannot_embed(job, f"a {image.mimeType() or 'file of this format'} cannot hold embedded XMP")
        after = _retagged(image, data, job.tags, iptc=xmp.can_hold(image, "iptc"))
        if isinstance(after, str):
            return self._nothing(after)
        self._commit(job, "embed", data, after, st)

    def _embed_bmff(self, job: Job, st: os.stat_result, data: bytes) -> None:
        """HEIC/AVIF: the packet is merged like a sidecar's, ExifTool puts it in the file."""
        if heic.exiftool() is None:
            return self._cannot_embed(job, "libexiv2 cannot write HEIC/AVIF and ExifTool is not on PATH")
        packet = heic.read_packet(job.target)
        raw = packet.encode("utf-8", "surrogateescape") if packet else None
        image = xmp.open_bytes(raw or xmp.EMPTY_PACKET)
        new_packet = _retagged(image, raw, job.tags, iptc=False)
        if isinstance(new_packet, str):
            return self._nothing(new_packet)
        after = heic.with_packet(job.target, new_packet.decode("utf-8", "surrogateescape"))
        self._commit(job, "embed", data, after, st)

    def _nothing(self, why: str) -> None:
        """Count a file left as it was: already up to date, or nothing to say and no earlier tags."""
        if why == "unchanged":
            self.result.unchanged += 1
        else:
            self.result.no_keyword += 1

    def _cannot_embed(self, job: Job, why: str) -> None:
        if not self.options.embed_or_sidecar:
            raise xmp.MetadataError(f"{why}; --embed-or-sidecar writes a sidecar for such files")
        self.result.fallbacks += 1
        target, _ = sidecar_for(job.photo, self.options.sidecar_name)
        self._sidecar(Job(job.row_path, job.photo, target, False, job.tags))

    def _commit(self, job: Job, kind: str, before: bytes | None, after: bytes, st: os.stat_result | None) -> None:
        """Journal the change — what turns the new bytes back into the old ones, flushed before
        anything is written — then replace the file and record it done."""
        journal = self._open()
        op_id = self._next_id
        self._next_id += 1
        undo: dict[str, Any] = {"exists": before is not None}
        if before is not None and st is not None:
            undo.update(delta.encode(before, after, delta.spill_path(self.journal_path, op_id)))
            undo.update(sha256=sha256_bytes(before), mode=st.st_mode & 0o7777)
            undo.update(atime_ns=st.st_atime_ns, mtime_ns=st.st_mtime_ns)
        journal.record(
            {
                "type": "tag",
                "id": op_id,
                "kind": kind,
                "row": job.row_path,
                "path": job.target,
                "before": undo,
                "after_sha256": sha256_bytes(after),
            }
        )
        # A sidecar we changed is a new version of it (photo managers notice a sidecar by its mtime);
        # an embedded photo keeps its mtime unless --touch.
        keep_mtime = kind == "embed" and not self.options.touch
        replace_bytes(job.target, after, like=st, keep_mtime=keep_mtime)
        journal.record({"type": "done", "id": op_id})
        self.result.tagged += 1
        self.result.embedded += kind == "embed"
        if kind == "embed" and st is not None and st.st_nlink > 1:
            self.result.hard_linked.append(job.target)


def _retagged(image: Any, data: bytes | None, tags: xmp.Tags, *, iptc: bool) -> bytes | str:
    """The bytes of ``image`` (read from ``data``; None for a new sidecar) with ``tags`` in
    place of the earlier ones — or why nothing is written: ``"no_keyword"`` (nothing to say and
    no earlier tags) or ``"unchanged"`` (the same answer again: the file keeps its metadata,
    the earlier ``taggedAt`` included)."""
    if not tags.keywords and not xmp.has_record(image):
        return "no_keyword"
    previous = xmp.tagged_at(image)
    if data is not None and previous:
        again = xmp.Tags(tags.keywords, tags.paths, {**tags.record, "taggedAt": previous})
        xmp.apply_tags(image, again, iptc=iptc)
        if xmp.same_metadata(xmp.open_bytes(xmp.write(image)), xmp.open_bytes(data)):
            return "unchanged"
        image = xmp.open_bytes(data)
    xmp.apply_tags(image, tags, iptc=iptc)
    return xmp.write(image)


def _is_xmp(image: Any) -> bool:
    return image.mimeType() == xmp.SIDECAR_MIME


def tag_rows(
    rows: Iterable[dict[str, str]],
    *,
    src: Path,
    predictions: Path,
    options: TagOptions,
    provenance: dict[str, Any],
    dry_run: bool = False,
    progress: Any = None,
) -> TagResult:
    """Tag every row's photo; a file that cannot be tagged is a line in ``failed`` and the run
    goes on. ``progress`` (optional) is called once per job."""
    if options.sidecar_name not in SIDECAR_NAMINGS:
        raise ValueError(f"sidecar_name is one of {SIDECAR_NAMINGS}, not {options.sidecar_name!r}")
    result = TagResult()
    jobs = plan(rows, Locator(predictions, src), options, provenance, result)
    if dry_run:
        result.planned = jobs
        return result
    header = {
        "predictions": str(Path(predictions).absolute()),
        "src": str(Path(src).absolute()),
        "embed": options.embed,
        "sidecar_name": options.sidecar_name,
        "min_confidence": options.wording.min_confidence,
        "keyword_root": options.wording.root,
    }
    writer = _Writer(new_journal_path(src, "tag"), header, options, result)
    try:
        for job in jobs:
            try:
                writer.run(job)
            except xmp.MetadataError as exc:
                result.failed.append((job.row_path, str(exc)))
            except OSError as exc:
                where = f" ({exc.filename})" if exc.filename and exc.filename != job.photo else ""
                result.failed.append((job.row_path, f"{exc.strerror or exc}{where}"))
            if progress is not None:
                progress()
    finally:
        writer.close()
    return result
