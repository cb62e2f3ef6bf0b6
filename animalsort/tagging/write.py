"""One file tagged: read it, merge the keywords (:mod:`animalsort.tagging.xmp`), and — when
the bytes differ — journal how to give it back, then replace it atomically, keeping its mode
and times. Where the write lands and whether it may is :mod:`animalsort.tagging.targets`'s
call; what it did is returned as an :class:`Outcome`, for the run to count.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from animalsort.atomic import leftover_temporaries, make_folder, replace_bytes
from animalsort.formats.journal import Journal
from animalsort.hashes import sha256_bytes
from animalsort.tagging import delta, heic, targets, xmp
from animalsort.tagging.journal import KIND
from animalsort.tagging.sidecars import name_too_long, sidecar_for


@dataclass
class Job:
    """One file to write: a sidecar or a photo (``embed``), and the row it tags."""

    row_path: str
    photo: str
    target: str
    embed: bool
    tags: xmp.Tags
    root: str  # nothing is written outside it (a link leading out is refused)
    sharers: tuple[str, ...] = ()  # rows whose file this is too: tagged once, by this row
    outcome: str = ""  # once run: "written", "unchanged", "no_keyword" or "failed"


@dataclass(frozen=True)
class Outcome:
    """What running a job did."""

    what: str  # "written", "unchanged" (it carried these keywords) or "no_keyword" (nothing to say)
    kind: str = ""  # written: "sidecar" or "embed"
    created: bool = False  # a new sidecar
    fallback: bool = False  # a sidecar, for a format that cannot hold embedded XMP
    hard_linked: str | None = None  # an embedded photo whose other names keep the old bytes


@dataclass(frozen=True)
class WriteOptions:
    embed_or_sidecar: bool = False
    sidecar_name: str = "full"
    touch: bool = False


class Writer:
    """Journals and writes the jobs; the journal is created with the first change."""

    def __init__(self, journal_path: Path, header: dict[str, Any], options: WriteOptions):
        self.journal_path, self.header, self.options = journal_path, header, options
        self._journal: Journal | None = None
        self._next_id = 0
        self._swept: set[str] = set()  # folders cleared of ExifTool work folders a kill left

    @property
    def journal(self) -> Path | None:
        return self.journal_path if self._journal is not None else None

    def _open(self) -> Journal:
        if self._journal is None:
            make_folder(self.journal_path.parent, "it holds the tag journal (for undo): make SRC writable")
            self._journal = Journal.create(self.journal_path, [], {"kind": KIND, **self.header})
        return self._journal

    def close(self, finished: bool) -> None:
        """Close the journal; a run that went through every job says so (``end``), so undo
        can tell a whole journal from one cut short."""
        if self._journal is not None:
            if finished:
                self._journal.record({"type": "end", "ops": self._next_id})
            self._journal.close()

    def run(self, job: Job) -> Outcome:
        """Tag one file; MetadataError, Refused or OSError when it cannot be."""
        if not os.path.lexists(job.photo):
            raise targets.Refused("no such file (moved or deleted since it was classified)")
        if job.embed:
            return self._embed(job, targets.resolve(job.target, job.root))
        return self._sidecar(job)

    def _sidecar(self, job: Job, fallback: bool = False) -> Outcome:
        if (why := name_too_long(job.target)) is not None:
            raise targets.Refused(why)
        path = targets.resolve(job.target, job.root)
        _clean(path)
        try:
            read: targets.Read | None = targets.read(path)
        except FileNotFoundError:
            read = None
        before = read.data if read is not None else None
        image = xmp.open_bytes(before if before is not None else xmp.EMPTY_PACKET)
        if before is not None and image.mimeType() != xmp.SIDECAR_MIME:
            raise xmp.MetadataError("not an XMP sidecar (exiv2 reads it as another format); left as it is")
        after = _retagged(image, before, job.tags, iptc=False)
        if isinstance(after, str):
            return Outcome(after, fallback=fallback)
        self._commit(job, path, "sidecar", read, after)
        return Outcome("written", "sidecar", created=read is None, fallback=fallback)

    def _embed(self, job: Job, path: str) -> Outcome:
        _clean(path)
        read = targets.read(path)
        if heic.is_bmff(path):
            return self._embed_bmff(job, path, read)
        image = xmp.open_bytes(read.data)
        if not xmp.can_hold(image, "xmp"):
            return self._cannot_embed(job, f"a {image.mimeType() or 'file of this format'} cannot hold embedded XMP")
        after = _retagged(image, read.data, job.tags, iptc=xmp.can_hold(image, "iptc"))
        if isinstance(after, str):
            return Outcome(after)
        return self._embedded(job, path, read, after)

    def _embed_bmff(self, job: Job, path: str, read: targets.Read) -> Outcome:
        """HEIC/AVIF: the packet is merged like a sidecar's, ExifTool puts it in the file."""
        if heic.exiftool() is None:
            return self._cannot_embed(job, "libexiv2 cannot write HEIC/AVIF and ExifTool is not on PATH")
        if (folder := os.path.dirname(path)) not in self._swept:
            heic.remove_leftovers(folder)
            self._swept.add(folder)
        packet = heic.read_packet(path)
        raw = packet.encode("utf-8", "surrogateescape") if packet else None
        image = xmp.open_bytes(raw or xmp.EMPTY_PACKET)
        new_packet = _retagged(image, raw, job.tags, iptc=False)
        if isinstance(new_packet, str):
            return Outcome(new_packet)
        after = heic.with_packet(path, new_packet.decode("utf-8", "surrogateescape"))
        return self._embedded(job, path, read, after)

    def _embedded(self, job: Job, path: str, read: targets.Read, after: bytes) -> Outcome:
        self._commit(job, path, "embed", read, after)
        return Outcome("written", "embed", hard_linked=path if read.st.st_nlink > 1 else None)

    def _cannot_embed(self, job: Job, why: str) -> Outcome:
        if not self.options.embed_or_sidecar:
            raise xmp.MetadataError(f"{why}; --embed-or-sidecar writes a sidecar for such files")
        target, _ = sidecar_for(job.photo, self.options.sidecar_name)
        return self._sidecar(replace(job, target=target, embed=False), fallback=True)

    def _commit(self, job: Job, path: str, kind: str, read: targets.Read | None, after: bytes) -> None:
        """Journal the change — what turns the new bytes back into the old ones, flushed before
        anything is written — then replace the file and record it done. A file another program
        changed since it was read is left alone (its bytes are not ours to lose)."""
        st = read.st if read is not None else None
        targets.check_writable(path, st)
        targets.unchanged(path, st)
        journal = self._open()
        op_id = self._next_id
        self._next_id += 1
        undo: dict[str, Any] = {"exists": read is not None}
        if read is not None:
            undo.update(delta.encode(read.data, after, delta.spill_path(self.journal_path, op_id)))
            undo.update(sha256=sha256_bytes(read.data), mode=read.st.st_mode & 0o7777)
            undo.update(atime_ns=read.st.st_atime_ns, mtime_ns=read.st.st_mtime_ns)
        record = {"type": "tag", "id": op_id, "kind": kind, "row": job.row_path, "path": path}
        journal.record({**record, "before": undo, "after_sha256": sha256_bytes(after)})
        # A sidecar we changed is a new version of it (photo managers notice a sidecar by its mtime);
        # an embedded photo keeps its mtime unless --touch.
        keep_mtime = kind == "embed" and not self.options.touch
        replace_bytes(path, after, like=st, keep_mtime=keep_mtime)
        journal.record({"type": "done", "id": op_id})


def _clean(path: str) -> None:
    """Remove what a replace cut off by a kill left beside ``path`` (never a user's file: the
    names are atomic_write's own, and the folder's lock keeps other runs out)."""
    for tmp in leftover_temporaries(path):
        tmp.unlink(missing_ok=True)


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
