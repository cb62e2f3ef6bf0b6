"""``animalsort tag``: a predictions CSV's labels as keywords, in XMP sidecars (the default:
the photo's own bytes are never touched) or embedded (``embed``).

For each classified row: find the photo (where a sort from the CSV moved it, too) and decide
where its keywords go (:func:`plan`); then, holding the folder's lock (``locks``), write each file
(:mod:`animalsort.tagging.write`: journal first, then an atomic replace) and count what each
write did. ``undo`` (:mod:`animalsort.tagging.undo`) reads the journal back. Never torch,
never click.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from animalsort.errors import InputError, RowPathError, UsageError
from animalsort.formats import thresholds as thresholds_file
from animalsort.formats.journal import Locator, new_journal_path
from animalsort.formats.predictions import file_of
from animalsort.locks import folders_locked
from animalsort.sources.listing import VIDEO_EXTENSIONS
from animalsort.sources.raw import RAW_EXTENSIONS
from animalsort.tagging import targets, xmp
from animalsort.tagging.keywords import DEFAULT_ROOT, Wording, tags_for
from animalsort.tagging.sidecars import NAMINGS, Sidecars
from animalsort.tagging.write import Job, Outcome, WriteOptions, Writer

__all__ = ["Job", "TagOptions", "TagResult", "plan", "tag_rows"]


@dataclass(frozen=True)
class TagOptions:
    """``animalsort tag``'s choices, checked once when made; the command line and the Python API
    build them the same way (:meth:`chosen`)."""

    wording: Wording = field(default_factory=Wording)
    embed: bool = False
    embed_or_sidecar: bool = False  # a format that cannot hold XMP gets a sidecar instead of an error
    sidecar_name: str = "full"
    touch: bool = False  # an embedded file's mtime is updated (kept by default)
    dry_run: bool = False  # plan only: ``TagResult.planned`` lists the files

    def __post_init__(self) -> None:
        for name in ("embed", "embed_or_sidecar", "touch", "dry_run"):
            if not isinstance(getattr(self, name), bool):
                raise UsageError(f"{name}={getattr(self, name)!r}: give True or False")
        if self.sidecar_name not in NAMINGS:
            raise UsageError(f"sidecar_name is one of {', '.join(NAMINGS)}, not {self.sidecar_name!r}")
        if (self.touch or self.embed_or_sidecar) and not self.embed:
            raise UsageError("touch= and embed_or_sidecar= do nothing without embed=True: sidecars change no photo")

    @classmethod
    def chosen(
        cls,
        *,
        embed: bool = False,
        embed_or_sidecar: bool = False,
        sidecar_name: str = "full",
        keyword_root: str = DEFAULT_ROOT,
        min_confidence: object = None,
        thresholds: str | Path | None = None,
        tag_uncertain: bool = False,
        touch: bool = False,
        dry_run: bool = False,
    ) -> TagOptions:
        """The options from the choices a person makes, as ``animalsort tag`` and
        :func:`animalsort.tag` take them."""
        if not isinstance(keyword_root, str):
            raise UsageError(f"keyword_root={keyword_root!r}: give the top keyword as text ('' for none)")
        wording = Wording(thresholds_file.chosen(min_confidence, thresholds), keyword_root, tag_uncertain)
        return cls(wording, embed, embed_or_sidecar, sidecar_name, touch, dry_run)


@dataclass
class TagResult:
    """What the run did, file by file as it happened (a dry run: what it would write)."""

    rows: int = 0
    tagged: int = 0  # files written (sidecars created or updated, photos embedded)
    created: int = 0  # new sidecars among them
    embedded: int = 0
    unchanged: int = 0  # already carried these keywords
    no_keyword: int = 0  # no_animal / uncertain rows with nothing to write (and no earlier tags)
    error_rows: int = 0  # rows classify could not read: left alone
    shared: list[tuple[str, str, str]] = field(default_factory=list)  # (row, the row tagging it, "sidecar"/"file")
    fallbacks: int = 0  # --embed-or-sidecar: formats without embedded XMP got a sidecar
    failed: list[tuple[str, str]] = field(default_factory=list)
    hard_linked: list[str] = field(default_factory=list)  # embedded: other names keep the old bytes
    journal: Path | None = None
    planned: list[Job] = field(default_factory=list)  # for a dry run: what would be written


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
    """The files to write, one job per file (a sidecar two rows would share, or a photo two
    rows reach, is written once — for the RAW when one of them is a RAW)."""
    sidecars = Sidecars()
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
            target, exists = sidecars.find(photo, options.sidecar_name)
            if not exists and not tags.keywords:
                result.no_keyword += 1
                continue
        job = Job(row["path"], photo, target, embed, tags, _root(photo, row["path"], locate.src))
        key = sidecars.key(target)
        other = jobs.get(key)
        if other is not None and not _sidecar_only(photo):  # the row there first keeps the file
            other.sharers += (row["path"],)
            continue
        if other is not None:  # a RAW takes its twin's sidecar over
            job.sharers = (*other.sharers, other.row_path)
        jobs[key] = job
    return list(jobs.values())


def _root(photo: str, row_path: str, src: Path) -> str:
    """The folder a photo's writes stay inside: SRC — or, for a photo a sort from the CSV moved
    elsewhere, the folder the sort put it in."""
    return str(src) if photo == os.path.join(src, row_path) else os.path.dirname(photo)


def _count(result: TagResult, outcome: Outcome) -> None:
    if outcome.what == "unchanged":
        result.unchanged += 1
    elif outcome.what == "no_keyword":
        result.no_keyword += 1
    else:
        result.tagged += 1
        result.created += outcome.created
        result.embedded += outcome.kind == "embed"
        if outcome.hard_linked:
            result.hard_linked.append(outcome.hard_linked)
    result.fallbacks += outcome.fallback


def _settle_shared(jobs: list[Job], result: TagResult) -> None:
    """Rows whose file another row tagged: noted when that write went well, else failed too."""
    for job in jobs:
        what = "file" if job.embed else "sidecar"
        for row in job.sharers:
            if job.outcome == "failed":
                result.failed.append((row, f"shares its {what} with {job.row_path}, which could not be tagged"))
            else:
                result.shared.append((row, job.row_path, what))


def _run_jobs(jobs: list[Job], writer: Writer, result: TagResult, progress: Callable[[], Any] | None) -> None:
    for job in jobs:
        try:
            outcome = writer.run(job)
        except (xmp.MetadataError, targets.Refused) as exc:
            job.outcome = "failed"
            result.failed.append((job.row_path, str(exc)))
        except OSError as exc:
            job.outcome = "failed"
            where = f" ({exc.filename})" if exc.filename and exc.filename != job.photo else ""
            result.failed.append((job.row_path, f"{exc.strerror or exc}{where}"))
        else:
            job.outcome = outcome.what
            _count(result, outcome)
        if progress is not None:
            progress()


def tag_rows(
    rows: Iterable[dict[str, str]],
    *,
    src: Path,
    predictions: Path,
    options: TagOptions,
    provenance: dict[str, Any],
    progress: Callable[[], Any] | None = None,
) -> TagResult:
    """Tag every row's photo; a file that cannot be tagged is a line in ``failed`` and the run
    goes on. ``progress`` (optional) is called once per job. One run at a time per SRC (a
    second waits a little, then is refused: :mod:`animalsort.locks`, shared with sort and undo)."""
    result = TagResult()
    if options.dry_run:
        result.planned = plan(rows, Locator(predictions, src), options, provenance, result)
        _settle_shared(result.planned, result)
        return result
    if not Path(src).is_dir():  # else the lock would make the folder; and no row could be found
        raise InputError(
            f"{src}: no such folder (the predictions' paths are relative to it): "
            "--src names the folder the photos are in now"
        )
    with folders_locked([Path(src)], "tag"):
        jobs = plan(rows, Locator(predictions, src), options, provenance, result)
        header = {
            "planned": len(jobs),
            "predictions": str(Path(predictions).absolute()),
            "src": str(Path(src).absolute()),
            "embed": options.embed,
            "sidecar_name": options.sidecar_name,
            "min_confidence": options.wording.thresholds.minimum,
            "keyword_root": options.wording.root,
        }
        if (used := options.wording.thresholds.record()) is not None:  # only with --thresholds: else as before
            header["thresholds"] = used
        how = WriteOptions(options.embed_or_sidecar, options.sidecar_name, options.touch)
        writer = Writer(new_journal_path(src, "tag"), header, how)
        finished = False
        try:
            _run_jobs(jobs, writer, result, progress)
            finished = True
        finally:
            writer.close(finished)
            result.journal = writer.journal
    _settle_shared(jobs, result)
    return result
